//! Path and query extractors whose every failure is a problem+json naming the parameter in
//! words meant for people (axum's own answer plain text in the parser's words).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use casedesk_core::{DomainError, FieldError};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Path parameters. A path that cannot name anything (bytes that are not UTF-8, a value of
/// the wrong shape) names nothing here: 404, like any other unknown resource.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // A NUL names nothing (and PostgreSQL refuses it in text).
        if parts.uri.path().to_ascii_lowercase().contains("%00") {
            return Err(DomainError::NotFound { entity: "resource" }.into());
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(DomainError::NotFound { entity: "resource" }.into()),
        }
    }
}

/// Query parameters, each failure reported by the parameter's name.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = form_urlencoded::parse(raw.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(DomainError::Validation(vec![FieldError::new(
                name.replace('\0', ""),
                "must not contain the NUL character",
            )])
            .into());
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                let (field, message) = explain(&path, &inner, "parameter");
                ApiError::Domain(DomainError::Validation(vec![FieldError::new(
                    field, message,
                )]))
            })
    }
}

/// The field a deserializer's error is about, and what is wrong with it, in our words.
/// `what` is `field` for bodies, `parameter` for query strings.
pub fn explain(path: &str, inner: &str, what: &str) -> (String, String) {
    let base = if path == "." { "" } else { path };
    let quoted = |rest: &str| rest.split('`').next().unwrap_or_default().to_owned();
    let under = |name: String| {
        if base.is_empty() || base.ends_with(&name) {
            if base.is_empty() {
                name
            } else {
                base.to_owned()
            }
        } else {
            format!("{base}.{name}")
        }
    };
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        return (under(quoted(rest)), format!("is not a known {what}"));
    }
    if let Some(rest) = inner.strip_prefix("missing field `") {
        return (under(quoted(rest)), "is required".into());
    }
    if let Some(rest) = inner.strip_prefix("duplicate field `") {
        return (under(quoted(rest)), "is given more than once".into());
    }
    let message = if let Some(rest) = inner.split("expected one of ").nth(1) {
        format!(
            "must be one of {}",
            rest.replace('`', "")
                .split(" at line ")
                .next()
                .unwrap_or_default()
        )
    } else if inner.contains("invalid digit")
        || inner.contains("number too large")
        || inner.contains("number too small")
        || inner.contains("cannot parse integer")
        || inner.contains("expected an integer")
        || [
            "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
        ]
        .iter()
        .any(|t| inner.contains(&format!("expected {t}")))
    {
        "must be a whole number in range".into()
    } else if inner.contains("expected a boolean")
        || inner.contains("provided string was not `true`")
    {
        "must be true or false".into()
    } else if inner.contains("expected a string") {
        "must be text".into()
    } else if inner.contains("expected a sequence") {
        "must be a list".into()
    } else if inner.contains("expected struct") || inner.contains("expected a map") {
        "must be an object".into()
    } else if inner.contains("invalid type") {
        "has the wrong type".into()
    } else if inner.contains("NUL character") {
        "must not contain the NUL character".into()
    } else {
        "is not valid".into()
    };
    // A problem with the whole body (or query) is about the body, never about "".
    let field = if base.is_empty() { "body" } else { base };
    (field.to_owned(), message)
}

/// A case number from the path; anything that is not one is simply not found. A number is
/// spelled one way only (`01019`, `+1019` name nothing), so one case has one address.
pub(crate) fn number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && n.to_string() == raw)
        .ok_or(ApiError::Domain(DomainError::NotFound { entity: "case" }))
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn parser_words_become_ours_with_the_field_path() {
        assert_eq!(
            explain(
                ".",
                "unknown field `foo`, expected one of `a`, `b`",
                "parameter"
            ),
            ("foo".into(), "is not a known parameter".into())
        );
        assert_eq!(
            explain("team_contacts[1]", "duplicate field `email`", "field"),
            (
                "team_contacts[1].email".into(),
                "is given more than once".into()
            )
        );
        assert_eq!(
            explain("limit", "invalid digit found in string", "parameter"),
            ("limit".into(), "must be a whole number in range".into())
        );
        assert_eq!(
            explain(
                "state",
                "unknown variant `x`, expected one of `a`, `b`",
                "field"
            ),
            ("state".into(), "must be one of a, b".into())
        );
        assert_eq!(
            explain(
                "internal",
                "provided string was not `true` or `false`",
                "parameter"
            ),
            ("internal".into(), "must be true or false".into())
        );
    }
}
