//! Intake: turning a requester's JSON into a [`CaseFields`], reporting every problem at once.
//!
//! Validation walks a `serde_json::Value` by hand instead of deserialising into a struct,
//! because serde stops at the first error and the brief wants all of them, by dotted path.

use serde_json::{Map, Value};

use super::{CaseFields, Contact, ImpactScope, Priority, Stage};
use crate::accounts::Tenant;
use crate::taxonomy::IssueArea;
use crate::users::{User, normalize_email};
use crate::{FieldError, Timestamp};

/// Top-level fields the create request accepts.
pub const CASE_FIELDS: [&str; 15] = [
    "priority",
    "subject",
    "description",
    "steps_to_reproduce",
    "tenant",
    "issue_area",
    "scope",
    "business_impact",
    "contact",
    "team_contacts",
    "stage",
    "identifiers",
    "context",
    "checklist",
    "follow_up_of",
];

/// Fields of `contact`.
pub const CONTACT_FIELDS: [&str; 3] = ["email", "phone", "timezone"];

/// Every identifier a case may carry; which are required depends on the stage.
pub const IDENTIFIER_FIELDS: [&str; 17] = [
    "organization_id",
    "application_key",
    "client_purpose",
    "redirect_uri",
    "error_message",
    "occurred_at",
    "environment",
    "deployment_model",
    "review_needed_by",
    "product",
    "availability",
    "edition",
    "entitlement_id",
    "activation_id",
    "membership_id",
    "provider_id",
    "scim_connection_id",
];

/// Identifiers of which an advanced-stage case needs at least one.
pub const ADVANCED_ANY_OF: [&str; 6] = [
    "edition",
    "entitlement_id",
    "activation_id",
    "membership_id",
    "provider_id",
    "scim_connection_id",
];

/// Optional context fields, each with what it is.
pub const CONTEXT_FIELDS: [(&str, &str); 18] = [
    (
        "correlation_id",
        "Correlation or request ID from a platform error page or response header",
    ),
    (
        "webhook_delivery_id",
        "ID of a webhook delivery that failed",
    ),
    (
        "token_flow",
        "OAuth flow involved: authorization_code, client_credentials, refresh_token, device_code, token_exchange, implicit or other",
    ),
    (
        "endpoint_path",
        "Path of the platform endpoint involved, such as /oauth2/token",
    ),
    ("application_name", "Name of the application involved"),
    (
        "connection_name",
        "Name of the identity provider or SCIM connection involved",
    ),
    (
        "sign_in_progress",
        "How far into the sign-in sequence users get",
    ),
    ("started_at", "When the problem started (RFC 3339)"),
    ("affected", "all or some users"),
    ("frequency", "every_time or intermittent"),
    ("browsers", "all browsers or one"),
    ("browser", "Browser and version, when only one is affected"),
    ("har_file", "Name of an attached HAR capture"),
    ("screenshot", "Name of an attached screenshot"),
    ("version", "Self-hosted deployments: version or build"),
    (
        "node_status",
        "Self-hosted deployments: status of the nodes",
    ),
    (
        "health_check_status",
        "Self-hosted deployments: result of the health check",
    ),
    ("deployment", "cloud or self_hosted"),
];

/// How an identifier of a rollout stage is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Always required at this stage.
    Required,
    /// Required when `client_purpose` is `interactive_web`.
    WhenInteractiveWeb,
    /// At least one of the stage's `OneOf` identifiers is required.
    OneOf,
}

/// A rollout stage as the form, the API and the support routes page describe it: what it is
/// for and the identifiers it needs. `validate` enforces the same rules (a test holds them
/// together).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StageRule {
    /// Stage key.
    pub key: &'static str,
    /// Title on the form.
    pub title: &'static str,
    /// What questions belong to it.
    pub description: &'static str,
    /// Its identifiers: key, label, how they are needed.
    pub identifiers: &'static [(&'static str, &'static str, Need)],
}

/// The three rollout stages.
pub const STAGE_RULES: [StageRule; 3] = [
    StageRule {
        key: "onboarding",
        title: "Onboarding: tenant, application or client setup",
        description: "Tenant, application or client setup: registration, first sign-in, redirect URIs.",
        identifiers: &[
            ("organization_id", "Organization ID", Need::Required),
            ("application_key", "Application key", Need::Required),
            ("client_purpose", "Client purpose", Need::Required),
            ("redirect_uri", "Redirect URI", Need::WhenInteractiveWeb),
            ("error_message", "Exact error message", Need::Required),
            ("occurred_at", "When it happened", Need::Required),
        ],
    },
    StageRule {
        key: "production",
        title: "Production: security review and launch readiness",
        description: "Security review and launch readiness: JWKS validation, deployment posture, tenant isolation, audit retention, webhook delivery, evidence.",
        identifiers: &[
            ("environment", "Environment", Need::Required),
            ("deployment_model", "Deployment model", Need::Required),
            ("review_needed_by", "Review needed by", Need::Required),
        ],
    },
    StageRule {
        key: "advanced",
        title: "Advanced features: marketplace, devices, enterprise providers, SCIM",
        description: "Marketplace installation, seats, activation, offline lease, device trust, enterprise OIDC providers, SCIM.",
        identifiers: &[
            ("product", "Product", Need::Required),
            ("availability", "Availability", Need::Required),
            ("edition", "Edition", Need::OneOf),
            ("entitlement_id", "Entitlement ID", Need::OneOf),
            ("activation_id", "Activation ID", Need::OneOf),
            ("membership_id", "Membership ID", Need::OneOf),
            ("provider_id", "Provider ID", Need::OneOf),
            ("scim_connection_id", "SCIM connection ID", Need::OneOf),
        ],
    },
];

