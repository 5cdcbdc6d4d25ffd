//! HAR files: parsed and scrubbed in memory, then mined for evidence. The raw bytes are never
//! written anywhere; only the scrubbed file and the evidence summary leave this module.
//!
//! The walk follows the HAR 1.2 fields that carry credentials (cookies, headers, URLs, query
//! strings, posted parameters and bodies, response bodies, redirect URLs), then runs the
//! value detectors of [`super::secrets`] over every other string of the file, the custom
//! `_…` fields included.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::secrets::{self, Found, Tag};

/// Version of these rules, stored with every scrubbed file.
pub const SANITIZER_VERSION: u32 = 1;
/// Most entries read from one file.
pub const MAX_ENTRIES: usize = 100_000;
/// Most failures, errors, steps and correlation IDs listed in a summary.
const LIST_CAP: usize = 50;

/// Why a HAR file was refused (nothing of it is kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HarError {
    /// Not JSON, cut short or nested too deeply.
    #[error("{0}")]
    NotJson(String),
    /// JSON, but not a HAR file.
    #[error("{0}")]
    NotHar(String),
}

/// A scrubbed HAR file and what it shows.
#[derive(Debug, Clone)]
pub struct Scrubbed {
    /// The scrubbed file, as JSON.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, hex.
    pub sha256: String,
    /// The evidence summary.
    pub summary: Value,
    /// What was removed, by rule.
    pub found: Found,
}

/// Parses, scrubs and summarises a HAR file.
///
/// The file is read as borrowed raw JSON, and each entry is parsed, scrubbed, summarised and
/// written out on its own, so the memory used is the input, the output and one entry, not a
/// parsed tree of the whole capture (several times the file's size).
pub fn scrub(raw: Vec<u8>, tag: &Tag) -> Result<Scrubbed, HarError> {
    type Members<'a> = std::collections::BTreeMap<String, &'a serde_json::value::RawValue>;
    let raw = without_bom(raw)?;
    let parse_error = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Eof => HarError::NotJson(format!(
            "the file ends early (line {}): it was cut short",
            e.line()
        )),
        serde_json::error::Category::Data => HarError::NotHar(format!("not a HAR file: {e}")),
        _ => HarError::NotJson(format!("not valid JSON: {e}")),
    };
    let root: Members = serde_json::from_slice(&raw).map_err(parse_error)?;
    let log: Members = match root.get("log") {
        Some(l) => serde_json::from_str(l.get())
            .map_err(|_| HarError::NotHar("not a HAR file: log is not an object".into()))?,
        None => {
            return Err(HarError::NotHar(
                "not a HAR file: it has no log.entries list".into(),
            ));
        }
    };
    let entries: Vec<&serde_json::value::RawValue> = match log.get("entries") {
        Some(e) => serde_json::from_str(e.get()).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                HarError::NotHar("not a HAR file: log.entries is not a list".into())
            }
            _ => parse_error(e),
        })?,
        None => {
            return Err(HarError::NotHar(
                "not a HAR file: it has no log.entries list".into(),
            ));
        }
    };
    if entries.len() > MAX_ENTRIES {
        return Err(HarError::NotHar(format!(
            "has {} entries; at most {MAX_ENTRIES} are read",
            entries.len()
        )));
    }
    let mut found = Found::default();
    let mut ev = Evidence::default();
    let failed = |e: crate::DomainError| HarError::NotHar(format!("could not be scrubbed: {e}"));
    let write = |out: &mut Vec<u8>, v: &Value| {
        serde_json::to_writer(out, v).map_err(|e| HarError::NotHar(e.to_string()))
    };
    // Any other member: parsed, walked by the detectors, written.
    let other = |raw: &serde_json::value::RawValue, found: &mut Found| -> Result<Value, HarError> {
        let mut v: Value = serde_json::from_str(raw.get()).map_err(parse_error)?;
        secrets::scrub_json(&mut v, tag, found).map_err(failed)?;
        Ok(v)
    };
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    out.push(b'{');
    for (n, (key, value)) in root.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write(&mut out, &Value::String(key.clone()))?;
        out.push(b':');
        if key != "log" {
            let v = other(value, &mut found)?;
            write(&mut out, &v)?;
            continue;
        }
        out.push(b'{');
        for (m, (lk, lv)) in log.iter().enumerate() {
            if m > 0 {
                out.push(b',');
            }
            write(&mut out, &Value::String(lk.clone()))?;
            out.push(b':');
            if lk != "entries" {
                let v = other(lv, &mut found)?;
                write(&mut out, &v)?;
                continue;
            }
            out.push(b'[');
            for (i, raw_entry) in entries.iter().enumerate() {
                let mut e: Value = serde_json::from_str(raw_entry.get()).map_err(parse_error)?;
                let ok = e
                    .get("request")
                    .and_then(|r| r.get("url"))
                    .is_some_and(Value::is_string);
                if !ok {
                    return Err(HarError::NotHar(format!(
                        "log.entries[{i}] has no request.url"
                    )));
                }
                scrub_entry(&mut e, tag, &mut found).map_err(failed)?;
                // The rest of the entry: headers, initiators, WebSocket messages, custom
                // fields. What `scrub_entry` already ran the detectors over (URLs, bodies)
                // is set aside meanwhile: a second pass over it found nothing new and
                // doubled the cost of a capture.
                let done = set_aside(&mut e);
                let rest = secrets::scrub_json(&mut e, tag, &mut found).map_err(failed);
                put_back(&mut e, done);
                rest?;
                // Evidence comes from the scrubbed entry only: nothing the scrubbing removed
                // can reach the summary.
                ev.read_entry(i, &e);
                if i > 0 {
                    out.push(b',');
                }
                write(&mut out, &e)?;
            }
            out.push(b']');
        }
        out.push(b'}');
    }
    out.push(b'}');
    drop(entries);
    drop(log);
    drop(root);
    drop(raw);
    // A value removed in one place goes everywhere else too, in any spelling: a cookie that
    // a later response echoes in a body, a token base64-encoded in another parameter.
    let known = found.known();
    let out = match std::str::from_utf8(&out)
        .ok()
        .and_then(|text| found.scrub_with(&known, text, tag))
    {
        Some(text) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
                return Err(HarError::NotHar(
                    "could not be scrubbed safely: removing a secret everywhere broke the file"
                        .into(),
                ));
            }
            text.into_bytes()
        }
        None => out,
    };
    let sha256 = hex::encode(Sha256::digest(&out));
    let mut summary = ev.finish(&found, &sha256);
    // The last pass over what is stored beside the file.
    secrets::scrub_json_known(&mut summary, &known, tag, &mut found).map_err(failed)?;
    Ok(Scrubbed {
        bytes: out,
        sha256,
        summary,
        found,
    })
}

