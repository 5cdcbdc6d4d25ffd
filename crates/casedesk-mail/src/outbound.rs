//! Writing outbound mail: one template per event (plain text and HTML, in our own words),
//! composed with the headers that thread replies back onto their case and stop mail loops,
//! and the embedded transport that writes each message as an `.eml` file.

use std::path::{Path, PathBuf};

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

/// Why a message could not be composed or written.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// An address that is not one.
    #[error("{field}: {value:?} is not an email address")]
    Address {
        /// Which address.
        field: &'static str,
        /// What it was.
        value: String,
    },
    /// The message could not be built.
    #[error("the message could not be built: {0}")]
    Build(String),
    /// The outbox could not be written.
    #[error("the outbox could not be written: {0}")]
    Outbox(#[from] std::io::Error),
}

/// Which event a message tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The case was received; its number.
    Acknowledged,
    /// Support replied publicly.
    Reply,
    /// Support asks for information.
    InfoRequested,
    /// Support proposes a resolution.
    ResolutionProposed,
    /// The case was closed.
    Closed,
    /// The customer reopened the case.
    Reopened,
    /// The customer answered support's request for information.
    InfoProvided,
    /// The customer escalated (to managers).
    Escalated,
    /// An SLA target is close to its due time (to agents).
    SlaWarning,
    /// An SLA target passed its due time (to agents).
    SlaBreached,
    /// An incident linked to the case was resolved (to the customer side).
    IncidentUpdate,
    /// A case of an account they manage became P1 or was escalated (to its CSM).
    CsmAlert,
}

/// What a template needs. `body` is only ever the public text of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Case number.
    pub case: i64,
    /// Case subject.
    pub subject: String,
    /// The public text of the event (a reply, a question, a resolution), if any.
    pub body: Option<String>,
    /// Who acted (name or address), if a person did.
    pub actor: Option<String>,
    /// Link to the case in the portal or console.
    pub link: String,
    /// For SLA messages: the target and its due time, in words.
    pub sla: Option<String>,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject, with the case tag.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The subject tag of a case: `[casedesk #1042]`.
pub fn tag(prefix: &str, case: i64) -> String {
    format!("[{prefix} #{case}]")
}

/// The subject of every message of a case: `[casedesk #1042] Sign-in fails after redirect`.
pub fn case_subject(prefix: &str, case: i64, subject: &str) -> String {
    format!("{} {}", tag(prefix, case), subject.trim())
}

/// Renders the message of `kind`. `prefix` is the word of the subject tag.
pub fn render(kind: MailKind, f: &Facts, prefix: &str) -> Rendered {
    let who = f.actor.as_deref().unwrap_or("Our support team");
    let (headline, intro, outro) = match kind {
        MailKind::Acknowledged => (
            "We received your case",
            format!(
                "Your case is number {}. A support engineer will pick it up within the response time of your plan; you can follow it, add details or attach files at the link below.",
                f.case
            ),
            "Reply to this email to add information to the case.",
        ),
        MailKind::Reply => (
            "New reply on your case",
            format!("{who} replied:"),
            "Reply to this email to answer; your answer is added to the case.",
        ),
        MailKind::InfoRequested => (
            "We need information from you",
            format!(
                "{who} asked for the following. The case waits for your answer, and its response clock stands still until then:"
            ),
            "Reply to this email with the information; the case resumes as soon as it arrives.",
        ),
        MailKind::ResolutionProposed => (
            "A resolution is proposed",
            format!("{who} proposed this resolution:"),
            "If it solves the problem, confirm the resolution at the link below and the case closes. If it does not, reply to this email and the case reopens.",
        ),
        MailKind::Closed => (
            "Your case is closed",
            "The resolution was confirmed and the case is now closed.".to_owned(),
            "How did we do? Rate the case from 1 to 5 at the link below: it takes a moment and tells us what to keep and what to fix. If the problem comes back, open a follow-up case from the same page; replies to a closed case are not added to it.",
        ),
        MailKind::Reopened => (
            "The case was reopened",
            format!("{who} reopened the case:"),
            "The case is back with support and its resolution clock runs again.",
        ),
        MailKind::InfoProvided => (
            "The customer answered your question",
            format!("{who} sent the information you asked for:"),
            "The case is open again and waits for support.",
        ),
        MailKind::Escalated => (
            "A customer escalated a case",
            format!("{who} escalated the case with this reason:"),
            "As duty manager, please review the case and agree next steps with the customer.",
        ),
        MailKind::SlaWarning => (
            "SLA target close to its due time",
            format!(
                "{} is close to its due time.",
                f.sla.as_deref().unwrap_or("An SLA target of this case")
            ),
            "Answer or update the case before the due time to keep the target.",
        ),
        MailKind::IncidentUpdate => (
            "The service incident behind your case is resolved",
            "Support linked your case to a service incident, which is now resolved. The last word on it:".to_owned(),
            "Please check whether your problem is gone. If it is, you can confirm the resolution from the case; if not, reply and the case stays with support.",
        ),
        MailKind::CsmAlert => (
            "A case of an account you manage needs attention",
            "As the account's customer success manager, you hear of its P1 cases and escalations:".to_owned(),
            "Support works the case; you may want to reach out to the customer.",
        ),
        MailKind::SlaBreached => (
            "SLA target breached",
            format!(
                "{} passed its due time without being met.",
                f.sla.as_deref().unwrap_or("An SLA target of this case")
            ),
            "Please take the case up now; the breach is recorded on the case.",
        ),
    };
    // One subject for every message of a case, so clients that group by subject keep the
    // case together; what happened is the message's headline.
    let subject = case_subject(prefix, f.case, &f.subject);
    let mut text = format!("{headline}\n\n{intro}\n");
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{}</h2><p>{}</p>",
        escape(headline),
        escape(&intro)
    );
    if let Some(b) = &f.body {
        text.push('\n');
        text.push_str(b);
        text.push('\n');
        html.push_str("<blockquote style=\"white-space:pre-wrap\">");
        html.push_str(&escape(b));
        html.push_str("</blockquote>");
    }
    text.push_str(&format!("\n{outro}\n\nCase {}: {}\n", f.case, f.link));
    html.push_str(&format!(
        "<p>{}</p><p><a href=\"{}\">Case {}</a></p></body></html>",
        escape(outro),
        escape(&f.link),
        f.case
    ));
    Rendered {
        subject,
        text,
        html,
    }
}