impl StageRule {
    /// The identifiers always required.
    pub fn required(&self) -> Vec<&'static str> {
        self.identifiers
            .iter()
            .filter(|(_, _, n)| *n == Need::Required)
            .map(|(k, _, _)| *k)
            .collect()
    }
}

/// The pre-submission checklist: key and the statement the requester confirms.
pub const CHECKLIST_ITEMS: [(&str, &str); 6] = [
    (
        "tenant_registered",
        "The tenant is registered and an administrator can sign in to it.",
    ),
    (
        "application_key_verified",
        "The application exists under the expected organization, with the expected application key.",
    ),
    (
        "redirect_uris_exact",
        "Redirect URIs of interactive web clients match exactly: scheme, host, port and path.",
    ),
    (
        "credentials_out_of_source",
        "Automation credentials are kept out of source control and use only approved scopes.",
    ),
    (
        "jwks_validation",
        "JWTs are validated with the discovery metadata and JWKS, not with pinned keys.",
    ),
    (
        "marketplace_identifiers",
        "Marketplace or device cases carry product, edition, entitlement, activation and membership identifiers.",
    ),
];

/// Accepted `client_purpose` values.
pub const CLIENT_PURPOSES: [&str; 3] = ["interactive_web", "automation", "other"];
/// Accepted `deployment_model` values.
pub const DEPLOYMENT_MODELS: [&str; 3] = ["cloud", "self_hosted", "hybrid"];
/// Accepted `environment` values (of a production-stage case).
pub const ENVIRONMENTS: [&str; 3] = ["production", "staging", "development"];
/// Accepted `availability` values.
pub const AVAILABILITIES: [&str; 2] = ["ga", "preview"];
/// Accepted `token_flow` values.
pub const TOKEN_FLOWS: [&str; 7] = [
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "device_code",
    "token_exchange",
    "implicit",
    "other",
];

const MAX_SUBJECT: usize = 200;
const MAX_TEXT: usize = 20_000;
const MAX_SHORT: usize = 500;
const MAX_ERROR_MESSAGE: usize = 2_000;
const MAX_TEAM_CONTACTS: usize = 20;

/// What intake needs to know about the requester's account.
pub struct IntakeContext<'a> {
    /// The account's tenants.
    pub tenants: &'a [Tenant],
    /// The issue-area taxonomy.
    pub areas: &'a [IssueArea],
    /// The account's users (team contacts must be among its admins).
    pub account_users: &'a [User],
    /// Now, for checks of times in the future or past.
    pub now: Timestamp,
}

/// A validated intake: the fields plus the resolved references.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidIntake {
    /// The intake fields.
    pub fields: CaseFields,
    /// Index into `ctx.tenants` of the tenant impacted.
    pub tenant_index: usize,
    /// The queue of the issue area.
    pub queue: String,
    /// Indexes into `ctx.account_users` of the team contacts.
    pub team_contact_indexes: Vec<usize>,
    /// The case this follows up.
    pub follow_up_of: Option<i64>,
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.0.push(FieldError::new(field, msg));
    }

    /// Keeps `value` if `check` accepts it; otherwise records why under `path`.
    fn checked(
        &mut self,
        path: &str,
        value: Option<String>,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Option<String> {
        let v = value?;
        match check(&v) {
            Ok(()) => Some(v),
            Err(m) => {
                self.add(path, m);
                None
            }
        }
    }
}

fn one_of(values: &[&str]) -> String {
    format!("must be one of {}", values.join(", "))
}

/// Reads an optional string field; reports wrong types and lengths.
fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    max: usize,
    e: &mut Errors,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else if t.chars().count() > max {
                e.add(path, format!("must be at most {max} characters"));
                None
            } else if let Err(m) = check_characters(t, max >= MAX_TEXT) {
                e.add(path, m);
                None
            } else {
                Some(t.to_owned())
            }
        }
        Some(_) => {
            e.add(path, "must be a string");
            None
        }
    }
}

