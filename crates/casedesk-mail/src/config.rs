//! The `[mail]` settings: how messages leave (the outbox folder, an SMTP relay, or not at
//! all), who they come from, and the limits of the mail gate.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How messages leave casedesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Each message written as an `.eml` file to the outbox folder (the embedded default).
    Outbox,
    /// Handed to an SMTP relay.
    Smtp,
    /// Not sent and not recorded (replies by email still arrive through the gate).
    Off,
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte, usually port 465.
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

/// The SMTP relay.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Host name of the relay.
    pub host: String,
    /// Port; the usual one of `security` when unset.
    pub port: Option<u16>,
    /// STARTTLS, TLS or none.
    pub security: Security,
    /// User name, when the relay asks for authentication.
    pub username: Option<String>,
    /// Password (prefer the environment variable `CASEDESK_MAIL__SMTP__PASSWORD`).
    pub password: Option<String>,
    /// Seconds before a connection or command gives up.
    pub timeout_seconds: u64,
    /// An extra root certificate (PEM) to trust, for a relay whose certificate comes from a
    /// private CA; the system's roots are trusted in any case.
    pub ca_file: Option<PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: None,
            security: Security::Starttls,
            username: None,
            password: None,
            timeout_seconds: 15,
            ca_file: None,
        }
    }
}

// The password never reaches a log line.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout_seconds", &self.timeout_seconds)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The email channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Where messages go.
    pub transport: TransportKind,
    /// The sender of every message, e.g. `casedesk support <support@casedesk.example>`;
    /// replies come back to it, so the MTA of this address pipes into `casedesk mailgate`.
    pub from: String,
    /// Domain of casedesk's `Message-ID`s (by which replies are threaded); the domain of
    /// `from` when empty.
    pub message_id_domain: String,
    /// Word of the subject tag `[casedesk #1042]`.
    pub tag_prefix: String,
    /// Address of casedesk's web pages, for links in messages.
    pub base_url: String,
    /// Outbox folder; `<data>/outbox` when unset.
    pub outbox: Option<PathBuf>,
    /// Largest message the gate accepts, in bytes.
    pub max_inbound_bytes: usize,
    /// Largest attachment of a message that is kept as an attachment of the case, in bytes.
    pub max_attachment_bytes: usize,
    /// The relay, for `transport = "smtp"`.
    pub smtp: SmtpConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: TransportKind::Outbox,
            from: "casedesk support <support@casedesk.localhost>".into(),
            message_id_domain: String::new(),
            tag_prefix: "casedesk".into(),
            base_url: "http://127.0.0.1:8080".into(),
            outbox: None,
            max_inbound_bytes: 25 * 1024 * 1024,
            max_attachment_bytes: 2 * 1024 * 1024,
            smtp: SmtpConfig::default(),
        }
    }
}

impl MailConfig {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let from: lettre::message::Mailbox = self
            .from
            .parse()
            .map_err(|_| format!("mail.from: {:?} is not an email address", self.from))?;
        if self.domain_or(&from).is_empty() {
            return Err("mail.message_id_domain: must not be empty".into());
        }
        if self.tag_prefix.trim().is_empty()
            || self
                .tag_prefix
                .chars()
                .any(|c| c == '[' || c == ']' || c == '#' || c.is_control())
        {
            return Err("mail.tag_prefix: must be a word without [, ] or #".into());
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err("mail.base_url: must start with http:// or https://".into());
        }
        if self.max_inbound_bytes < 1024 {
            return Err("mail.max_inbound_bytes: must be at least 1024".into());
        }
        if self.transport == TransportKind::Smtp && self.smtp.host.trim().is_empty() {
            return Err("mail.smtp.host: is required when mail.transport is smtp".into());
        }
        if self.smtp.ca_file.is_some() && self.smtp.security == Security::None {
            return Err("mail.smtp.ca_file: only applies with security starttls or tls".into());
        }
        if self.smtp.username.is_some() != self.smtp.password.is_some() {
            return Err("mail.smtp.username and mail.smtp.password: set both or neither".into());
        }
        Ok(())
    }

    fn domain_or(&self, from: &lettre::message::Mailbox) -> String {
        if self.message_id_domain.trim().is_empty() {
            from.email.domain().to_owned()
        } else {
            self.message_id_domain.trim().to_owned()
        }
    }

    /// The domain of casedesk's `Message-ID`s.
    pub fn domain(&self) -> String {
        match self.from.parse::<lettre::message::Mailbox>() {
            Ok(m) => self.domain_or(&m),
            Err(_) => self.message_id_domain.clone(),
        }
    }

    /// The sender's bare address.
    pub fn from_address(&self) -> String {
        self.from
            .parse::<lettre::message::Mailbox>()
            .map(|m| m.email.to_string())
            .unwrap_or_default()
    }
}
