//! The email channel's records: each message sent (one per recipient, with its last result)
//! and each message received (with what became of it and the whole original), and who may
//! read them. Rendering, sending and reading mail live in `casedesk-mail`.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::AuditRecord;
use crate::cases::CaseStore;
use crate::directory::DirectoryStore;
use crate::jobs::{Claim, Finish};
use crate::permissions::{can_see, is_support, require_scope};
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, Result, Timestamp};

/// Kind of the job that sends one message.
pub const SEND: &str = "mail.send";

/// The attempt limit of a message's job: only a backstop, since a message is retried until it
/// is older than the mail settings' retry period, like a mail server's queue (the database
/// writes each message's job with this limit in the statement that writes the message).
pub const SEND_ATTEMPTS: u32 = 100_000;

/// Template of the message that invites a new user.
pub const INVITATION_KIND: &str = "invite";
/// What the stored copy of an invitation reads once it is sent or given up: its link sets a
/// password, so it is not kept.
pub const INVITATION_KEPT_AS: &str = "(an invitation to sign in; its link is not kept)";

/// Composes the messages a case event sends (the mail crate's `Mailer`), so that a new case
/// can have them written in the transaction that stores it.
pub trait Composer: Send + Sync {
    /// The messages `event` of `case` sends, to the parties the dispatcher would choose:
    /// `csm` is the account's customer success manager, `copy_requester` its mail preference.
    fn event_mails(
        &self,
        case: &crate::cases::Case,
        event: &crate::cases::CaseEvent,
        actor_is_support: bool,
        csm: Option<String>,
        copy_requester: bool,
    ) -> Vec<NewMail>;
}

/// The messages of a new case, composed by the store once the case has its number, inside
/// the transaction that stores it (the number is in each message's subject and `Message-ID`).
/// Shared and callable again, for a group commit that retries its creates one by one.
pub type Compose = std::sync::Arc<dyn Fn(i64) -> Vec<NewMail> + Send + Sync>;

/// A message to send, written with the change that causes it (and, by the database, its
/// sending job).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMail {
    /// Identifier (UUIDv7); also the unique part of its `Message-ID`.
    pub id: Uuid,
    /// The case it belongs to (none for a notice to an unknown sender).
    pub case_number: Option<i64>,
    /// Which template (`acknowledged`, `reply`, …, `notice`).
    pub kind: String,
    /// The one recipient.
    pub recipient: String,
    /// Subject, as sent.
    pub subject: String,
    /// `Message-ID`, as sent.
    pub message_id: String,
    /// The whole RFC 5322 message.
    pub message: String,
    /// When it was queued.
    pub created_at: Timestamp,
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    /// Waiting for its first attempt.
    Queued,
    /// Handed to the relay or written to the outbox.
    Sent,
    /// The last attempt failed; another follows.
    Retrying,
    /// Given up: refused for good, or out of attempts.
    Failed,
}

impl MailState {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            MailState::Queued => "queued",
            MailState::Sent => "sent",
            MailState::Retrying => "retrying",
            MailState::Failed => "failed",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<MailState> {
        [
            MailState::Queued,
            MailState::Sent,
            MailState::Retrying,
            MailState::Failed,
        ]
        .into_iter()
        .find(|m| m.key() == s)
    }
}

/// A sent (or queued) message as recorded on its case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MailRecord {
    /// Identifier.
    pub id: Uuid,
    /// The case.
    pub case_number: Option<i64>,
    /// Which template.
    pub kind: String,
    /// To whom.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// `Message-ID`.
    pub message_id: String,
    /// Result so far.
    pub state: MailState,
    /// Attempts made.
    pub attempts: u32,
    /// The last error, if an attempt failed.
    pub last_error: Option<String>,
    /// Where it went: the relay's answer or the outbox file.
    pub detail: Option<String>,
    /// Queued at.
    pub created_at: Timestamp,
    /// Delivered to the relay or outbox at.
    pub sent_at: Option<Timestamp>,
    /// When the next attempt is due, for a message that is retrying.
    pub next_attempt_at: Option<Timestamp>,
    /// Every attempt, oldest first: each is written before the message is handed over, so
    /// one whose result never came back still shows (filled where the mail log is read, by
    /// `list_mail`).
    pub attempt_log: Vec<MailAttempt>,
}

/// What the mail log says of an attempt that never reported back.
pub const INTERRUPTED: &str = "no result came back from this attempt: the node stopped, or lost the database, while sending. The relay may hold the message, so the next attempt can deliver a second copy.";

