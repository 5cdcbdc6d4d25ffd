//! From a case event to the messages it sends (who receives which template), and sending one
//! message through the configured transport.

use std::path::PathBuf;
use std::time::Duration;

use casedesk_core::cases::{Case, CaseEvent, EventKind};
use casedesk_core::mail::NewMail;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::Value;
use uuid::Uuid;

use crate::config::{MailConfig, Security, TransportKind};
use crate::inbound::Marks;
use crate::outbound::{Facts, MailKind, SendError, Thread, compose, compose_notice, render};

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Retrying cannot help (the relay refused the recipient for good, the message is bad).
    pub permanent: bool,
    /// What went wrong.
    pub error: String,
}

enum Transport {
    Outbox(PathBuf),
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Off,
}

/// Renders, composes and sends casedesk's messages.
pub struct Mailer {
    config: MailConfig,
    domain: String,
    /// The sender's bare address, lowercased: parsed once, since every create checks the
    /// case email against it and every case message leaves it out.
    own: String,
    transport: Transport,
}

/// The template of a message kind, by its stable key.
pub fn kind_key(k: MailKind) -> &'static str {
    match k {
        MailKind::Acknowledged => "acknowledged",
        MailKind::Reply => "reply",
        MailKind::InfoRequested => "info_requested",
        MailKind::ResolutionProposed => "resolution_proposed",
        MailKind::Closed => "closed",
        MailKind::Reopened => "reopened",
        MailKind::InfoProvided => "info_provided",
        MailKind::Escalated => "escalated",
        MailKind::SlaWarning => "sla_warning",
        MailKind::SlaBreached => "sla_breached",
        MailKind::IncidentUpdate => "incident_update",
        MailKind::CsmAlert => "csm_alert",
    }
}

/// Who an event's message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// The template.
    pub kind: MailKind,
    /// The recipients, each once, never the person who acted.
    pub to: Vec<String>,
    /// The public text of the event.
    pub body: Option<String>,
}

fn text_of(data: &Value, key: &str) -> Option<String> {
    data.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.trim().is_empty())
}

/// Who besides the case's own people hears of its events, and how the account wants mail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parties {
    /// The duty managers (escalations).
    pub duty_managers: Vec<String>,
    /// The account's customer success manager (P1 cases and escalations).
    pub csm: Option<String>,
    /// Whether the requester's own address gets a copy when the case email is another one.
    pub copy_requester: bool,
}

/// The customer side of a case: the case email (every message of the case goes to it), the
/// requester's own address when it differs and the account asks for copies, and the team
/// contacts.
pub fn customers(case: &Case, copy_requester: bool) -> Vec<String> {
    let email = case.fields.contact.email.trim();
    let mut v = Vec::new();
    if email.is_empty() {
        v.push(case.requester.clone());
    } else {
        v.push(email.to_owned());
        if copy_requester && !case.requester.eq_ignore_ascii_case(email) {
            v.push(case.requester.clone());
        }
    }
    v.extend(case.team_contacts.iter().map(|c| c.email.clone()));
    v
}

/// Who hears of `event`. The customer side is the case email and the team contacts (see
/// [`customers`]); support hears of customer messages through the assignee; escalations go
/// to the duty managers. Internal events send nothing.
pub fn audience(
    case: &Case,
    event: &CaseEvent,
    actor_is_support: bool,
    parties: &Parties,
) -> Option<Audience> {
    if !event.public {
        return None;
    }
    let customers = customers(case, parties.copy_requester);
    let assignee: Vec<String> = case.assignee.iter().cloned().collect();
    let body = text_of(&event.data, "body");
    let (kind, to, body) = match event.kind {
        EventKind::Created => (MailKind::Acknowledged, customers, None),
        EventKind::Reply | EventKind::Resumed if actor_is_support => {
            if event.kind == EventKind::Resumed && body.is_none() {
                return None;
            }
            (MailKind::Reply, customers, body)
        }
        EventKind::Reply => {
            let mut to = customers;
            to.extend(assignee);
            (MailKind::Reply, to, body)
        }
        EventKind::InfoRequested => (MailKind::InfoRequested, customers, body),
        EventKind::IncidentUpdate => (MailKind::IncidentUpdate, customers, body),
        EventKind::ResolutionProposed => (MailKind::ResolutionProposed, customers, body),
        EventKind::ResolutionConfirmed => {
            let mut to = customers;
            to.extend(assignee);
            (MailKind::Closed, to, text_of(&event.data, "comment"))
        }
        // A customer's answer to a request for information moves the case from pending
        // back to open: that is an answer, not a reopening.
        EventKind::Reopened if event.data["from"] == "pending" => {
            let mut to = customers;
            to.extend(assignee);
            (MailKind::InfoProvided, to, body)
        }
        EventKind::Reopened => {
            let mut to = customers;
            to.extend(assignee);
            (MailKind::Reopened, to, body)
        }
        EventKind::Escalated => (
            MailKind::Escalated,
            parties.duty_managers.clone(),
            text_of(&event.data, "reason"),
        ),
        _ => return None,
    };
    finish(kind, to, body, event)
}

