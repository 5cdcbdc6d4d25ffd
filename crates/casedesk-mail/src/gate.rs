//! The mail gate: one received message, read, threaded onto its case and posted as a reply by
//! its sender, or recorded with the reason it was not (and, where a person is waiting for an
//! answer, a short notice). Automatic mail is recorded and never answered, so no loop starts.

use casedesk_core::DomainError;
use casedesk_core::attachments::{Prepared, Sink, Upload};
use casedesk_core::audit::Origin;
use casedesk_core::cases::Case;
use casedesk_core::mail::{EmailIntake, InboundOutcome, InboundRecord, NewMail, intake_body};
use casedesk_core::permissions::{can_see, may_answer_by_email};
use casedesk_core::service::{self, Command, MAX_BODY};
use casedesk_core::store::Store;
use casedesk_core::users::{Principal, Scope, User};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::inbound::{Automatic, Inbound, Refusal, Trust, read};
use crate::mailer::Mailer;

/// Why the gate refused a message outright (nothing was recorded).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The message could not be read; the MTA should bounce it with this text.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Storage failed; the MTA should try again later.
    #[error(transparent)]
    Domain(#[from] DomainError),
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ingested {
    /// The record of the received message.
    pub id: Uuid,
    /// What became of it (stable key).
    pub outcome: String,
    /// The case it went to or opened.
    pub case: Option<i64>,
    /// This `Message-ID` was received before; nothing was done again.
    pub duplicate: bool,
    /// Whether a notice was sent back.
    pub notice: bool,
    /// The reason, for a message that was not posted.
    pub reason: Option<String>,
    /// For machine-written mail, which kind: `own_message`, `delivery_report`, `auto_reply`, `bulk`.
    pub automatic: Option<String>,
}

/// Content types never kept from a message: programs and scripts.
const REFUSED_TYPES: [&str; 8] = [
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-executable",
    "application/x-sh",
    "application/x-bat",
    "application/x-msi",
    "application/vnd.microsoft.portable-executable",
    "application/java-archive",
];
const REFUSED_SUFFIXES: [&str; 9] = [
    ".exe", ".bat", ".cmd", ".com", ".scr", ".msi", ".js", ".vbs", ".jar",
];

fn automatic_key(a: Automatic) -> &'static str {
    match a {
        Automatic::OwnMessage => "own_message",
        Automatic::DeliveryReport => "delivery_report",
        Automatic::AutoReply => "auto_reply",
        Automatic::Bulk => "bulk",
    }
}

/// The attachments of a message judged by the attachment rules (size limit, type); inline
/// parts of a reply (signature logos) are listed but not kept as case files.
fn attachments(m: &Inbound, max: usize) -> Vec<Value> {
    m.attachments
        .iter()
        .map(|a| {
            let name = a.name.clone().unwrap_or_else(|| "unnamed".into());
            let lower = name.to_ascii_lowercase();
            let refused = if a.size > max {
                Some(format!("larger than the limit of {max} bytes"))
            } else if REFUSED_TYPES.contains(&a.content_type.as_str())
                || REFUSED_SUFFIXES.iter().any(|s| lower.ends_with(s))
            {
                Some("programs and scripts are not accepted".to_owned())
            } else {
                None
            };
            json!({
                "name": name,
                "content_type": a.content_type,
                "size": a.size,
                "inline": a.inline,
                "accepted": refused.is_none(),
                "refused": refused,
            })
        })
        .collect()
}

fn intake_account(u: &User) -> Uuid {
    u.account_id.unwrap_or_default()
}

