//! Reading one inbound message: who sent it, which case it threads onto, whether a machine
//! wrote it (so it is never answered and no loop can start), how its sender was authenticated,
//! and the new text of a reply without the quoted history and signature.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

pub use crate::trim::trim_reply;
use crate::trust::authentication;
pub use crate::trust::{Authentication, Trust};

/// Why a message cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Larger than the configured limit.
    #[error("the message is {size} bytes; at most {limit} are accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not an RFC 5322 message at all.
    #[error("this is not an email message: {0}")]
    NotAMessage(&'static str),
}

/// What casedesk knows about its own outgoing mail, to recognise it coming back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marks {
    /// The domain of the `Message-ID`s casedesk writes (`<…@domain>`).
    pub message_id_domain: String,
    /// The word in the subject tag: `[casedesk #1042]` has `casedesk`.
    pub tag_prefix: String,
    /// Largest message accepted, in bytes.
    pub max_bytes: usize,
    /// The authserv-id of our own receiving server; empty: no `Authentication-Results` is
    /// believed.
    pub authserv_id: String,
}

/// A message written by a machine rather than a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automatic {
    /// casedesk's own message, come back.
    OwnMessage,
    /// A delivery-status notification (bounce).
    DeliveryReport,
    /// An out-of-office or other automatic reply.
    AutoReply,
    /// Bulk or list mail.
    Bulk,
}

/// A delivery report about a message casedesk sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The `Message-ID` of the message reported on (with angle brackets, as we wrote it).
    pub original: String,
    /// The report's action: `failed`, `delayed`, `delivered`, … (`failed` when it names none).
    pub action: String,
    /// Status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// The recipient it reports on.
    pub recipient: Option<String>,
    /// The remote server's words.
    pub diagnostic: Option<String>,
}

impl Bounce {
    /// Whether the message will not arrive.
    pub fn failed(&self) -> bool {
        self.action == "failed"
    }

    /// The reason, in one line.
    pub fn reason(&self) -> String {
        let mut out = format!("bounced ({})", self.action);
        if let Some(s) = &self.status {
            out.push_str(&format!(": status {s}"));
        }
        if let Some(d) = &self.diagnostic {
            out.push_str(&format!(": {d}"));
        }
        out
    }
}

/// A file carried by the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its name as sent (not yet made safe).
    pub name: Option<String>,
    /// Declared type, e.g. `image/png`.
    pub content_type: String,
    /// Bytes after decoding.
    pub size: usize,
    /// Shown inside the body (an inline image) rather than attached.
    pub inline: bool,
    /// The decoded content.
    pub bytes: Vec<u8>,
}

/// An inbound message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Sender address, lower case.
    pub from: Option<String>,
    /// Sender's display name.
    pub from_name: Option<String>,
    /// Subject.
    pub subject: String,
    /// Its own `Message-ID` (without angle brackets).
    pub message_id: Option<String>,
    /// `In-Reply-To` then `References`, nearest first, without duplicates.
    pub thread: Vec<String>,
    /// The case number in the subject tag, if any.
    pub tagged_case: Option<i64>,
    /// Set when a machine wrote it.
    pub automatic: Option<Automatic>,
    /// The receiving server's verdict on the sender.
    pub authentication: Authentication,
    /// For a delivery report: the message of ours it reports on.
    pub bounce: Option<Bounce>,
    /// The whole text body.
    pub text: String,
    /// The new text of a reply: quoted history and signature removed.
    pub reply: String,
    /// Files.
    pub attachments: Vec<Attachment>,
}

impl Inbound {
    /// The case this message replies to, by our `Message-ID`s in its thread: `<case-N…@domain>`.
    pub fn threaded_case(&self, marks: &Marks) -> Option<i64> {
        self.thread
            .iter()
            .find_map(|id| our_case_id(id, &marks.message_id_domain))
    }
}