/// How one sending attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Begun; no result yet.
    Sending,
    /// The relay took the message (or the outbox holds it).
    Sent,
    /// Refused for now; another attempt follows.
    Retrying,
    /// Refused for good, or given up.
    Failed,
    /// No result came back: the node stopped, or could not write the result, during the
    /// attempt. The relay may hold the message.
    Interrupted,
}

impl AttemptOutcome {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            AttemptOutcome::Sending => "sending",
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retrying => "retrying",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Interrupted => "interrupted",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<AttemptOutcome> {
        [
            AttemptOutcome::Sending,
            AttemptOutcome::Sent,
            AttemptOutcome::Retrying,
            AttemptOutcome::Failed,
            AttemptOutcome::Interrupted,
        ]
        .into_iter()
        .find(|m| m.key() == s)
    }

    /// The outcome a message's new state records.
    pub fn of(state: MailState) -> AttemptOutcome {
        match state {
            MailState::Sent => AttemptOutcome::Sent,
            MailState::Failed => AttemptOutcome::Failed,
            MailState::Queued | MailState::Retrying => AttemptOutcome::Retrying,
        }
    }
}

/// One attempt at sending a message, as the mail log shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MailAttempt {
    /// Its number, from 1.
    pub attempt: u32,
    /// When it began (written before the message was handed over).
    pub started_at: Timestamp,
    /// When its result was written.
    pub ended_at: Option<Timestamp>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// Why it did not send.
    pub error: Option<String>,
    /// Where it went, for a sent one.
    pub detail: Option<String>,
}

/// What beginning an attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStart {
    /// Recorded as attempt number `n`, with the job's lease extended: send it.
    Begun(u32),
    /// The job's lease was lost: another worker has the message.
    LeaseLost,
    /// Attempt `attempt`, begun at `started_at`, still has no result and may still be
    /// writing it: wait until it is stale before deciding.
    InFlight {
        /// Its number.
        attempt: u32,
        /// When it began.
        started_at: Timestamp,
    },
}

/// The result of one sending attempt, written with the end of its job.
#[derive(Debug, Clone, PartialEq)]
pub struct MailResult {
    /// The message.
    pub id: Uuid,
    /// The attempt it ends (from [`AttemptStart::Begun`]); 0 for one not recorded before it
    /// began (a transport where a repeat is harmless), recorded now with its result.
    pub attempt: u32,
    /// When the attempt began.
    pub started_at: Timestamp,
    /// Its new state.
    pub state: MailState,
    /// The error of a failed attempt.
    pub error: Option<String>,
    /// Where it went, for a sent one.
    pub detail: Option<String>,
    /// When the attempt ended.
    pub at: Timestamp,
    /// When the next attempt is due (a message that is retrying).
    pub next_attempt_at: Option<Timestamp>,
}

/// What became of a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundOutcome {
    /// Posted as a public reply on its case.
    Posted,
    /// Opened a new case.
    Opened,
    /// Written by a machine (auto-reply, bounce, list, our own message): recorded, not answered.
    Automatic,
    /// From an address that is not on the case: refused with a notice.
    RefusedSender,
    /// For a closed case: refused with a notice.
    RefusedClosed,
    /// No case and none may be opened by email: answered with how to open one.
    NoCase,
    /// Nothing in it to post (empty after trimming), or its sender is unknown and it names no case.
    Ignored,
    /// Kept for support to review before it is posted: its sender was not verified by our
    /// border, it came too often, or a machine seems to have written it.
    Held,
    /// Held, then discarded by support.
    Discarded,
}

impl InboundOutcome {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            InboundOutcome::Posted => "posted",
            InboundOutcome::Opened => "opened",
            InboundOutcome::Automatic => "automatic",
            InboundOutcome::RefusedSender => "refused_sender",
            InboundOutcome::RefusedClosed => "refused_closed",
            InboundOutcome::NoCase => "no_case",
            InboundOutcome::Ignored => "ignored",
            InboundOutcome::Held => "held",
            InboundOutcome::Discarded => "discarded",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<InboundOutcome> {
        [
            InboundOutcome::Posted,
            InboundOutcome::Opened,
            InboundOutcome::Automatic,
            InboundOutcome::RefusedSender,
            InboundOutcome::RefusedClosed,
            InboundOutcome::NoCase,
            InboundOutcome::Ignored,
            InboundOutcome::Held,
            InboundOutcome::Discarded,
        ]
        .into_iter()
        .find(|o| o.key() == s)
    }
}

