//! Reading JSON bodies so that every failure is a problem+json naming the field.

use std::fmt;

use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::ApiError;
use casedesk_core::{DomainError, FieldError};

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

/// A JSON value read strictly: a key given twice in one object, or a NUL character in a
/// string, is an error (serde_json would keep the last key silently; PostgreSQL refuses NUL).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

fn no_nul<E: de::Error>(s: &str) -> Result<(), E> {
    if s.contains('\0') {
        Err(E::custom("a string holds the NUL character"))
    } else {
        Ok(())
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        no_nul(v)?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        no_nul(&v)?;
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            no_nul(&k)?;
            if out.contains_key(&k) {
                return Err(de::Error::custom(format_args!("duplicate field `{k}`")));
            }
            let Strict(v) = map.next_value_seed(StrictSeed)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Strict;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Strict, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

/// Parses a body as any JSON value (an empty body is `{}`), refusing duplicate keys and
/// NUL characters with the path of the offending field.
pub fn value(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let syntax = |inner: serde_json::Error| {
        ApiError::BadJson(format!(
            "The body is not valid JSON: the text breaks off or has a mistake at line {}, column {}.",
            inner.line(),
            inner.column()
        ))
    };
    match serde_path_to_error::deserialize::<_, Strict>(&mut de) {
        Ok(Strict(v)) => {
            de.end().map_err(syntax)?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(syntax(inner));
            }
            let words = inner.to_string();
            let (field, message) = super::extract::explain(&path, &words, "field");
            Err(DomainError::Validation(vec![FieldError::new(field, message)]).into())
        }
    }
}

/// Parses a body into `T`, reporting the failing field by its path (`a.b[1].c`).
pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let v = value(body)?;
    // Every body parsed this way is an object; serde would also take a list and read its
    // items as the fields in order (`["text"]` as a reply).
    if !v.is_object() {
        return Err(DomainError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])
        .into());
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (field, message) = super::extract::explain(&path, &inner, "field");
        DomainError::Validation(vec![FieldError::new(field, message)]).into()
    })
}

/// What a route's body may be besides JSON.
fn other_kinds(method: &Method, path: &str) -> &'static [&'static str] {
    let upload = path == "/api/v1/cases"
        || path == "/api/v1/trust/documents"
        || (path.starts_with("/api/v1/cases/") && path.ends_with("/attachments"));
    if *method == Method::POST && upload {
        &["multipart/form-data"]
    } else if path == "/api/v1/inbound/email" {
        &["message/rfc822", "application/octet-stream", "text/plain"]
    } else {
        &[]
    }
}

/// A body sent to the API must say it is JSON (`application/json` or `…+json`), or be one of
/// the other kinds its route takes: anything else is 415, before the body is read.
pub async fn json_only(req: Request, next: Next) -> Response {
    let h = req.headers();
    let has_body = h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if !has_body {
        return next.run(req).await;
    }
    let kind = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    // Inside the nested `/api/v1` router the path has lost its prefix.
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path(), |o| o.0.path());
    let others = other_kinds(req.method(), path);
    let fine = match kind.as_deref() {
        Some(k) => {
            k == "application/json"
                || (k.starts_with("application/") && k.ends_with("+json"))
                || others.contains(&k)
        }
        // The mail gate's messages are bytes whatever they are called.
        None => path == "/api/v1/inbound/email",
    };
    if fine {
        return next.run(req).await;
    }
    let mut accepted = vec!["application/json"];
    accepted.extend_from_slice(others);
    let mut res = ApiError::UnsupportedMediaType {
        sent: kind.unwrap_or_default(),
        accepted: accepted.join(", "),
    }
    .into_response();
    crate::error::unread_body(&mut res);
    res
}
