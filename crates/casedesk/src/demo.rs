//! `serve --demo`: an account per plan, users of every role, cases in every status with
//! timelines, and fresh passwords and tokens for the demo users printed on every start.

use casedesk_core::accounts::{Environment, Plan, Region};
use casedesk_core::admin::{self, NewUser};
use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_core::service::{self, Command};
use casedesk_core::store::Store;
use casedesk_core::users::{Principal, Role, Scope, User};
use casedesk_core::{DomainError, Result};
use serde_json::{Value, json};

use crate::config::Config;

mod history;

/// (account name, plan, short name, production region)
const ACCOUNTS: [(&str, Plan, &str, Region); 6] = [
    ("Alder Labs", Plan::SelfService, "alder", Region::Americas),
    ("Birchwood Retail", Plan::Silver, "birchwood", Region::Eu),
    ("Cobalt Health", Plan::Gold, "cobalt", Region::Apac),
    ("Dunmore Bank", Plan::HomeGrown, "dunmore", Region::Eu),
    (
        "Eastwind Airlines",
        Plan::Enterprise,
        "eastwind",
        Region::Americas,
    ),
    ("Fjord Energy", Plan::Platinum, "fjord", Region::Eu),
];

const SUPPORT: [(&str, Role, &[&str]); 3] = [
    (
        "ana.agent@casedesk.example",
        Role::Agent,
        &["identity", "integrations"],
    ),
    (
        "kai.agent@casedesk.example",
        Role::Agent,
        &["commerce", "security", "general"],
    ),
    ("mia.manager@casedesk.example", Role::Manager, &[]),
];

fn principal(user: User) -> Principal {
    Principal {
        origin: Default::default(),
        user,
        scopes: Scope::ALL.to_vec(),
    }
}

async fn user(store: &dyn Store, email: &str) -> Result<User> {
    store
        .find_user_by_email(email)
        .await?
        .ok_or(DomainError::NotFound {
            entity: "demo user",
        })
}

/// Loads the demo data into an empty database (or reuses it), then prints credentials and
/// where to use them; `base` is the address casedesk answers on (`http://127.0.0.1:8080`).
pub async fn load(store: &dyn Store, cfg: &Config, base: &str) -> Result<()> {
    let existing = store.list_accounts().await?;
    if existing.is_empty() {
        create(store, cfg).await?;
    } else if !existing.iter().any(|a| a.name == ACCOUNTS[0].0) {
        println!(
            "casedesk: --demo only fills an empty database; this one already has other data, so no demo data was added."
        );
        return Ok(());
    }
    print_tokens(store, base).await?;
    match cfg.mail.transport {
        casedesk_mail::TransportKind::Outbox => println!(
            "Email: messages are written as .eml files to {} (set [mail] transport = \"smtp\" to send them).",
            cfg.mail
                .outbox
                .clone()
                .unwrap_or_else(|| cfg.data.join("outbox"))
                .display()
        ),
        casedesk_mail::TransportKind::Smtp => println!(
            "Email: messages are sent through the relay {}.",
            cfg.mail.smtp.host
        ),
        casedesk_mail::TransportKind::Off => println!("Email: off; no message is sent."),
    }
    Ok(())
}

async fn create(store: &dyn Store, cfg: &Config) -> Result<()> {
    let actor = Actor::system("demo");
    casedesk_core::kb::import(store, &actor, &casedesk_core::kb::starter_files()).await?;
    for (name, plan, short, region) in ACCOUNTS {
        admin::create_account(store, name, plan, &actor).await?;
        admin::create_tenant(
            store,
            name,
            &format!("{short}-prod"),
            region,
            Environment::Production,
            &actor,
        )
        .await?;
        admin::create_tenant(
            store,
            name,
            &format!("{short}-staging"),
            Region::Eu,
            Environment::Staging,
            &actor,
        )
        .await?;
        let people = [
            ("owner", Role::SuperAdmin, false, false),
            ("ops", Role::Admin, true, false),
            ("secops", Role::Admin, true, true),
            ("viewer", Role::Admin, false, false),
        ];
        for (local, role, case_admin, elevated) in people {
            admin::create_user(
                store,
                &cfg.elevated_limits,
                NewUser {
                    account: Some(name.into()),
                    email: format!("{local}@{short}.example"),
                    role,
                    case_admin,
                    elevated,
                    queues: vec![],
                },
                &actor,
            )
            .await?;
        }
    }
    for (email, role, queues) in SUPPORT {
        admin::create_user(
            store,
            &cfg.elevated_limits,
            NewUser {
                account: None,
                email: email.into(),
                role,
                case_admin: false,
                elevated: false,
                queues: queues.iter().map(|q| (*q).to_owned()).collect(),
            },
            &actor,
        )
        .await?;
    }
    // Customer success managers: Mia for the premium accounts, Ana for Cobalt Health.
    for (account, csm) in [
        ("Eastwind Airlines", "mia.manager@casedesk.example"),
        ("Fjord Energy", "mia.manager@casedesk.example"),
        ("Cobalt Health", "ana.agent@casedesk.example"),
    ] {
        let change = admin::AccountChange {
            csm: Some(Some(csm.into())),
            copy_requester: None,
        };
        admin::set_account(store, account, &change, &actor).await?;
    }
    trust_documents(store).await?;
    saved_replies(store).await?;
    let names: Vec<(&str, &str)> = ACCOUNTS.iter().map(|a| (a.0, a.2)).collect();
    history::load(store, &names).await?;
    for short in ["eastwind", "cobalt", "birchwood"] {
        cases_for(store, short).await?;
    }
    Ok(())
}