/// Prepares the accepted files of a message the way uploads are prepared (a HAR capture
/// scrubbed, text scrubbed); each answers its index in the message and what became of it.
async fn prepare_files(
    r: &mut Received<'_>,
    sink: &Sink<'_>,
    account: Uuid,
    uploader: Uuid,
) -> Result<Vec<(usize, Result<Prepared, String>)>, GateError> {
    let tag = casedesk_core::attachments::tag_for(sink.secrets, account)?;
    let mut uploads = Vec::new();
    for (i, a) in r.m.attachments.iter_mut().enumerate() {
        let accepted = r.detail["attachments"][i]["accepted"] == json!(true);
        if accepted && !a.inline {
            let name = a.name.clone().unwrap_or_else(|| "attachment".into());
            uploads.push((
                i,
                Upload {
                    name,
                    bytes: std::mem::take(&mut a.bytes),
                },
            ));
        }
    }
    if uploads.is_empty() {
        return Ok(Vec::new());
    }
    let limits = sink.config.clone();
    let limit = limits.max_file_bytes;
    let har_limit = limits.max_har_bytes;
    tokio::task::spawn_blocking(move || {
        uploads
            .into_iter()
            .map(|(i, u)| {
                let max = if casedesk_core::attachments::is_har_name(&u.name) {
                    har_limit.max(limit)
                } else {
                    limit
                };
                if u.bytes.len() as u64 > max {
                    return (i, Err(format!("larger than the limit of {max} bytes")));
                }
                let name = u.name.clone();
                match casedesk_core::attachments::prepare(
                    u,
                    &name,
                    true,
                    Some(uploader),
                    &tag,
                    &limits,
                ) {
                    Ok(p) => (i, Ok(p)),
                    Err(DomainError::Validation(v)) => (
                        i,
                        Err(v.first().map(|f| f.message.clone()).unwrap_or_default()),
                    ),
                    Err(e) => (i, Err(e.to_string())),
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| DomainError::Internal(format!("preparing attachments: {e}")).into())
}

/// Stores the accepted files of a message the way uploads are stored, and updates the
/// message's list of attachments with what became of each. A capture that cannot be read is
/// refused and nothing of it is kept; the rest of the message still counts.
async fn keep_files(
    r: &mut Received<'_>,
    sink: Option<Sink<'_>>,
    account: Uuid,
    uploader: Uuid,
) -> Result<Vec<Prepared>, GateError> {
    let Some(sink) = sink else {
        return Ok(Vec::new());
    };
    let results = prepare_files(r, &sink, account, uploader).await?;
    let mut kept = Vec::new();
    for (i, res) in results {
        let entry = &mut r.detail["attachments"][i];
        match res {
            Ok(mut p) => {
                entry["id"] = json!(p.attachment.id);
                entry["kind"] = json!(p.attachment.kind);
                entry["stored_as"] = json!(p.attachment.file_name);
                if !p.found.is_empty() {
                    entry["secrets_removed"] = p.found.notice();
                }
                let content = std::mem::take(&mut p.content);
                sink.blobs.put(&p.attachment.sha256, content).await?;
                kept.push(p);
            }
            Err(why) => {
                entry["accepted"] = json!(false);
                entry["refused"] = json!(why);
            }
        }
    }
    Ok(kept)
}

/// The files of a held message as they would be stored (scrubbed), kept inside its stored
/// original so that releasing it later posts them; nothing is stored with a case yet.
async fn hold_files(
    r: &mut Received<'_>,
    sink: Option<Sink<'_>>,
    account: Uuid,
    uploader: Uuid,
) -> Result<(), GateError> {
    let Some(sink) = sink else {
        return Ok(());
    };
    for (i, res) in prepare_files(r, &sink, account, uploader).await? {
        match res {
            Ok(p) => r.kept_files.push((
                p.attachment.file_name.clone(),
                p.attachment.content_type.clone(),
                p.content,
            )),
            Err(why) => {
                let entry = &mut r.detail["attachments"][i];
                entry["accepted"] = json!(false);
                entry["refused"] = json!(why);
            }
        }
    }
    Ok(())
}

/// The header block of a message without its MIME structure headers (folded lines kept
/// with their header), so a body of another structure can follow it.
fn headers_without_mime(headers: &str) -> String {
    let mut out = String::with_capacity(headers.len());
    let mut keep = true;
    for line in headers.split_inclusive('\n') {
        if !line.starts_with([' ', '\t']) {
            let name = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            keep = !(name.starts_with("content-") || name == "mime-version");
        }
        if keep {
            out.push_str(line.trim_end_matches(['\r', '\n']));
            out.push_str("\r\n");
        }
    }
    out
}

/// Base64 in lines of 76 characters, as MIME bodies are written.
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(text.len() + text.len() / 76 * 2 + 2);
    for line in text.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push_str("\r\n");
    }
    out
}

/// A header value made safe to write as one ASCII line.
fn ascii_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| *c != '"' && *c != '\\')
        .take(200)
        .collect()
}

