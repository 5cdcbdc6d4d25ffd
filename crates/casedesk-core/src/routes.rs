//! Support routes: where a question belongs for the customer's plan (community answers,
//! documentation, their customer success manager, or a case in the support center, the only
//! channel with an SLA), the three rollout paths with what each needs, the checklist, and the
//! checks worth making before opening a case.
//!
//! The checks start from one question, "is it all users or a few?". Their answers become the
//! case's scope and context when the customer goes on to open one; "this fixed it" is recorded
//! as a deflection, like a knowledge-base entry that solved the problem.

use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::accounts::{Account, Plan, PlanTier};
use crate::cases::intake::{CHECKLIST_ITEMS, STAGE_RULES};
use crate::kb::search::Deflection;
use crate::kb::{KbStore, Question};
use crate::users::{Principal, Role};
use crate::{DomainError, FieldError, Result};

/// One check before opening a case.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Check {
    /// Stable key (`check:<key>` in the deflection report).
    pub key: &'static str,
    /// What to confirm.
    pub label: &'static str,
    /// How to confirm it, and why it matters.
    pub help: &'static str,
}

/// Checks when every user is affected: the cause is usually shared.
pub const ALL_USERS: [Check; 6] = [
    Check {
        key: "service_status",
        label: "The service is running in your tenant's region",
        help: "Open the status page: an incident in your region explains the failure, and you can follow it there instead of waiting on a case.",
    },
    Check {
        key: "upstream_connections",
        label: "Your upstream identity connections answer",
        help: "Enterprise providers and directories your tenant federates with must be reachable; a test sign-in through each connection shows which one fails.",
    },
    Check {
        key: "certificates",
        label: "Certificates and signing keys are valid",
        help: "Compare the expiry dates of your providers' signing certificates and of your own TLS certificates with today; a key rotated at a provider but not in the connection fails every sign-in.",
    },
    Check {
        key: "clock_sync",
        label: "Clocks are in sync on your connectors and providers",
        help: "Tokens and assertions carry times. A connector or provider whose clock is a few minutes off issues tokens the platform has to refuse.",
    },
    Check {
        key: "recent_changes",
        label: "Nothing changed just before it started",
        help: "A rule, an action, a connection setting or the provider's own configuration changed shortly before the failure? Undo it to confirm.",
    },
    Check {
        key: "other_apps",
        label: "Users can sign in to other applications on the same provider",
        help: "If they cannot, look at the provider first; if they can, look at this application's settings.",
    },
];

/// Checks when a few users are affected: the cause is usually on their side.
pub const FEW_USERS: [Check; 6] = [
    Check {
        key: "cookies_cleared",
        label: "The user cleared the cookies of the sign-in domain",
        help: "An old session cookie or a half-finished sign-in left behind makes the next attempt fail.",
    },
    Check {
        key: "no_back_button",
        label: "The user started over instead of pressing Back",
        help: "Going back during a sign-in sends a request that was already used; the error that follows is expected.",
    },
    Check {
        key: "cookies_and_javascript",
        label: "Cookies and JavaScript are on in the user's browser",
        help: "Blocked third-party cookies, privacy extensions and script blockers break the redirects of a sign-in.",
    },
    Check {
        key: "user_profile",
        label: "The user's profile at the provider is complete and enabled",
        help: "A disabled account, a missing email or group, or a pending password reset at the provider fails only that user.",
    },
    Check {
        key: "device_policy",
        label: "The user's device meets your access policy",
        help: "Device-trust and conditional-access rules refuse unmanaged or outdated devices.",
    },
    Check {
        key: "repeats",
        label: "It happens again when the user repeats it",
        help: "Try once more in a private window. If it does not happen again, note when it did: that time finds the logs.",
    },
];