/// A received message and what became of it; the whole original is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRecord {
    /// Identifier.
    pub id: Uuid,
    /// Received at.
    pub received_at: Timestamp,
    /// Sender address (lower case).
    pub sender: Option<String>,
    /// Subject.
    pub subject: String,
    /// Its `Message-ID` (a second delivery of the same id is recognised).
    pub message_id: Option<String>,
    /// The case it went to.
    pub case_number: Option<i64>,
    /// What became of it.
    pub outcome: InboundOutcome,
    /// Details: authentication verdicts, automatic kind, attachments, the reason of a refusal.
    pub detail: Value,
    /// A fingerprint of its new text and files (the same message arriving again).
    pub fingerprint: Option<String>,
    /// It counts against its sender's and case's flood limits (its sender was not found
    /// false: forged mail must not use up a customer's allowance).
    pub counts: bool,
    /// The message as received.
    pub raw: Vec<u8>,
    /// This record is the decision on a held message of the same `id`: it replaces the held
    /// row (only while it is still held) instead of adding one.
    pub replaces_held: bool,
}

/// A received message as listed (without the original).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundSummary {
    /// Identifier.
    pub id: Uuid,
    /// Received at.
    pub received_at: Timestamp,
    /// Sender.
    pub sender: Option<String>,
    /// Subject.
    pub subject: String,
    /// `Message-ID`.
    pub message_id: Option<String>,
    /// The case.
    pub case_number: Option<i64>,
    /// What became of it (stable key).
    pub outcome: String,
    /// Details.
    pub detail: Value,
}

/// What the flood breaker knows of a sender's and a case's recent mail (posted, opened or
/// held), each count read at most up to the limit it is compared with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentInbound {
    /// Messages from the sender in the window.
    pub from_sender: u32,
    /// Messages on the case in the window, when a case was named.
    pub on_case: u32,
    /// A message with the same fingerprint came from the sender or to the case in the window.
    pub repeated: bool,
}

/// What the flood breaker asks of the store about one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentQuery<'a> {
    /// The sender.
    pub sender: &'a str,
    /// The case it names, if any.
    pub case: Option<i64>,
    /// Its fingerprint, if it has one.
    pub fingerprint: Option<&'a str>,
    /// The window's start.
    pub since: Timestamp,
    /// Counts stop here (the larger limit): enough to compare, never a scan of a flood.
    pub cap: u32,
}

/// The messages sent and received on a case: support staff who may see the case.
pub async fn case_mail(
    store: &dyn MailStore,
    p: &Principal,
    number: i64,
) -> Result<(Vec<MailRecord>, Vec<InboundSummary>)> {
    require_scope(p, Scope::CasesRead)?;
    let case = store
        .get_case(number)
        .await?
        .filter(|c| can_see(p, c))
        .ok_or(DomainError::NotFound { entity: "case" })?;
    if !is_support(p) {
        return Err(DomainError::Forbidden(
            "Only support engineers can see the mail log of a case.".into(),
        ));
    }
    Ok((
        store.list_mail(case.number).await?,
        store.list_inbound(case.number).await?,
    ))
}

/// Whether `p` may see a received message (and decide on it when it is held): support
/// staff who may see its case; for a message that reached no case, managers, and agents for
/// held mail (someone must be able to release a message that would open a case).
async fn may_see_inbound(store: &dyn MailStore, p: &Principal, s: &InboundSummary) -> Result<bool> {
    if !is_support(p) {
        return Ok(false);
    }
    Ok(match s.case_number {
        Some(n) => store.get_case(n).await?.is_some_and(|c| can_see(p, &c)),
        None => {
            p.user.role == Role::Manager
                || matches!(
                    InboundOutcome::parse(&s.outcome),
                    Some(InboundOutcome::Held | InboundOutcome::Discarded)
                )
        }
    })
}

/// The original of a received message: support staff who may see it (see
/// `may_see_inbound`).
pub async fn inbound_original(
    store: &dyn MailStore,
    p: &Principal,
    id: Uuid,
) -> Result<(InboundSummary, Vec<u8>)> {
    require_scope(p, Scope::CasesRead)?;
    let missing = || DomainError::NotFound { entity: "message" };
    if !is_support(p) {
        return Err(missing());
    }
    let (summary, raw) = store.get_inbound(id).await?.ok_or_else(missing)?;
    if !may_see_inbound(store, p, &summary).await? {
        return Err(missing());
    }
    Ok((summary, raw))
}