/// What is kept of a received message: the original as it came when it carries no file and
/// no secret. Otherwise a well-formed MIME message: its headers (scrubbed), its text
/// (scrubbed), and — for held mail, which support may still release — its accepted files as
/// they would be stored (`files`, already scrubbed); files not kept are named in
/// `X-Casedesk-Files`. No unscrubbed copy of a capture or a token reaches the database.
fn stored_original(raw: &[u8], m: &Inbound, files: &[(String, String, Vec<u8>)]) -> Vec<u8> {
    use casedesk_core::diagnostics::secrets::{self, Found, Tag};
    let mut found = Found::default();
    let text = secrets::scrub(&m.text, &Tag::Plain, &mut found)
        .ok()
        .flatten();
    let whole = String::from_utf8_lossy(raw);
    let raw_hit = !matches!(secrets::scrub(&whole, &Tag::Plain, &mut found), Ok(None));
    if m.attachments.is_empty() && text.is_none() && !raw_hit {
        return raw.to_vec();
    }
    let end = whole
        .find("\r\n\r\n")
        .or_else(|| whole.find("\n\n"))
        .unwrap_or(whole.len());
    let headers = &whole[..end];
    let headers = secrets::scrub(headers, &Tag::Plain, &mut found)
        .ok()
        .flatten()
        .unwrap_or_else(|| headers.to_owned());
    let body = text.unwrap_or_else(|| m.text.clone());
    let boundary = format!("casedesk-kept-{}", Uuid::now_v7().simple());
    let kept_names: Vec<&str> = files.iter().map(|(n, _, _)| n.as_str()).collect();
    let named: Vec<String> = m
        .attachments
        .iter()
        .filter(|a| !kept_names.contains(&a.name.as_deref().unwrap_or("")))
        .map(|a| {
            format!(
                "{} ({}, {} bytes)",
                ascii_value(a.name.as_deref().unwrap_or("unnamed")),
                ascii_value(&a.content_type),
                a.size
            )
        })
        .collect();
    let mut out = headers_without_mime(&headers);
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(if files.is_empty() {
        "X-Casedesk-Kept: text with secrets removed; files stored with the case\r\n"
    } else {
        "X-Casedesk-Kept: text and files with secrets removed\r\n"
    });
    if !named.is_empty() {
        out.push_str(&format!("X-Casedesk-Files: {}\r\n", named.join("; ")));
    }
    out.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        base64_lines(body.as_bytes())
    ));
    for (name, ct, bytes) in files {
        let name = ascii_value(name);
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: {}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            ascii_value(ct),
            base64_lines(bytes)
        ));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// A held message being released by support: its record is replaced, not added.
struct Release {
    id: Uuid,
    review: Value,
    /// The files refused when it was held (not kept in its stored original), still listed.
    refused: Vec<Value>,
}

struct Received<'a> {
    raw: &'a [u8],
    m: Inbound,
    detail: Value,
    release: Option<&'a Release>,
    /// For held mail: its files as they would be stored (name, type, scrubbed content).
    kept_files: Vec<(String, String, Vec<u8>)>,
}

impl Received<'_> {
    fn record(
        &self,
        outcome: InboundOutcome,
        case: Option<i64>,
        reason: Option<&str>,
    ) -> InboundRecord {
        use casedesk_core::diagnostics::secrets::{self, Found, Tag};
        let mut detail = self.detail.clone();
        if let Some(r) = reason {
            detail["reason"] = json!(r);
        }
        if let Some(rel) = self.release {
            detail["review"] = rel.review.clone();
        }
        // The log of received mail keeps no secret either: its details and subject meet the
        // detector like the message's text.
        let mut found = Found::default();
        let _ = secrets::scrub_strings(&mut detail, &Tag::Plain, &mut found);
        let subject = secrets::scrub(&self.m.subject, &Tag::Plain, &mut found)
            .ok()
            .flatten()
            .unwrap_or_else(|| self.m.subject.clone());
        InboundRecord {
            id: self.release.map(|r| r.id).unwrap_or_else(Uuid::now_v7),
            received_at: casedesk_core::now(),
            sender: self.m.from.clone(),
            subject,
            message_id: self.m.message_id.clone(),
            case_number: case,
            outcome,
            detail,
            raw: if self.release.is_some() {
                // The stored original stays as it was kept when the message was held.
                Vec::new()
            } else {
                stored_original(self.raw, &self.m, &self.kept_files)
            },
            replaces_held: self.release.is_some(),
            fingerprint: self.m.fingerprint(),
            // Support vouched for a released message; otherwise only a sender not found
            // false counts against the flood limits.
            counts: self.release.is_some()
                || !matches!(
                    self.m.authentication.trust,
                    Trust::Failed | Trust::Unverified
                ),
        }
    }
}

fn principal(user: User) -> Principal {
    Principal {
        user,
        scopes: vec![Scope::CasesRead, Scope::CasesWrite],
        origin: Origin::default(),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_BODY).collect()
}