/// UTF-16 code units of `body`, little- or big-endian; an odd last byte is dropped.
pub(crate) fn utf16_units(body: &[u8], le: bool) -> Vec<u16> {
    body.chunks_exact(2)
        .map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        })
        .collect()
}

/// The capture as UTF-8 without a byte-order mark: exports from some tools start with one,
/// and some write UTF-16.
fn without_bom(mut raw: Vec<u8>) -> Result<Vec<u8>, HarError> {
    if raw.starts_with(&[0xEF, 0xBB, 0xBF]) {
        raw.drain(..3);
        return Ok(raw);
    }
    let utf16 = |le: bool, body: &[u8]| -> Result<Vec<u8>, HarError> {
        let units = utf16_units(body, le);
        String::from_utf16(&units)
            .map(String::into_bytes)
            .map_err(|_| HarError::NotJson("the file says it is UTF-16 but is not".into()))
    };
    if raw.starts_with(&[0xFF, 0xFE]) {
        return utf16(true, &raw[2..]);
    }
    if raw.starts_with(&[0xFE, 0xFF]) {
        return utf16(false, &raw[2..]);
    }
    Ok(raw)
}

// ---------------------------------------------------------------------------------------------
// Scrubbing

/// Request and response headers a credential may travel in (lower case).
const CREDENTIAL_HEADERS: [&str; 13] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-xsrf-token",
    "dpop",
    "x-amz-security-token",
    "x-client-data",
    "x-okta-session-token",
];

/// Correlation headers, kept whatever their name says.
const CORRELATION_HEADERS: [&str; 11] = [
    "x-okta-request-id",
    "x-auth0-requestid",
    "x-request-id",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "cf-ray",
    "x-amzn-requestid",
    "x-amz-cf-id",
    "x-ms-request-id",
    "request-id",
];

fn header_is_credential(lower: &str) -> bool {
    // A challenge names what failed (its error and description are evidence), not a secret.
    if CORRELATION_HEADERS.contains(&lower) || lower == "www-authenticate" {
        return false;
    }
    CREDENTIAL_HEADERS.contains(&lower)
        || [
            "auth",
            "token",
            "secret",
            "session",
            "password",
            "apikey",
            "api-key",
            "api_key",
            "signature",
            "credential",
            "passcode",
        ]
        .iter()
        .any(|w| lower.contains(w))
        // Subscription and function keys of API gateways: `Ocp-Apim-Subscription-Key`.
        || lower.ends_with("-key")
        || lower.ends_with("_key")
        || secrets::is_secret_name(lower)
}

fn scrub_entry(e: &mut Value, tag: &Tag, found: &mut Found) -> crate::Result<()> {
    for side in ["request", "response"] {
        let Some(part) = e.get_mut(side).and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(Value::Array(cookies)) = part.get_mut("cookies") {
            for c in cookies.iter_mut() {
                if let Some(v) = c.get_mut("value")
                    && let Some(s) = v.as_str()
                    && !s.is_empty()
                {
                    *v = Value::String(found.redact("cookie", s, tag));
                }
            }
        }
        if let Some(Value::Array(headers)) = part.get_mut("headers") {
            for h in headers.iter_mut() {
                scrub_header(h, tag, found)?;
            }
        }
        for k in ["url", "redirectURL"] {
            if let Some(Value::String(u)) = part.get_mut(k) {
                scrub_url(u, tag, found)?;
            }
        }
        if let Some(Value::Array(q)) = part.get_mut("queryString") {
            for p in q.iter_mut() {
                scrub_param(p, tag, found);
            }
        }
        if let Some(post) = part.get_mut("postData").and_then(Value::as_object_mut) {
            if let Some(Value::Array(params)) = post.get_mut("params") {
                for p in params.iter_mut() {
                    scrub_param(p, tag, found);
                }
            }
            let mime = post
                .get("mimeType")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            scrub_body(post, &mime, "text", tag, found)?;
        }
        if let Some(content) = part.get_mut("content").and_then(Value::as_object_mut) {
            let mime = content
                .get("mimeType")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            scrub_body(content, &mime, "text", tag, found)?;
        }
    }
    Ok(())
}

