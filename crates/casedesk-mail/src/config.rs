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
    /// Seconds before connecting, the greeting or a command of the opening (EHLO, STARTTLS,
    /// AUTH) gives up; the whole opening gets three times this.
    pub timeout_seconds: u64,
    /// Seconds the relay may take over the message itself (MAIL, RCPT, DATA and its final
    /// answer): RFC 5321 asks clients to wait ten minutes for the answer to the end of DATA,
    /// since a relay that accepted the message late would otherwise receive it twice.
    pub data_timeout_seconds: u64,
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
            data_timeout_seconds: 600,
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
            .field("data_timeout_seconds", &self.data_timeout_seconds)
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
    /// The authserv-id of our own receiving server (the first word of the
    /// `Authentication-Results` headers it adds). Only those headers are believed, the
    /// topmost first; empty: none is, and senders are not checked.
    pub authserv_id: String,
    /// How long and how often a message the relay defers is tried again.
    pub retry: RetryConfig,
    /// When received mail comes too often to be a person writing.
    pub flood: FloodConfig,
}

/// How a message the relay defers (or cannot be reached for) is tried again: like a mail
/// server's queue, for days, the pause doubling from `first_seconds` up to
/// `max_interval_seconds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Pause after the first failed attempt.
    pub first_seconds: u64,
    /// Longest pause between attempts.
    pub max_interval_seconds: u64,
    /// A message still not accepted this long after it was queued is given up.
    pub give_up_after_hours: u64,
    /// How long past an attempt's deadline its node keeps trying to write the result (the
    /// database away for a moment); until then no other node starts another attempt, and
    /// after it an attempt left without a result counts as interrupted and the message is
    /// sent again.
    pub result_window_seconds: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            first_seconds: 60,
            max_interval_seconds: 1800,
            give_up_after_hours: 120,
            result_window_seconds: 120,
        }
    }
}

impl RetryConfig {
    /// The pause before attempt `attempt + 1` of a message queued `age` ago, or `None` when
    /// it is to be given up. The pause doubles from `first_seconds` up to
    /// `max_interval_seconds`, jittered down by at most half (`random` in 0..=1), so retries
    /// of many messages after an outage spread out.
    pub fn next_pause(
        &self,
        attempt: u32,
        age: std::time::Duration,
        random: f64,
    ) -> Option<std::time::Duration> {
        if age >= std::time::Duration::from_secs(self.give_up_after_hours * 3600) {
            return None;
        }
        let exp = self.first_seconds as f64 * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let d = exp.min(self.max_interval_seconds as f64).max(0.0);
        Some(std::time::Duration::from_secs_f64(
            d / 2.0 + d / 2.0 * random.clamp(0.0, 1.0),
        ))
    }
}

/// More than `per_sender` messages from one sender, or `per_case` on one case, within
/// `window_minutes` are held for review instead of posted (a loop between ticket tools, a
/// script gone wrong).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// Messages one sender may have posted in the window.
    pub per_sender: u32,
    /// Messages one case may receive in the window.
    pub per_case: u32,
    /// The window.
    pub window_minutes: u64,
    /// An answer that arrives within this many seconds of our message to its sender was
    /// written by a machine (people read first); 0 turns the check off.
    pub quick_reply_seconds: u64,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            per_sender: 8,
            per_case: 16,
            window_minutes: 15,
            quick_reply_seconds: 20,
        }
    }
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
            authserv_id: String::new(),
            retry: RetryConfig::default(),
            flood: FloodConfig::default(),
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
        if self
            .authserv_id
            .chars()
            .any(|c| c.is_whitespace() || c == ';' || c.is_control())
        {
            return Err("mail.authserv_id: must be one word (the first word of our border's Authentication-Results)".into());
        }
        let r = &self.retry;
        if !(1..=86_400).contains(&r.first_seconds) {
            return Err("mail.retry.first_seconds: must be 1 to 86400".into());
        }
        if r.max_interval_seconds < r.first_seconds || r.max_interval_seconds > 86_400 {
            return Err(
                "mail.retry.max_interval_seconds: must be at least first_seconds and at most 86400"
                    .into(),
            );
        }
        if !(1..=720).contains(&r.give_up_after_hours) {
            return Err("mail.retry.give_up_after_hours: must be 1 to 720".into());
        }
        if !(1..=3600).contains(&r.result_window_seconds) {
            return Err("mail.retry.result_window_seconds: must be 1 to 3600".into());
        }
        let f = &self.flood;
        if f.per_sender == 0 || f.per_case == 0 {
            return Err("mail.flood.per_sender and mail.flood.per_case: must be at least 1".into());
        }
        if !(1..=1440).contains(&f.window_minutes) {
            return Err("mail.flood.window_minutes: must be 1 to 1440".into());
        }
        if f.quick_reply_seconds > 3600 {
            return Err("mail.flood.quick_reply_seconds: must be 0 to 3600".into());
        }
        if !(1..=600).contains(&self.smtp.timeout_seconds) {
            return Err("mail.smtp.timeout_seconds: must be 1 to 600".into());
        }
        if !(1..=3600).contains(&self.smtp.data_timeout_seconds) {
            return Err("mail.smtp.data_timeout_seconds: must be 1 to 3600".into());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A relay that is down for an hour, then back: with the default schedule the message is
    /// never given up during the outage, and the attempt after the relay returns comes within
    /// the longest pause (30 minutes); only after five days is it given up.
    #[test]
    fn the_default_schedule_outlasts_an_hour_of_outage_and_gives_up_after_days() {
        let r = RetryConfig::default();
        assert!(r.give_up_after_hours >= 96, "at least four days");
        for random in [0.0, 0.5, 1.0] {
            let mut age = Duration::ZERO;
            let mut attempt = 1;
            let outage = Duration::from_secs(3600);
            let mut longest = Duration::ZERO;
            while age < outage {
                let pause = r.next_pause(attempt, age, random).expect("not given up");
                longest = longest.max(pause);
                age += pause;
                attempt += 1;
            }
            assert!(age - outage <= Duration::from_secs(r.max_interval_seconds));
            assert!(longest <= Duration::from_secs(1800));
            assert!(
                attempt < 30,
                "a handful of attempts, not a storm: {attempt}"
            );
        }
        assert!(
            r.next_pause(40, Duration::from_secs(119 * 3600), 0.5)
                .is_some()
        );
        assert!(
            r.next_pause(40, Duration::from_secs(120 * 3600), 0.5)
                .is_none()
        );
    }

    #[test]
    fn settings_are_checked_with_their_key_named() {
        let mut c = MailConfig::default();
        c.retry.give_up_after_hours = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .starts_with("mail.retry.give_up_after_hours")
        );
        let c = MailConfig {
            authserv_id: "mx.example; dmarc=pass".into(),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().starts_with("mail.authserv_id"));
        let mut c = MailConfig::default();
        c.flood.per_sender = 0;
        assert!(c.validate().unwrap_err().starts_with("mail.flood"));
    }
}