/// Reads `raw` and does what it asks: see the module documentation.
pub async fn ingest(
    store: &dyn Store,
    mailer: &Mailer,
    raw: &[u8],
    sink: Option<Sink<'_>>,
) -> Result<Ingested, GateError> {
    ingest_with(store, mailer, raw, sink, None).await
}

/// Releases a held message: it is read again and posted (or opens its case) as its sender,
/// although its sender was not verified or it came too often; the decision is recorded on
/// the message and in the audit trail. `p` must be support staff who may see it.
pub async fn release(
    store: &dyn Store,
    mailer: &Mailer,
    p: &Principal,
    id: Uuid,
    note: Option<&str>,
    sink: Option<Sink<'_>>,
) -> Result<Ingested, GateError> {
    let (summary, raw) = casedesk_core::mail::held_for_review(store, p, id).await?;
    let refused = summary.detail["attachments"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["accepted"] == json!(false))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let rel = Release {
        id,
        review: casedesk_core::mail::review(p, "released", note),
        refused,
    };
    let out = ingest_with(store, mailer, &raw, sink, Some(&rel)).await?;
    if out.duplicate {
        return Err(DomainError::Conflict(
            "this message was decided on by someone else just now".into(),
        )
        .into());
    }
    let audit =
        casedesk_core::audit::AuditRecord::by(p, "mail.held.released", format!("mail_in:{id}"))
            .summary(json!({
                "case": out.case,
                "sender": summary.sender,
                "outcome": out.outcome,
                "note": note,
            }));
    store.append_audit(&audit).await?;
    Ok(out)
}

async fn ingest_with(
    store: &dyn Store,
    mailer: &Mailer,
    raw: &[u8],
    sink: Option<Sink<'_>>,
    release: Option<&Release>,
) -> Result<Ingested, GateError> {
    let marks = mailer.marks();
    let m = read(raw, &marks)?;
    if release.is_none()
        && let Some(id) = &m.message_id
        && let Some(before) = store.find_inbound(id).await?
    {
        return Ok(Ingested {
            id: before.id,
            outcome: before.outcome,
            case: before.case_number,
            duplicate: true,
            notice: false,
            reason: None,
            automatic: None,
        });
    }
    let auth = &m.authentication;
    let detail = json!({
        "from_name": m.from_name,
        "authentication": {
            "spf": auth.spf,
            "dkim": auth.dkim,
            "dmarc": auth.dmarc,
            "trust": auth.trust.key(),
            "reason": auth.reason,
        },
        "sender_verified": auth.verified(),
        "automatic": m.automatic.map(automatic_key),
        "attachments": attachments(&m, mailer.config().max_attachment_bytes),
    });
    let mut r = Received {
        raw,
        m,
        detail,
        release,
        kept_files: Vec::new(),
    };
    if let (Some(rel), Some(list)) = (release, r.detail["attachments"].as_array_mut()) {
        list.extend(rel.refused.iter().cloned());
    }
    let threaded = r.m.threaded_case(&marks).or(r.m.tagged_case);
    let case = match threaded {
        Some(n) => store.get_case(n).await?,
        None => None,
    };

    if r.m.automatic.is_some() {
        return automatic_mail(store, r, case).await;
    }
    let Some(sender) = r.m.from.clone() else {
        let rec = r.record(
            InboundOutcome::Ignored,
            None,
            Some("the message has no sender"),
        );
        return finish(store, &r, rec, None).await;
    };
    // A deactivated user writes as a stranger would: nothing is posted in their name.
    let user = store
        .find_user_by_email(&sender)
        .await?
        .filter(|u| u.active());
    match case {
        Some(case) => reply(store, mailer, r, sender, user, case, sink).await,
        None => new_message(store, mailer, r, sender, user, sink).await,
    }
}

/// Machine-written mail is recorded (on its case when it names one) and never answered; a
/// delivery report that names a message of ours marks that message failed with its reason.
async fn automatic_mail(
    store: &dyn Store,
    mut r: Received<'_>,
    case: Option<Case>,
) -> Result<Ingested, GateError> {
    let mut case_number = case.as_ref().map(|c| c.number);
    if let Some(b) = r.m.bounce.clone() {
        let mut fact = json!({
            "message_id": b.original,
            "action": b.action,
            "status": b.status,
            "recipient": b.recipient,
            "diagnostic": b.diagnostic,
        });
        // Only a report that the message will not arrive changes it; a delay is recorded.
        // A report that names a recipient must name the one the message went to.
        let ours = store.mail_by_message_id(&b.original).await?.filter(|m| {
            b.recipient
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case(&m.recipient))
        });
        if b.failed()
            && ours.is_some()
            && let Some(mail) = store.bounce_mail(&b.original, &b.reason()).await?
        {
            fact["mail"] = json!(mail.id);
            case_number = mail.case_number.or(case_number);
        }
        r.detail["bounce"] = fact;
    }
    let rec = r.record(InboundOutcome::Automatic, case_number, None);
    finish(store, &r, rec, None).await
}