/// The strings of an entry that `scrub_entry` has run the detectors over.
const SCANNED: [(&str, &str, &str); 4] = [
    ("request", "", "url"),
    ("response", "", "redirectURL"),
    ("request", "postData", "text"),
    ("response", "content", "text"),
];

/// Takes the scanned strings out of an entry.
fn set_aside(e: &mut Value) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, (side, part, key)) in SCANNED.iter().enumerate() {
        let Some(mut obj) = e.get_mut(*side) else {
            continue;
        };
        if !part.is_empty() {
            let Some(inner) = obj.get_mut(*part) else {
                continue;
            };
            obj = inner;
        }
        let Some(map) = obj.as_object_mut() else {
            continue;
        };
        if let Some(Value::String(_)) = map.get(*key)
            && let Some(Value::String(s)) = map.remove(*key)
        {
            out.push((i, s));
        }
    }
    out
}

/// Puts back what `set_aside` took, where it was.
fn put_back(e: &mut Value, done: Vec<(usize, String)>) {
    for (i, s) in done {
        let (side, part, key) = SCANNED[i];
        let obj = if part.is_empty() {
            e.get_mut(side)
        } else {
            e.get_mut(side).and_then(|o| o.get_mut(part))
        };
        if let Some(map) = obj.and_then(Value::as_object_mut) {
            map.insert(key.to_owned(), Value::String(s));
        }
    }
}

