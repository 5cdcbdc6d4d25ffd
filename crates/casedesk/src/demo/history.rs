//! The demo's past: 90 days of cases opened, answered, sometimes breached, solved and rated
//! at the hours a support desk really sees them, and the questions the knowledge base
//! answered, so every report and chart shows something true on the first start. Dates are
//! counted back from the clock; a fixed seed makes every load the same desk.

use casedesk_core::cases::{
    CaseFields, Contact, EventKind, ImpactScope, NewEvent, Priority, Stage, Status,
};
use casedesk_core::kb::{Deflection, Question};
use casedesk_core::satisfaction::Rating;
use casedesk_core::service::{HistoricCase, NewCase};
use casedesk_core::store::Store;
use casedesk_core::taxonomy::DEFAULT_ISSUE_AREAS;
use casedesk_core::{DomainError, Result, Timestamp};
use jiff::SignedDuration;
use serde_json::{Map, json};

/// How far back the history goes.
pub const DAYS: i64 = 90;

/// A small deterministic generator (xorshift): the same history on every load, without a
/// dependency for it.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with `percent` in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Minutes between `lo` and `hi`.
    fn minutes(&mut self, lo: i64, hi: i64) -> SignedDuration {
        let span = (hi - lo).max(1) as u64;
        SignedDuration::from_mins(lo + self.below(span) as i64)
    }
}

/// What customers ask about, by issue area: a subject and its first answer.
fn topic(area: &str, pick: u64) -> (&'static str, &'static str) {
    let list: &[(&str, &str)] = match area {
        "sign-in-and-redirects" => &[
            (
                "Login loops back to the sign-in page",
                "The session cookie was set for the wrong domain; setting it for the portal's own host fixes the loop.",
            ),
            (
                "redirect_uri_mismatch after moving to a new domain",
                "The new callback was not registered; both URIs are registered now while you switch over.",
            ),
            (
                "Consent screen shown on every sign-in",
                "The consent was requested with prompt=consent on every call; dropping it keeps the user's earlier consent.",
            ),
        ],
        "applications-and-clients" => &[
            (
                "invalid_client when calling the token endpoint",
                "The client secret was sent in the body and in the header; send it one way only.",
            ),
            (
                "How to rotate a client secret without downtime",
                "Create a second secret, deploy it, then revoke the first: both work in between.",
            ),
        ],
        "tokens-and-jwks" => &[
            (
                "API rejects tokens after key rotation",
                "Your API cached the old JWKS; refresh it when a token names an unknown kid.",
            ),
            (
                "Access token expires too early",
                "The tokens are fine; the API server's clock was four minutes fast. NTP is the fix.",
            ),
        ],
        "webhooks" => &[
            (
                "Webhook signatures fail verification",
                "The body was parsed and re-serialised before the check; verify the raw bytes.",
            ),
            (
                "Webhooks arrive minutes late",
                "Your endpoint answered after 12 s; we retry after a timeout. Answer first, then work.",
            ),
        ],
        "scim-and-provisioning" => &[
            (
                "SCIM PATCH fails with invalidValue",
                "The group's members were sent as names; SCIM wants their IDs.",
            ),
            (
                "Deprovisioned users can still sign in",
                "The connection sends active=false but the mapping ignored it; it is mapped now.",
            ),
        ],
        "enterprise-identity-providers" => &[
            (
                "SAML assertion rejected: audience mismatch",
                "The provider sends the old entity ID; update it on their side.",
            ),
            (
                "Groups claim missing from the OIDC provider",
                "The provider only sends groups when the groups scope is asked for.",
            ),
        ],
        "marketplace-and-licensing" => &[
            (
                "Seats not updated after the upgrade",
                "The entitlement was renewed on a new ID; the seats followed once re-linked.",
            ),
            (
                "Offline lease expired on kiosks",
                "The kiosks could not reach the lease service through the proxy; it is allowed now.",
            ),
        ],
        "device-trust" => &[(
            "Devices fail posture check after OS update",
            "The new OS version was not in the allowed list yet; it is added.",
        )],
        "security-review" => &[
            (
                "Audit log retention for our compliance review",
                "Audit events are kept for a year and can be exported; the evidence is in the Trust Center.",
            ),
            (
                "Confirm tenant isolation for our pentest",
                "Each tenant has its own keys and data partition; the summary is in the Trust Center.",
            ),
        ],
        _ => &[(
            "Question about our plan's support hours",
            "Your plan covers business hours in your region; P1 is answered around the clock.",
        )],
    };
    list[(pick as usize) % list.len()]
}

/// When a first answer usually comes, by priority, in minutes (and the goal it is held to).
fn answer_window(p: Priority) -> (i64, i64, i64) {
    match p {
        Priority::P1 => (6, 50, 60),
        Priority::P2 => (20, 200, 240),
        Priority::P3 => (45, 420, 480),
        Priority::P4 => (90, 1300, 1440),
    }
}