/// The CSM's message about `event`, if it is one they hear of: a case opened as P1 or raised
/// to P1, or an escalation.
pub fn csm_audience(case: &Case, event: &CaseEvent, parties: &Parties) -> Option<Audience> {
    let csm = parties.csm.clone()?;
    let body = match event.kind {
        EventKind::Created if case.fields.priority == casedesk_core::cases::Priority::P1 => {
            format!(
                "A P1 case (production down) was opened for tenant {}.",
                case.tenant
            )
        }
        EventKind::PriorityChanged if event.data["to"] == "P1" => format!(
            "The case was raised to P1 (production down) for tenant {}.",
            case.tenant
        ),
        EventKind::Escalated => format!(
            "The customer escalated the case: {}",
            text_of(&event.data, "reason").unwrap_or_default()
        ),
        _ => return None,
    };
    finish(MailKind::CsmAlert, vec![csm], Some(body), event)
}

fn finish(
    kind: MailKind,
    to: Vec<String>,
    body: Option<String>,
    event: &CaseEvent,
) -> Option<Audience> {
    let actor = event.actor.as_deref().map(str::to_ascii_lowercase);
    let mut seen = std::collections::BTreeSet::new();
    let to: Vec<String> = to
        .into_iter()
        .map(|a| a.to_ascii_lowercase())
        // The acknowledgement goes to everyone on the case, whoever opened it; every other
        // message skips the person who acted.
        .filter(|a| kind == MailKind::Acknowledged || Some(a) != actor.as_ref())
        .filter(|a| seen.insert(a.clone()))
        .collect();
    (!to.is_empty()).then_some(Audience { kind, to, body })
}

impl casedesk_core::mail::Composer for Mailer {
    fn event_mails(
        &self,
        case: &Case,
        event: &CaseEvent,
        actor_is_support: bool,
        csm: Option<String>,
        copy_requester: bool,
    ) -> Vec<NewMail> {
        let parties = Parties {
            duty_managers: vec![],
            csm,
            copy_requester,
        };
        Mailer::event_mails(self, case, event, actor_is_support, &parties)
    }
}

impl Mailer {
    /// A mailer for `config` (checked by [`MailConfig::validate`]); `data_dir` holds the outbox
    /// when no other folder is configured.
    pub fn new(config: MailConfig, data_dir: &std::path::Path) -> Result<Mailer, String> {
        config.validate()?;
        if config.authserv_id.trim().is_empty() {
            tracing::warn!(
                "mail.authserv_id is not set: the sender of received mail is not checked, so mail in a customer's name is posted as theirs whatever SPF, DKIM and DMARC said; set it to the authserv-id your receiving server writes in Authentication-Results"
            );
        }
        let transport = match config.transport {
            TransportKind::Off => Transport::Off,
            TransportKind::Outbox => Transport::Outbox(
                config
                    .outbox
                    .clone()
                    .unwrap_or_else(|| data_dir.join("outbox")),
            ),
            TransportKind::Smtp => Transport::Smtp(Box::new(smtp(&config)?)),
        };
        Ok(Mailer {
            domain: config.domain(),
            own: config.from_address().to_ascii_lowercase(),
            config,
            transport,
        })
    }

    /// Whether `address` is casedesk's own (the sender of its messages, which the mail gate
    /// reads): no case email may be it.
    pub fn is_own_address(&self, address: &str) -> bool {
        !self.own.is_empty() && self.own.eq_ignore_ascii_case(address.trim())
    }

    /// The settings.
    pub fn config(&self) -> &MailConfig {
        &self.config
    }

    /// Whether sending a message twice leaves the world as sending it once (the outbox
    /// overwrites the message's own file; mail off sends nothing), so an attempt needs no
    /// record before it.
    pub fn repeat_is_harmless(&self) -> bool {
        !matches!(self.transport, Transport::Smtp(_))
    }

    /// Whether messages are sent at all.
    pub fn enabled(&self) -> bool {
        !matches!(self.transport, Transport::Off)
    }