fn scrub_header(h: &mut Value, tag: &Tag, found: &mut Found) -> crate::Result<()> {
    let name = h
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let Some(Value::String(value)) = h.get_mut("value") else {
        return Ok(());
    };
    if value.is_empty() {
        return Ok(());
    }
    match name.as_str() {
        "cookie" => {
            *value = value
                .split(';')
                .map(|pair| match pair.split_once('=') {
                    Some((n, v)) => {
                        format!("{n}={}", found.redact("cookie", v, tag))
                    }
                    // A cookie without a name is all value.
                    None if !pair.trim().is_empty() => found.redact("cookie", pair, tag),
                    None => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(";");
        }
        "set-cookie" => {
            // The first pair is the cookie; the attributes after it explain SameSite and
            // domain problems and stay.
            let (first, rest) = value.split_once(';').unwrap_or((value.as_str(), ""));
            let cookie = match first.split_once('=') {
                Some((n, v)) => format!("{n}={}", found.redact("cookie", v, tag)),
                None => found.redact("cookie", first, tag),
            };
            *value = if rest.is_empty() {
                cookie
            } else {
                format!("{cookie};{rest}")
            };
        }
        "authorization" | "proxy-authorization" => {
            let (scheme, cred) = value.split_once(' ').unwrap_or(("", value.as_str()));
            let marker = found.redact("header", cred.trim(), tag);
            *value = if scheme.is_empty() {
                marker
            } else {
                format!("{scheme} {marker}")
            };
        }
        "location" | "referer" | "content-location" | "origin" | "link" => {
            scrub_url(value, tag, found)?;
        }
        n if header_is_credential(n) => {
            *value = found.redact("header", value, tag);
        }
        _ => {
            if value.starts_with("http://") || value.starts_with("https://") {
                scrub_url(value, tag, found)?;
            }
        }
    }
    Ok(())
}

fn scrub_param(p: &mut Value, tag: &Tag, found: &mut Found) {
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(Value::String(v)) = p.get_mut("value")
        && let Some(new) = param_marker(&name, v, tag, found)
    {
        *v = new;
    }
}

/// The replacement of a named value, if its name asks for one.
fn param_marker(name: &str, value: &str, tag: &Tag, found: &mut Found) -> Option<String> {
    if value.is_empty() || value.starts_with("[REDACTED:") || value.starts_with("[HASHED:") {
        return None;
    }
    if secrets::is_secret_name(name) {
        Some(found.redact("secret_parameter", value, tag))
    } else if secrets::is_pii_name(name) {
        Some(found.redact("pii", value, tag))
    } else if secrets::is_hashed_name(name) {
        Some(format!(
            "[HASHED:{}]",
            tag.h8(value).unwrap_or_else(|| "-".into())
        ))
    } else {
        None
    }
}

/// Scrubs `a=1&b=2` pairs, keeping each kept value exactly as it was written.
fn scrub_pairs(text: &str, tag: &Tag, found: &mut Found) -> Option<String> {
    let mut changed = false;
    let out: Vec<String> = text
        .split('&')
        .map(|pair| {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name);
            let value = decode(raw_value);
            match param_marker(&name, &value, tag, found) {
                Some(m) => {
                    changed = true;
                    format!("{raw_name}={m}")
                }
                None => pair.to_owned(),
            }
        })
        .collect();
    changed.then(|| out.join("&"))
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Scrubs a URL's query and fragment by parameter name, then the whole by the detectors.
fn scrub_url(u: &mut String, tag: &Tag, found: &mut Found) -> crate::Result<()> {
    let (before_frag, frag) = match u.split_once('#') {
        Some((a, b)) => (a.to_owned(), Some(b.to_owned())),
        None => (u.clone(), None),
    };
    let (base, query) = match before_frag.split_once('?') {
        Some((a, b)) => (a.to_owned(), Some(b.to_owned())),
        None => (before_frag, None),
    };
    let mut out = base;
    if let Some(q) = query {
        out.push('?');
        out.push_str(&scrub_pairs(&q, tag, found).unwrap_or(q));
    }
    if let Some(f) = frag {
        out.push('#');
        out.push_str(&scrub_pairs(&f, tag, found).unwrap_or(f));
    }
    secrets::scrub_in_place(&mut out, tag, found)?;
    *u = out;
    Ok(())
}

fn is_text_mime(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.contains("json")
        || mime.contains("xml")
        || mime.contains("javascript")
        || mime.contains("x-www-form-urlencoded")
        || mime.is_empty()
}

/// Scrubs a request or response body in `obj[key]` according to its type.
fn scrub_body(
    obj: &mut Map<String, Value>,
    mime: &str,
    key: &str,
    tag: &Tag,
    found: &mut Found,
) -> crate::Result<()> {
    // Taken out of the entry, not copied; every path below puts back what is kept.
    let text = match obj.remove(key) {
        Some(Value::String(t)) if !t.is_empty() => t,
        Some(other) => {
            obj.insert(key.to_owned(), other);
            return Ok(());
        }
        None => return Ok(()),
    };
    let base64 = obj.get("encoding").and_then(Value::as_str) == Some("base64");
    let mut text = if base64 {
        if !is_text_mime(mime) {
            // Binary content is no evidence of a sign-in problem and cannot be scrubbed.
            obj.remove(key);
            obj.remove("encoding");
            obj.insert(
                "comment".into(),
                json!("binary content removed by casedesk"),
            );
            return Ok(());
        }
        match base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(t) => {
                obj.remove("encoding");
                t
            }
            None => {
                obj.remove(key);
                obj.remove("encoding");
                found.hit("body_dropped");
                return Ok(());
            }
        }
    } else {
        text
    };
    let drop_text = |obj: &mut Map<String, Value>, found: &mut Found, why: &str| {
        obj.remove(key);
        obj.insert("comment".into(), json!(why));
        found.hit("body_dropped");
    };
    if mime.contains("javascript") || mime.contains("ecmascript") || mime.starts_with("text/css") {
        // Scripts and styles explain no sign-in and can embed anything.
        obj.remove(key);
        obj.insert(
            "comment".into(),
            json!("script or style removed by casedesk"),
        );
        return Ok(());
    }
    if mime.contains("multipart/") {
        drop_text(obj, found, "multipart body removed by casedesk");
        return Ok(());
    }
    if mime.contains("json") || (mime.is_empty() && text.trim_start().starts_with('{')) {
        match serde_json::from_str::<Value>(&text) {
            Ok(mut v) => {
                scrub_body_json(&mut v, tag, found)?;
                text = serde_json::to_string(&v).unwrap_or_default();
            }
            Err(_) => {
                if secrets::scrub_in_place(&mut text, tag, found)? {
                    drop_text(
                        obj,
                        found,
                        "unreadable body with secrets removed by casedesk",
                    );
                    return Ok(());
                }
            }
        }
    } else if mime.contains("x-www-form-urlencoded") {
        if let Some(t) = scrub_pairs(&text, tag, found) {
            text = t;
        }
        secrets::scrub_in_place(&mut text, tag, found)?;
    } else if mime.contains("html") {
        text = scrub_html_inputs(&text, tag, found);
        secrets::scrub_in_place(&mut text, tag, found)?;
    } else if mime.contains("xml") && (text.contains("Assertion") || text.contains("assertion")) {
        drop_text(obj, found, "SAML assertion removed by casedesk");
        return Ok(());
    } else if mime.starts_with("text/plain") || mime.contains("xml") {
        secrets::scrub_in_place(&mut text, tag, found)?;
    } else if secrets::scrub_in_place(&mut text, tag, found)? {
        drop_text(
            obj,
            found,
            "body of an unknown type with secrets removed by casedesk",
        );
        return Ok(());
    }
    obj.insert(key.to_owned(), Value::String(text));
    Ok(())
}

/// Walks a JSON body: secret-named members lose their value; every string meets the detectors.
fn scrub_body_json(v: &mut Value, tag: &Tag, found: &mut Found) -> crate::Result<()> {
    tag_personal(v, tag, found);
    secrets::scrub_json(v, tag, found)
}

/// Personal and correlating members (`email`, `state`, `nonce`) become tags, at any depth.
fn tag_personal(v: &mut Value, tag: &Tag, found: &mut Found) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if let Value::String(s) = val
                    && (secrets::is_pii_name(k) || secrets::is_hashed_name(k))
                {
                    if let Some(m) = param_marker(k, s, tag, found) {
                        *s = m;
                    }
                } else {
                    tag_personal(val, tag, found);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| tag_personal(i, tag, found)),
        _ => {}
    }
}