/// Writes the record (and the notice), or finds that a concurrent delivery did.
async fn finish(
    store: &dyn Store,
    r: &Received<'_>,
    rec: InboundRecord,
    notice: Option<NewMail>,
) -> Result<Ingested, GateError> {
    let reason = rec.detail["reason"].as_str().map(str::to_owned);
    if !store.record_inbound(&rec, notice.as_ref()).await? {
        return duplicate(store, r).await;
    }
    Ok(Ingested {
        id: rec.id,
        outcome: rec.outcome.key().into(),
        case: rec.case_number,
        duplicate: false,
        notice: notice.is_some(),
        reason,
        automatic: r.m.automatic.map(|a| automatic_key(a).to_owned()),
    })
}

async fn duplicate(store: &dyn Store, r: &Received<'_>) -> Result<Ingested, GateError> {
    let before = match (&r.release, &r.m.message_id) {
        (Some(rel), _) => store.get_inbound(rel.id).await?.map(|(s, _)| s),
        (None, Some(id)) => store.find_inbound(id).await?,
        (None, None) => None,
    };
    let before = before.ok_or_else(|| DomainError::Internal("duplicate not found".into()))?;
    Ok(Ingested {
        id: before.id,
        outcome: before.outcome,
        case: before.case_number,
        duplicate: true,
        notice: false,
        reason: None,
        automatic: None,
    })
}

/// A notice to `to`, unless that could start or feed a loop or reach a stranger: `to` unknown
/// to casedesk and not verified by our border (a forged sender must not turn casedesk into a
/// source of backscatter); the message answers one of our notices, or reads like a machine's;
/// or `to` had a notice within the hour (a stranger's ticket tool answering each one).
async fn notice_for(
    store: &dyn Store,
    mailer: &Mailer,
    r: &Received<'_>,
    to: &str,
    known: bool,
    subject: &str,
    text: &str,
) -> Result<Option<NewMail>, GateError> {
    if !mailer.enabled() || !(known || r.m.authentication.verified()) {
        return Ok(None);
    }
    let domain = mailer.marks().message_id_domain;
    let answers_a_notice = r.m.thread.iter().any(|id| {
        id.rsplit_once('@').is_some_and(|(local, host)| {
            local.starts_with("notice.") && host.eq_ignore_ascii_case(&domain)
        })
    });
    if answers_a_notice || r.m.machine_like().is_some() {
        return Ok(None);
    }
    let hour_ago = casedesk_core::now()
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap_or_else(|_| casedesk_core::now());
    // A `+tag` reaches the same mailbox: the limit is per mailbox.
    if store
        .notices_since(&crate::inbound::mailbox_of(to), hour_ago)
        .await?
        > 0
    {
        return Ok(None);
    }
    Ok(mailer
        .notice(to, subject, text, r.m.message_id.as_deref())
        .map_err(|e| tracing::warn!(error = %e, "notice not composed"))
        .ok())
}

/// Why a message is held for review instead of posted, if it is.
struct Hold {
    kind: &'static str,
    reason: String,
}