/// Where threading headers point: every message of a case refers to the case's root id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// The domain of our `Message-ID`s.
    pub domain: String,
    /// The case.
    pub case: i64,
    /// What makes this message's id unique within the case (the message's own id).
    pub part: String,
}

impl Thread {
    /// The case's root id, which every message of the case refers to.
    pub fn root(&self) -> String {
        format!("<case-{}@{}>", self.case, self.domain)
    }
    /// This message's id.
    pub fn id(&self) -> String {
        format!("<case-{}.{}@{}>", self.case, self.part, self.domain)
    }
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, SendError> {
    value.parse().map_err(|_| SendError::Address {
        field,
        value: value.to_owned(),
    })
}

/// Composes a message with the threading and loop-stopping headers; `kind` names the template
/// in `X-Casedesk-Kind` (for filters and for people who sort their mail by rule).
pub fn compose(
    r: &Rendered,
    from: &str,
    to: &[String],
    t: &Thread,
    kind: &str,
) -> Result<Message, SendError> {
    let mut b = Message::builder()
        .from(mailbox("from", from)?)
        .subject(r.subject.clone())
        .message_id(Some(t.id()))
        .in_reply_to(t.root())
        .references(t.root())
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Casedesk-Case"),
            t.case.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Casedesk-Kind"),
            kind.to_owned(),
        ));
    if to.is_empty() {
        return Err(SendError::Build("no recipients".into()));
    }
    for r in to {
        b = b.to(mailbox("to", r)?);
    }
    b.multipart(MultiPart::alternative_plain_html(
        r.text.clone(),
        r.html.clone(),
    ))
    .map_err(|e| SendError::Build(e.to_string()))
}

/// A short notice answering a message that could not be posted (no case, a sender not on
/// the case, a closed case). It names no case content, refers to the message it answers, and
/// says it is automatic, so an automatic answer to it is recognised and not answered again.
pub fn compose_notice(
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
) -> Result<Message, SendError> {
    compose_plain(
        from,
        to,
        subject,
        text,
        message_id,
        in_reply_to,
        "auto-replied",
    )
}

/// A plain-text message that belongs to no case, marked `Auto-Submitted: auto`.
pub fn compose_plain(
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
    auto: &str,
) -> Result<Message, SendError> {
    compose_plain_with(from, to, subject, text, message_id, in_reply_to, auto, &[])
}

/// [`compose_plain`] with further headers (a subscription's `List-Unsubscribe`, say).
#[allow(clippy::too_many_arguments)]
pub fn compose_plain_with(
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
    auto: &str,
    headers: &[(&'static str, String)],
) -> Result<Message, SendError> {
    let mut b = Message::builder()
        .from(mailbox("from", from)?)
        .to(mailbox("to", to)?)
        .subject(subject.to_owned())
        .message_id(Some(message_id.to_owned()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            auto.to_owned(),
        ));
    if let Some(id) = in_reply_to {
        let id = format!("<{}>", id.trim_matches(|c| c == '<' || c == '>'));
        b = b.in_reply_to(id.clone()).references(id);
    }
    for (name, value) in headers {
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value.clone(),
        ));
    }
    // A single text part with its charset (lettre adds MIME-Version with it), so UTF-8 text
    // reads as written in every client.
    b.singlepart(lettre::message::SinglePart::plain(text.to_owned()))
        .map_err(|e| SendError::Build(e.to_string()))
}

/// The embedded transport: each message is written to `dir` as one `.eml` file named `name`
/// (written aside and renamed, so a reader never sees half a message).
pub fn write_outbox(dir: &Path, name: &str, message: &[u8]) -> Result<PathBuf, SendError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    // The folder is made when a write finds it missing, not asked for before each message:
    // every created case sends one, and each system call counts on that path.
    match std::fs::write(&tmp, message) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&tmp, message)?;
        }
        r => r?,
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