/// Hidden form fields: where the `form_post` response mode puts `code`, `id_token` and `state`.
fn scrub_html_inputs(html: &str, tag: &Tag, found: &mut Found) -> String {
    static INPUT: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?is)<input(?-u:\b)[^>]*>").ok());
    static TEXTAREA: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)(<textarea(?-u:\b)[^>]*>)(.*?)(</textarea\s*>)").ok()
    });
    static NAME: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?is)(?-u:\b)name\s*=\s*["']?([^"'\s>]+)"#).ok()
    });
    static VALUE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?is)((?-u:\b)value\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#).ok()
    });
    let (Some(input), Some(name_re), Some(value_re)) =
        (INPUT.as_ref(), NAME.as_ref(), VALUE.as_ref())
    else {
        // Without the patterns nothing can be kept safely.
        found.hit("body_dropped");
        return String::new();
    };
    let inputs = input
        .replace_all(html, |c: &regex::Captures| {
            let tag_text = c.get(0).map_or("", |m| m.as_str());
            let name = name_re
                .captures(tag_text)
                .and_then(|n| n.get(1))
                .map_or("", |m| m.as_str());
            let Some(vc) = value_re.captures(tag_text) else {
                return tag_text.to_owned();
            };
            let value = vc
                .get(2)
                .or(vc.get(3))
                .or(vc.get(4))
                .map_or("", |m| m.as_str());
            match param_marker(name, value, tag, found) {
                Some(m) => value_re
                    .replace(tag_text, |v: &regex::Captures| {
                        format!("{}\"{m}\"", v.get(1).map_or("", |x| x.as_str()))
                    })
                    .into_owned(),
                None => tag_text.to_owned(),
            }
        })
        .into_owned();
    let Some(area) = TEXTAREA.as_ref() else {
        return inputs;
    };
    area.replace_all(&inputs, |c: &regex::Captures| {
        let open = c.get(1).map_or("", |m| m.as_str());
        let inner = c.get(2).map_or("", |m| m.as_str());
        let close = c.get(3).map_or("", |m| m.as_str());
        let name = name_re
            .captures(open)
            .and_then(|n| n.get(1))
            .map_or("", |m| m.as_str());
        match param_marker(name, inner, tag, found) {
            Some(m) => format!("{open}{m}{close}"),
            None => c.get(0).map_or("", |m| m.as_str()).to_owned(),
        }
    })
    .into_owned()
}

// ---------------------------------------------------------------------------------------------
// Evidence

/// The steps of a sign-in, in the order they should happen.
const STEPS: [&str; 5] = ["authorize", "login", "callback", "token", "userinfo"];

#[derive(Default)]
struct Evidence {
    entries: usize,
    first_at: Option<String>,
    last_at: Option<String>,
    flow: Vec<Value>,
    failures: Vec<Value>,
    errors: Vec<Value>,
    correlation: Vec<Value>,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    response_types: Vec<String>,
    skews: Vec<i64>,
    user_agent: Option<String>,
    broke: Option<Value>,
}

/// Parameters of a URL's query and fragment, decoded.
type Params = Vec<(String, String)>;