/// The checks a message passes before it is posted as its sender (skipped when support
/// releases it): our border verified the sender (when `authserv_id` is set), it does not read
/// like a machine's acknowledgement, and neither its sender nor its case has sent too much or
/// the same text lately.
async fn hold_reason(
    store: &dyn Store,
    mailer: &Mailer,
    r: &Received<'_>,
    sender: &str,
    case: Option<i64>,
) -> Result<Option<Hold>, GateError> {
    if r.release.is_some() {
        return Ok(None);
    }
    let auth = &r.m.authentication;
    if matches!(auth.trust, Trust::Failed | Trust::Unverified) {
        return Ok(Some(Hold {
            kind: "sender_unverified",
            reason: format!("the sender could not be verified: {}", auth.reason),
        }));
    }
    if let Some(why) = r.m.machine_like() {
        return Ok(Some(Hold {
            kind: "machine_like",
            reason: format!("a machine seems to have written it: {why}"),
        }));
    }
    let flood = &mailer.config().flood;
    if let Some(secs) = quick_answer(store, mailer, r, sender).await? {
        return Ok(Some(Hold {
            kind: "machine_like",
            reason: format!(
                "a machine seems to have written it: it answered our message to {sender} {secs} s after it was sent"
            ),
        }));
    }
    let window = std::time::Duration::from_secs(flood.window_minutes * 60);
    let since = casedesk_core::now()
        .checked_sub(jiff::SignedDuration::try_from(window).unwrap_or_default())
        .unwrap_or_else(|_| casedesk_core::now());
    let fingerprint = r.m.fingerprint();
    let recent = store
        .recent_inbound(&casedesk_core::mail::RecentQuery {
            sender,
            case,
            fingerprint: fingerprint.as_deref(),
            since,
            cap: flood.per_sender.max(flood.per_case),
        })
        .await?;
    if recent.from_sender >= flood.per_sender {
        return Ok(Some(Hold {
            kind: "flood",
            reason: format!(
                "{sender} sent {} messages in the last {} minutes (at most {} are posted)",
                recent.from_sender, flood.window_minutes, flood.per_sender
            ),
        }));
    }
    if case.is_some() && recent.on_case >= flood.per_case {
        return Ok(Some(Hold {
            kind: "flood",
            reason: format!(
                "the case received {} messages in the last {} minutes (at most {} are posted)",
                recent.on_case, flood.window_minutes, flood.per_case
            ),
        }));
    }
    if recent.repeated {
        return Ok(Some(Hold {
            kind: "repeated_text",
            reason: format!(
                "the same text arrived in the last {} minutes; machines repeat themselves",
                flood.window_minutes
            ),
        }));
    }
    Ok(None)
}

/// What a held message would have done: reply on `case`, or open a case, as `user`.
struct Would<'a> {
    case: Option<i64>,
    action: &'static str,
    user: &'a User,
    account: Uuid,
}

/// How many seconds after our message to `sender` this answer to it arrived, when that is
/// sooner than a person answers (`flood.quick_reply_seconds`).
async fn quick_answer(
    store: &dyn Store,
    mailer: &Mailer,
    r: &Received<'_>,
    sender: &str,
) -> Result<Option<i64>, GateError> {
    let limit = mailer.config().flood.quick_reply_seconds;
    if limit == 0 {
        return Ok(None);
    }
    let domain = mailer.marks().message_id_domain;
    for id in r.m.thread.iter().take(3) {
        if !crate::inbound::ours_for_one_message(id, &domain) {
            continue;
        }
        if let Some(ours) = store.mail_by_message_id(&format!("<{id}>")).await?
            && ours.recipient.eq_ignore_ascii_case(sender)
        {
            let at = ours.sent_at.unwrap_or(ours.created_at);
            let secs = casedesk_core::now().duration_since(at).as_secs();
            if (0..i64::try_from(limit).unwrap_or(i64::MAX)).contains(&secs) {
                return Ok(Some(secs));
            }
        }
    }
    Ok(None)
}

/// Records `r` as held for review with what it would have done.
async fn hold(
    store: &dyn Store,
    mut r: Received<'_>,
    h: Hold,
    would: Would<'_>,
    sink: Option<Sink<'_>>,
) -> Result<Ingested, GateError> {
    hold_files(&mut r, sink, would.account, would.user.id).await?;
    r.detail["hold"] = json!({
        "kind": h.kind,
        "reason": h.reason,
        "action": would.action,
        "as": would.user.email,
    });
    let rec = r.record(InboundOutcome::Held, would.case, Some(&h.reason));
    finish(store, &r, rec, None).await
}

/// Who posts a message from `sender` on `case`: the user of that address when they may
/// answer the case by email; otherwise, when `sender` is the case email (the contact address
/// given on the form), the requester, on whose case it is.
async fn author(
    store: &dyn Store,
    user: Option<&User>,
    sender: &str,
    case: &Case,
) -> Result<Option<(User, bool)>, GateError> {
    if let Some(u) = user
        && may_answer_by_email(&principal(u.clone()), case)
    {
        return Ok(Some((u.clone(), false)));
    }
    if !case.fields.contact.email.trim().is_empty()
        && case
            .fields
            .contact
            .email
            .trim()
            .eq_ignore_ascii_case(sender)
        && user.is_none_or(|u| u.account_id == Some(case.account_id))
    {
        return Ok(store
            .get_user(case.requester_id)
            .await?
            .filter(|u| u.active())
            .map(|u| (u, true)));
    }
    Ok(None)
}