/// Most received messages listed in one page.
pub const INBOUND_PAGE_MAX: u32 = 200;

/// Received messages in one state (`held` is the review queue), newest first, that `p` may
/// see; `before` continues after the last message of the previous page.
pub async fn inbound_by_outcome(
    store: &dyn MailStore,
    p: &Principal,
    outcome: InboundOutcome,
    limit: u32,
    before: Option<Uuid>,
) -> Result<(Vec<InboundSummary>, Option<Uuid>)> {
    require_scope(p, Scope::CasesRead)?;
    if !is_support(p) {
        return Err(DomainError::Forbidden(
            "Only support engineers can see received mail.".into(),
        ));
    }
    let limit = limit.clamp(1, INBOUND_PAGE_MAX);
    let rows = store
        .list_inbound_by_outcome(outcome.key(), before, limit)
        .await?;
    let next = (rows.len() as u32 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    // One look at each case, however many of its messages are on the page.
    let mut seen: std::collections::HashMap<Option<i64>, bool> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let allowed = match (r.case_number, seen.get(&r.case_number)) {
            (Some(_), Some(a)) => *a,
            _ => {
                let a = may_see_inbound(store, p, &r).await?;
                if r.case_number.is_some() {
                    seen.insert(r.case_number, a);
                }
                a
            }
        };
        if allowed {
            out.push(r);
        }
    }
    Ok((out, next))
}

/// A held message, with its original, for `p` to decide on: support staff with write access
/// who may see it; a message no longer held is a conflict naming what became of it.
pub async fn held_for_review(
    store: &dyn MailStore,
    p: &Principal,
    id: Uuid,
) -> Result<(InboundSummary, Vec<u8>)> {
    require_scope(p, Scope::CasesWrite)?;
    let (summary, raw) = inbound_original(store, p, id).await?;
    if summary.outcome != InboundOutcome::Held.key() {
        return Err(DomainError::Conflict(format!(
            "this message is not held: it was {}",
            summary.outcome.replace('_', " ")
        )));
    }
    Ok((summary, raw))
}

/// The record of a decision on held mail, kept in the message's details.
pub fn review(p: &Principal, decision: &str, note: Option<&str>) -> Value {
    json!({
        "decision": decision,
        "by": p.user.email,
        "at": crate::now(),
        "note": note,
    })
}

/// Discards a held message: it is kept, marked discarded with who decided, and never posted.
pub async fn discard_held(
    store: &dyn MailStore,
    p: &Principal,
    id: Uuid,
    note: Option<&str>,
) -> Result<InboundSummary> {
    let (mut summary, _) = held_for_review(store, p, id).await?;
    let mut detail = summary.detail.clone();
    detail["review"] = review(p, "discarded", note);
    let audit = AuditRecord::by(p, "mail.held.discarded", format!("mail_in:{id}"))
        .summary(json!({"case": summary.case_number, "sender": summary.sender, "note": note}));
    if !store
        .review_held(id, InboundOutcome::Discarded.key(), &detail, &audit)
        .await?
    {
        return Err(DomainError::Conflict(
            "this message was decided on by someone else just now".into(),
        ));
    }
    summary.outcome = InboundOutcome::Discarded.key().into();
    summary.detail = detail;
    Ok(summary)
}

/// Whether an account opens cases from email, and the fields such a case starts from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailIntake {
    /// Mail from a case admin that names no case opens one.
    pub enabled: bool,
    /// Intake fields every case opened by email starts from (the subject, description and
    /// contact email come from the message).
    pub defaults: Value,
}

impl EmailIntake {
    /// Reads the stored form.
    pub fn from_json(s: &str) -> EmailIntake {
        let v: Value = serde_json::from_str(s).unwrap_or(Value::Null);
        EmailIntake {
            enabled: v["enabled"].as_bool().unwrap_or(false),
            defaults: v
                .get("defaults")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({})),
        }
    }
}

/// The intake body of a case opened by a message: the defaults, then the message's subject
/// and text, and the sender as case email.
pub fn intake_body(defaults: &Value, subject: &str, text: &str, sender: &str) -> Value {
    let mut body = if defaults.is_object() {
        defaults.clone()
    } else {
        json!({})
    };
    body["subject"] = json!(subject);
    body["description"] = json!(text);
    if !body["contact"].is_object() {
        body["contact"] = json!({});
    }
    body["contact"]["email"] = json!(sender);
    body
}

