//! The email channel: reading inbound messages into what a case needs (who wrote, which case
//! it threads onto, whether it is automatic, the new text without quoted history).
//! Sending arrives with the outbound half of the channel.

pub mod inbound;
