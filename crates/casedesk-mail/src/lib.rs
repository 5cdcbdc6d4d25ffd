//! The email channel: reading inbound messages into what a case needs (who wrote, which case
//! it threads onto, whether it is automatic, the new text without quoted history).
//! Writing outbound messages (templates, threading headers, the `.eml` outbox); sending them
//! as jobs arrives with the rest of the channel.

pub mod inbound;
pub mod outbound;