async fn reply(
    store: &dyn Store,
    mailer: &Mailer,
    mut r: Received<'_>,
    sender: String,
    user: Option<User>,
    case: Case,
    sink: Option<Sink<'_>>,
) -> Result<Ingested, GateError> {
    let n = case.number;
    let Some((author, as_case_email)) = author(store, user.as_ref(), &sender, &case).await? else {
        // Someone who cannot see the case learns nothing of it: their message is treated
        // exactly as one naming no case (a missing number and another account's case
        // answer alike).
        let sees = user
            .as_ref()
            .is_some_and(|u| can_see(&principal(u.clone()), &case));
        if !sees {
            return new_message(store, mailer, r, sender, user, sink).await;
        }
        let reason = "the sender is not the requester, a team contact or an agent of the case";
        let notice = notice_for(
            store,
            mailer,
            &r,
            &sender,
            true,
            "Your message was not added to a case",
            "casedesk could not add your message: the address you wrote from is not one of the people on the case it answers.\n\nIf you work with the requester, ask them to add you as a team contact, or write from the address that is on the case.\n",
        )
        .await?;
        let rec = r.record(InboundOutcome::RefusedSender, None, Some(reason));
        return finish(store, &r, rec, notice).await;
    };
    if case.status == casedesk_core::cases::Status::Closed {
        let notice = notice_for(
            store,
            mailer,
            &r,
            &sender,
            true,
            &format!(
                "{} is closed",
                crate::outbound::tag(&mailer.config().tag_prefix, n)
            ),
            &format!(
                "Case {n} is closed, so your message was not added to it. If the problem is back, open a follow-up case: {}\n",
                mailer.link(n)
            ),
        )
        .await?;
        let rec = r.record(
            InboundOutcome::RefusedClosed,
            Some(n),
            Some("the case is closed"),
        );
        return finish(store, &r, rec, notice).await;
    }
    if let Some(h) = hold_reason(store, mailer, &r, &sender, Some(n)).await? {
        let would = Would {
            case: Some(n),
            action: "reply",
            user: &author,
            account: case.account_id,
        };
        return hold(store, r, h, would, sink).await;
    }
    let files = keep_files(&mut r, sink, case.account_id, author.id).await?;
    let mut body = r.m.reply.trim().to_owned();
    if body.is_empty() {
        body = r.m.text.trim().to_owned();
    }
    let kept = r.detail["attachments"].as_array().is_some_and(|a| {
        a.iter()
            .any(|x| x["accepted"] == json!(true) && x["inline"] == json!(false))
    });
    if body.is_empty() && kept {
        body = "(attachments only; see the message)".into();
    }
    if body.is_empty() {
        let rec = r.record(
            InboundOutcome::Ignored,
            Some(n),
            Some("the message has no text"),
        );
        return finish(store, &r, rec, None).await;
    }
    let rec = r.record(InboundOutcome::Posted, Some(n), None);
    let via = json!({
        "message": rec.id,
        "message_id": r.m.message_id,
        "sender": sender,
        "as_case_email": as_case_email,
        "sender_verified": r.detail["sender_verified"],
        "authentication": r.detail["authentication"],
        "attachments": r.detail["attachments"],
        "trimmed": body.len() < r.m.text.trim().len(),
        "released_by": r.release.map(|rel| rel.review["by"].clone()),
    });
    let id = rec.id;
    let p = principal(author);
    match service::act_by_email(
        store,
        &p,
        n,
        Command::Reply {
            body: truncate(&body),
        },
        via,
        rec,
        &files,
    )
    .await
    {
        Ok(_) => Ok(Ingested {
            id,
            outcome: InboundOutcome::Posted.key().into(),
            case: Some(n),
            duplicate: false,
            notice: false,
            reason: None,
            automatic: None,
        }),
        Err(DomainError::Conflict(_)) if r.m.message_id.is_some() || r.release.is_some() => {
            let seen = match (&r.release, &r.m.message_id) {
                (Some(rel), _) => store
                    .get_inbound(rel.id)
                    .await?
                    .is_some_and(|(s, _)| s.outcome != InboundOutcome::Held.key()),
                (None, Some(mid)) => store.find_inbound(mid).await?.is_some(),
                (None, None) => false,
            };
            if seen {
                duplicate(store, &r).await
            } else {
                Err(DomainError::Conflict("the case is busy; try again".into()).into())
            }
        }
        Err(DomainError::Internal(e)) => Err(DomainError::Internal(e).into()),
        Err(e) => {
            // The lifecycle or a permission said no: tell the sender in its words.
            let reason = e.to_string();
            let notice = notice_for(
                store,
                mailer,
                &r,
                &sender,
                true,
                "Your message was not added to the case",
                &format!(
                    "casedesk could not add your message to case {n}: {reason}\n\nThe case: {}\n",
                    mailer.link(n)
                ),
            )
            .await?;
            let rec = r.record(InboundOutcome::RefusedSender, Some(n), Some(&reason));
            finish(store, &r, rec, notice).await
        }
    }
}