/// An account's email intake; off unless set.
pub async fn email_intake(
    store: &dyn MailStore,
    p: &Principal,
    account: &str,
) -> Result<EmailIntake> {
    require_intake_editor(p)?;
    let acc = store
        .find_account(account)
        .await?
        .ok_or(DomainError::NotFound { entity: "account" })?;
    Ok(store
        .email_intake(acc.id)
        .await?
        .map(|s| EmailIntake::from_json(&s))
        .unwrap_or(EmailIntake {
            enabled: false,
            defaults: json!({}),
        }))
}

pub fn require_intake_editor(p: &Principal) -> Result<()> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can set how an account opens cases by email.".into(),
        ));
    }
    require_scope(p, Scope::Admin)
}

/// The email channel: the log of sent mail, received mail and each account's intake.
#[async_trait::async_trait]
pub trait MailStore: DirectoryStore + CaseStore {
    /// Records that an attempt at message `id` begins at `at`, before it is handed over, and
    /// extends the job's lease to `lease_until` in the same transaction. An earlier attempt
    /// still without a result is closed as interrupted when it began before `stale_before`,
    /// and answered as in flight (writing nothing) otherwise.
    async fn begin_mail_attempt(
        &self,
        claim: &Claim,
        id: Uuid,
        at: crate::Timestamp,
        lease_until: crate::Timestamp,
        stale_before: crate::Timestamp,
    ) -> Result<crate::mail::AttemptStart>;

    /// Records the end of one sending attempt with the end of its job. The attempt's outcome
    /// and the message's state are written even when the job's lease was lost meanwhile (a
    /// message the relay took stays sent); `false` when the job was not ended here.
    async fn mail_result(
        &self,
        claim: &Claim,
        result: &crate::mail::MailResult,
        finish: &Finish,
    ) -> Result<bool>;

    /// The messages of a case, oldest first.
    async fn list_mail(&self, number: i64) -> Result<Vec<crate::mail::MailRecord>>;

    /// One message and its text as sent (without its attempts: the sender needs neither).
    async fn get_mail(&self, id: Uuid) -> Result<Option<(crate::mail::MailRecord, String)>>;

    /// Records a received message and the notice that answers it (with its job); `false`,
    /// writing nothing, when a message with the same `Message-ID` was recorded before.
    async fn record_inbound(
        &self,
        received: &crate::mail::InboundRecord,
        notice: Option<&crate::mail::NewMail>,
    ) -> Result<bool>;

    /// The received message with this `Message-ID`.
    async fn find_inbound(&self, message_id: &str) -> Result<Option<crate::mail::InboundSummary>>;

    /// A received message and its original.
    async fn get_inbound(&self, id: Uuid)
    -> Result<Option<(crate::mail::InboundSummary, Vec<u8>)>>;

    /// The received messages of a case, oldest first.
    async fn list_inbound(&self, number: i64) -> Result<Vec<crate::mail::InboundSummary>>;

    /// Received messages with outcome `outcome`, newest first, older than `before`.
    async fn list_inbound_by_outcome(
        &self,
        outcome: &str,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<crate::mail::InboundSummary>>;

    /// Decides on a held message: its outcome and details replaced, with the audit entry;
    /// `false` when it is no longer held.
    async fn review_held(
        &self,
        id: Uuid,
        outcome: &str,
        detail: &serde_json::Value,
        audit: &AuditRecord,
    ) -> Result<bool>;

    /// The flood breaker's view of a received message's sender and case since `q.since`.
    async fn recent_inbound(
        &self,
        q: &crate::mail::RecentQuery<'_>,
    ) -> Result<crate::mail::RecentInbound>;

    /// The message casedesk sent with `message_id`, if any.
    async fn mail_by_message_id(&self, message_id: &str)
    -> Result<Option<crate::mail::MailRecord>>;

    /// How many notices went to `recipient` since `since` (at most a few are counted).
    async fn notices_since(&self, recipient: &str, since: crate::Timestamp) -> Result<u32>;

    /// Marks the sent message with `message_id` failed (a delivery report named it); answers
    /// the message when there is one.
    async fn bounce_mail(
        &self,
        message_id: &str,
        error: &str,
    ) -> Result<Option<crate::mail::MailRecord>>;

    /// An account's email intake (JSON), if set.
    async fn email_intake(&self, account_id: Uuid) -> Result<Option<String>>;

    /// Sets an account's email intake.
    async fn set_email_intake(
        &self,
        account_id: Uuid,
        spec: &str,
        audit: &AuditRecord,
    ) -> Result<()>;
}
