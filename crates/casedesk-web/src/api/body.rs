//! Reading JSON bodies so that every failure is a problem+json naming the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use casedesk_core::DomainError;

/// Raw body bytes, mapping an over-limit body to 413.
pub fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    match body {
        Ok(b) => Ok(b),
        Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::TooLarge)
        }
        Err(e) => Err(ApiError::unreadable_body(&e.body_text())),
    }
}

/// Parses a body as any JSON value (an empty body is `{}`).
pub fn value(body: &Bytes) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadJson(format!("the body is not valid JSON: {e}")))
}

/// Parses a body into `T`, reporting the failing field by its dotted path.
pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let v = value(body)?;
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if let Some(rest) = inner.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default();
            // serde_path_to_error's path already ends with the unknown field's name.
            let field = if path == "." || path.is_empty() {
                name.to_owned()
            } else {
                path
            };
            return DomainError::field(field, "is not a known field").into();
        }
        if let Some(rest) = inner.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or_default();
            return DomainError::field(name, "is required").into();
        }
        let field = if path == "." { String::new() } else { path };
        let msg = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        DomainError::field(field, msg).into()
    })
}