    /// What the inbound reader needs to recognise our messages and tags.
    pub fn marks(&self) -> Marks {
        Marks {
            message_id_domain: self.domain.clone(),
            tag_prefix: self.config.tag_prefix.clone(),
            max_bytes: self.config.max_inbound_bytes,
            authserv_id: self.config.authserv_id.clone(),
        }
    }

    /// The link to a case.
    pub fn link(&self, case: i64) -> String {
        self.page(&format!("cases/{case}"))
    }

    /// The link to a page of casedesk.
    pub fn page(&self, path: &str) -> String {
        format!("{}/{path}", self.config.base_url.trim_end_matches('/'))
    }

    /// The messages of `kind` about `case`, one per recipient: rendered once, composed per
    /// recipient (each its own `Message-ID`). A recipient whose address cannot be used is
    /// skipped and logged.
    pub fn case_mails(
        &self,
        kind: MailKind,
        case: &Case,
        body: Option<String>,
        actor: Option<String>,
        sla: Option<String>,
        to: &[String],
    ) -> Vec<NewMail> {
        let facts = Facts {
            case: case.number,
            subject: case.fields.subject.clone(),
            body,
            actor,
            link: self.link(case.number),
            sla,
        };
        let r = render(kind, &facts, &self.config.tag_prefix);
        let at = casedesk_core::now();
        to.iter()
            .filter_map(|to| {
                let id = Uuid::now_v7();
                let thread = Thread {
                    domain: self.domain.clone(),
                    case: case.number,
                    part: id.simple().to_string(),
                };
                let m = compose(
                    &r,
                    &self.config.from,
                    std::slice::from_ref(to),
                    &thread,
                    kind_key(kind),
                )
                .map_err(|e| tracing::warn!(case = case.number, error = %e, "message not composed"))
                .ok()?;
                Some(NewMail {
                    id,
                    case_number: Some(case.number),
                    kind: kind_key(kind).into(),
                    recipient: to.clone(),
                    subject: r.subject.clone(),
                    message_id: thread.id(),
                    message: String::from_utf8_lossy(&m.formatted()).into_owned(),
                    created_at: at,
                })
            })
            .collect()
    }

    /// The messages an event sends (none when mail is off or nobody is to hear of it).
    pub fn event_mails(
        &self,
        case: &Case,
        event: &CaseEvent,
        actor_is_support: bool,
        parties: &Parties,
    ) -> Vec<NewMail> {
        if !self.enabled() {
            return vec![];
        }
        // casedesk never writes to itself: a case email set to its own address would make
        // every message come back to the mail gate.
        let own = &self.own;
        let ours = |to: &[String]| -> Vec<String> {
            to.iter()
                .filter(|t| own.is_empty() || **t != *own)
                .cloned()
                .collect()
        };
        let mut out = match audience(case, event, actor_is_support, parties) {
            Some(a) => self.case_mails(
                a.kind,
                case,
                a.body,
                event.actor.clone(),
                None,
                &ours(&a.to),
            ),
            None => vec![],
        };
        if let Some(a) = csm_audience(case, event, parties) {
            out.extend(self.case_mails(a.kind, case, a.body, event.actor.clone(), None, &a.to));
        }
        out
    }