async fn new_message(
    store: &dyn Store,
    mailer: &Mailer,
    mut r: Received<'_>,
    sender: String,
    user: Option<User>,
    sink: Option<Sink<'_>>,
) -> Result<Ingested, GateError> {
    let how = format!(
        "To open a support case, sign in and use the case form: {}\nIt asks for what support needs to start at once (tenant, issue area, the identifiers of your rollout stage), so the case does not wait on questions.\n\nIf you meant to answer a case, reply to one of its messages and keep the [{} #…] tag in the subject.\n",
        mailer.page("cases/new"),
        mailer.config().tag_prefix
    );
    let intake = match user.as_ref().and_then(|u| {
        u.account_id
            .filter(|_| u.role.is_customer() && u.case_admin)
    }) {
        Some(account) => store
            .email_intake(account)
            .await?
            .map(|s| EmailIntake::from_json(&s)),
        None => None,
    };
    let (Some(user), Some(intake)) = (user.clone(), intake.filter(|i| i.enabled)) else {
        let notice = notice_for(
            store,
            mailer,
            &r,
            &sender,
            user.is_some(),
            "How to open a support case",
            &how,
        )
        .await?;
        let rec = r.record(
            InboundOutcome::NoCase,
            None,
            Some("no case is named and this sender may not open one by email"),
        );
        return finish(store, &r, rec, notice).await;
    };
    if let Some(h) = hold_reason(store, mailer, &r, &sender, None).await? {
        let would = Would {
            case: None,
            action: "open_case",
            user: &user,
            account: intake_account(&user),
        };
        return hold(store, r, h, would, sink).await;
    }
    let text = if r.m.text.trim().is_empty() {
        "(no text)".to_owned()
    } else {
        truncate(r.m.text.trim())
    };
    let subject = if r.m.subject.trim().is_empty() {
        "(no subject)".to_owned()
    } else {
        r.m.subject.chars().take(200).collect()
    };
    let body = intake_body(&intake.defaults, &subject, &text, &sender);
    // The Message-ID keys the create, so an MTA delivering the message twice opens one case.
    let key =
        r.m.message_id
            .clone()
            .map(|id| (format!("email:{id}"), format!("email:{id}")));
    let files = keep_files(&mut r, sink, intake_account(&user), user.id).await?;
    let p = principal(user);
    // The dispatcher writes its messages: the gate holds the mailer only by reference.
    match service::create_case(store, &p, &body, key, None).await {
        Ok((case, replayed, _, _)) => {
            if !files.is_empty() && !replayed {
                casedesk_core::service::attach(store, &p, case.number, &files, true).await?;
            }
            let rec = r.record(InboundOutcome::Opened, Some(case.number), None);
            finish(store, &r, rec, None).await
        }
        Err(DomainError::Validation(errs)) => {
            let list: Vec<String> = errs
                .iter()
                .map(|e| format!("- {}: {}", e.field, e.message))
                .collect();
            let text = format!(
                "casedesk could not open a case from your message:\n{}\n\n{how}",
                list.join("\n")
            );
            let notice = notice_for(
                store,
                mailer,
                &r,
                &sender,
                true,
                "How to open a support case",
                &text,
            )
            .await?;
            let rec = r.record(InboundOutcome::NoCase, None, Some(&list.join("; ")));
            finish(store, &r, rec, notice).await
        }
        Err(DomainError::Internal(e)) => Err(DomainError::Internal(e).into()),
        Err(e) => {
            let notice = notice_for(
                store,
                mailer,
                &r,
                &sender,
                true,
                "How to open a support case",
                &how,
            )
            .await?;
            let rec = r.record(InboundOutcome::NoCase, None, Some(&e.to_string()));
            finish(store, &r, rec, notice).await
        }
    }
}