/// The support-routes page for a customer (their plan, account and CSM) or, signed out, the
/// general version.
pub fn page(account: Option<&Account>) -> Value {
    let plan = account.map(|a| a.plan);
    let sla = plan.map(|p| p.tier() != PlanTier::SelfService);
    let center = match sla {
        Some(true) => {
            "Open a case here for anything that needs an engineer: outages, errors, security reviews, setup that does not work. Your plan's response and resolution targets apply to cases opened here, and only to them."
        }
        Some(false) => {
            "Your self-service plan includes no SLA: cases opened here are answered as capacity allows. Upgrade to a standard or premium plan for response targets."
        }
        None => {
            "Customers with a standard or premium plan open cases here, the only channel where their plan's response targets apply. Sign in to see yours."
        }
    };
    let csm = account.map(|a| match &a.csm {
        Some(e) => json!({"email": e, "name": display_name(e)}),
        None => Value::Null,
    });
    json!({
        "signed_in": account.is_some(),
        "account": account.map(|a| a.name.clone()),
        "plan": plan.map(plan_json),
        "channels": [
            {"key": "community", "title": "Community answers",
             "when": "How-to questions, patterns and examples other customers have solved.",
             "link": "/kb?kind=community", "sla": false},
            {"key": "documentation", "title": "Documentation",
             "when": "How a feature works, its settings and limits, step-by-step setup.",
             "link": "/kb?kind=documentation", "sla": false},
            {"key": "csm", "title": "Your customer success manager",
             "when": "Plans, renewals, adoption, a roadmap question, or a case that needs more attention than it gets.",
             "contact": csm, "sla": false},
            {"key": "support_center", "title": "A case in the support center",
             "when": center, "link": "/support", "sla": sla.unwrap_or(true)},
        ],
        "sla_note": "The SLA applies only to cases opened in this support center (the web form, the API or a reply to one of its emails). A request sent another way — to a person's email address, in a chat or on a call — carries no SLA until it is logged here as a case.",
        "paths": STAGE_RULES.iter().map(|r| json!({
            "stage": r.key, "title": r.title, "description": r.description,
            "needs": r.identifiers.iter().map(|(k, label, need)| json!({"field": format!("identifiers.{k}"), "label": label, "need": need})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "checklist": CHECKLIST_ITEMS.iter().map(|(k, d)| json!({"key": k, "statement": d})).collect::<Vec<_>>(),
        "checks": checks_json(),
    })
}

fn display_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let mut c = local.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => email.to_owned(),
    }
}

fn plan_json(p: Plan) -> Value {
    let tier = match p.tier() {
        PlanTier::SelfService => "self-service",
        PlanTier::Standard => "standard",
        PlanTier::Premium => "premium",
    };
    json!({"key": p.key(), "tier": tier, "sla": p.tier() != PlanTier::SelfService})
}

/// The checks, grouped by the first question.
pub fn checks_json() -> Value {
    json!({
        "question": "Is it all users or a few?",
        "all_users": ALL_USERS,
        "few_users": FEW_USERS,
    })
}

/// Who the problem affects, as the first question of the checks answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affected {
    /// Every user.
    All,
    /// Some users.
    Some,
    /// One user.
    One,
}

impl Affected {
    fn parse(s: &str) -> Option<Affected> {
        match s {
            "all" => Some(Affected::All),
            "some" => Some(Affected::Some),
            "one" => Some(Affected::One),
            _ => None,
        }
    }

    /// The checks that fit.
    pub fn checks(self) -> &'static [Check] {
        match self {
            Affected::All => &ALL_USERS,
            Affected::Some | Affected::One => &FEW_USERS,
        }
    }
}

/// The answers to the checks, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    /// Who is affected.
    pub affected: Affected,
    /// The checks made (keys of the fitting group).
    pub checked: Vec<&'static str>,
    /// `every_time` or `intermittent`, when answered.
    pub frequency: Option<String>,
    /// `all` or `one` browser, when answered.
    pub browsers: Option<String>,
    /// The check that fixed it, if one did.
    pub fixed_by: Option<&'static str>,
    /// Issue area, when the customer named one.
    pub issue_area: Option<String>,
}

fn choice(
    obj: &Map<String, Value>,
    k: &str,
    allowed: &[&str],
    errs: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Some(s.clone()),
        Some(_) => {
            errs.push(FieldError::new(
                k,
                format!("must be one of {}", allowed.join(", ")),
            ));
            None
        }
    }
}

