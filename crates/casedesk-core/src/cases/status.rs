//! Where a case is in its lifecycle. Kept apart from the rest of the case so that an error
//! can name the status without the error module depending on the case.

use serde::{Deserialize, Serialize};

/// Where a case is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Opened, not yet taken up by support.
    New,
    /// Being worked by support.
    Open,
    /// Waiting on the customer.
    Pending,
    /// Waiting on a third party.
    OnHold,
    /// A resolution was proposed; waiting for the customer's confirmation.
    Solved,
    /// Confirmed resolved; read-only.
    Closed,
}

impl Status {
    /// Every status in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::OnHold,
        Status::Solved,
        Status::Closed,
    ];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::OnHold => "on_hold",
            Status::Solved => "solved",
            Status::Closed => "closed",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|p| p.key() == s)
    }
}