    /// A status message to a subscriber: an incident opened, changed or resolved. `stop` is
    /// the link that ends a subscription made without an account (also sent as
    /// `List-Unsubscribe`, one click); people with an account unsubscribe on the status page.
    pub fn status_mail(
        &self,
        to: &str,
        incident: &casedesk_core::status::Incident,
        update: &casedesk_core::status::IncidentUpdate,
        stop: Option<&str>,
    ) -> Result<NewMail, SendError> {
        let id = Uuid::now_v7();
        let message_id = format!("<status.{}@{}>", id.simple(), self.domain);
        let subject = format!(
            "[Status] {} — {}",
            incident.title,
            update.state.key().replace('_', " ")
        );
        let base = self.config.base_url.trim_end_matches('/');
        let how_to_stop = match stop {
            Some(link) => format!("To stop these messages, open {link}"),
            None => {
                format!("To stop these messages, sign in and choose Unsubscribe on {base}/status")
            }
        };
        let text = format!(
            "{}\n\nState: {}\nImpact: {}\nRegions: {}\nComponents: {}\nPosted: {}\n\n{}\n\nEvery update: {base}/status\nYou receive this because you subscribed to service status. {how_to_stop}\n",
            incident.title,
            update.state.key().replace('_', " "),
            update.impact.key().replace('_', " "),
            incident.regions.join(", "),
            incident.components.join(", "),
            update.at.strftime("%Y-%m-%d %H:%M UTC"),
            update.body,
        );
        let headers: Vec<(&'static str, String)> = match stop {
            Some(link) => vec![
                ("List-Unsubscribe", format!("<{link}>")),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()),
            ],
            None => vec![],
        };
        let m = crate::outbound::compose_plain_with(
            &self.config.from,
            to,
            &subject,
            &text,
            &message_id,
            None,
            "auto-generated",
            &headers,
        )?;
        Ok(NewMail {
            id,
            case_number: None,
            kind: "status".into(),
            recipient: to.to_owned(),
            subject,
            message_id,
            message: String::from_utf8_lossy(&m.formatted()).into_owned(),
            created_at: casedesk_core::now(),
        })
    }

    /// The one message a new address gets before any status update: what it was given for,
    /// the link that confirms it, and the link that stops it.
    pub fn status_confirmation(
        &self,
        to: &str,
        confirm: &str,
        stop: &str,
    ) -> Result<NewMail, SendError> {
        let base = self.config.base_url.trim_end_matches('/');
        let text = format!(
            "Someone, we hope you, asked for service status emails at this address on {base}/status.\n\nTo start receiving them, confirm here:\n{confirm}\n\nIf you did not ask for them, do nothing: without your confirmation this address gets no further message. To remove it at once: {stop}\n"
        );
        self.standalone(
            to,
            "status_confirm",
            "status-confirm",
            "Confirm your service status emails",
            &text,
        )
    }

    /// A plain message that belongs to no case, from casedesk's address.
    fn standalone(
        &self,
        to: &str,
        kind: &str,
        id_prefix: &str,
        subject: &str,
        text: &str,
    ) -> Result<NewMail, SendError> {
        let id = Uuid::now_v7();
        let message_id = format!("<{id_prefix}.{}@{}>", id.simple(), self.domain);
        let m = crate::outbound::compose_plain(
            &self.config.from,
            to,
            subject,
            text,
            &message_id,
            None,
            "auto-generated",
        )?;
        Ok(NewMail {
            id,
            case_number: None,
            kind: kind.into(),
            recipient: to.to_owned(),
            subject: subject.to_owned(),
            message_id,
            message: String::from_utf8_lossy(&m.formatted()).into_owned(),
            created_at: casedesk_core::now(),
        })
    }

    /// The invitation of a new user: who added them and as what, and either the link that lets
    /// them choose a password (valid until `until`) or, where passwords are off, where to sign
    /// in with their organisation's sign-in.
    pub fn invitation(
        &self,
        to: &str,
        inviter: &str,
        as_what: &str,
        password_link: Option<(&str, &str)>,
    ) -> Result<NewMail, SendError> {
        let base = self.config.base_url.trim_end_matches('/');
        let how = match password_link {
            Some((link, until)) => format!(
                "Choose your password here (the link works once, until {until}):\n{link}\n\nAfterwards, sign in at {base}/auth/login with this address and that password."
            ),
            None => format!(
                "Sign in at {base}/auth/login with your organisation's sign-in, using this address."
            ),
        };
        let text = format!(
            "{inviter} added you to the support center at {base} as {as_what}.\n\n{how}\n\nIf you did not expect this, ignore this message and tell {inviter}.\n"
        );
        self.standalone(
            to,
            casedesk_core::mail::INVITATION_KIND,
            "invite",
            "You have been added to the support center",
            &text,
        )
    }

    /// The address casedesk's pages answer on, for links in messages.
    pub fn base_url(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    /// A notice answering a received message (see [`compose_notice`]).
    pub fn notice(
        &self,
        to: &str,
        subject: &str,
        text: &str,
        in_reply_to: Option<&str>,
    ) -> Result<NewMail, SendError> {
        let id = Uuid::now_v7();
        let message_id = format!("<notice.{}@{}>", id.simple(), self.domain);
        let m = compose_notice(
            &self.config.from,
            to,
            subject,
            text,
            &message_id,
            in_reply_to,
        )?;
        Ok(NewMail {
            id,
            case_number: None,
            kind: "notice".into(),
            recipient: to.to_owned(),
            subject: subject.to_owned(),
            message_id,
            message: String::from_utf8_lossy(&m.formatted()).into_owned(),
            created_at: casedesk_core::now(),
        })
    }

    /// The longest the opening of a session may take (connecting, greeting, EHLO, STARTTLS,
    /// AUTH).
    pub fn opening_deadline(&self) -> Duration {
        Duration::from_secs(self.config.smtp.timeout_seconds.max(1) * 3)
    }

    /// The longest the message itself may take once the session is open.
    pub fn message_deadline(&self) -> Duration {
        Duration::from_secs(self.config.smtp.data_timeout_seconds.max(1))
    }

    /// The longest one sending attempt may take, from connecting to the relay's last answer.
    pub fn attempt_deadline(&self) -> Duration {
        self.opening_deadline() + self.message_deadline()
    }

    /// Sends one stored message to its recipient; answers where it went.
    pub async fn send(&self, id: Uuid, recipient: &str, message: &str) -> Result<String, Failure> {
        match &self.transport {
            Transport::Off => Ok("mail is off: not sent".into()),
            Transport::Outbox(dir) => {
                let name = format!("{}.eml", id.simple());
                let dir = dir.clone();
                let bytes = message.as_bytes().to_vec();
                let written = tokio::task::spawn_blocking(move || {
                    crate::outbound::write_outbox(&dir, &name, &bytes)
                })
                .await
                .map_err(|e| Failure {
                    permanent: false,
                    error: e.to_string(),
                })?;
                written
                    .map(|p| format!("outbox {}", p.display()))
                    .map_err(|e| Failure {
                        permanent: false,
                        error: e.to_string(),
                    })
            }
            Transport::Smtp(t) => {
                let bad = |e: String| Failure {
                    permanent: true,
                    error: e,
                };
                let from = self
                    .config
                    .from_address()
                    .parse()
                    .map_err(|_| bad("mail.from is not an address".into()))?;
                let to = recipient
                    .parse()
                    .map_err(|_| bad(format!("{recipient:?} is not an address")))?;
                let envelope =
                    Envelope::new(Some(from), vec![to]).map_err(|e| bad(e.to_string()))?;
                // Two steps with their own deadlines. The opening (connecting, the greeting,
                // EHLO, STARTTLS, AUTH), which lettre's timeout does not bound as a whole, must
                // finish within `opening_deadline`: a relay that accepts and never speaks ends
                // the attempt early. The pooled connection it opened then carries the message,
                // whose final answer may take as long as RFC 5321 lets a relay take: cutting
                // that wait short would send the message again to a relay that accepted it.
                let opening = self.opening_deadline();
                match tokio::time::timeout(opening, t.test_connection()).await {
                    Err(_) => {
                        return Err(Failure {
                            permanent: false,
                            error: format!(
                                "the relay did not open the session within {} s (no greeting or no answer)",
                                opening.as_secs()
                            ),
                        });
                    }
                    Ok(Err(e)) => {
                        return Err(Failure {
                            permanent: e.is_permanent(),
                            error: e.to_string(),
                        });
                    }
                    Ok(Ok(_)) => {}
                }
                let deadline = self.message_deadline();
                let sent =
                    match tokio::time::timeout(deadline, t.send_raw(&envelope, message.as_bytes()))
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => {
                            return Err(Failure {
                                permanent: false,
                                error: format!(
                                    "the relay did not accept the message within {} s",
                                    deadline.as_secs()
                                ),
                            });
                        }
                    };
                match sent {
                    Ok(r) => Ok(format!(
                        "relay {} {}",
                        r.code(),
                        r.message().collect::<Vec<_>>().join(" ")
                    )),
                    Err(e) => Err(Failure {
                        permanent: e.is_permanent(),
                        error: e.to_string(),
                    }),
                }
            }
        }
    }
}