/// Saved replies support engineers insert and edit (written for the demo).
async fn saved_replies(store: &dyn Store) -> Result<()> {
    let mia = principal(user(store, "mia.manager@casedesk.example").await?);
    let replies = [
        (
            "Ask for a HAR capture",
            "Hello {requester},\n\nTo see where the sign-in breaks, please record a HAR capture of one failing attempt and attach it to {case}. Your browser's developer tools save it from the Network tab; casedesk removes cookies, tokens and passwords before storing it.\n\n{agent}",
        ),
        (
            "Redirect URI must match exactly",
            "Hello {requester},\n\nThe redirect URI your application sends must match a registered one character for character: scheme, host, port, path and a trailing slash. Compare the two with the redirect URI check on {case}, then register the missing form for {tenant}.\n\n{agent}",
        ),
        (
            "Clock skew on token validation",
            "Hello {requester},\n\nTokens rejected as not yet valid or expired right after issue usually mean the validating server's clock is off. Please check that NTP runs on it and allow up to 60 seconds of leeway.\n\n{agent}",
        ),
    ];
    for (title, body) in replies {
        casedesk_core::kb::replies::save(store, &mia, None, title, body).await?;
    }
    Ok(())
}

/// Two Trust Center documents, written for the demo: a policy anyone may read and a
/// penetration-test summary behind the NDA (Eastwind's super admin has accepted it).
async fn trust_documents(store: &dyn Store) -> Result<()> {
    use casedesk_core::trust::{self, DocumentForm};
    let mia = principal(user(store, "mia.manager@casedesk.example").await?);
    let docs = [
        (
            "Information security policy (summary)",
            "How the platform protects customer data: access control, encryption at rest and in transit, logging, and who reviews them.",
            "false",
            "security-review",
            "security-policy.txt",
            "Information security policy, summary for customers.\n\nAccess to production is granted per task, reviewed monthly and logged.\nCustomer data is encrypted at rest and in transit.\nSigning keys are rotated on a schedule and published in each tenant's JWKS.\n",
        ),
        (
            "Penetration test summary",
            "Scope, method and the state of every finding of the latest external penetration test of the sign-in and token services.",
            "true",
            "security-review,tokens-and-jwks",
            "pentest-summary.txt",
            "External penetration test, summary.\n\nScope: sign-in pages, token and JWKS endpoints, management API.\nFindings: two medium (fixed), three low (fixed or accepted with reasons).\nNo finding allowed access across tenants.\n",
        ),
    ];
    for (title, summary, nda, topics, file, text) in docs {
        let form = DocumentForm {
            title: Some(title.into()),
            summary: Some(summary.into()),
            requires_nda: Some(nda.into()),
            topics: vec![topics.into()],
            file: Some((file.into(), text.as_bytes().to_vec())),
        };
        trust::publish(store, &mia, form).await?;
    }
    let owner = principal(user(store, "owner@eastwind.example").await?);
    trust::accept_nda(
        store,
        &owner,
        &json!({"accept": true, "name": "Erin Ward", "title": "Chief Information Security Officer"}),
    )
    .await?;
    Ok(())
}

/// When the error of a demo case happened: `hours` before now, so the demo is right on
/// whatever day it is loaded.
fn hours_ago(hours: i64) -> String {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours);
    at.round(jiff::Unit::Second).unwrap_or(at).to_string()
}