/// Reads the answers: `affected` (all, some, one), `checked` (keys), `frequency`, `browsers`,
/// `fixed_by` (a key) and `issue_area`, every fault at once.
pub fn parse_answers(v: &Value, areas: &[crate::taxonomy::IssueArea]) -> Result<Answers> {
    let Some(obj) = v.as_object() else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    let mut errs = Vec::new();
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "affected" | "checked" | "frequency" | "browsers" | "fixed_by" | "issue_area"
        ) {
            errs.push(FieldError::new(k, "is not a field of the checks"));
        }
    }
    let affected = match obj.get("affected") {
        None | Some(Value::Null) => {
            errs.push(FieldError::new(
                "affected",
                "is required: all, some or one (who the problem affects)",
            ));
            None
        }
        Some(v) => {
            let a = v.as_str().and_then(Affected::parse);
            if a.is_none() {
                errs.push(FieldError::new("affected", "must be all, some or one"));
            }
            a
        }
    };
    let group = affected.map(Affected::checks).unwrap_or(&[]);
    let find = |s: &str| group.iter().find(|c| c.key == s).map(|c| c.key);
    let mut checked = Vec::new();
    match obj.get("checked") {
        None | Some(Value::Null) => {}
        // Six checks fit each answer; a longer list is refused whole, not item by item.
        Some(Value::Array(items)) if items.len() > 12 => errs.push(FieldError::new(
            "checked",
            "must list at most 12 check keys",
        )),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str().and_then(find) {
                    Some(k) if !checked.contains(&k) => checked.push(k),
                    Some(_) => {}
                    None if affected.is_some() => errs.push(FieldError::new(
                        format!("checked[{i}]"),
                        format!(
                            "is not one of the checks for this answer: {}",
                            group.iter().map(|c| c.key).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                    None => {}
                }
            }
        }
        Some(_) => errs.push(FieldError::new("checked", "must be a list of check keys")),
    }
    let fixed_by = match obj.get("fixed_by") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().and_then(find) {
            Some(k) => Some(k),
            None => {
                if affected.is_some() {
                    errs.push(FieldError::new(
                        "fixed_by",
                        "must be the key of one of the checks for this answer",
                    ));
                }
                None
            }
        },
    };
    let frequency = choice(obj, "frequency", &["every_time", "intermittent"], &mut errs);
    let browsers = choice(obj, "browsers", &["all", "one"], &mut errs);
    let issue_area = match obj.get("issue_area") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if areas.iter().any(|a| a.key == *s) => Some(s.clone()),
        Some(_) => {
            errs.push(FieldError::new("issue_area", "is not an issue area"));
            None
        }
    };
    match affected {
        Some(affected) if errs.is_empty() => {
            if let Some(f) = fixed_by
                && !checked.contains(&f)
            {
                checked.push(f);
            }
            Ok(Answers {
                affected,
                checked,
                frequency,
                browsers,
                fixed_by,
                issue_area,
            })
        }
        _ => Err(DomainError::Validation(errs)),
    }
}