fn smtp(c: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let s = &c.smtp;
    let host = s.host.trim();
    let builder = match (&s.ca_file, s.security) {
        (Some(ca), Security::Starttls | Security::Tls) => {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("mail.smtp.ca_file: cannot read {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("mail.smtp.ca_file: not a PEM certificate: {e}"))?;
            let params = TlsParameters::builder(host.to_owned())
                .add_root_certificate(cert)
                .build()
                .map_err(|e| format!("mail.smtp: {e}"))?;
            let (tls, port) = if s.security == Security::Tls {
                (Tls::Wrapper(params), 465)
            } else {
                (Tls::Required(params), 587)
            };
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .tls(tls)
        }
        (_, Security::Tls) => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|e| format!("mail.smtp.host: {e}"))?,
        (_, Security::Starttls) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| format!("mail.smtp.host: {e}"))?,
        (_, Security::None) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    // lettre's one timeout applies to every read, the end of DATA included, so it is the
    // long one; the opening is bounded by `opening_deadline` around it.
    let mut builder = builder.timeout(Some(Duration::from_secs(
        s.timeout_seconds.max(s.data_timeout_seconds).max(1),
    )));
    if let Some(p) = s.port {
        builder = builder.port(p);
    }
    if let (Some(u), Some(p)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(builder.build())
}
