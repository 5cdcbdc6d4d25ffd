//! The domain's error type; the HTTP layer maps it to problem+json in one place.

use serde::Serialize;

/// One problem with one input field, named by its dotted path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `identifiers.redirect_uri`.
    pub field: String,
    /// What is wrong, in words a person understands.
    pub message: String,
}

impl FieldError {
    /// A field error for `field` with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything that can go wrong in a domain operation.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The thing does not exist, or the caller may not know that it exists.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// Input failed validation; every problem is listed.
    #[error("the request has {} invalid field(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// The caller is known but lacks a permission; the message says which and who grants it.
    #[error("{0}")]
    Forbidden(String),
    /// The credential lacks a scope (a 403 `insufficient_scope`).
    #[error("this credential lacks the {} scope", .0.key())]
    InsufficientScope(crate::scope::Scope),
    /// The action is not allowed in the case's current status.
    #[error("{message}")]
    InvalidTransition {
        message: String,
        status: crate::cases::status::Status,
    },
    /// A conflicting state, such as an idempotency key reused with a different request.
    #[error("{0}")]
    Conflict(String),
    /// The thing existed and was deleted for good (a 410).
    #[error("{0}")]
    Gone(String),
    /// Storage or another dependency failed; details are logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
    /// The database is not answering (down, restarting, or every connection busy past the
    /// wait allowed): nothing was changed, and the same request may succeed in a moment.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl DomainError {
    /// A validation error with a single field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Validation(vec![FieldError::new(field, message)])
    }
}

/// Result of a domain operation.
pub type Result<T> = std::result::Result<T, DomainError>;

/// One error for each key of the JSON object `v` that is not in `known`.
pub fn unknown_fields(v: &serde_json::Value, known: &[&str]) -> Vec<FieldError> {
    v.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !known.contains(&k.as_str()))
                .map(|k| FieldError::new(k.clone(), "is not a field of this request"))
                .collect()
        })
        .unwrap_or_default()
}