/// Characters that change how text around them reads without being seen: bidirectional
/// embeddings, overrides and isolates (a subject could show a different file name or
/// address than it holds).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a text's characters: no control characters (line breaks and tabs only in long
/// texts) and no bidirectional controls.
pub fn check_characters(s: &str, multi_line: bool) -> Result<(), String> {
    for c in s.chars() {
        if multi_line && matches!(c, '\n' | '\r' | '\t') {
            continue;
        }
        if c.is_control() {
            return Err(if multi_line {
                "must not contain control characters other than line breaks and tabs".into()
            } else {
                "must be one line of text, without line breaks or control characters".into()
            });
        }
        if is_bidi_control(c) {
            return Err(
                "must not contain bidirectional override or isolate characters (U+202A–U+202E, U+2066–U+2069)".into(),
            );
        }
    }
    Ok(())
}

/// Reads a required string field.
fn req_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    max: usize,
    what: &str,
    e: &mut Errors,
) -> Option<String> {
    let present = matches!(obj.get(key), Some(Value::String(s)) if !s.trim().is_empty());
    let before = e.0.len();
    let v = opt_string(obj, key, path, max, e);
    if !present && e.0.len() == before {
        e.add(path, format!("is required: {what}"));
    }
    v
}

fn req_enum(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&str],
    what: &str,
    e: &mut Errors,
) -> Option<String> {
    let v = req_string(obj, key, path, MAX_SHORT, what, e)?;
    if allowed.contains(&v.as_str()) {
        Some(v)
    } else {
        e.add(path, one_of(allowed));
        None
    }
}

fn opt_enum(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&str],
    e: &mut Errors,
) -> Option<String> {
    let v = opt_string(obj, key, path, MAX_SHORT, e)?;
    if allowed.contains(&v.as_str()) {
        Some(v)
    } else {
        e.add(path, one_of(allowed));
        None
    }
}

fn reject_unknown(obj: &Map<String, Value>, known: &[&str], prefix: &str, e: &mut Errors) {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            e.add(path, "is not a known field");
        }
    }
}

fn object<'v>(
    v: Option<&'v Value>,
    path: &str,
    required: bool,
    what: &str,
    e: &mut Errors,
) -> Option<&'v Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        None | Some(Value::Null) => {
            if required {
                e.add(path, format!("is required: {what}"));
            }
            None
        }
        Some(_) => {
            e.add(path, "must be an object");
            None
        }
    }
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    s.parse::<jiff::Timestamp>().ok()
}

/// Checks a redirect URI: absolute, and without a fragment (OAuth forbids one).
pub fn check_redirect_uri(s: &str) -> Result<(), String> {
    match url::Url::parse(s) {
        Ok(u) if u.cannot_be_a_base() && !u.scheme().contains('.') => {
            Err("must be an absolute URI such as https://app.example.com/callback".into())
        }
        Ok(u) if u.fragment().is_some() => Err(
            "must not contain a fragment (#…); the platform rejects redirect URIs with one".into(),
        ),
        Ok(_) => Ok(()),
        Err(_) => Err("must be an absolute URI such as https://app.example.com/callback".into()),
    }
}

/// Checks a phone number: digits with optional `+`, spaces, dashes, dots and parentheses; 6 to 15 digits.
pub fn check_phone(s: &str) -> Result<(), String> {
    let allowed = s.chars().enumerate().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')') || (c == '+' && i == 0)
    });
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if allowed && (6..=15).contains(&digits) {
        Ok(())
    } else {
        Err("must be a phone number with 6 to 15 digits, such as +49 30 1234567".into())
    }
}

/// Checks an IANA time-zone name against the bundled database.
pub fn check_timezone(s: &str) -> Result<(), String> {
    if (s.contains('/') || s == "UTC") && jiff::tz::db().get(s).is_ok() {
        return Ok(());
    }
    Err("must be an IANA time-zone name such as Europe/Berlin or America/New_York".into())
}