fn url_params(url: &str) -> (Params, Params) {
    let (before, frag) = url.split_once('#').unwrap_or((url, ""));
    let query = before.split_once('?').map_or("", |(_, q)| q);
    let parse = |s: &str| {
        url::form_urlencoded::parse(s.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect::<Vec<_>>()
    };
    (parse(query), parse(frag))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn headers(part: Option<&Value>) -> Vec<(String, String)> {
    part.and_then(|p| p.get("headers"))
        .and_then(Value::as_array)
        .map(|hs| {
            hs.iter()
                .filter_map(|h| {
                    Some((
                        h.get("name")?.as_str()?.to_ascii_lowercase(),
                        h.get("value")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A URL without its query, fragment and user information, for the summary.
fn bare(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let s = &url[..cut];
    match (s.find("://"), s.find('@')) {
        (Some(p), Some(at)) if at > p => format!("{}{}", &s[..p + 3], &s[at + 1..]),
        _ => s.to_owned(),
    }
}

fn short(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl Evidence {
    fn read_entry(&mut self, i: usize, e: &Value) {
        self.entries += 1;
        let at = str_at(e, &["startedDateTime"]).map(|s| short(s, 40));
        if self.first_at.is_none() {
            self.first_at.clone_from(&at);
        }
        if at.is_some() {
            self.last_at.clone_from(&at);
        }
        let req = e.get("request");
        let res = e.get("response");
        let method = str_at(e, &["request", "method"])
            .unwrap_or("GET")
            .to_owned();
        let url = str_at(e, &["request", "url"]).unwrap_or("").to_owned();
        let status = res.and_then(|r| r.get("status")).and_then(Value::as_i64);
        let req_h = headers(req);
        let res_h = headers(res);
        let (query, fragment) = url_params(&url);
        let mut params: Vec<(String, String)> = query.clone();
        params.extend(fragment.iter().cloned());
        // Posted form parameters.
        let mut posted: Vec<(String, String)> = Vec::new();
        if let Some(ps) = req
            .and_then(|r| r.get("postData"))
            .and_then(|p| p.get("params"))
            .and_then(Value::as_array)
        {
            for p in ps {
                if let (Some(n), Some(v)) = (
                    p.get("name").and_then(Value::as_str),
                    p.get("value").and_then(Value::as_str),
                ) {
                    posted.push((n.to_owned(), v.to_owned()));
                }
            }
        }
        if posted.is_empty()
            && let Some(text) = str_at(e, &["request", "postData", "text"])
            && str_at(e, &["request", "postData", "mimeType"])
                .is_some_and(|m| m.contains("x-www-form-urlencoded"))
        {
            posted = url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        }
        let get = |list: &[(String, String)], k: &str| {
            list.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        if self.user_agent.is_none() {
            self.user_agent = req_h
                .iter()
                .find(|(n, _)| n == "user-agent")
                .map(|(_, v)| short(v, 200));
        }
        // Redirect URIs named anywhere in the request.
        for list in [&params, &posted] {
            if let Some(r) = get(list, "redirect_uri") {
                let r = short(&r, 1000);
                if !self.redirect_uris.contains(&r) && self.redirect_uris.len() < LIST_CAP {
                    self.redirect_uris.push(r);
                }
            }
        }
        let lower_path = bare(&url).to_ascii_lowercase();
        let path = lower_path
            .split_once("://")
            .map_or(lower_path.as_str(), |(_, rest)| {
                rest.find('/').map_or("/", |p| &rest[p..])
            })
            .to_owned();
        let grant = get(&posted, "grant_type");
        if let Some(g) = &grant
            && !self.grant_types.contains(g)
        {
            self.grant_types.push(short(g, 100));
        }
        let step =
            if path.ends_with("/token") && method.eq_ignore_ascii_case("POST") || grant.is_some() {
                Some("token")
            } else if path.ends_with("/authorize")
                || path.ends_with("/auth") && get(&params, "response_type").is_some()
                || get(&params, "response_type").is_some() && get(&params, "client_id").is_some()
                || get(&params, "samlrequest").is_some()
            {
                if let Some(rt) = get(&params, "response_type")
                    && !self.response_types.contains(&rt)
                {
                    self.response_types.push(short(&rt, 100));
                }
                Some("authorize")
            } else if self
                .redirect_uris
                .iter()
                .any(|r| bare(r).eq_ignore_ascii_case(&bare(&url)))
                || ["code", "id_token", "error", "samlresponse"]
                    .iter()
                    .any(|k| get(&params, k).is_some() || get(&posted, k).is_some())
            {
                Some("callback")
            } else if path.ends_with("/userinfo") {
                Some("userinfo")
            } else if [
                "/login",
                "/signin",
                "/sign-in",
                "/sign_in",
                "/authn",
                "/interaction/",
                "/u/login",
                "/idp/idx",
            ]
            .iter()
            .any(|w| path.contains(w))
                || get(&posted, "password").is_some()
            {
                Some("login")
            } else {
                None
            };
        // OAuth errors: the URL (query and fragment), a redirect's Location, a JSON body,
        // WWW-Authenticate, Okta's error members.
        let mut errors_here: Vec<Value> = Vec::new();
        let mut push_error =
            |source: &str, error: String, desc: Option<String>, uri: Option<String>| {
                errors_here.push(json!({
                    "source": source, "error": short(&error, 200),
                    "error_description": desc.map(|d| short(&d, 1000)),
                    "error_uri": uri.map(|u| short(&u, 500)),
                }));
            };
        for (source, list) in [("query", &query), ("fragment", &fragment)] {
            if let Some(err) = get(list, "error") {
                push_error(
                    source,
                    err,
                    get(list, "error_description"),
                    get(list, "error_uri"),
                );
            }
        }
        if let Some((_, loc)) = res_h.iter().find(|(n, _)| n == "location") {
            let (q, f) = url_params(loc);
            for list in [&q, &f] {
                if let Some(err) = get(list, "error") {
                    push_error(
                        "redirect",
                        err,
                        get(list, "error_description"),
                        get(list, "error_uri"),
                    );
                }
            }
        }
        if let Some(text) = str_at(e, &["response", "content", "text"])
            && text.len() < 1_000_000
            && text.trim_start().starts_with('{')
            && let Ok(body) = serde_json::from_str::<Value>(text)
        {
            if let Some(err) = body.get("error").and_then(Value::as_str) {
                push_error(
                    "body",
                    err.to_owned(),
                    body.get("error_description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    body.get("error_uri")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                );
            }
            if let Some(code) = body.get("errorCode").and_then(Value::as_str) {
                push_error(
                    "body",
                    code.to_owned(),
                    body.get("errorSummary")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    body.get("errorId")
                        .and_then(Value::as_str)
                        .map(|s| format!("errorId {s}")),
                );
            }
        }
        for (n, v) in &res_h {
            if n == "www-authenticate"
                && let Some(err) = auth_param(v, "error")
            {
                push_error(
                    "www-authenticate",
                    err,
                    auth_param(v, "error_description"),
                    None,
                );
            }
        }
        // Correlation IDs of this entry.
        let ids: Vec<Value> = req_h
            .iter()
            .chain(res_h.iter())
            .filter(|(n, _)| CORRELATION_HEADERS.contains(&n.as_str()))
            .map(|(n, v)| json!({"header": n, "value": short(v, 200)}))
            .collect();
        for id in &ids {
            if self.correlation.len() < LIST_CAP {
                let mut id = id.clone();
                if let Some(o) = id.as_object_mut() {
                    o.insert("entry".into(), json!(i));
                }
                self.correlation.push(id);
            }
        }
        // Client clock against the server's Date.
        if let (Some(started), Some((_, date))) = (
            str_at(e, &["startedDateTime"]),
            res_h.iter().find(|(n, _)| n == "date"),
        ) && let (Ok(client), Ok(server)) = (
            started.parse::<jiff::Timestamp>(),
            jiff::fmt::rfc2822::parse(date.trim()),
        ) {
            self.skews
                .push(client.as_second() - server.timestamp().as_second());
        }
        let failed = status.is_some_and(|s| s >= 400 || s == 0) || !errors_here.is_empty();
        let url_shown = short(&bare(&url), 500);
        if let Some(step) = step
            && self.flow.len() < LIST_CAP
        {
            self.flow.push(json!({
                "step": step, "entry": i, "at": at, "method": method,
                "url": url_shown, "status": status, "failed": failed,
            }));
        }
        if failed {
            let reason = errors_here
                .first()
                .and_then(|e| e.get("error").and_then(Value::as_str))
                .map(str::to_owned)
                .unwrap_or_else(|| match status {
                    Some(0) => "no response (blocked, aborted or refused by CORS)".into(),
                    Some(s) => format!("HTTP {s}"),
                    None => "failed".into(),
                });
            if self.broke.is_none()
                && let Some(step) = step
            {
                self.broke = Some(json!({"step": step, "entry": i, "at": at,
                    "url": url_shown, "status": status, "reason": reason, "correlation": ids}));
            }
            if self.failures.len() < LIST_CAP {
                self.failures.push(json!({
                    "entry": i, "at": at, "method": method, "url": url_shown,
                    "status": status,
                    "status_text": str_at(e, &["response", "statusText"]).map(|s| short(s, 200)),
                    "errors": errors_here, "correlation": ids,
                }));
            }
        }
        for mut err in errors_here {
            if let Some(o) = err.as_object_mut() {
                o.insert("entry".into(), json!(i));
                o.insert("at".into(), json!(at));
            }
            let dup = self.errors.iter().any(|x| {
                x.get("error") == err.get("error")
                    && x.get("error_description") == err.get("error_description")
            });
            if !dup && self.errors.len() < LIST_CAP {
                self.errors.push(err);
            }
        }
    }

    fn finish(mut self, found: &Found, sha256: &str) -> Value {
        let reached: Vec<&str> = STEPS
            .iter()
            .copied()
            .filter(|s| {
                self.flow
                    .iter()
                    .any(|f| f.get("step").and_then(Value::as_str) == Some(s))
            })
            .collect();
        if self.broke.is_none()
            && let Some(last) = reached.last()
            && ["authorize", "login"].contains(last)
        {
            self.broke = Some(json!({"step": "callback", "entry": null,
                "reason": format!("the capture stops after the {last} step: no callback to the application was recorded")}));
        }
        let token_flow = if self.grant_types.iter().any(|g| g == "authorization_code")
            || self
                .response_types
                .iter()
                .any(|r| r.split(' ').any(|p| p == "code"))
        {
            Some("authorization_code")
        } else if let Some(g) = self.grant_types.first() {
            match g.as_str() {
                "client_credentials" => Some("client_credentials"),
                "refresh_token" => Some("refresh_token"),
                "urn:ietf:params:oauth:grant-type:device_code" => Some("device_code"),
                "urn:ietf:params:oauth:grant-type:token-exchange" => Some("token_exchange"),
                _ => Some("other"),
            }
        } else if !self.response_types.is_empty() {
            Some("implicit")
        } else {
            None
        };
        self.skews.sort_unstable();
        let skew = self.skews.get(self.skews.len() / 2).copied();
        let removed: BTreeMap<&str, usize> = found.counts.clone();
        // Every token was redacted somewhere, and its claims kept where it was.
        let tokens = &found.tokens;
        json!({
            "sanitizer_version": SANITIZER_VERSION,
            "sha256": sha256,
            "entries": self.entries,
            "first_request_at": self.first_at,
            "last_request_at": self.last_at,
            "flow": self.flow,
            "steps_reached": reached,
            "broke_at": self.broke,
            "failures": self.failures,
            "oauth_errors": self.errors,
            "correlation_ids": self.correlation,
            "redirect_uris": self.redirect_uris,
            "token_flow": token_flow,
            "clock_skew_seconds": skew,
            "user_agent": self.user_agent,
            "tokens": tokens,
            "removed": removed,
        })
    }
}

/// A parameter of a `WWW-Authenticate` challenge.
fn auth_param(header: &str, name: &str) -> Option<String> {
    let lower = header.to_ascii_lowercase();
    let mut from = 0;
    while let Some(p) = lower[from..].find(name) {
        let start = from + p;
        let before_ok = start == 0
            || !lower.as_bytes()[start - 1].is_ascii_alphanumeric()
                && lower.as_bytes()[start - 1] != b'_';
        let rest = &header[start + name.len()..];
        if before_ok && let Some(rest) = rest.trim_start().strip_prefix('=') {
            let rest = rest.trim_start();
            return Some(match rest.strip_prefix('"') {
                Some(q) => q.split('"').next().unwrap_or("").to_owned(),
                None => rest.split([',', ' ']).next().unwrap_or("").to_owned(),
            });
        }
        from = start + name.len();
    }
    None
}

/// Context fields of a case that the summary can fill when the requester left them empty.
pub fn context_from(summary: &Value, file_name: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    out.insert("har_file".into(), json!(short(file_name, 200)));
    if let Some(t) = s(summary.get("token_flow")) {
        out.insert("token_flow".into(), json!(t));
    }
    let failing_ids = summary
        .get("broke_at")
        .and_then(|b| b.get("correlation"))
        .and_then(Value::as_array)
        .and_then(|a| a.first().cloned())
        .or_else(|| {
            summary
                .get("correlation_ids")
                .and_then(Value::as_array)
                .and_then(|a| a.first().cloned())
        });
    if let Some(v) = failing_ids.as_ref().and_then(|c| s(c.get("value"))) {
        out.insert("correlation_id".into(), json!(v));
    }
    if let Some(url) = summary
        .get("broke_at")
        .and_then(|b| s(b.get("url")))
        .and_then(|u| u.split_once("://").map(|(_, r)| r.to_owned()))
        && let Some(p) = url.find('/')
    {
        out.insert("endpoint_path".into(), json!(short(&url[p..], 300)));
    }
    if let Some(at) = s(summary.get("first_request_at"))
        && let Ok(t) = at.parse::<jiff::Timestamp>()
    {
        out.insert("started_at".into(), json!(t.to_string()));
    }
    let reached = summary
        .get("steps_reached")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" → ")
        })
        .unwrap_or_default();
    if !reached.is_empty() {
        let broke = summary
            .get("broke_at")
            .filter(|b| !b.is_null())
            .map(|b| {
                format!(
                    "; broke at {}: {}",
                    s(b.get("step")).unwrap_or_default(),
                    s(b.get("reason")).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        out.insert(
            "sign_in_progress".into(),
            json!(short(&format!("HAR shows {reached}{broke}"), 1000)),
        );
    }
    if let Some(ua) = s(summary.get("user_agent")) {
        out.insert("browser".into(), json!(short(&ua, 200)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> Tag {
        Tag::keyed(&[3; 32]).unwrap()
    }

    #[test]
    fn refuses_what_is_not_a_har() {
        assert!(
            matches!(scrub(b"{\"log\": {\"entries\": [".to_vec(), &tag()), Err(HarError::NotJson(m)) if m.contains("cut short"))
        );
        assert!(matches!(
            scrub(b"hello".to_vec(), &tag()),
            Err(HarError::NotJson(_))
        ));
        assert!(matches!(
            scrub(b"{\"log\": {}}".to_vec(), &tag()),
            Err(HarError::NotHar(_))
        ));
        assert!(matches!(
            scrub(b"{\"log\": {\"entries\": [{\"request\": {}}]}}".to_vec(), &tag()),
            Err(HarError::NotHar(m)) if m.contains("entries[0]")
        ));
        let deep = format!(
            "{{\"log\": {{\"entries\": [{}{}]}}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(
            matches!(scrub(deep.into_bytes(), &tag()), Err(HarError::NotJson(m)) if m.contains("recursion"))
        );
    }

    #[test]
    fn auth_params() {
        let h =
            r#"Bearer realm="api", error="invalid_token", error_description="The token expired""#;
        assert_eq!(auth_param(h, "error").as_deref(), Some("invalid_token"));
        assert_eq!(
            auth_param(h, "error_description").as_deref(),
            Some("The token expired")
        );
        assert_eq!(auth_param("Bearer realm=x", "error"), None);
    }

    #[test]
    fn cookies_headers_and_urls() {
        let har = json!({"log": {"entries": [{
            "startedDateTime": "2026-11-20T14:03:00.000Z",
            "request": {"method": "GET",
                "url": "https://idp.example/oauth2/v1/authorize?client_id=app&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s1&nonce=n1",
                "cookies": [{"name": "sid", "value": "SESSIONSECRET1"}],
                "headers": [{"name": "Cookie", "value": "sid=SESSIONSECRET1; idx=IDXSECRET2"},
                            {"name": "X-Request-Id", "value": "req-42"}]},
            "response": {"status": 302, "headers": [
                {"name": "Set-Cookie", "value": "sid=SESSIONSECRET3; Path=/; HttpOnly; SameSite=None"},
                {"name": "Location", "value": "https://app.example/cb?error=access_denied&error_description=User+not+assigned&state=s1"}],
                "content": {"mimeType": "text/html", "text": ""}}}]}});
        let out = scrub(serde_json::to_vec(&har).unwrap(), &tag()).unwrap();
        let text = String::from_utf8(out.bytes.clone()).unwrap();
        for secret in [
            "SESSIONSECRET1",
            "IDXSECRET2",
            "SESSIONSECRET3",
            "state=s1",
            "nonce=n1",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("SameSite=None"),
            "cookie attributes stay: {text}"
        );
        assert!(text.contains("req-42"), "correlation ids stay");
        assert_eq!(out.summary["oauth_errors"][0]["error"], "access_denied");
        assert_eq!(
            out.summary["oauth_errors"][0]["error_description"],
            "User not assigned"
        );
        assert_eq!(out.summary["redirect_uris"][0], "https://app.example/cb");
        assert_eq!(out.summary["broke_at"]["step"], "authorize");
        assert_eq!(out.summary["token_flow"], "authorization_code");
        let ctx = context_from(&out.summary, "x.har");
        assert_eq!(ctx["correlation_id"], "req-42");
        assert_eq!(ctx["endpoint_path"], "/oauth2/v1/authorize");
    }
}
