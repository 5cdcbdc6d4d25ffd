//! The case lifecycle: `new → open ⇄ pending ⇄ on-hold → solved → closed`.
//!
//! Rules decided here:
//! - An agent's first action on a `new` case opens it; an agent action that leads elsewhere
//!   (request info, hold, propose resolution) goes through `open` on the way.
//! - Open, pending and on-hold move freely among themselves and to solved.
//! - Only the customer's confirmation closes a solved case.
//! - A customer reply on a pending or solved case reopens it.
//! - A closed case is read-only: every action answers a conflict naming the status.

use super::Status;
use crate::DomainError;

/// Something that may change a case's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A public reply by the customer side.
    CustomerReply,
    /// A public reply by support.
    AgentReply,
    /// An internal note, assignment, priority change, contact change or summary.
    Annotate,
    /// Support asks the customer for information.
    RequestInfo,
    /// Support waits on a third party.
    Hold,
    /// Support resumes work on a pending or on-hold case.
    Resume,
    /// Support proposes a resolution.
    ProposeResolution,
    /// The customer confirms the proposed resolution.
    ConfirmResolution,
    /// The customer escalates.
    Escalate,
}

impl Action {
    /// Human name of the action, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Action::CustomerReply | Action::AgentReply => "reply to",
            Action::Annotate => "change",
            Action::RequestInfo => "request information on",
            Action::Hold => "put on hold",
            Action::Resume => "resume",
            Action::ProposeResolution => "propose a resolution for",
            Action::ConfirmResolution => "confirm the resolution of",
            Action::Escalate => "escalate",
        }
    }
}

fn refuse(action: Action, status: Status, why: &str) -> DomainError {
    DomainError::InvalidTransition {
        message: format!(
            "cannot {} a case that is {}: {why}",
            action.describe(),
            status.key()
        ),
        status,
    }
}

/// The status a case moves to when `action` happens in `status`, or why it may not.
pub fn next_status(status: Status, action: Action) -> Result<Status, DomainError> {
    use Action as A;
    use Status as S;
    if status == S::Closed {
        return Err(refuse(
            action,
            status,
            "closed cases are read-only; open a follow-up case instead",
        ));
    }
    Ok(match (action, status) {
        (A::CustomerReply, S::Pending | S::Solved) => S::Open,
        (A::CustomerReply, s) => s,
        (A::AgentReply, S::New) => S::Open,
        (A::AgentReply, s) => s,
        (A::Annotate, s) => s,
        (A::RequestInfo, S::New | S::Open | S::OnHold) => S::Pending,
        (A::RequestInfo, S::Pending) => {
            return Err(refuse(
                action,
                status,
                "it is already waiting on the customer",
            ));
        }
        (A::Hold, S::New | S::Open | S::Pending) => S::OnHold,
        (A::Hold, S::OnHold) => return Err(refuse(action, status, "it is already on hold")),
        (A::Resume, S::Pending | S::OnHold) => S::Open,
        (A::Resume, _) => {
            return Err(refuse(
                action,
                status,
                "only pending or on-hold cases can be resumed",
            ));
        }
        (A::ProposeResolution, S::New | S::Open | S::Pending | S::OnHold) => S::Solved,
        (A::ProposeResolution, S::Solved) => {
            return Err(refuse(action, status, "a resolution is already proposed"));
        }
        (A::ConfirmResolution, S::Solved) => S::Closed,
        (A::ConfirmResolution, _) => {
            return Err(refuse(
                action,
                status,
                "no resolution has been proposed yet",
            ));
        }
        (A::Escalate, S::New | S::Open | S::Pending | S::OnHold) => status,
        (A::Escalate, S::Solved) => {
            return Err(refuse(
                action,
                status,
                "reply to reopen it, or confirm the resolution",
            ));
        }
        (A::RequestInfo | A::Hold, S::Solved) => {
            return Err(refuse(
                action,
                status,
                "a resolution is proposed; the customer confirms it or replies to reopen",
            ));
        }
        (_, S::Closed) => return Err(refuse(action, status, "closed cases are read-only")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use Status as S;

    #[test]
    fn allowed_transitions() {
        let ok = [
            (S::New, A::AgentReply, S::Open),
            (S::New, A::CustomerReply, S::New),
            (S::Open, A::RequestInfo, S::Pending),
            (S::New, A::RequestInfo, S::Pending),
            (S::Pending, A::CustomerReply, S::Open),
            (S::Pending, A::Hold, S::OnHold),
            (S::OnHold, A::RequestInfo, S::Pending),
            (S::OnHold, A::Resume, S::Open),
            (S::Pending, A::Resume, S::Open),
            (S::OnHold, A::ProposeResolution, S::Solved),
            (S::Open, A::ProposeResolution, S::Solved),
            (S::Solved, A::CustomerReply, S::Open),
            (S::Solved, A::ConfirmResolution, S::Closed),
            (S::Open, A::Escalate, S::Open),
            (S::Solved, A::Annotate, S::Solved),
        ];
        for (from, action, to) in ok {
            assert_eq!(
                next_status(from, action).ok(),
                Some(to),
                "{from:?} {action:?}"
            );
        }
    }

    #[test]
    fn forbidden_transitions_name_the_current_status() {
        let bad = [
            (S::Open, A::ConfirmResolution),
            (S::New, A::Resume),
            (S::Pending, A::RequestInfo),
            (S::OnHold, A::Hold),
            (S::Solved, A::ProposeResolution),
            (S::Solved, A::Escalate),
            (S::Solved, A::RequestInfo),
            (S::Closed, A::CustomerReply),
            (S::Closed, A::Annotate),
        ];
        for (from, action) in bad {
            match next_status(from, action) {
                Err(DomainError::InvalidTransition { status, message }) => {
                    assert_eq!(status, from);
                    assert!(message.contains(from.key()), "{message}");
                }
                other => panic!("{from:?} {action:?} gave {other:?}"),
            }
        }
    }
}