fn onboarding_case(short: &str, priority: &str, subject: &str, description: &str) -> Value {
    json!({
        "priority": priority,
        "subject": subject,
        "description": description,
        "steps_to_reproduce": "1. Open the app\n2. Choose Sign in\n3. Observe the error page after the redirect",
        "tenant": format!("{short}-prod"),
        "issue_area": "sign-in-and-redirects",
        "scope": "some_users",
        "contact": {"email": format!("ops@{short}.example"), "phone": "+1 555 0100 200", "timezone": "America/New_York"},
        "team_contacts": [format!("secops@{short}.example")],
        "stage": "onboarding",
        "identifiers": {
            "organization_id": format!("org_{short}_01"), "application_key": format!("app_{short}_portal"),
            "client_purpose": "interactive_web", "redirect_uri": format!("https://portal.{short}.example/callback"),
            "error_message": "redirect_uri_mismatch: the redirect URI is not registered for this client",
            "occurred_at": hours_ago(3)
        },
        "context": {"correlation_id": "c0ffee00-1234", "token_flow": "authorization_code", "endpoint_path": "/oauth2/authorize",
                    "frequency": "every_time", "affected": "some"},
        "checklist": {"tenant_registered": true, "application_key_verified": true, "redirect_uris_exact": false,
                      "credentials_out_of_source": true, "jwks_validation": true, "marketplace_identifiers": false}
    })
}

fn production_case(short: &str) -> Value {
    json!({
        "priority": "P3",
        "subject": "Security review before launch: JWKS validation and audit retention",
        "description": "Our security team needs confirmation that our API validates tokens from discovery metadata and how long audit events are kept.",
        "tenant": format!("{short}-prod"),
        "issue_area": "security-review",
        "scope": "admins_only",
        "business_impact": "Launch is blocked until the review is signed off.",
        "contact": {"email": format!("secops@{short}.example"), "phone": "+44 20 7946 0000", "timezone": "Europe/London"},
        "stage": "production",
        "identifiers": {"environment": "production", "deployment_model": "cloud", "review_needed_by": casedesk_core::utc_date_after(casedesk_core::now(), 30).to_string()},
        "checklist": {"jwks_validation": true}
    })
}

fn advanced_case(short: &str) -> Value {
    json!({
        "priority": "P2",
        "subject": "Offline lease not renewed for device-trust add-on",
        "description": "Devices report LEASE_EXPIRED since this morning although the entitlement is active.",
        "tenant": format!("{short}-prod"),
        "issue_area": "marketplace-and-licensing",
        "scope": "all_users",
        "contact": {"email": format!("ops@{short}.example"), "phone": "+61 2 5550 1234", "timezone": "Australia/Sydney"},
        "stage": "advanced",
        "identifiers": {"product": "device-trust", "availability": "ga", "edition": "enterprise",
                        "entitlement_id": "ent_4411", "activation_id": "act_9001"},
        "checklist": {"marketplace_identifiers": true}
    })
}