/// Validates a create request. Returns every problem found, or the normalised intake.
pub fn validate(body: &Value, ctx: &IntakeContext<'_>) -> Result<ValidIntake, Vec<FieldError>> {
    let mut e = Errors(Vec::new());
    let Value::Object(obj) = body else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    reject_unknown(obj, &CASE_FIELDS, "", &mut e);

    let priority = validate_priority(obj, &mut e);
    let subject = req_string(
        obj,
        "subject",
        "subject",
        MAX_SUBJECT,
        "a one-line summary of the problem",
        &mut e,
    );
    let description = req_string(
        obj,
        "description",
        "description",
        MAX_TEXT,
        "what happens, with error codes or log lines",
        &mut e,
    );
    let steps = opt_string(
        obj,
        "steps_to_reproduce",
        "steps_to_reproduce",
        MAX_TEXT,
        &mut e,
    );
    let business_impact = opt_string(obj, "business_impact", "business_impact", MAX_TEXT, &mut e);

    let tenant_index = validate_tenant(obj, ctx, &mut e);
    let area = validate_area(obj, ctx, &mut e);

    let scope_keys: Vec<&str> = ImpactScope::ALL.iter().map(|s| s.key()).collect();
    let scope = req_enum(
        obj,
        "scope",
        "scope",
        &scope_keys,
        "who is affected",
        &mut e,
    )
    .and_then(|s| ImpactScope::parse(&s));

    let contact = validate_contact(obj.get("contact"), &mut e);
    let team_contact_indexes = validate_team_contacts(obj.get("team_contacts"), ctx, &mut e);

    let stage_keys: Vec<&str> = Stage::ALL.iter().map(|s| s.key()).collect();
    let stage = req_enum(
        obj,
        "stage",
        "stage",
        &stage_keys,
        "the rollout stage (onboarding, production or advanced)",
        &mut e,
    )
    .and_then(|s| Stage::parse(&s));

    let identifiers = validate_identifiers(obj.get("identifiers"), stage, ctx.now, &mut e);
    let context = validate_context(obj.get("context"), &mut e);
    let checklist = validate_checklist(obj.get("checklist"), &mut e);

    let follow_up_of = validate_follow_up(obj, &mut e);

    if !e.0.is_empty() {
        return Err(e.0);
    }
    match (
        priority,
        subject,
        description,
        tenant_index,
        area,
        scope,
        contact,
        stage,
    ) {
        (
            Some(priority),
            Some(subject),
            Some(description),
            Some(tenant_index),
            Some(area),
            Some(scope),
            Some(contact),
            Some(stage),
        ) => Ok(ValidIntake {
            fields: CaseFields {
                priority,
                subject,
                description,
                steps_to_reproduce: steps,
                issue_area: area.key.clone(),
                scope,
                business_impact,
                contact,
                stage,
                identifiers,
                context,
                checklist,
            },
            tenant_index,
            queue: area.queue.clone(),
            team_contact_indexes,
            follow_up_of,
        }),
        // Every None above was reported as an error, so this is unreachable in practice;
        // answer a generic field error rather than panic.
        _ => Err(vec![FieldError::new("body", "is incomplete")]),
    }
}

/// `priority`: required, P1 to P4.
fn validate_priority(obj: &Map<String, Value>, e: &mut Errors) -> Option<Priority> {
    match opt_string(obj, "priority", "priority", 10, e) {
        Some(p) => Priority::parse(&p).or_else(|| {
            e.add("priority", "must be one of P1 (production down), P2 (production impaired), P3 (normal), P4 (question)");
            None
        }),
        None => {
            if !obj.contains_key("priority") || obj.get("priority").is_some_and(Value::is_null) {
                e.add("priority", "is required: choose P1 (production down), P2 (production impaired), P3 (normal) or P4 (question)");
            }
            None
        }
    }
}

/// `tenant`: one of the account's tenants, by slug; the answer is its index.
fn validate_tenant(
    obj: &Map<String, Value>,
    ctx: &IntakeContext<'_>,
    e: &mut Errors,
) -> Option<usize> {
    req_string(
        obj,
        "tenant",
        "tenant",
        63,
        "the slug of the impacted tenant",
        e,
    )
    .and_then(|slug| {
        let found = ctx.tenants.iter().position(|t| t.slug == slug);
        if found.is_none() {
            let slugs: Vec<&str> = ctx.tenants.iter().map(|t| t.slug.as_str()).collect();
            if slugs.is_empty() {
                e.add(
                    "tenant",
                    "your account has no tenants yet; ask support to register one",
                );
            } else {
                e.add(
                    "tenant",
                    format!(
                        "is not one of your account's tenants ({})",
                        slugs.join(", ")
                    ),
                );
            }
        }
        found
    })
}

/// `issue_area`: one of the issue areas, by key.
fn validate_area<'a>(
    obj: &Map<String, Value>,
    ctx: &IntakeContext<'a>,
    e: &mut Errors,
) -> Option<&'a IssueArea> {
    req_string(
        obj,
        "issue_area",
        "issue_area",
        100,
        "the area the problem belongs to",
        e,
    )
    .and_then(|key| {
        let found = ctx.areas.iter().find(|a| a.key == key);
        if found.is_none() {
            let keys: Vec<&str> = ctx.areas.iter().map(|a| a.key.as_str()).collect();
            e.add("issue_area", one_of(&keys));
        }
        found
    })
}

/// `follow_up_of`: the number of a closed case (whether it is closed is checked later).
fn validate_follow_up(obj: &Map<String, Value>, e: &mut Errors) -> Option<i64> {
    match obj.get("follow_up_of") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                e.add("follow_up_of", "must be the number of a closed case");
                None
            }
        },
    }
}

