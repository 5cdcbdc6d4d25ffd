//! An account's email intake: the defaults a message becomes a case with are checked by the
//! same rules as the case form before they are kept.

use serde_json::{Value, json};

use super::create::check_intake;
use super::writes::ServiceStore;
use crate::acts::AuditRecord;
use crate::mail::{EmailIntake, intake_body, require_intake_editor};
use crate::users::Principal;
use crate::{DomainError, Result};

/// Sets an account's email intake. Enabling checks that the defaults, with a subject,
/// description and case email from a message, pass the intake; its errors name
/// `defaults.<field>`.
pub async fn put_email_intake(
    store: &dyn ServiceStore,
    p: &Principal,
    account: &str,
    body: &Value,
) -> Result<EmailIntake> {
    require_intake_editor(p)?;
    let acc = store
        .find_account(account)
        .await?
        .ok_or(DomainError::NotFound { entity: "account" })?;
    let Some(obj) = body.as_object() else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    for k in obj.keys() {
        if k != "enabled" && k != "defaults" {
            errors.push(crate::FieldError::new(k.as_str(), "is not a known field"));
        }
    }
    let enabled = match obj.get("enabled") {
        Some(Value::Bool(b)) => *b,
        _ => {
            errors.push(crate::FieldError::new("enabled", "must be true or false"));
            false
        }
    };
    let defaults = obj.get("defaults").cloned().unwrap_or_else(|| json!({}));
    if !defaults.is_object() {
        errors.push(crate::FieldError::new("defaults", "must be a JSON object"));
    }
    for k in ["subject", "description"] {
        if defaults.get(k).is_some() {
            errors.push(crate::FieldError::new(
                format!("defaults.{k}"),
                "comes from the message; leave it out",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    if enabled {
        let sample = intake_body(
            &defaults,
            "Sample subject of a message",
            "Sample text of a message",
            "requester@example.com",
        );
        if let Err(e) = check_intake(store, acc.id, &sample).await {
            return Err(prefix_fields(e, "defaults"));
        }
    }
    let spec = json!({"enabled": enabled, "defaults": defaults});
    let audit = AuditRecord::by(p, "account.email_intake.set", format!("account:{}", acc.id))
        .account(Some(acc.id))
        .summary(spec.clone());
    store
        .set_email_intake(acc.id, &spec.to_string(), &audit)
        .await?;
    Ok(EmailIntake { enabled, defaults })
}

fn prefix_fields(e: DomainError, prefix: &str) -> DomainError {
    match e {
        DomainError::Validation(errs) => DomainError::Validation(
            errs.into_iter()
                .map(|f| crate::FieldError::new(format!("{prefix}.{}", f.field), f.message))
                .collect(),
        ),
        other => other,
    }
}