async fn cases_for(store: &dyn Store, short: &str) -> Result<()> {
    let ops = principal(user(store, &format!("ops@{short}.example")).await?);
    let secops = principal(user(store, &format!("secops@{short}.example")).await?);
    let ana = principal(user(store, "ana.agent@casedesk.example").await?);
    let kai = principal(user(store, "kai.agent@casedesk.example").await?);
    let mia = principal(user(store, "mia.manager@casedesk.example").await?);
    let open = |p: &Principal, body: Value| {
        let p = p.clone();
        async move {
            service::create_case(store, &p, &body, None, None)
                .await
                .map(|(c, _, _, _)| c.number)
        }
    };
    let act = |p: &Principal, n: i64, cmd: Command| {
        let p = p.clone();
        async move { service::act(store, &p, n, cmd).await.map(|_| ()) }
    };

    // new
    open(
        &ops,
        onboarding_case(
            short,
            "P3",
            "Staging login shows redirect_uri_mismatch",
            "redirect_uri_mismatch on the staging portal",
        ),
    )
    .await?;

    // open, assigned, with a note and a call summary
    let n = open(
        &ops,
        onboarding_case(
            short,
            "P1",
            "Nobody can sign in to the customer portal",
            "All sign-ins fail with redirect_uri_mismatch since the 09:00 deploy.",
        ),
    )
    .await?;
    act(
        &ana,
        n,
        Command::Assign {
            assignee: Some("ana.agent@casedesk.example".into()),
        },
    )
    .await?;
    act(&ana, n, Command::Reply { body: "We are looking at it now. The registered redirect URI ends in /callback/ with a trailing slash; your deploy sends /callback.".into() }).await?;
    act(&ana, n, Command::Note { body: "Customer changed the URI in their deploy pipeline; registration unchanged since June.".into() }).await?;
    act(
        &ana,
        n,
        Command::Summary {
            channel: "call".into(),
            conclusions: "Agreed to register both forms while their fix rolls out.".into(),
            next_steps: Some("Customer confirms after the 14:00 deploy.".into()),
            internal: false,
        },
    )
    .await?;
    act(
        &secops,
        n,
        Command::Escalate {
            reason: "Production outage for all portal users.".into(),
        },
    )
    .await?;
    // The customer lets support look at the tenant while they work the outage.
    service::grants::grant(
        store,
        &ops,
        n,
        &json!({"hours": 24, "scope": "read", "note": "Look at the application's redirect URIs and the sign-in logs."}),
    )
    .await?;

    // pending
    let n = open(&secops, production_case(short)).await?;
    act(&kai, n, Command::RequestInfo { body: "Could you send the discovery URL your API uses and the library that validates tokens?".into() }).await?;

    // on hold
    let n = open(&ops, advanced_case(short)).await?;
    act(&kai, n, Command::Reply { body: "The licensing service shows the lease request arriving; checking with the licensing team.".into() }).await?;
    act(
        &kai,
        n,
        Command::Hold {
            reason: "Waiting on the licensing provider to re-issue the lease.".into(),
        },
    )
    .await?;

    // solved
    let n = open(
        &ops,
        onboarding_case(
            short,
            "P4",
            "How do we rotate our client secret without downtime?",
            "We want to rotate the portal client secret.",
        ),
    )
    .await?;
    act(&ana, n, Command::ProposeResolution { body: "Create a second secret, deploy it, then revoke the old one; both work during the overlap.".into() }).await?;

    // closed
    let n = open(
        &ops,
        onboarding_case(
            short,
            "P3",
            "First sign-in loops back to the login page",
            "Users land on the login page again after consenting.",
        ),
    )
    .await?;
    act(
        &ana,
        n,
        Command::Reply {
            body:
                "The session cookie is set for the wrong domain; set the cookie domain to portal."
                    .into(),
        },
    )
    .await?;
    act(
        &mia,
        n,
        Command::ChangePriority {
            priority: "P4".into(),
            reason: "Workaround in place.".into(),
        },
    )
    .await?;
    act(
        &ana,
        n,
        Command::ProposeResolution {
            body: "Cookie domain corrected; sign-in completes.".into(),
        },
    )
    .await?;
    act(
        &ops,
        n,
        Command::ConfirmResolution {
            comment: Some("Confirmed, thank you.".into()),
        },
    )
    .await?;
    // Each account rates its closed case differently, so the report has something to show.
    let (rating, comment) = match short {
        "eastwind" => (5, "Clear answer within the hour."),
        "cobalt" => (4, "Good, though the first reply took a while."),
        _ => (2, "We had to explain the problem twice."),
    };
    service::satisfaction::rate(
        store,
        &ops,
        n,
        &json!({"rating": rating, "comment": comment}),
    )
    .await?;
    Ok(())
}

async fn print_tokens(store: &dyn Store, base: &str) -> Result<()> {
    let people: [(&str, &str); 8] = [
        (
            "owner@eastwind.example",
            "super admin, Eastwind Airlines: grants case access, the account's webhooks and audit trail",
        ),
        (
            "ops@eastwind.example",
            "case admin, Eastwind Airlines (Enterprise): sees the cases they opened",
        ),
        (
            "secops@eastwind.example",
            "elevated support contact, Eastwind Airlines: sees every case of the account",
        ),
        (
            "viewer@eastwind.example",
            "admin without case-admin: gets a 403 that says what is missing",
        ),
        ("ops@cobalt.example", "case admin, Cobalt Health (Gold)"),
        (
            "ana.agent@casedesk.example",
            "support engineer, queues identity and integrations",
        ),
        (
            "kai.agent@casedesk.example",
            "support engineer, queues commerce, security and general",
        ),
        (
            "mia.manager@casedesk.example",
            "support manager, every queue",
        ),
    ];
    println!("casedesk demo: accounts for every plan, users of every role, cases in every status.");
    println!(
        "Fresh credentials for this run (each start of --demo issues new ones): a password for /auth/login and an API token."
    );
    for (email, what) in people {
        let t = casedesk_auth::generate_token()?;
        let actor = Actor::system("demo");
        admin::create_token(store, email, &[], Some("demo".into()), t.hash, &actor).await?;
        let password = casedesk_auth::password::generate_password()?;
        let hash = casedesk_auth::password::hash_password(password.clone()).await?;
        let u = user(store, email).await?;
        let audit = AuditRecord::new(actor.clone(), "user.set_password", format!("user:{email}"))
            .account(u.account_id);
        store.set_password(u.id, Some(&hash), &audit).await?;
        println!(
            "  {email:<30} {what}\n      password {password}\n      token    {}",
            t.secret
        );
    }
    println!("Sign in:  {base}/auth/login");
    println!("Try:  curl -H 'Authorization: Bearer <token>' {base}/api/v1/cases");
    println!("API description: {base}/openapi.json");
    Ok(())
}