/// Checks a whole contact object (case email, phone, time zone) as the intake does, with the
/// errors named `contact.*`.
pub fn check_contact(v: &Value) -> Result<Contact, Vec<FieldError>> {
    let mut e = Errors(Vec::new());
    match validate_contact(Some(v), &mut e) {
        Some(c) if e.0.is_empty() => Ok(c),
        _ => Err(e.0),
    }
}

fn validate_contact(v: Option<&Value>, e: &mut Errors) -> Option<Contact> {
    let obj = object(
        v,
        "contact",
        true,
        "email, phone and timezone of the person to reach",
        e,
    )?;
    reject_unknown(obj, &CONTACT_FIELDS, "contact", e);
    let before = e.0.len();
    let email = req_string(
        obj,
        "email",
        "contact.email",
        254,
        "the email address for this case",
        e,
    )
    .and_then(|s| {
        normalize_email(&s)
            .map_err(|m| e.add("contact.email", m))
            .ok()
    });
    let phone = req_string(
        obj,
        "phone",
        "contact.phone",
        40,
        "a phone number to reach you",
        e,
    );
    let phone = e.checked("contact.phone", phone, check_phone);
    let timezone = req_string(
        obj,
        "timezone",
        "contact.timezone",
        64,
        "your time zone as an IANA name",
        e,
    );
    let timezone = e.checked("contact.timezone", timezone, check_timezone);
    if e.0.len() != before {
        return None;
    }
    Some(Contact {
        email: email?,
        phone: phone?,
        timezone: timezone?,
    })
}

fn validate_team_contacts(
    v: Option<&Value>,
    ctx: &IntakeContext<'_>,
    e: &mut Errors,
) -> Vec<usize> {
    let mut out = Vec::new();
    let items = match v {
        None | Some(Value::Null) => return out,
        Some(Value::Array(a)) => a,
        Some(_) => {
            e.add("team_contacts", "must be a list of email addresses");
            return out;
        }
    };
    if items.len() > MAX_TEAM_CONTACTS {
        e.add(
            "team_contacts",
            format!("must list at most {MAX_TEAM_CONTACTS} people"),
        );
        return out;
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("team_contacts[{i}]");
        let Some(s) = item.as_str() else {
            e.add(path, "must be an email address");
            continue;
        };
        let email = match normalize_email(s) {
            Ok(m) => m,
            Err(m) => {
                e.add(path, m);
                continue;
            }
        };
        match ctx.account_users.iter().position(|u| u.email == email && u.role.is_customer()) {
            Some(idx) if !out.contains(&idx) => out.push(idx),
            Some(_) => {}
            None => e.add(path, "is not an administrator of your account; team contacts must be existing admins of the same account"),
        }
    }
    out
}

