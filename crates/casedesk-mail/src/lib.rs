//! The email channel: messages out (one template per event, threading and loop-stopping
//! headers, sent through an SMTP relay or written to the outbox folder) and messages in (the
//! mail gate reads a message, threads it onto its case and posts it, or records why not).

pub mod config;
pub mod gate;
pub mod inbound;
pub mod mailer;
pub mod outbound;
pub mod trim;
pub mod trust;

pub use config::{MailConfig, Security, SmtpConfig, TransportKind};
pub use mailer::{Failure, Mailer};
