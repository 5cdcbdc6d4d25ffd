//! Reading one inbound message: who sent it, which case it threads onto, whether a machine
//! wrote it (so it is never answered and no loop can start), how its sender was authenticated,
//! and the new text of a reply without the quoted history and signature.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};

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

/// What the receiving server said about the sender (`Authentication-Results`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    /// `spf=` result.
    pub spf: Option<String>,
    /// `dkim=` result.
    pub dkim: Option<String>,
    /// `dmarc=` result.
    pub dmarc: Option<String>,
}

impl Authentication {
    /// Whether the sender's domain vouched for the message: DMARC passed, or (without a DMARC
    /// verdict) both SPF and DKIM passed.
    pub fn verified(&self) -> bool {
        let pass = |v: &Option<String>| v.as_deref() == Some("pass");
        match &self.dmarc {
            Some(_) => pass(&self.dmarc),
            None => pass(&self.spf) && pass(&self.dkim),
        }
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
    let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
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
    Ok(Inbound {
        automatic: automatic(&msg, marks, from.as_deref(), &subject),
        authentication: authentication(&msg),
        tagged_case: tag(&subject, &marks.tag_prefix),
        reply: trim_reply(&text),
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

/// The verdicts of the nearest `Authentication-Results` (the one our own border added on top).
fn authentication(msg: &Message<'_>) -> Authentication {
    let Some(raw) = msg.header_raw("Authentication-Results") else {
        return Authentication::default();
    };
    let verdict = |method: &str| -> Option<String> {
        raw.split(';').find_map(|clause| {
            let c = clause.trim();
            let rest = c.strip_prefix(method)?.trim_start();
            let rest = rest.strip_prefix('=')?;
            let word: String = rest
                .trim_start()
                .chars()
                .take_while(|ch| ch.is_ascii_alphanumeric())
                .collect();
            (!word.is_empty()).then(|| word.to_ascii_lowercase())
        })
    };
    Authentication {
        spf: verdict("spf"),
        dkim: verdict("dkim"),
        dmarc: verdict("dmarc"),
    }
}

/// The new text of a reply: everything above the first quoted-history marker or signature
/// separator, without trailing quoted lines and blank lines.
pub fn trim_reply(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim();
        let next = lines.get(i + 1).map(|s| s.trim()).unwrap_or("");
        let starts_quote = (l.starts_with("On ")
            && (l.ends_with("wrote:") || next.ends_with("wrote:")))
            || (l.starts_with("Am ")
                && (l.contains(" schrieb") || next.contains("schrieb"))
                && (l.ends_with(':') || next.ends_with(':')))
            || (l.starts_with("Le ") && (l.ends_with("a écrit :") || l.ends_with("a écrit:")))
            || l.starts_with("-----Original Message-----")
            || l.starts_with("-----Ursprüngliche Nachricht-----")
            || (l.starts_with("From:")
                && lines[i + 1..].iter().take(4).any(|n| {
                    let n = n.trim_start();
                    n.starts_with("Sent:") || n.starts_with("Date:")
                }))
            || (l.starts_with("________________") && next.starts_with("From:"))
            || line.trim_end() == "--"
            || line.trim_end_matches(['\r', '\n']) == "-- "
            || l == "Sent from my iPhone"
            || l == "Sent from my iPad";
        if starts_quote {
            end = i;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..end].to_vec();
    while kept
        .last()
        .is_some_and(|l| l.trim().is_empty() || l.trim_start().starts_with('>'))
    {
        kept.pop();
    }
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    kept.join("\n")
}
