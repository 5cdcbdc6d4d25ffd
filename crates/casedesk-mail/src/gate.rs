//! The mail gate: one received message, read, threaded onto its case and posted as a reply by
//! its sender, or recorded with the reason it was not (and, where a person is waiting for an
//! answer, a short notice). Automatic mail is recorded and never answered, so no loop starts.

use casedesk_core::DomainError;
use casedesk_core::attachments::{Prepared, Sink, Upload};
use casedesk_core::audit::Origin;
use casedesk_core::cases::Case;
use casedesk_core::cases::service::{self, Command, MAX_BODY};
use casedesk_core::mail::{EmailIntake, InboundOutcome, InboundRecord, NewMail, intake_body};
use casedesk_core::permissions::{can_see, is_support};
use casedesk_core::store::Store;
use casedesk_core::users::{Principal, Scope, User};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::inbound::{Automatic, Inbound, Refusal, read};
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

/// Stores the accepted files of a message the way uploads are stored: each prepared (a HAR
/// capture scrubbed, text scrubbed), its content written, and the message's list of
/// attachments updated with what became of each. A capture that cannot be read is refused
/// and nothing of it is kept; the rest of the message still counts.
async fn keep_files(
    r: &mut Received<'_>,
    sink: Option<Sink<'_>>,
    account: Uuid,
    uploader: Uuid,
) -> Result<Vec<Prepared>, GateError> {
    let Some(sink) = sink else {
        return Ok(Vec::new());
    };
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
    let results = tokio::task::spawn_blocking(move || {
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
    .map_err(|e| DomainError::Internal(format!("preparing attachments: {e}")))?;
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

/// What is kept of a received message: the original as it came when it carries no file and
/// no secret; otherwise its header block and its text, scrubbed, with the files named (they
/// are stored, scrubbed, as case files), so no unscrubbed copy of a capture or a token
/// reaches the database.
fn stored_original(raw: &[u8], m: &Inbound) -> Vec<u8> {
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
    let files: Vec<String> = m
        .attachments
        .iter()
        .map(|a| {
            format!(
                "- {} ({}, {} bytes)",
                a.name.as_deref().unwrap_or("unnamed"),
                a.content_type,
                a.size
            )
        })
        .collect();
    format!(
        "{headers}\r\nX-Casedesk-Kept: text only\r\n\r\ncasedesk kept the text of this message with secrets removed; its files are stored, scrubbed, with the case.\r\n\r\n{body}\r\n\r\nFiles:\r\n{}\r\n",
        files.join("\r\n")
    )
    .into_bytes()
}

struct Received<'a> {
    raw: &'a [u8],
    m: Inbound,
    detail: Value,
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
        // The log of received mail keeps no secret either: its details and subject meet the
        // detector like the message's text.
        let mut found = Found::default();
        let _ = secrets::scrub_strings(&mut detail, &Tag::Plain, &mut found);
        let subject = secrets::scrub(&self.m.subject, &Tag::Plain, &mut found)
            .ok()
            .flatten()
            .unwrap_or_else(|| self.m.subject.clone());
        InboundRecord {
            id: Uuid::now_v7(),
            received_at: casedesk_core::now(),
            sender: self.m.from.clone(),
            subject,
            message_id: self.m.message_id.clone(),
            case_number: case,
            outcome,
            detail,
            raw: stored_original(self.raw, &self.m),
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

/// Whether `user` may post by email on `case`: the requester, a team contact, or support
/// staff who may see the case.
fn on_case(user: &User, case: &Case) -> bool {
    let p = principal(user.clone());
    if is_support(&p) {
        return can_see(&p, case);
    }
    case.requester_id == user.id || case.team_contacts.iter().any(|c| c.user_id == user.id)
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
    let marks = mailer.marks();
    let m = read(raw, &marks)?;
    if let Some(id) = &m.message_id
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
        "authentication": {"spf": auth.spf, "dkim": auth.dkim, "dmarc": auth.dmarc},
        "sender_verified": auth.verified(),
        "automatic": m.automatic.map(automatic_key),
        "attachments": attachments(&m, mailer.config().max_attachment_bytes),
    });
    let r = Received { raw, m, detail };
    let threaded = r.m.threaded_case(&marks).or(r.m.tagged_case);
    let case = match threaded {
        Some(n) => store.get_case(n).await?,
        None => None,
    };

    if r.m.automatic.is_some() {
        // Recorded (on its case when it names one), never answered.
        let rec = r.record(
            InboundOutcome::Automatic,
            case.as_ref().map(|c| c.number),
            None,
        );
        return finish(store, &r, rec, None).await;
    }
    let Some(sender) = r.m.from.clone() else {
        let rec = r.record(
            InboundOutcome::Ignored,
            None,
            Some("the message has no sender"),
        );
        return finish(store, &r, rec, None).await;
    };
    let user = store.find_user_by_email(&sender).await?;
    match case {
        Some(case) => reply(store, mailer, r, sender, user, case, sink).await,
        None => new_message(store, mailer, r, sender, user, sink).await,
    }
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
    let before = match &r.m.message_id {
        Some(id) => store.find_inbound(id).await?,
        None => None,
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

/// A notice to `to`, unless `to` is unknown to casedesk and the receiving server could not
/// verify it: a forged sender must not turn casedesk into a source of backscatter.
fn notice_for(
    mailer: &Mailer,
    r: &Received<'_>,
    to: &str,
    known: bool,
    subject: &str,
    text: &str,
) -> Option<NewMail> {
    if !mailer.enabled() || !(known || r.m.authentication.verified()) {
        return None;
    }
    mailer
        .notice(to, subject, text, r.m.message_id.as_deref())
        .map_err(|e| tracing::warn!(error = %e, "notice not composed"))
        .ok()
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
    let known = user.is_some();
    let Some(user) = user.filter(|u| on_case(u, &case)) else {
        let reason = "the sender is not the requester, a team contact or an agent of the case";
        let notice = notice_for(
            mailer,
            &r,
            &sender,
            known,
            "Your message was not added to a case",
            "casedesk could not add your message: the address you wrote from is not one of the people on the case it answers.\n\nIf you work with the requester, ask them to add you as a team contact, or write from the address that is on the case.\n",
        );
        // Recorded without the case: an outsider's message is not part of the case's record.
        let rec = r.record(InboundOutcome::RefusedSender, None, Some(reason));
        return finish(store, &r, rec, notice).await;
    };
    if case.status == casedesk_core::cases::Status::Closed {
        let notice = notice_for(
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
        );
        let rec = r.record(
            InboundOutcome::RefusedClosed,
            Some(n),
            Some("the case is closed"),
        );
        return finish(store, &r, rec, notice).await;
    }
    let files = keep_files(&mut r, sink, case.account_id, user.id).await?;
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
        "sender_verified": r.detail["sender_verified"],
        "authentication": r.detail["authentication"],
        "attachments": r.detail["attachments"],
        "trimmed": body.len() < r.m.text.trim().len(),
    });
    let id = rec.id;
    let p = principal(user);
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
        Err(DomainError::Conflict(_)) if r.m.message_id.is_some() => {
            match store
                .find_inbound(r.m.message_id.as_deref().unwrap_or_default())
                .await?
            {
                Some(_) => duplicate(store, &r).await,
                None => Err(DomainError::Conflict("the case is busy; try again".into()).into()),
            }
        }
        Err(DomainError::Internal(e)) => Err(DomainError::Internal(e).into()),
        Err(e) => {
            // The lifecycle or a permission said no: tell the sender in its words.
            let reason = e.to_string();
            let notice = notice_for(
                mailer,
                &r,
                &sender,
                true,
                "Your message was not added to the case",
                &format!(
                    "casedesk could not add your message to case {n}: {reason}\n\nThe case: {}\n",
                    mailer.link(n)
                ),
            );
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
            mailer,
            &r,
            &sender,
            user.is_some(),
            "How to open a support case",
            &how,
        );
        let rec = r.record(
            InboundOutcome::NoCase,
            None,
            Some("no case is named and this sender may not open one by email"),
        );
        return finish(store, &r, rec, notice).await;
    };
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
    match service::create_case(store, &p, &body, key).await {
        Ok((case, replayed, _, _)) => {
            if !files.is_empty() && !replayed {
                casedesk_core::attachments::attach(store, &p, case.number, &files, true).await?;
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
                mailer,
                &r,
                &sender,
                true,
                "How to open a support case",
                &text,
            );
            let rec = r.record(InboundOutcome::NoCase, None, Some(&list.join("; ")));
            finish(store, &r, rec, notice).await
        }
        Err(DomainError::Internal(e)) => Err(DomainError::Internal(e).into()),
        Err(e) => {
            let notice = notice_for(
                mailer,
                &r,
                &sender,
                true,
                "How to open a support case",
                &how,
            );
            let rec = r.record(InboundOutcome::NoCase, None, Some(&e.to_string()));
            finish(store, &r, rec, notice).await
        }
    }
}