/// What the answers put on a case: its `scope`, context fields, and the checks made as the
/// troubleshooting already done.
pub fn prefill(a: &Answers) -> Value {
    let (scope, affected) = match a.affected {
        Affected::All => ("all_users", "all"),
        Affected::Some => ("some_users", "some"),
        Affected::One => ("one_user", "some"),
    };
    let mut context = json!({"affected": affected});
    if let Some(f) = &a.frequency {
        context["frequency"] = json!(f);
    }
    if let Some(b) = &a.browsers {
        context["browsers"] = json!(b);
    }
    let done: Vec<&str> = a
        .affected
        .checks()
        .iter()
        .filter(|c| a.checked.contains(&c.key))
        .map(|c| c.label)
        .collect();
    let steps = (!done.is_empty()).then(|| {
        format!(
            "Checked before opening the case:\n{}",
            done.iter()
                .map(|l| format!("- {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let mut v = json!({"scope": scope, "context": context, "steps_to_reproduce": steps});
    if let Some(area) = &a.issue_area {
        v["issue_area"] = json!(area);
    }
    v
}

/// The query string that opens the case form with the answers filled in.
pub fn form_query(a: &Answers) -> String {
    let p = prefill(a);
    let mut pairs: Vec<(String, String)> =
        vec![("scope".into(), p["scope"].as_str().unwrap_or("").into())];
    if let Some(ctx) = p["context"].as_object() {
        for (k, v) in ctx {
            pairs.push((format!("context.{k}"), v.as_str().unwrap_or("").into()));
        }
    }
    if let Some(s) = p["steps_to_reproduce"].as_str() {
        pairs.push(("steps_to_reproduce".into(), s.into()));
    }
    if let Some(s) = p["issue_area"].as_str() {
        pairs.push(("issue_area".into(), s.into()));
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// "This fixed it": the check is recorded as a deflection (`check:<key>`) for a customer.
pub async fn record_fix(
    store: &dyn KbStore,
    p: &Principal,
    a: &Answers,
) -> Result<Option<Deflection>> {
    let Some(key) = a.fixed_by else {
        return Ok(None);
    };
    if !matches!(p.user.role, Role::SuperAdmin | Role::Admin) {
        return Err(DomainError::Forbidden(
            "Only customers record that a check fixed their problem.".into(),
        ));
    }
    let label = a
        .affected
        .checks()
        .iter()
        .find(|c| c.key == key)
        .map(|c| c.label)
        .unwrap_or(key);
    let d = Deflection {
        id: Uuid::now_v7(),
        at: crate::now(),
        account_id: p.user.account_id,
        user_id: p.user.id,
        entry_id: format!("check:{key}"),
        question: Question {
            subject: label.to_owned(),
            description: String::new(),
            issue_area: a.issue_area.clone(),
        },
    };
    store.record_deflection(&d).await?;
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn areas() -> Vec<crate::taxonomy::IssueArea> {
        vec![crate::taxonomy::IssueArea {
            key: "sign-in-and-redirects".into(),
            name: "Sign-in".into(),
            description: String::new(),
            queue: "identity".into(),
        }]
    }

    #[test]
    fn the_answers_become_the_case_s_scope_and_context() {
        let a = parse_answers(
            &json!({"affected": "some", "checked": ["cookies_cleared", "repeats"], "frequency": "intermittent", "browsers": "one"}),
            &areas(),
        )
        .unwrap();
        let p = prefill(&a);
        assert_eq!(p["scope"], "some_users");
        assert_eq!(
            p["context"],
            json!({"affected": "some", "frequency": "intermittent", "browsers": "one"})
        );
        assert!(
            p["steps_to_reproduce"]
                .as_str()
                .unwrap()
                .contains("cleared the cookies")
        );
        let q = form_query(&a);
        assert!(
            q.starts_with("scope=some_users&context.affected=some"),
            "{q}"
        );
        assert!(q.contains("steps_to_reproduce=Checked+before"), "{q}");
    }

    #[test]
    fn checks_of_the_other_group_and_unknown_fields_are_refused() {
        let Err(DomainError::Validation(e)) = parse_answers(
            &json!({"affected": "all", "checked": ["cookies_cleared"], "fixed_by": "nope", "x": 1}),
            &areas(),
        ) else {
            panic!("accepted")
        };
        let f: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(f, ["x", "checked[0]", "fixed_by"]);
        let Err(DomainError::Validation(e)) = parse_answers(
            &json!({"affected": "all", "checked": vec![1; 5000]}),
            &areas(),
        ) else {
            panic!("accepted")
        };
        assert_eq!(e.len(), 1, "one error for a list too long: {e:?}");
        let Err(DomainError::Validation(e)) =
            parse_answers(&json!({"affected": "everyone"}), &areas())
        else {
            panic!("accepted")
        };
        assert_eq!(e[0].message, "must be all, some or one");
        assert!(parse_answers(&json!({}), &areas()).is_err());
        assert!(
            parse_answers(&json!({"affected": "all", "issue_area": "nope"}), &areas()).is_err()
        );
    }

    #[test]
    fn the_general_page_has_no_account_and_says_where_the_sla_applies() {
        let p = page(None);
        assert_eq!(p["signed_in"], false);
        assert_eq!(p["paths"].as_array().unwrap().len(), 3);
        assert!(p["sla_note"].as_str().unwrap().contains("carries no SLA"));
        assert_eq!(p["checks"]["all_users"].as_array().unwrap().len(), 6);
    }
}