/// The case number of a `Message-ID` casedesk wrote (`case-1042.…@domain`).
fn our_case_id(id: &str, domain: &str) -> Option<i64> {
    let (local, host) = id.rsplit_once('@')?;
    if !host.eq_ignore_ascii_case(domain) {
        return None;
    }
    let rest = local.strip_prefix("case-")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads a raw message.
pub fn read(raw: &[u8], marks: &Marks) -> Result<Inbound, Refusal> {
    if raw.len() > marks.max_bytes {
        return Err(Refusal::TooLarge {
            size: raw.len(),
            limit: marks.max_bytes,
        });
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(Refusal::NotAMessage("it has no headers"))?;
    if msg.from().is_none() && msg.message_id().is_none() && msg.subject().is_none() {
        return Err(Refusal::NotAMessage(
            "it has no From, Message-ID or Subject header",
        ));
    }
    let first = msg.from().and_then(|a| a.first());
    let from = first
        .and_then(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase());
    let from_name = first.and_then(|a| a.name()).map(str::to_owned);
    let subject = msg.subject().unwrap_or("").trim().to_owned();
    let mut thread = ids(msg.in_reply_to());
    for id in ids(msg.references()).into_iter().rev() {
        if !thread.contains(&id) {
            thread.push(id);
        }
    }
    let (text, reply) = bodies(&msg);
    let attachments = msg
        .attachments()
        .map(|p| Attachment {
            name: p.attachment_name().map(str::to_owned),
            content_type: p
                .content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{}", c.ctype(), s),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase(),
            size: p.len(),
            bytes: p.contents().to_vec(),
            inline: p
                .content_disposition()
                .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline")),
        })
        .collect();
    let automatic = automatic(&msg, marks, from.as_deref(), &subject);
    let bounce = (automatic == Some(Automatic::DeliveryReport))
        .then(|| bounce(raw, marks))
        .flatten();
    Ok(Inbound {
        automatic,
        authentication: authentication(&msg, &marks.authserv_id, from.as_deref()),
        bounce,
        tagged_case: tag(&subject, &marks.tag_prefix),
        reply,
        message_id: msg.message_id().map(str::to_owned),
        from,
        from_name,
        subject,
        thread,
        text,
        attachments,
    })
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<String> = match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    };
    raw.iter()
        .flat_map(|s| s.split_whitespace())
        .map(|s| s.trim_matches(|c| c == '<' || c == '>').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `[prefix #1042]` anywhere in the subject.
fn tag(subject: &str, prefix: &str) -> Option<i64> {
    let lower = subject.to_lowercase();
    let needle = format!("[{} #", prefix.to_lowercase());
    let start = lower.find(&needle)? + needle.len();
    let rest = &lower[start..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if rest[digits.len()..].starts_with(']') {
        digits.parse().ok()
    } else {
        None
    }
}

fn header_text<'a>(msg: &'a Message<'a>, name: &str) -> Option<String> {
    msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase())
}

/// Subjects of automatic replies, in the languages customers most often write to us in.
const AUTO_SUBJECTS: [&str; 8] = [
    "out of office",
    "automatic reply",
    "auto-reply",
    "autoreply",
    "abwesenheitsnotiz",
    "absence du bureau",
    "réponse automatique",
    "fuera de la oficina",
];

fn automatic(
    msg: &Message<'_>,
    marks: &Marks,
    from: Option<&str>,
    subject: &str,
) -> Option<Automatic> {
    // Every Message-ID casedesk writes (case messages and notices) is at its own domain.
    let ours = msg.message_id().is_some_and(|id| {
        id.rsplit_once('@')
            .is_some_and(|(_, host)| host.eq_ignore_ascii_case(&marks.message_id_domain))
    }) || msg.header_raw("X-Casedesk-Case").is_some();
    if ours {
        return Some(Automatic::OwnMessage);
    }
    let report = msg.content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("multipart")
            && c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    let daemon = from.is_some_and(|f| {
        let local = f.split('@').next().unwrap_or("");
        local == "mailer-daemon" || local == "postmaster"
    });
    if report || daemon {
        return Some(Automatic::DeliveryReport);
    }
    if let Some(v) = header_text(msg, "Auto-Submitted")
        && v != "no"
    {
        return Some(Automatic::AutoReply);
    }
    if msg.header_raw("X-Autoreply").is_some()
        || msg.header_raw("X-Autorespond").is_some()
        || header_text(msg, "X-Auto-Response-Suppress")
            .is_some_and(|v| v.contains("all") || v.contains("oof"))
    {
        return Some(Automatic::AutoReply);
    }
    if let Some(p) = header_text(msg, "Precedence") {
        match p.as_str() {
            "auto_reply" => return Some(Automatic::AutoReply),
            "bulk" | "junk" | "list" => return Some(Automatic::Bulk),
            _ => {}
        }
    }
    if msg.header_raw("List-Id").is_some() || msg.header_raw("List-Unsubscribe").is_some() {
        return Some(Automatic::Bulk);
    }
    let s = subject.to_lowercase();
    if AUTO_SUBJECTS.iter().any(|a| s.starts_with(a)) {
        return Some(Automatic::AutoReply);
    }
    None
}

/// The whole text of a message and the new text of it as a reply: the plain part (unwrapped
/// when format=flowed), or for an HTML-only message its markup made text, the reply cut where
/// the client's quote begins.
fn bodies(msg: &Message<'_>) -> (String, String) {
    // A plain part that says nothing beside an HTML one (some clients send an empty
    // alternative) leaves the HTML to speak.
    let blank_plain = msg
        .text_part(0)
        .is_some_and(|p| matches!(&p.body, PartType::Text(t) if t.trim().is_empty()));
    let part = if blank_plain {
        msg.html_part(0).or_else(|| msg.text_part(0))
    } else {
        msg.text_part(0).or_else(|| msg.html_part(0))
    };
    let Some(part) = part else {
        return (String::new(), String::new());
    };
    match &part.body {
        PartType::Text(t) => {
            let ct = part.content_type();
            let attr = |name: &str| {
                ct.and_then(|c| c.attribute(name)).is_some_and(|v| {
                    v.eq_ignore_ascii_case(if name == "format" { "flowed" } else { "yes" })
                })
            };
            let text = if attr("format") {
                crate::trim::unflow(t, attr("delsp"))
            } else {
                t.to_string()
            };
            let reply = trim_reply(&text);
            (text, reply)
        }
        PartType::Html(h) => (crate::trim::html_to_text(h), crate::trim::html_reply(h)),
        _ => (String::new(), String::new()),
    }
}

/// Whether `id` (without brackets) is one casedesk wrote for one message: a case message
/// (`case-N.part@domain`), a notice or a status message; not the case's root id.
pub(crate) fn ours_for_one_message(id: &str, domain: &str) -> bool {
    let Some((local, host)) = id.rsplit_once('@') else {
        return false;
    };
    host.eq_ignore_ascii_case(domain)
        && (local.starts_with("notice.")
            || local.starts_with("status.")
            || (local.starts_with("case-") && local.contains('.')))
}

/// A delivery report's facts: the message of ours it names (the first `Message-ID` of ours
/// below the report's own headers, wherever the reporting server put the returned headers),
/// and its action, status, recipient and diagnostic.
fn bounce(raw: &[u8], marks: &Marks) -> Option<Bounce> {
    let whole = String::from_utf8_lossy(raw);
    let body_at = whole
        .find("\r\n\r\n")
        .or_else(|| whole.find("\n\n"))
        .unwrap_or(whole.len());
    let body = &whole[body_at..];
    let field = |name: &str| -> Option<String> {
        body.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
    };
    let original = body.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if !k.trim().eq_ignore_ascii_case("Message-ID") {
            return None;
        }
        let id = v.trim().trim_matches(|c| c == '<' || c == '>');
        ours_for_one_message(id, &marks.message_id_domain).then(|| format!("<{id}>"))
    })?;
    let clip = |s: String| -> String { s.chars().take(300).collect() };
    Some(Bounce {
        original,
        action: field("Action")
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_else(|| "failed".into()),
        status: field("Status").map(clip),
        recipient: field("Final-Recipient")
            .or_else(|| field("Original-Recipient"))
            .map(|r| clip(r.rsplit(';').next().unwrap_or(&r).trim().to_owned())),
        diagnostic: field("Diagnostic-Code").map(|d| {
            clip(
                d.split_once(';')
                    .map(|(_, t)| t.trim().to_owned())
                    .unwrap_or(d),
            )
        }),
    })
}