fn validate_identifiers(
    v: Option<&Value>,
    stage: Option<Stage>,
    now: Timestamp,
    e: &mut Errors,
) -> Map<String, Value> {
    let mut out = Map::new();
    let empty = Map::new();
    let obj = match object(
        v,
        "identifiers",
        stage.is_some(),
        "the identifiers support needs for this rollout stage",
        e,
    ) {
        Some(o) => o,
        None if stage.is_some() => &empty,
        None => return out,
    };
    reject_unknown(obj, &IDENTIFIER_FIELDS, "identifiers", e);
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_owned(), Value::String(v));
        }
    };
    let p = |k: &str| format!("identifiers.{k}");

    // Optional everywhere: identifiers of another stage are kept when given.
    let is = |s: Stage| stage == Some(s);
    let onboarding = is(Stage::Onboarding);
    let production = is(Stage::Production);
    let advanced = is(Stage::Advanced);

    let string_field = |k: &str, required: bool, what: &str, max: usize, e: &mut Errors| {
        if required {
            req_string(obj, k, &p(k), max, what, e)
        } else {
            opt_string(obj, k, &p(k), max, e)
        }
    };

    put(
        "organization_id",
        string_field(
            "organization_id",
            onboarding,
            "the organization ID the application belongs to",
            MAX_SHORT,
            e,
        ),
    );
    put(
        "application_key",
        string_field(
            "application_key",
            onboarding,
            "the application key",
            MAX_SHORT,
            e,
        ),
    );
    let purpose = if onboarding {
        req_enum(
            obj,
            "client_purpose",
            &p("client_purpose"),
            &CLIENT_PURPOSES,
            "interactive_web, automation or other",
            e,
        )
    } else {
        opt_enum(
            obj,
            "client_purpose",
            &p("client_purpose"),
            &CLIENT_PURPOSES,
            e,
        )
    };
    let needs_redirect = onboarding && purpose.as_deref() == Some("interactive_web");
    let redirect = string_field(
        "redirect_uri",
        needs_redirect,
        "the redirect URI registered for the interactive web client",
        2_000,
        e,
    );
    let redirect = e.checked(&p("redirect_uri"), redirect, check_redirect_uri);
    put("client_purpose", purpose);
    put("redirect_uri", redirect);
    put(
        "error_message",
        string_field(
            "error_message",
            onboarding,
            "the exact error message users or logs show",
            MAX_ERROR_MESSAGE,
            e,
        ),
    );
    let occurred = string_field(
        "occurred_at",
        onboarding,
        "when the error happened (RFC 3339, e.g. 2026-11-20T14:03:00Z)",
        64,
        e,
    )
    .and_then(|s| match parse_timestamp(&s) {
        Some(t) if t > now + jiff::SignedDuration::from_mins(10) => {
            e.add(
                p("occurred_at"),
                "is in the future; give the time the error happened",
            );
            None
        }
        Some(t) => Some(t.to_string()),
        None => {
            e.add(
                p("occurred_at"),
                "must be an RFC 3339 time with offset, e.g. 2026-11-20T14:03:00Z",
            );
            None
        }
    });
    put("occurred_at", occurred);

    let env_keys = ENVIRONMENTS;
    let environment = if production {
        req_enum(
            obj,
            "environment",
            &p("environment"),
            &env_keys,
            "production, staging or development",
            e,
        )
    } else {
        opt_enum(obj, "environment", &p("environment"), &env_keys, e)
    };
    put("environment", environment);
    let model = if production {
        req_enum(
            obj,
            "deployment_model",
            &p("deployment_model"),
            &DEPLOYMENT_MODELS,
            "cloud, self_hosted or hybrid",
            e,
        )
    } else {
        opt_enum(
            obj,
            "deployment_model",
            &p("deployment_model"),
            &DEPLOYMENT_MODELS,
            e,
        )
    };
    put("deployment_model", model);
    let review = string_field(
        "review_needed_by",
        production,
        "the date by which the review is needed (YYYY-MM-DD)",
        32,
        e,
    )
    .and_then(|s| match s.parse::<jiff::civil::Date>() {
        Ok(d) => {
            // A day of grace: the requester's "today" may still be yesterday in UTC.
            if d < crate::utc_date_after(now, -1) {
                e.add(
                    p("review_needed_by"),
                    "is in the past; give the date the review is needed by",
                );
                None
            } else {
                Some(d.to_string())
            }
        }
        Err(_) => {
            e.add(p("review_needed_by"), "must be a date as YYYY-MM-DD");
            None
        }
    });
    put("review_needed_by", review);

    put(
        "product",
        string_field(
            "product",
            advanced,
            "the product or feature concerned",
            MAX_SHORT,
            e,
        ),
    );
    let availability = if advanced {
        req_enum(
            obj,
            "availability",
            &p("availability"),
            &AVAILABILITIES,
            "ga (generally available) or preview",
            e,
        )
    } else {
        opt_enum(obj, "availability", &p("availability"), &AVAILABILITIES, e)
    };
    put("availability", availability);
    let mut any = false;
    for k in ADVANCED_ANY_OF {
        let v = opt_string(obj, k, &p(k), MAX_SHORT, e);
        any |= v.is_some();
        put(k, v);
    }
    if advanced && !any {
        e.add(
            "identifiers",
            format!(
                "advanced-feature cases need at least one of: {}",
                ADVANCED_ANY_OF
                    .map(|k| format!("identifiers.{k}"))
                    .join(", ")
            ),
        );
    }
    out
}

/// The values a context field accepts, when it is a choice.
pub fn context_choices(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "token_flow" => Some(&TOKEN_FLOWS),
        "affected" => Some(&["all", "some"]),
        "frequency" => Some(&["every_time", "intermittent"]),
        "browsers" => Some(&["all", "one"]),
        "deployment" => Some(&["cloud", "self_hosted"]),
        _ => None,
    }
}

fn validate_context(v: Option<&Value>, e: &mut Errors) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(obj) = object(v, "context", false, "", e) else {
        return out;
    };
    let keys: Vec<&str> = CONTEXT_FIELDS.iter().map(|(k, _)| *k).collect();
    reject_unknown(obj, &keys, "context", e);
    for k in &keys {
        let path = format!("context.{k}");
        let value = match context_choices(k) {
            Some(list) => opt_enum(obj, k, &path, list, e),
            None => opt_string(obj, k, &path, MAX_ERROR_MESSAGE, e),
        };
        let value = match (*k, value) {
            ("endpoint_path", Some(s)) if !s.starts_with('/') => {
                e.add(
                    path,
                    "must be a path starting with /, such as /oauth2/token",
                );
                None
            }
            ("started_at", Some(s)) => match parse_timestamp(&s) {
                Some(t) => Some(t.to_string()),
                None => {
                    e.add(
                        path,
                        "must be an RFC 3339 time with offset, e.g. 2026-11-20T14:03:00Z",
                    );
                    None
                }
            },
            (_, v) => v,
        };
        if let Some(v) = value {
            out.insert((*k).to_owned(), Value::String(v));
        }
    }
    out
}