fn priority_of(d: &mut Dice) -> Priority {
    match d.below(100) {
        0..=4 => Priority::P1,
        5..=24 => Priority::P2,
        25..=74 => Priority::P3,
        _ => Priority::P4,
    }
}

fn at(t: Timestamp, after: SignedDuration) -> Timestamp {
    t.checked_add(after).unwrap_or(t)
}

fn event(
    actor: uuid::Uuid,
    kind: EventKind,
    public: bool,
    data: serde_json::Value,
    at: Timestamp,
) -> NewEvent {
    NewEvent {
        actor_id: Some(actor),
        kind,
        public,
        data,
        at,
    }
}

/// Writes the history: run before today's demo cases, so those keep the newest numbers.
pub async fn load(store: &dyn Store, accounts: &[(&str, &str)]) -> Result<u64> {
    let missing = |what: &str| DomainError::Internal(format!("demo history: no {what}"));
    let ana = store
        .find_user_by_email("ana.agent@casedesk.example")
        .await?
        .ok_or_else(|| missing("ana"))?;
    let kai = store
        .find_user_by_email("kai.agent@casedesk.example")
        .await?
        .ok_or_else(|| missing("kai"))?;
    let mia = store
        .find_user_by_email("mia.manager@casedesk.example")
        .await?
        .ok_or_else(|| missing("mia"))?;
    // (account id, [(user id, email)], production tenant id, time zone)
    let mut people = Vec::new();
    for (name, short) in accounts {
        let account = store
            .find_account(name)
            .await?
            .ok_or_else(|| missing(name))?;
        let tenant = store
            .find_tenant(&format!("{short}-prod"))
            .await?
            .ok_or_else(|| missing("tenant"))?;
        let mut users = Vec::new();
        for local in ["ops", "secops"] {
            let u = store
                .find_user_by_email(&format!("{local}@{short}.example"))
                .await?
                .ok_or_else(|| missing("customer"))?;
            users.push((u.id, u.email));
        }
        let zone = match tenant.region {
            casedesk_core::accounts::Region::Americas => "America/New_York",
            casedesk_core::accounts::Region::Eu => "Europe/Berlin",
            casedesk_core::accounts::Region::Apac => "Australia/Sydney",
        };
        people.push((account.id, users, tenant.id, zone));
    }
    if people.is_empty() {
        return Ok(0);
    }
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let now = casedesk_core::now();
    let midnight = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let mut cases = Vec::new();
    let mut deflections = Vec::new();
    for back in (1..=DAYS).rev() {
        let day = at(midnight, SignedDuration::from_hours(-24 * back));
        let weekday = day.to_zoned(jiff::tz::TimeZone::UTC).weekday();
        let weekend = matches!(
            weekday,
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        );
        // A slow rise over the quarter, quieter at weekends.
        let base = if weekend { 1 } else { 3 + (DAYS - back) / 30 };
        let count = base + dice.below(3) as i64;
        for _ in 0..count {
            let (account, users, tenant, zone) = &people[dice.below(people.len() as u64) as usize];
            let (requester, email) = &users[dice.below(2) as usize];
            let area = DEFAULT_ISSUE_AREAS[dice.below(DEFAULT_ISSUE_AREAS.len() as u64) as usize];
            let (subject, answer) = topic(area.0, dice.next());
            let priority = priority_of(&mut dice);
            // Opened in working hours, most of them; a P1 at any hour.
            let hour = if priority == Priority::P1 {
                dice.below(24) as i64
            } else {
                7 + dice.below(11) as i64
            };
            let opened = at(
                day,
                SignedDuration::from_mins(hour * 60 + dice.below(60) as i64),
            );
            if opened >= now {
                continue;
            }
            let engineer = match area.3 {
                "identity" | "integrations" => &ana,
                "general" if dice.chance(50) => &mia,
                _ => &kai,
            };
            let (lo, hi, goal) = answer_window(priority);
            // One answer in twelve comes late.
            let late = dice.chance(8);
            let first = if late {
                dice.minutes(goal + 5, goal * 2)
            } else {
                dice.minutes(lo, hi)
            };
            let answered = at(opened, first);
            let mut events = vec![event(
                engineer.id,
                EventKind::Assigned,
                false,
                json!({"assignee": engineer.email}),
                at(opened, dice.minutes(1, lo.max(2))),
            )];
            if late {
                let due = at(opened, SignedDuration::from_mins(goal));
                events.push(NewEvent {
                    actor_id: None,
                    kind: EventKind::SlaBreached,
                    public: false,
                    data: json!({"alerts": [{"alert": "breach", "target": "first_response", "cycle": 1, "at": due.to_string(), "due_at": due.to_string()}]}),
                    at: due,
                });
            }
            events.push(event(
                engineer.id,
                EventKind::Reply,
                true,
                json!({"body": "Thanks for the details; we are looking at it now."}),
                answered,
            ));
            let proposed = at(answered, dice.minutes(30, 60 * 24 * 3));
            let mut status = Status::Open;
            if proposed < now {
                events.push(event(
                    engineer.id,
                    EventKind::ResolutionProposed,
                    true,
                    json!({"body": answer, "from": "open", "to": "solved"}),
                    proposed,
                ));
                status = Status::Solved;
                let confirmed = at(proposed, dice.minutes(20, 60 * 30));
                if confirmed < now {
                    events.push(event(
                        *requester,
                        EventKind::ResolutionConfirmed,
                        true,
                        json!({"comment": "Confirmed, thank you.", "from": "solved", "to": "closed"}),
                        confirmed,
                    ));
                    status = Status::Closed;
                }
            }
            // History never leaves a clock running: a case still open is shown solved.
            if status == Status::Open {
                status = Status::Solved;
            }
            let rating = (status == Status::Closed && dice.chance(55)).then(|| {
                let score = match (late, dice.below(10)) {
                    (true, 0..=3) => 2,
                    (true, _) => 3 + dice.below(2) as u8,
                    (false, 0) => 3,
                    (false, 1..=3) => 4,
                    (false, _) => 5,
                };
                let rated_at = events.last().map(|e| e.at).unwrap_or(opened);
                Rating {
                    case_number: 0,
                    rating: score,
                    comment: (score <= 3)
                        .then(|| "The first answer took longer than we hoped.".to_owned()),
                    rated_by: email.clone(),
                    rated_at: at(rated_at, dice.minutes(5, 600)),
                }
            });
            if let Some(r) = &rating {
                events.push(event(
                    *requester,
                    EventKind::SatisfactionRated,
                    true,
                    json!({"rating": r.rating}),
                    r.rated_at,
                ));
            }
            let mut identifiers = Map::new();
            identifiers.insert(
                "organization_id".into(),
                json!(format!("org_{}", &account.simple().to_string()[..8])),
            );
            identifiers.insert("application_key".into(), json!("app_portal"));
            identifiers.insert("client_purpose".into(), json!("automation"));
            identifiers.insert("error_message".into(), json!(subject));
            identifiers.insert(
                "occurred_at".into(),
                json!(at(opened, SignedDuration::from_mins(-20)).to_string()),
            );
            cases.push(HistoricCase {
                case: NewCase {
                    account_id: *account,
                    requester_id: *requester,
                    tenant_id: *tenant,
                    queue: area.3.into(),
                    fields: CaseFields {
                        priority,
                        subject: subject.into(),
                        description: format!(
                            "{subject}. Seen since {}.",
                            opened.strftime("%Y-%m-%d")
                        ),
                        steps_to_reproduce: None,
                        issue_area: area.0.into(),
                        scope: if priority == Priority::P1 {
                            ImpactScope::AllUsers
                        } else {
                            ImpactScope::SomeUsers
                        },
                        business_impact: None,
                        contact: Contact {
                            email: email.clone(),
                            phone: "+1 555 0100 200".into(),
                            timezone: (*zone).into(),
                        },
                        stage: Stage::Onboarding,
                        identifiers,
                        context: Map::new(),
                        checklist: Map::new(),
                    },
                    team_contacts: vec![],
                    follow_up_of: None,
                    created_at: opened,
                    sla: Default::default(),
                },
                status,
                assignee: Some(engineer.id),
                events,
                rating,
            });
            // For every few cases, someone found the answer in the knowledge base instead.
            if dice.chance(35) {
                deflections.push(Deflection {
                    id: uuid::Uuid::now_v7(),
                    at: at(opened, SignedDuration::from_mins(-(dice.below(300) as i64))),
                    account_id: Some(*account),
                    user_id: *requester,
                    entry_id: deflecting_entry(area.0).into(),
                    question: Question {
                        subject: subject.into(),
                        description: String::new(),
                        issue_area: Some(area.0.into()),
                    },
                });
            }
        }
    }
    let n = store.import_history(&cases).await?.len() as u64;
    for d in &deflections {
        store.record_deflection(d).await?;
    }
    Ok(n)
}

/// A starter entry that answers questions of an issue area.
fn deflecting_entry(area: &str) -> &'static str {
    match area {
        "sign-in-and-redirects" => "login-loop-cookies",
        "applications-and-clients" => "client-secret-leaked",
        "tokens-and-jwks" => "jwks-key-rotation",
        "webhooks" => "webhook-signature-fails",
        "scim-and-provisioning" => "scim-deprovision-active-false",
        "enterprise-identity-providers" => "saml-clock-and-audience",
        "marketplace-and-licensing" => "offline-lease",
        "device-trust" => "device-trust-enrollment",
        "security-review" => "security-review-evidence",
        _ => "which-priority",
    }
}