/// Words of acknowledgements that ticket tools and other machines send without saying they
/// are automatic, in the languages we know (matched in the subject and the new text, lower
/// case).
const MACHINE_PHRASES: [&str; 52] = [
    "this is an automated message",
    "this is an automated response",
    "this is an automatic reply",
    "this is an automatically generated",
    "this message was automatically generated",
    "do not reply to this email",
    "do not reply to this message",
    "please do not reply",
    "this mailbox is not monitored",
    "thank you for contacting",
    "thanks for contacting",
    "we have received your request",
    "we have received your email",
    "we have received your message",
    "we received your request",
    "your request has been received",
    "your ticket has been created",
    "a ticket has been created",
    "a ticket has been opened",
    "ticket has been created",
    "ticket has been received",
    "has been logged with reference",
    "request has been logged",
    "your ticket number is",
    "your reference number is",
    "wir haben ihre anfrage erhalten",
    "ihre anfrage wurde",
    "ihr ticket",
    "vielen dank für ihre anfrage",
    "automatisch generierte nachricht",
    "bitte antworten sie nicht",
    "nous avons bien reçu votre",
    "votre demande a été",
    "votre ticket",
    "merci d'avoir contacté",
    "message automatique",
    "merci de ne pas répondre",
    "hemos recibido su",
    "su solicitud ha sido",
    "su ticket",
    "gracias por contactar",
    "mensaje automático",
    "no responda a este",
    "自動送信",
    "自動返信",
    "受付番号",
    "受け付けました",
    "お問い合わせありがとう",
    "チケット番号",
    "このメールは送信専用",
    "返信しないでください",
    "返信はできません",
];