fn validate_checklist(v: Option<&Value>, e: &mut Errors) -> Map<String, Value> {
    let mut out = Map::new();
    let obj = object(v, "checklist", false, "", e);
    if let Some(obj) = obj {
        let keys: Vec<&str> = CHECKLIST_ITEMS.iter().map(|(k, _)| *k).collect();
        reject_unknown(obj, &keys, "checklist", e);
    }
    // Every item is recorded: an item not answered counts as not confirmed.
    for (k, _) in CHECKLIST_ITEMS {
        let confirmed = match obj.and_then(|o| o.get(k)) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                e.add(
                    format!("checklist.{k}"),
                    "must be true (confirmed) or false (not confirmed)",
                );
                false
            }
        };
        out.insert(k.to_owned(), Value::Bool(confirmed));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{Environment, Region};
    use crate::taxonomy::DEFAULT_ISSUE_AREAS;
    use crate::users::Role;
    use serde_json::json;
    use uuid::Uuid;

    fn fixtures() -> (Vec<Tenant>, Vec<IssueArea>, Vec<User>) {
        let account = Uuid::nil();
        let now = jiff::Timestamp::UNIX_EPOCH;
        let tenants = vec![Tenant {
            id: Uuid::from_u128(1),
            account_id: account,
            slug: "acme-prod".into(),
            region: Region::Eu,
            environment: Environment::Production,
            created_at: now,
        }];
        let areas = DEFAULT_ISSUE_AREAS
            .iter()
            .map(|(k, n, d, q)| IssueArea {
                key: (*k).into(),
                name: (*n).into(),
                description: (*d).into(),
                queue: (*q).into(),
            })
            .collect();
        let users = vec![User {
            id: Uuid::from_u128(2),
            account_id: Some(account),
            email: "secops@acme.example".into(),
            role: Role::Admin,
            case_admin: false,
            elevated: false,
            queues: vec![],
            created_at: now,
            deactivated_at: None,
        }];
        (tenants, areas, users)
    }

    fn valid() -> Value {
        json!({
            "priority": "P2", "subject": "Sign-in fails after redirect", "description": "invalid_request",
            "tenant": "acme-prod", "issue_area": "sign-in-and-redirects", "scope": "some_users",
            "contact": {"email": "ops@acme.example", "phone": "+49 30 1234567", "timezone": "Europe/Berlin"},
            "team_contacts": ["secops@acme.example"],
            "stage": "onboarding",
            "identifiers": {"organization_id": "org_1", "application_key": "app_1", "client_purpose": "interactive_web",
                "redirect_uri": "https://app.acme.example/callback", "error_message": "redirect_uri_mismatch",
                "occurred_at": "2026-11-20T14:03:00Z"},
            "checklist": {"tenant_registered": true}
        })
    }

    fn run(body: &Value) -> Result<ValidIntake, Vec<FieldError>> {
        let (t, a, u) = fixtures();
        let now: jiff::Timestamp = "2026-11-22T00:00:00Z"
            .parse()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        validate(
            body,
            &IntakeContext {
                tenants: &t,
                areas: &a,
                account_users: &u,
                now,
            },
        )
    }

    fn fields(r: Result<ValidIntake, Vec<FieldError>>) -> Vec<String> {
        match r {
            Ok(_) => vec![],
            Err(e) => e.into_iter().map(|f| f.field).collect(),
        }
    }

    #[test]
    fn a_complete_onboarding_case_is_accepted_and_the_checklist_recorded() {
        let v = run(&valid());
        let Ok(v) = v else {
            panic!("expected valid: {v:?}")
        };
        assert_eq!(v.queue, "identity");
        assert_eq!(
            v.fields.checklist.get("tenant_registered"),
            Some(&Value::Bool(true))
        );
        assert_eq!(
            v.fields.checklist.get("jwks_validation"),
            Some(&Value::Bool(false))
        );
        assert_eq!(v.team_contact_indexes, vec![0]);
    }

    #[test]
    fn the_stage_rules_name_what_validation_demands() {
        let one_of: Vec<&str> = STAGE_RULES[2]
            .identifiers
            .iter()
            .filter(|(_, _, n)| *n == Need::OneOf)
            .map(|(k, _, _)| *k)
            .collect();
        assert_eq!(one_of, ADVANCED_ANY_OF);
        for rule in STAGE_RULES {
            let mut body = valid();
            body["stage"] = json!(rule.key);
            body["identifiers"] = json!({});
            let missing: Vec<String> = fields(run(&body))
                .into_iter()
                .filter_map(|f| f.strip_prefix("identifiers.").map(str::to_owned))
                .collect();
            assert_eq!(missing, rule.required(), "stage {}", rule.key);
            let mut body = valid();
            body["stage"] = json!(rule.key);
            let ids = body["identifiers"].as_object_mut().unwrap();
            ids.clear();
            for k in rule.required() {
                ids.insert(k.into(), json!("x"));
            }
            let left: Vec<String> = fields(run(&body))
                .into_iter()
                .filter(|f| f.starts_with("identifiers"))
                .collect();
            // What is left is only what the rules mark conditional or one-of.
            let conditional: Vec<&str> = rule
                .identifiers
                .iter()
                .filter(|(_, _, n)| *n != Need::Required)
                .map(|(k, _, _)| *k)
                .collect();
            assert!(
                left.iter().all(|f| f == "identifiers"
                    || conditional.iter().any(|k| f.ends_with(k))
                    || rule.required().iter().any(|k| f.ends_with(k))),
                "stage {}: {left:?}",
                rule.key
            );
        }
    }

    #[test]
    fn every_missing_field_is_reported_at_once() {
        let f = fields(run(&json!({})));
        for want in [
            "priority",
            "subject",
            "description",
            "tenant",
            "issue_area",
            "scope",
            "contact",
            "stage",
        ] {
            assert!(f.contains(&want.to_string()), "{want} missing from {f:?}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected_at_every_level() {
        let mut b = valid();
        b["colour"] = json!("red");
        b["contact"]["fax"] = json!("1");
        b["identifiers"]["kid"] = json!("x");
        b["checklist"]["done"] = json!(true);
        let f = fields(run(&b));
        assert_eq!(
            f,
            vec!["colour", "contact.fax", "identifiers.kid", "checklist.done"]
        );
    }

    #[test]
    fn redirect_uri_is_required_only_for_interactive_web_and_must_be_absolute() {
        let mut b = valid();
        b["identifiers"]
            .as_object_mut()
            .map(|o| o.remove("redirect_uri"));
        assert_eq!(fields(run(&b)), vec!["identifiers.redirect_uri"]);
        b["identifiers"]["client_purpose"] = json!("automation");
        assert!(run(&b).is_ok());
        b["identifiers"]["redirect_uri"] = json!("/callback");
        assert_eq!(fields(run(&b)), vec!["identifiers.redirect_uri"]);
        b["identifiers"]["redirect_uri"] = json!("https://a.example/cb#x");
        assert_eq!(fields(run(&b)), vec!["identifiers.redirect_uri"]);
    }

    #[test]
    fn production_and_advanced_stages_require_their_identifiers() {
        let mut b = valid();
        b["stage"] = json!("production");
        b["identifiers"] = json!({});
        assert_eq!(
            fields(run(&b)),
            vec![
                "identifiers.environment",
                "identifiers.deployment_model",
                "identifiers.review_needed_by"
            ]
        );
        b["stage"] = json!("advanced");
        assert_eq!(
            fields(run(&b)),
            vec![
                "identifiers.product",
                "identifiers.availability",
                "identifiers"
            ]
        );
        b["identifiers"] =
            json!({"product": "seats", "availability": "preview", "membership_id": "m1"});
        assert!(run(&b).is_ok());
    }

    #[test]
    fn times_are_judged_against_the_given_now() {
        // `run` fixes now at 2026-11-22T00:00:00Z: these dates are data around that instant.
        let mut b = valid();
        for (at, ok) in [
            ("2026-11-22T00:10:00Z", true),
            ("2026-11-22T00:10:01Z", false),
            ("1999-01-01T00:00:00Z", true),
        ] {
            b["identifiers"]["occurred_at"] = json!(at);
            assert_eq!(run(&b).is_ok(), ok, "occurred_at {at}");
        }
        b["stage"] = json!("production");
        for (day, ok) in [
            ("2026-11-20", false),
            ("2026-11-21", true),
            ("2026-11-22", true),
            ("2099-01-01", true),
        ] {
            b["identifiers"] = json!({"environment": "production", "deployment_model": "cloud", "review_needed_by": day});
            assert_eq!(run(&b).is_ok(), ok, "review_needed_by {day}");
        }
    }

    #[test]
    fn formats_are_checked() {
        let mut b = valid();
        b["contact"] = json!({"email": "nope", "phone": "call me", "timezone": "Mars/Olympus"});
        b["identifiers"]["occurred_at"] = json!("yesterday");
        b["priority"] = json!("P0");
        b["team_contacts"] = json!(["stranger@else.example"]);
        let f = fields(run(&b));
        assert_eq!(
            f,
            vec![
                "priority",
                "contact.email",
                "contact.phone",
                "contact.timezone",
                "team_contacts[0]",
                "identifiers.occurred_at"
            ]
        );
    }

    #[test]
    fn phone_and_timezone_rules() {
        assert!(check_phone("+1 (555) 010-9999").is_ok());
        assert!(check_phone("12").is_err());
        assert!(check_timezone("America/New_York").is_ok());
        assert!(check_timezone("EST5EDT-ish").is_err());
    }
}
