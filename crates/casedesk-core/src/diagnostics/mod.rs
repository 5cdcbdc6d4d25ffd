//! Identity diagnostics a customer or an agent can run while describing a problem.

pub mod har;
pub mod jwt;
pub mod redirect;
pub mod secrets;

use serde_json::Value;

use crate::cases::CaseStore;
use crate::permissions::{can_see, require_case_access, require_scope};
use crate::users::{Principal, Scope};
use crate::{DomainError, FieldError, Result};

/// Fails unless the caller may record a diagnostic report on the case.
pub async fn check_report_case(store: &dyn CaseStore, p: &Principal, number: i64) -> Result<()> {
    require_case_access(p)?;
    require_scope(p, Scope::CasesWrite)?;
    let case = store
        .get_case(number)
        .await?
        .ok_or(DomainError::NotFound { entity: "case" })?;
    if !can_see(p, &case) {
        return Err(DomainError::NotFound { entity: "case" });
    }
    Ok(())
}

/// Registered URIs accepted in one question.
pub const MAX_REGISTERED: usize = 50;
/// Longest URI accepted.
pub const MAX_URI: usize = 1000;

/// Reads `{registered: [..], used}` and explains whether `used` matches.
pub fn explain_redirect(v: &Value) -> Result<redirect::Explanation> {
    let mut errors = Vec::new();
    if !v.is_object() {
        return Err(DomainError::field("body", "must be a JSON object"));
    }
    if let Some(o) = v.as_object() {
        for k in o
            .keys()
            .filter(|k| !["registered", "used"].contains(&k.as_str()))
        {
            errors.push(FieldError::new(k.clone(), "is not a field of this request"));
        }
    }
    let registered: Vec<String> = match v.get("registered") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_REGISTERED => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) if !s.is_empty() && s.chars().count() <= MAX_URI => {
                        out.push(s.to_owned())
                    }
                    _ => errors.push(FieldError::new(
                        format!("registered[{i}]"),
                        format!("must be a URI of 1 to {MAX_URI} characters"),
                    )),
                }
            }
            out
        }
        Some(Value::Array(_)) => {
            errors.push(FieldError::new(
                "registered",
                format!("must list 1 to {MAX_REGISTERED} registered redirect URIs"),
            ));
            Vec::new()
        }
        _ => {
            errors.push(FieldError::new(
                "registered",
                "is required: the list of registered redirect URIs",
            ));
            Vec::new()
        }
    };
    let used = match v.get("used") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_URI => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                "used",
                format!("must be a URI of 1 to {MAX_URI} characters"),
            ));
            None
        }
        _ => {
            errors.push(FieldError::new(
                "used",
                "is required: the redirect URI the application sent",
            ));
            None
        }
    };
    match used {
        Some(u) if errors.is_empty() => Ok(redirect::explain(&registered, &u)),
        _ => Err(DomainError::Validation(errors)),
    }
}