/// Local parts of addresses that no person reads (compared without `+tags`, dots, dashes
/// and underscores, lower case).
const MACHINE_SENDERS: [&str; 9] = [
    "noreply",
    "donotreply",
    "notifications",
    "notification",
    "bounces",
    "bounce",
    "mailerdaemon",
    "postmaster",
    "nobody",
];

/// An address's local part as a rule compares it: lower case, without a `+tag`, dots, dashes
/// and underscores (`No.Reply+x` is `noreply`).
fn plain_local(address: &str) -> String {
    let local = address.split('@').next().unwrap_or("");
    local
        .split('+')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !matches!(c, '.' | '-' | '_'))
        .collect::<String>()
        .to_lowercase()
}

/// `local+tag@domain` as `local@domain`, lower case: the mailbox a tagged address reaches.
pub fn mailbox_of(address: &str) -> String {
    let a = address.trim().to_lowercase();
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            format!("{}@{domain}", local.split('+').next().unwrap_or(local))
        }
        None => a,
    }
}

impl Inbound {
    /// Why this message looks written by a machine although it says nothing of it (a ticket
    /// tool's acknowledgement, a no-reply sender), if it does.
    pub fn machine_like(&self) -> Option<String> {
        if let Some(from) = self.from.as_deref() {
            let local = plain_local(from);
            // VERP bounce addresses carry a number after the word (`bounces-123`).
            let word: String = local
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            if MACHINE_SENDERS.contains(&local.as_str()) || MACHINE_SENDERS.contains(&word.as_str())
            {
                return Some(format!("it comes from {from}, an address no person reads"));
            }
        }
        let hay = format!("{}\n{}", self.subject, self.reply).to_lowercase();
        MACHINE_PHRASES
            .iter()
            .find(|p| hay.contains(*p))
            .map(|p| format!("it reads like an automatic acknowledgement (\"{p}\")"))
    }

    /// A fingerprint of the new text and the files, to recognise the same message arriving
    /// again (a person sending the same words with other files is not repeating).
    pub fn fingerprint(&self) -> Option<String> {
        let mut norm: String = self
            .reply
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if norm.chars().count() < 8 {
            return None;
        }
        for a in &self.attachments {
            norm.push_str(&format!("\n{}:{}", a.name.as_deref().unwrap_or(""), a.size));
        }
        // FNV-1a, 64 bits: a short stable key, not a secret.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in norm.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Some(format!("{h:016x}"))
    }
}
