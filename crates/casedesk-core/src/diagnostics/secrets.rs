//! One detector for secrets in free text: case descriptions, replies, received email, text
//! attachments, every string of a HAR file and the evidence drawn from it. What it finds is
//! replaced by a marker before the text is stored, and the kinds found are reported so the
//! author can be told to rotate them.
//!
//! Three layers: the [`RULES`] (well-known token formats, private keys, credentials in URLs,
//! headers and command lines, and values of secret-named fields in any syntax); the same rules
//! over what the text encodes (percent-encoding, base64 and base64url blobs), so a token inside
//! an encoded `redirect_uri` is found; and every value found, removed again wherever it
//! appears raw, percent-encoded or base64-encoded. The formats follow the public knowledge of
//! rule sets such as gitleaks'; the patterns are written here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use hmac::{Hmac, Mac};
use regex::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, PatternID, meta};
use sha2::Sha256;

use crate::{DomainError, Result};

/// How a redacted value is tagged.
#[derive(Clone)]
pub enum Tag {
    /// `[REDACTED:<rule>]`: free text, where nothing needs to be linked.
    Plain,
    /// `[REDACTED:<rule>:<h8>]`, `h8` the first 8 hex digits of HMAC-SHA256(key, value):
    /// equal values stay linkable within one case, and a short password cannot be found again
    /// by hashing guesses without the key.
    Keyed(Hmac<Sha256>),
}

impl Tag {
    /// A keyed tag from 32 bytes of key.
    pub fn keyed(key: &[u8; 32]) -> Result<Tag> {
        Hmac::<Sha256>::new_from_slice(key)
            .map(Tag::Keyed)
            .map_err(|_| DomainError::Internal("tag key".into()))
    }

    /// The first 8 hex digits of the keyed hash (empty for a plain tag).
    pub fn h8(&self, value: &str) -> Option<String> {
        match self {
            Tag::Plain => None,
            Tag::Keyed(mac) => {
                let mut m = mac.clone();
                m.update(value.as_bytes());
                let out = m.finalize().into_bytes();
                Some(hex::encode(&out[..4]))
            }
        }
    }

    /// The whole keyed hash, hex (none for a plain tag): a signature or a lookup key.
    pub fn mac(&self, value: &str) -> Option<String> {
        match self {
            Tag::Plain => None,
            Tag::Keyed(mac) => {
                let mut m = mac.clone();
                m.update(value.as_bytes());
                Some(hex::encode(m.finalize().into_bytes()))
            }
        }
    }

    /// The marker that replaces `value` found by `rule`.
    pub fn marker(&self, rule: &str, value: &str) -> String {
        match self.h8(value) {
            Some(h) => format!("[REDACTED:{rule}:{h}]"),
            None => format!("[REDACTED:{rule}]"),
        }
    }
}

/// The values removed so far, kept in memory only so that each is removed wherever else it
/// appears; never printed (its `Debug` shows a count).
#[derive(Clone, Default, PartialEq)]
pub struct Values(BTreeSet<String>);

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Values({} kept in memory)", self.0.len())
    }
}

/// Shortest value removed again wherever it appears; shorter ones are removed where found.
const MIN_REPEAT: usize = 6;

/// Whether a value is unlike ordinary words, so removing it wherever it appears takes nothing
/// else with it: long enough, and holding a digit, a mark, or both letter cases (a word such
/// as `enabled` next to a secret-looking name is removed where it stands, and nowhere else).
fn distinctive(v: &str) -> bool {
    v.chars().count() >= MIN_REPEAT
        && (v.bytes().any(|b| b.is_ascii_digit())
            || v.bytes()
                .any(|b| b.is_ascii_punctuation() && b != b'_' && b != b'-')
            || (v.bytes().any(|b| b.is_ascii_uppercase())
                && v.bytes().any(|b| b.is_ascii_lowercase()))
            || !v.is_ascii())
}
/// Most values remembered from one text or file.
const MAX_VALUES: usize = 20_000;

/// What was found, by rule, and the JWT claims kept as evidence.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Found {
    /// Hits per rule.
    pub counts: BTreeMap<&'static str, usize>,
    /// Header and allow-listed claims of each JWT found (its signature and the rest dropped).
    pub tokens: Vec<serde_json::Value>,
    /// The values removed (in memory only).
    pub values: Values,
}

impl Found {
    /// Counts one hit of `rule`.
    pub fn hit(&mut self, rule: &'static str) {
        *self.counts.entry(rule).or_default() += 1;
    }

    /// Nothing was found.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Redacts `value` found by `rule`: counts the hit, remembers the value, keeps a JWT's
    /// header and allowed claims as evidence (whatever rule found it), and answers the marker
    /// that replaces it.
    pub fn redact(&mut self, rule: &'static str, value: &str, tag: &Tag) -> String {
        self.hit(rule);
        self.remember(value);
        // A token broken over lines is the same token.
        let compact: String = value.split_whitespace().collect();
        if compact.starts_with("eyJ")
            && compact.matches('.').count() >= 2
            && self.tokens.len() < MAX_TOKENS
            && let Some(t) = jwt_evidence(&compact, tag)
            && !self.tokens.contains(&t)
        {
            self.tokens.push(t);
        }
        tag.marker(rule, value)
    }

    fn remember(&mut self, value: &str) {
        let v = value.trim();
        if distinctive(v) && self.values.0.len() < MAX_VALUES && !v.starts_with("[REDACTED:") {
            self.values.0.insert(v.to_owned());
        }
    }

    /// Adds another report's hits.
    pub fn merge(&mut self, other: Found) {
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
        self.tokens.extend(other.tokens);
        for v in other.values.0 {
            if self.values.0.len() < MAX_VALUES {
                self.values.0.insert(v);
            }
        }
    }

    /// What a person is told: the kinds removed, in words, and the advice.
    pub fn notice(&self) -> serde_json::Value {
        let kinds: Vec<serde_json::Value> = self
            .counts
            .iter()
            .map(|(rule, n)| serde_json::json!({"kind": rule, "what": describe(rule), "count": n}))
            .collect();
        serde_json::json!({
            "removed": kinds,
            "advice": "casedesk removed these values before storing your text. Anyone who saw \
                       them before may still use them: revoke or rotate each one (sign out the \
                       session, rotate the client secret or key, change the password).",
        })
    }

    /// A matcher of every value found so far, in each of its spellings: built once, then run
    /// over as many texts as needed with [`Found::scrub_with`].
    pub fn known(&self) -> Known {
        let hits: Vec<Hit> = self
            .values
            .0
            .iter()
            .map(|v| (v.clone(), "encoded_secret"))
            .collect();
        Known::new(hits)
    }

    /// Removes what `known` matches from `text` (raw, percent-encoded or base64-encoded);
    /// `None` when nothing appears.
    pub fn scrub_with(&mut self, known: &Known, text: &str, tag: &Tag) -> Option<String> {
        let spans = known.spans(text, &markers(text));
        if spans.is_empty() {
            return None;
        }
        Some(apply(text, spans, tag, self))
    }

    /// [`Found::scrub_with`] for one text.
    pub fn scrub_known(&mut self, text: &str, tag: &Tag) -> Option<String> {
        let known = self.known();
        self.scrub_with(&known, text, tag)
    }
}

/// A rule's name in words.
pub fn describe(rule: &str) -> &'static str {
    if let Some(r) = RULES.iter().find(|r| r.id == rule) {
        return r.what;
    }
    match rule {
        "cookie" => "a cookie value",
        "header" => "a credential header value",
        "pii" => "a person's email or login name",
        "body_dropped" => "a response or request body that could not be scrubbed safely",
        "encoded_secret" => "an encoded value (base64 or percent-encoded) holding a secret",
        _ => "a secret",
    }
}

/// Most tokens whose claims are kept as evidence from one text or file.
const MAX_TOKENS: usize = 20;

// ---------------------------------------------------------------------------------------------
// Names

/// Parts of a field, header, parameter or variable name that make its value a credential,
/// compared with the name in lower case without `_`, `-`, `.` and spaces.
const SECRET_STEMS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "token",
    "apikey",
    "accesskey",
    "accountkey",
    "sharedaccess",
    "privatekey",
    "credential",
    "authkey",
    "authcode",
    "authorizationcode",
    "verificationcode",
    "verifier",
    "signature",
    "sessionid",
    "sessid",
    "sessionkey",
    "csrf",
    "xsrf",
    "clientassertion",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "subscriptionkey",
    "functionskey",
    "functionkey",
    "connectionstring",
    "connstr",
    "samlrequest",
    "samlresponse",
    "relaystate",
    "devicecode",
    "usercode",
    "statehandle",
    "interactionhandle",
    "recoverycode",
    "backupcode",
    "mfacode",
    "webhookurl",
    "passwort",
    "kennwort",
    "motdepasse",
    "contrasena",
    "contraseña",
    "senha",
    "wachtwoord",
];

/// Names that are credentials only as a whole (too common inside other names).
const SECRET_WORDS: &[&str] = &[
    "code",
    "pass",
    "pw",
    "key",
    "sig",
    "auth",
    "answer",
    "assertion",
    "otp",
    "totp",
    "pin",
    "sid",
    "dsn",
    "session",
    "wresult",
];

/// Endings that make a name describe a credential rather than hold one
/// (`token_type`, `password_policy`, `secret_expires_at`, `api_key_id`, `token_flow`).
const DESCRIBING_ENDS: &[&str] = &[
    "type",
    "types",
    "endpoint",
    "url",
    "uri",
    "uris",
    "policy",
    "length",
    "len",
    "count",
    "expiresin",
    "expiresat",
    "expiry",
    "expires",
    "expiration",
    "ttl",
    "lifetime",
    "hint",
    "format",
    "name",
    "names",
    "prefix",
    "usage",
    "limit",
    "file",
    "path",
    "version",
    "algorithm",
    "alg",
    "method",
    "methods",
    "required",
    "enabled",
    "rotation",
    "rotatedat",
    "createdat",
    "updatedat",
    "header",
    "param",
    "field",
    "location",
    "mode",
    "scope",
    "scopes",
    "status",
    "tokens",
    "secrets",
    "izer",
    "ize",
    "flow",
    "flows",
    "grant",
    "granttype",
    "reset",
    "protection",
    "manager",
    "provider",
    "service",
    "strength",
    "complexity",
    "days",
    "changed",
    "changedat",
    "lastused",
    "issuer",
];

fn normalise_name(name: &str) -> String {
    name.trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '<' || c == '>')
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' ' | '$' | '@'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Rules that recognise a secret by its own shape (a prefix, a length, a structure), not by a
/// name beside it: what random bytes practically never spell.
const FORMAT_RULES: [&str; 13] = [
    "private_key",
    "jwt",
    "aws_access_key",
    "gcp_api_key",
    "azure_secret",
    "cloud_token",
    "vcs_token",
    "chat_token",
    "payment_key",
    "saas_token",
    "api_token",
    "saml",
    "jwk_private",
];

/// Whether a rule recognises secrets by their shape alone.
pub fn is_format_rule(rule: &str) -> bool {
    FORMAT_RULES.contains(&rule)
}

/// Whether a text holds a long secret name (`password`, `client_secret`, `token`, not `pw`
/// or `sid`): in the readable runs of a binary file, short names turn up by chance.
pub fn holds_long_secret_name(text: &str) -> bool {
    let squashed: String = text
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_STEMS
        .iter()
        .any(|stem| stem.len() >= 5 && squashed.contains(stem))
}

/// Whether a field, parameter, header, variable or JSON member of this name holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    // The same few names come back in every entry of a capture: remembered per thread.
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, bool>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if name.len() > 64 {
        return secret_name(name);
    }
    SEEN.with(|seen| {
        if let Some(v) = seen.borrow().get(name) {
            return *v;
        }
        let v = secret_name(name);
        let mut m = seen.borrow_mut();
        if m.len() >= 4096 {
            m.clear();
        }
        m.insert(name.to_owned(), v);
        v
    })
}

fn secret_name(name: &str) -> bool {
    let n = normalise_name(name);
    if n.is_empty() {
        return false;
    }
    if SECRET_WORDS.contains(&n.as_str()) {
        return true;
    }
    // A webhook URL with a secret path is itself a credential.
    if n.ends_with("webhookurl") {
        return true;
    }
    let session = n.ends_with("sessionid") || n.ends_with("sessid");
    if !session
        && (DESCRIBING_ENDS
            .iter()
            .any(|e| n.ends_with(e) && n.len() > e.len())
            || (n.ends_with("id") && !n.ends_with("sid")))
    {
        return false;
    }
    SECRET_STEMS.iter().any(|s| n.contains(s))
        || n.starts_with("csrf")
        || n.ends_with("sid")
        || n.ends_with("session")
}

/// Whether a JSON member of this name holds credentials in whatever it contains
/// (`client_secrets: [...]`, `tokens: {refresh: ...}`); plurals count here, where in a
/// scalar (`max_tokens: 4096`) they do not.
pub fn is_secret_container(name: &str) -> bool {
    let n = normalise_name(name);
    is_secret_name(name)
        || [
            "secrets",
            "tokens",
            "credentials",
            "passwords",
            "apikeys",
            "cookies",
        ]
        .iter()
        .any(|e| n.ends_with(e))
}

/// Whether a name holds a person's identity (tagged, so one user can still be followed).
pub fn is_pii_name(name: &str) -> bool {
    matches!(
        name.trim().to_ascii_lowercase().as_str(),
        "email" | "login" | "username" | "login_hint" | "user"
    )
}

/// Whether a name is hashed rather than removed: not a credential, but matching it across the
/// authorize request, the callback and the error explains `state` and `nonce` mismatches.
pub fn is_hashed_name(name: &str) -> bool {
    matches!(name.trim().to_ascii_lowercase().as_str(), "state" | "nonce")
}

/// Whether a value found after a secret name is a value at all, not a placeholder, a type
/// or a reference to where the real value lives.
fn is_real_value(v: &str) -> bool {
    let t = v.trim();
    if t.chars().count() < 3 || t.starts_with("[REDACTED:") || t.starts_with("[HASHED:") {
        return false;
    }
    let lower = t.to_ascii_lowercase();
    if [
        "true",
        "false",
        "null",
        "none",
        "nil",
        "undefined",
        "yes",
        "no",
        "on",
        "off",
        "required",
        "optional",
        "string",
        "bool",
        "boolean",
        "number",
        "integer",
        "object",
        "array",
        "redacted",
        "hidden",
        "masked",
        "removed",
        "omitted",
        "bearer",
        "basic",
    ]
    .contains(&lower.as_str())
    {
        return false;
    }
    if t.chars()
        .all(|c| matches!(c, '*' | 'x' | 'X' | '.' | '•' | '#' | '-' | '_'))
    {
        return false;
    }
    if t.starts_with("${")
        || t.starts_with("{{")
        || t.starts_with("$(")
        || t.starts_with("%(")
        || (t.starts_with('<') && t.ends_with('>'))
        || (t.starts_with('%') && t.ends_with('%'))
        || (t.starts_with('$') && t[1..].chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        || lower.starts_with("process.env")
        || lower.starts_with("os.environ")
        || lower.starts_with("env.")
        || lower.starts_with("vault:")
        || lower.starts_with("secretref:")
    {
        return false;
    }
    !(t.len() < 4 && t.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// Rules

/// One kind of secret.
pub struct Rule {
    /// Stable name, shown in markers (`[REDACTED:github_token]`) and notices.
    pub id: &'static str,
    /// In words, for the notice.
    pub what: &'static str,
    /// The pattern; `(?P<s>…)` marks the secret part (the whole match otherwise), and may
    /// appear more than once (alternative spellings).
    pattern: &'static str,
    /// A further check of a match: `(name, value)`, the name being the text before the value.
    check: Option<fn(&str, &str) -> bool>,
    /// Two strings the rule must find, and one near miss it must leave alone (the corpus test).
    pub examples: ([&'static str; 2], &'static str),
}

/// Words that name a secret in a form field, a JSON member or a URL, but are too common as
/// labels in prose to stand for one there ("Error code: E0000011", "Key: SUP-123").
const PROSE_WORDS: [&str; 10] = [
    "code",
    "key",
    "pin",
    "answer",
    "auth",
    "assertion",
    "sig",
    "dsn",
    "session",
    "sid",
];

fn named_check(name: &str, value: &str) -> bool {
    let quoted = name.starts_with('"') || name.starts_with('\'');
    is_secret_name(name)
        && is_real_value(value)
        && (quoted || !PROSE_WORDS.contains(&normalise_name(name).as_str()))
}

/// A header's value after its scheme: a credential has a digit or a mark.
fn header_value(_: &str, v: &str) -> bool {
    v.len() >= 8
        && v.chars()
            .any(|c| c.is_ascii_digit() || "._~+/-=".contains(c))
}

/// A word that reads like a password rather than like prose: a digit or a mark in it.
fn credential_like(v: &str) -> bool {
    let v = v.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
    v.chars().count() >= 6
        && v.bytes().any(|b| b.is_ascii_alphabetic())
        && v.bytes()
            .any(|b| b.is_ascii_digit() || (b.is_ascii_punctuation() && b != b'-'))
}

fn mixed_case_and_digit(_: &str, v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes().any(|b| b.is_ascii_uppercase())
        && v.bytes().any(|b| b.is_ascii_lowercase())
}

fn credential_after_scheme(scheme: &str, value: &str) -> bool {
    if scheme.trim().eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(value.trim_end_matches('='))
            });
        return decoded.map(|b| b.contains(&b':')).unwrap_or(false);
    }
    // Prose says "bearer tokens"; a credential has a digit or a mark.
    value.len() >= 16
        && value
            .chars()
            .any(|c| c.is_ascii_digit() || "._~+/-=".contains(c))
}

/// A value written after `=` (or `=>`, `:=`): quoted (escapes allowed), triple-quoted, or
/// bare up to white space.
macro_rules! value_eq {
    () => {
        r#"(?:"""\r?\n?(?P<s>[^"]+)"""|"(?P<s>(?:[^"\\\r\n]|\\.)+)"|'(?P<s>[^'\r\n]+)'|(?P<s>[^\s"'<>\[\]{}|\\,]+))"#
    };
}

/// A value written after `:` (YAML, headers, prose): quoted, or the rest of the line.
macro_rules! value_colon {
    () => {
        r#"(?:"""\r?\n?(?P<s>[^"]+)"""|"(?P<s>(?:[^"\\\r\n]|\\.)+)"|'(?P<s>[^'\r\n]+)'|(?P<s>[^\s"'#|>][^\r\n]*))"#
    };
}

/// Every rule, most specific first (at one position the first rule that matches wins).
pub static RULES: &[Rule] = &[
    Rule {
        id: "private_key",
        what: "a private key",
        pattern: r"(?i:-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----)(?s:.*?)(?:(?i:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----)|\z)|PuTTY-User-Key-File-\d+:(?s:.*?)(?:Private-MAC: [0-9a-f]+|\z)|AGE-SECRET-KEY-1[0-9A-Z]{58}",
        check: None,
        examples: (
            [
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
                "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
            ],
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
        ),
    },
    Rule {
        id: "jwt",
        what: "a signed or encrypted token (JWT)",
        // Dots may stand at a line break: tokens copied from a terminal or an e-mail.
        pattern: r"eyJ[A-Za-z0-9_-]{4,}(?:[ \t]*\r?\n[ \t]*)?\.(?:[ \t]*\r?\n[ \t]*)?[A-Za-z0-9_-]{2,}(?:[ \t]*\r?\n[ \t]*)?\.(?:[ \t]*\r?\n[ \t]*)?[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?",
        check: None,
        examples: (
            [
                "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here",
                "id_token%3DeyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJpIn0.QUJD",
            ],
            "eyJ is how base64 JSON starts; see the docs",
        ),
    },
    Rule {
        id: "aws_access_key",
        what: "an AWS access key ID (rotate the whole key pair)",
        pattern: concat!(
            // The key id with its secret after it (the console's CSV, a command line): both.
            r"(?P<x>(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16})[ \t]*(?:,|;|\||[ \t]+-SecretKey[ \t]+|[ \t]+)[ \t]*(?P<s>[A-Za-z0-9/+]{30,60})(?:[^A-Za-z0-9/+=]|\z)",
            r"|(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?-u:\b)",
        ),
        check: None,
        examples: (
            [
                "key AKIAQWERTYUIOPASDFGH used",
                "User name,Access key ID,Secret access key\nbob,AKIAQWERTYUIOPASDFGH,wJalrXUtnFEMIK7MDENGbPxRfiCYzzzzEXAMPLE1",
            ],
            "AKIA is the prefix of an AWS key ID",
        ),
    },
    Rule {
        id: "aws_secret_key",
        what: "an AWS secret access key or session token",
        pattern: concat!(
            r#"["']?-?(?i:aws[ _-]?secret[ _-]?access[ _-]?key|secret[ _-]?access[ _-]?key|aws[ _-]?secret|aws[ _-]?session[ _-]?token|secret[ _-]?key|session[ _-]?token)["']?(?:[ \t]*(?:[:=]|=>)[ \t]*|[ \t]+)"#,
            value_eq!(),
        ),
        check: Some(|_, v| is_real_value(v)),
        examples: (
            [
                "aws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYzzzzEXAMPLE1",
                "the AWS secret access key wJalrXUtnFEMIK7MDENGbPxRfiCYzzzzEXAMPLE1 leaked",
            ],
            "aws_secret_access_key = ${AWS_SECRET}",
        ),
    },
    Rule {
        id: "gcp_api_key",
        what: "a Google API key",
        pattern: r"(?-u:\b)AIza[0-9A-Za-z_-]{35}(?-u:\b)",
        check: None,
        examples: (
            [
                "the maps widget loads with AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
                "GOOGLE=AIzaSyZ9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J",
            ],
            "AIzaShort",
        ),
    },
    Rule {
        id: "azure_secret",
        what: "an Azure client secret or storage key",
        pattern: concat!(
            r"(?-u:\b)[a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34}(?-u:\b)",
            r"|(?i:AccountKey|SharedAccessKey)=(?P<s>[A-Za-z0-9+/]{40,}={0,2})",
        ),
        check: None,
        examples: (
            [
                "client secret abc8Q~Zq1Wx2Ec3Rv4Tb5Yn6Um7Ik8Ol9Pq0Aa1",
                "AccountKey=YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY3ODkwYWJjZA==;EndpointSuffix=core.windows.net",
            ],
            "AccountName=acme;EndpointSuffix=core.windows.net",
        ),
    },
    Rule {
        id: "cloud_token",
        what: "a cloud or infrastructure provider token",
        pattern: concat!(
            r"(?-u:\b)(?:do[opr]_v1_[a-f0-9]{64}|LTAI[A-Za-z0-9]{20}|HRKU-[A-Za-z0-9_-]{60}",
            r"|hv[sb]\.[A-Za-z0-9_-]{24,}|[a-z0-9]{14}\.atlasv1\.[a-z0-9_=-]{60,70}",
            r"|dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}|dapi[a-f0-9]{32}|AKCp[A-Za-z0-9]{69}",
            r"|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})(?-u:\b)",
        ),
        check: None,
        examples: (
            [
                "DIGITALOCEAN_TOKEN dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "VAULT_TOKEN hvs.CAESIJ1kZ2xhc3Nfc2VjcmV0X3ZhbHVlX2hlcmU",
            ],
            "dop_v1_short",
        ),
    },
    Rule {
        id: "vcs_token",
        what: "a GitHub, GitLab or Atlassian token",
        pattern: concat!(
            r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{60,}",
            r"|gl(?:pat|dt|rt|ptt|ft|cbt|imt|agent|oas)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,}",
            r"|ATATT3[A-Za-z0-9_=-]{100,}|ATBB[A-Za-z0-9]{32,})(?-u:\b)",
        ),
        check: None,
        examples: (
            [
                "git clone https://ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789@github.com/acme/x",
                "gitlab glpat-Zx9Yw8Vu7Ts6Rq5Po4Nm in the CI log",
            ],
            "ghp_tooShort123",
        ),
    },
    Rule {
        id: "chat_token",
        what: "a Slack, Discord, Telegram or Teams token or webhook",
        pattern: concat!(
            r"(?-u:\b)xox[abposre]-[0-9A-Za-z-]{10,}|(?-u:\b)xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+",
            r"|hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9+/_-]{20,})",
            r"|discord(?:app)?\.com/api/webhooks/\d+/(?P<s>[A-Za-z0-9_-]{40,})",
            r"|(?-u:\b)\d{8,10}:AA[0-9A-Za-z_-]{33}(?-u:\b)",
            r"|\.webhook\.office\.com/webhookb2/(?P<s>[^\s'<>]{20,})",
        ),
        check: None,
        examples: (
            [
                "SLACK_BOT xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
                "https://hooks.slack.com/services/T01234567/B01234567/AbCdEfGhIjKlMnOpQrStUvWx",
            ],
            "the xoxb- prefix marks a bot token",
        ),
    },
    Rule {
        id: "payment_key",
        what: "a payment provider key (Stripe, Square, Braintree, Shopify)",
        pattern: concat!(
            r"(?-u:\b)(?:[sr]k_(?:live|test)_[0-9A-Za-z]{20,}|sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}",
            r"|EAAA[A-Za-z0-9_-]{60}|access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}",
            r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})(?-u:\b)",
        ),
        check: None,
        examples: (
            [
                "charged with sk_live_51HqZx2AbCdEfGhIjKlMnOpQr today",
                "shopify app shpat_0123456789abcdef0123456789abcdef",
            ],
            "sk_live_ is Stripe's prefix for live keys",
        ),
    },
    Rule {
        id: "saas_token",
        what: "an API key of a software service (email, SMS, AI, packages, monitoring)",
        pattern: concat!(
            r"(?-u:\b)(?:SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|SK[0-9a-fA-F]{32}|key-[0-9a-z]{32}",
            r"|[0-9a-f]{32}-us\d{1,2}|npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
            r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|sk-proj-[A-Za-z0-9_-]{40,}",
            r"|sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,}|hf_[A-Za-z]{34}|NRAK-[A-Z0-9]{27}",
            r"|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|lin_api_[A-Za-z0-9]{40}|ntn_[0-9]{11}[A-Za-z0-9]{35}",
            r"|secret_[A-Za-z0-9]{43}|ops_eyJ[A-Za-z0-9+/=_-]{40,}|sl\.[A-Za-z0-9_-]{130,}",
            r"|EAA[MC][A-Za-z0-9]{100,}|AAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{30,}|sntryu_[a-f0-9]{64}",
            r"|rubygems_[a-f0-9]{48}|pat[A-Za-z0-9]{14}\.[a-f0-9]{64})(?-u:\b)",
            r"|https://(?P<s>[0-9a-f]{32})@[a-z0-9.-]*sentry\.io",
        ),
        check: None,
        examples: (
            [
                "SENDGRID SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
                "npm config set //registry.npmjs.org/:_authToken npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            ],
            "the key- prefix of a mail API",
        ),
    },
    Rule {
        id: "api_token",
        what: "a casedesk API token or webhook secret",
        pattern: r"(?-u:\b)(?:cdk|whsec)_[A-Za-z0-9+/=_-]{16,}",
        check: None,
        examples: (
            [
                "use cdk_0123456789abcdef0123 now",
                "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ],
            "cdk_short",
        ),
    },
    Rule {
        id: "saml",
        what: "a SAML message",
        pattern: r"(?-u:\b)(?:PHNhbWxw|PHNhbWw6|PD94bWwg[A-Za-z0-9+/]{0,40}PHNhbWxw)[A-Za-z0-9+/=]{16,}",
        check: None,
        examples: (
            [
                "SAMLResponse PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1cm46b2FzaXM=",
                "PHNhbWw6QXNzZXJ0aW9uIHhtbG5zOnNhbWw9InVybjpvYXNpcyI+",
            ],
            "PHNhbWxw",
        ),
    },
    Rule {
        id: "jwk_private",
        what: "the private part of a JSON Web Key",
        pattern: r#""(?:d|p|q|dp|dq|qi|k)"\s*:\s*"(?P<s>[A-Za-z0-9_-]{20,})""#,
        check: Some(mixed_case_and_digit),
        examples: (
            [
                r#"{"kty":"RSA","n":"0vx7","e":"AQAB","d":"X4cTteJY_gn4FYPsXB8rdXix5vwsg4FfSDm7Pw"}"#,
                r#"{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg9Zq2Lm"}"#,
            ],
            r#"{"q":"sign-in-fails-after-redirect-loop"}"#,
        ),
    },
    Rule {
        id: "authorization",
        what: "a credential after Bearer, Basic, SSWS, DPoP or Token",
        pattern: r"(?P<n>(?-u:\b)(?i:bearer|basic|ssws|dpop|token|negotiate)[ \t]+)(?P<s>[A-Za-z0-9._~+/=-]{12,})",
        check: Some(credential_after_scheme),
        examples: (
            [
                "curl -H 'X: 1' then Bearer ya29.a0AfH6SMBx-long_token",
                "sent with Basic dXNlcjpwYXNzd29yZA== in the logs",
            ],
            "We use basic authentication and bearer tokens for the API.",
        ),
    },
    Rule {
        id: "header",
        what: "a credential header value",
        pattern: concat!(
            // Whatever follows the scheme word, to the end of the line (AWS4 signatures,
            // SharedKey, Digest and OAuth parameters included); the scheme word stays.
            r#"(?P<n>(?i:proxy-authorization|authorization))["']?[ \t]*[:=][ \t]*["']?(?:(?i:bearer|basic|dpop|ssws|token|negotiate|ntlm|digest|aws4-hmac-sha256|sharedkey|sharedkeylite|oauth|hmac|apikey|sso-key)[ \t]+)?(?P<s>[^\r\n"']{8,})"#,
            r"|(?P<n>(?i:set-cookie|cookie))[ \t]*:[ \t]*(?P<s>[^\r\n]{6,})",
        ),
        check: Some(|n, v| n.to_ascii_lowercase().contains("cookie") || header_value(n, v)),
        examples: (
            [
                "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261120/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
                "curl -H 'Cookie: sid8a7f6e5d4c3b2a19' https://app.example",
            ],
            "Authorization: required",
        ),
    },
    Rule {
        id: "url_password",
        what: "a password inside a URL, a connection string or a command line",
        pattern: concat!(
            r"(?P<n>(?-u:\b)[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<s>[^/\s@]+)@",
            r#"|(?P<n>(?:^|\s)(?:-u|--user)(?:[ \t]+|=)?['"]?[^\s:'"]+:)(?P<s>[^\s'"]{3,})"#,
            r#"|(?P<n>--(?i:password|passwd|pass|secret|token|api-key|apikey|client-secret|secret-key|secretkey|access-key|auth-token)(?:[ \t]+|=))['"]?(?P<s>[^\s'"-][^\s'"]{2,})"#,
            r#"|(?i:-SecretKey|-Password|-Token)[ \t]+['"]?(?P<s>[^\s'"-][^\s'"]{2,})"#,
            r"|(?i:sqlplus|jdbc:oracle:[a-z]+:)[ \t]*[A-Za-z0-9_$#]+/(?P<s>[^@\s/]+)@",
            r"|(?-u:\b)mysql(?:dump|admin)?(?-u:\b)[^\r\n]*?[ \t]-p(?P<s>[^\s'-][^\s']{2,})",
            r"|(?-u:\b)redis-cli(?-u:\b)[^\r\n]*?[ \t]-a[ \t]+(?P<s>\S{3,})",
            r#"|(?-u:\b)sshpass[ \t]+-p[ \t]*['"]?(?P<s>[^\s'"]+)"#,
            r"|(?-u:\b)machine[ \t]+\S+[ \t]+login[ \t]+\S+[ \t]+password[ \t]+(?P<s>\S+)",
        ),
        check: None,
        examples: (
            [
                "db at postgres://app:hunter2@db.internal/x",
                "curl -uadmin:Pa55word! https://api.example and mysql -u root -pS3cr3tPw",
            ],
            "https://app.example.com:8443/path@v2",
        ),
    },
    Rule {
        id: "secret_parameter",
        what: "the value of a secret-named field (password, client_secret, token, api key…)",
        pattern: concat!(
            // The specific shapes first (at one position the first alternative wins):
            // a list of name and value ({"name": "API_TOKEN", "value": "…"}, k8s env),
            r#"["']?(?i:name|key)["']?[ \t]*[:=][ \t]*["']?(?P<n>[A-Za-z0-9_.-]{1,80})["']?[ \t]*,?[ \t]*(?:\r?\n[ \t]*)?["']?(?i:value)["']?[ \t]*[:=][ \t]*"#,
            value_colon!(),
            // <add key="ClientSecret" value="…"/>, form fields, <password>…</password>,
            r#"|(?i:key)[ \t]*=[ \t]*["'](?P<n>[^"']{1,80})["'][ \t]+(?i:value)[ \t]*=[ \t]*["'](?P<s>[^"']+)["']"#,
            r#"|<(?i:input|textarea)(?-u:\b)[^>]*?(?-u:\b)name[ \t]*=[ \t]*["']?(?P<n>[^"'\s>]+)["']?[^>]*?(?-u:\b)value[ \t]*=[ \t]*["'](?P<s>[^"']+)["']"#,
            r#"|<(?i:textarea)(?-u:\b)[^>]*?(?-u:\b)name[ \t]*=[ \t]*["']?(?P<n>[^"'\s>]+)["']?[^>]*>(?P<s>[^<]{3,})</"#,
            r#"|<(?P<n>[A-Za-z0-9_:.-]{1,60})>(?P<s>[^<\r\n]{3,})</"#,
            // Plain `name = value`, `name: value`, `"name": "value"` and the like are read
            // by `named_spans`, in one pass whatever the text holds.
        ),
        check: Some(named_check),
        examples: (
            [
                "export AWS_SECRET_ACCESS_KEY=abc123def456ghi789\nDB_PASSWORD='c0rrect horse'",
                "X-Session-Id: 7f3a9c2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b\npassphrase: open sesame 42",
            ],
            "token_type: Bearer, password_policy: strong, client_secret is rotated monthly",
        ),
    },
    Rule {
        id: "prose_password",
        what: "a password written in a sentence",
        pattern: r#"(?P<n>(?-u:\b)(?i:password|passphrase|passwort|kennwort|passcode))[ \t]+(?i:(?:is|was|is now|now is|set to|=|for[ \t]+\S+[ \t]+is)[ \t]+)?["'“]?(?P<s>[^\s"'”]{6,})"#,
        check: Some(|_, v| credential_like(v)),
        examples: (
            [
                "The new password is Xy7$pq2 for the admin user",
                "passphrase 9Lives-of-Cats",
            ],
            "The password policy requires 12 characters.",
        ),
    },
    Rule {
        id: "url_secret",
        what: "a code, token or signature in a URL",
        pattern: r#"[?&#;](?P<n>[A-Za-z0-9_.\[\]-]{1,60})=(?P<s>[^&#\s"'<>\[][^&#\s"'<>]{2,})"#,
        check: Some(|n, v| is_secret_name(n) && is_real_value(v)),
        examples: (
            [
                "https://app/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=x",
                "https://storage.googleapis.com/b/o?X-Goog-Signature=8d4a1c0e9f7b6a5d4c3b2a1908f7e6d5",
            ],
            "https://docs.example.com/oauth2/token?grant=1",
        ),
    },
];

/// The group names of one rule in the combined pattern.
#[derive(Default)]
struct RuleNames {
    secrets: Vec<String>,
    names: Vec<String>,
    extras: Vec<String>,
}

/// The group indices of one rule in its own pattern (looked up once, not per match).
struct RuleGroups {
    /// The secret, in one of its spellings.
    secrets: Vec<usize>,
    /// The name the secret was written after.
    names: Vec<usize>,
    /// A second secret the same match holds (an access key id beside its secret).
    extras: Vec<usize>,
}

struct Compiled {
    /// Every rule as one pattern of a multi-pattern matcher: where the next match is, and
    /// whose it is, from the fast engines alone.
    all: meta::Regex,
    /// Each rule alone, run anchored at a match for its groups: captures over the combined
    /// automaton cost ten times more.
    rules: Vec<meta::Regex>,
    /// For each rule, its groups.
    groups: Vec<RuleGroups>,
    /// What an encoded value may look like (percent escapes, long base64 runs).
    encoded: Regex,
    base64_run: Regex,
}

fn compile() -> std::result::Result<Compiled, String> {
    let mut parts = Vec::new();
    let mut groups = Vec::new();
    for (i, r) in RULES.iter().enumerate() {
        let mut p = String::new();
        let mut g = RuleNames::default();
        let mut rest = r.pattern;
        // Each (?P<s>…), (?P<n>…) and (?P<x>…) gets a name of its own in the combined pattern.
        while let Some(at) = ["(?P<s>", "(?P<n>", "(?P<x>"]
            .iter()
            .filter_map(|m| rest.find(m))
            .min()
        {
            p.push_str(&rest[..at]);
            let kind = &rest[at + 4..at + 5];
            let list = match kind {
                "s" => &mut g.secrets,
                "n" => &mut g.names,
                _ => &mut g.extras,
            };
            let name = format!("{kind}{i}_{}", list.len());
            p.push_str(&format!("(?P<{name}>"));
            list.push(name);
            rest = &rest[at + 6..];
        }
        p.push_str(rest);
        parts.push(p);
        groups.push(g);
    }
    let config = || {
        meta::Config::new()
            .nfa_size_limit(Some(64 << 20))
            .hybrid_cache_capacity(64 << 20)
    };
    let all = meta::Builder::new()
        .configure(config())
        .build_many(&parts)
        .map_err(|e| e.to_string())?;
    let rules = parts
        .iter()
        .map(|p| {
            meta::Builder::new()
                .configure(config())
                .build(p)
                .map_err(|e| e.to_string())
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let groups = groups
        .iter()
        .zip(&rules)
        .map(|(g, re)| -> std::result::Result<RuleGroups, String> {
            let indices = |names: &[String]| {
                names
                    .iter()
                    .map(|n| {
                        re.group_info()
                            .to_index(PatternID::ZERO, n)
                            .ok_or_else(|| format!("group {n} is missing"))
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
            };
            Ok(RuleGroups {
                secrets: indices(&g.secrets)?,
                names: indices(&g.names)?,
                extras: indices(&g.extras)?,
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let encoded = Regex::new(r"%[0-9A-Fa-f]{2}|[A-Za-z0-9+/_-]{24,}").map_err(|e| e.to_string())?;
    let base64_run = Regex::new(r"[A-Za-z0-9+/_-]{24,}={0,2}").map_err(|e| e.to_string())?;
    Ok(Compiled {
        all,
        rules,
        groups,
        encoded,
        base64_run,
    })
}

static DETECTOR: LazyLock<std::result::Result<Compiled, String>> = LazyLock::new(compile);

fn detector() -> Result<&'static Compiled> {
    DETECTOR
        .as_ref()
        .map_err(|e| DomainError::Internal(format!("secret detector did not compile: {e}")))
}

/// A part of a text to replace: `rule` found it, `value` is what its tag is computed from.
struct Span {
    start: usize,
    end: usize,
    rule: &'static str,
    value: Option<String>,
}

/// `name = value`, `name: value`, `"name": "value"`, `KEY=value`, `name => value` and YAML's
/// `name: |` blocks, in any text: the name decides (`is_secret_name`), so any syntax that
/// names its values is covered. Names are found by a short pattern and each value read by
/// hand, so a long line with many names costs one pass, not one pass per name.
fn named_spans(text: &str, markers: &[(usize, usize)]) -> Vec<Span> {
    static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r#"(?:"[A-Za-z0-9_.$-]{1,80}"|(?-u:\b)[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}["']?)[ \t]*(?:=>|:=|=|:)[ \t]*"#).ok()
    });
    let Some(re) = NAME.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Names inside a value already read (`password=password=…`, the rest of a line after
    // `secret:`) are not read again: the value is removed anyway, and reading each would
    // make a long line cost its square.
    let mut read_until = 0;
    // Bounds only (the fast engine); the name and separator are read back from the match.
    for whole in re.find_iter(text) {
        if whole.start() < read_until {
            continue;
        }
        let m = whole.as_str();
        let (name, quoted) = match m.strip_prefix('"') {
            Some(rest) => (rest.split('"').next().unwrap_or(""), true),
            None => {
                let len = m
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                    .unwrap_or(m.len());
                (&m[..len], false)
            }
        };
        let head = m.trim_end_matches([' ', '\t']);
        let colon = head.ends_with(':') && !head.ends_with(":=");
        if in_marker(markers, whole.start()).is_some()
            || !is_secret_name(name)
            || (!quoted && PROSE_WORDS.contains(&normalise_name(name).as_str()))
        {
            continue;
        }
        let Some((start, end)) = read_value(text, whole.end(), colon) else {
            continue;
        };
        let real = is_real_value(&text[start..end]);
        if real || end - start > 256 {
            read_until = end;
        }
        if real {
            out.push(Span {
                start,
                end,
                rule: "secret_parameter",
                value: None,
            });
        }
    }
    out
}

/// The value written at `at` after a name: quoted (escapes allowed), triple-quoted, a YAML
/// block or indented line, or bare (to the end of the line after `:`, to white space after
/// `=`, and never past the next `&name=` or `;name=` pair).
fn read_value(text: &str, at: usize, colon: bool) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut i = at;
    if colon {
        // `name: |` or `name: >` (a YAML block), or the value on the next, indented line.
        let mut j = i;
        if matches!(b.get(j), Some(b'|' | b'>')) {
            j += 1;
            while matches!(b.get(j), Some(b'-' | b'+' | b' ' | b'\t')) {
                j += 1;
            }
        }
        if b.get(j) == Some(&b'\r') {
            j += 1;
        }
        if b.get(j) == Some(&b'\n') {
            let indent = b[j + 1..]
                .iter()
                .take_while(|c| matches!(c, b' ' | b'\t'))
                .count();
            if indent == 0 {
                return None;
            }
            i = j + 1 + indent;
        } else if j != i {
            return None;
        }
    }
    let rest = &text[i..];
    if let Some(r) = rest.strip_prefix("\"\"\"") {
        let r = r.strip_prefix('\n').unwrap_or(r);
        let start = text.len() - r.len();
        let len = r.find("\"\"\"")?;
        return (len > 0).then_some((start, start + len));
    }
    if let Some(r) = rest.strip_prefix('"') {
        let mut escaped = false;
        for (k, c) in r.char_indices() {
            match c {
                '\n' | '\r' => return None,
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return (k > 0).then_some((i + 1, i + 1 + k)),
                _ => escaped = false,
            }
        }
        return None;
    }
    if let Some(r) = rest.strip_prefix('\'') {
        let len = r.find(['\'', '\n'])?;
        return (r.as_bytes().get(len) == Some(&b'\'') && len > 0).then_some((i + 1, i + 1 + len));
    }
    let stop: &[u8] = if colon {
        b"\r\n"
    } else {
        b" \t\r\n\"'<>[]{}|\\,"
    };
    // One pass to the first stop or the next `&name=` pair, whichever comes first: scanning
    // to the stop and cutting afterwards read a long line once per name on it.
    let rb = rest.as_bytes();
    let mut end = rb.len();
    let mut pair = false;
    for (k, c) in rb.iter().enumerate() {
        if stop.contains(c) {
            end = k;
            break;
        }
        if pair_at(rb, k) {
            end = k;
            pair = true;
            break;
        }
    }
    let mut value = &rest[..end];
    if colon && (value.starts_with('#') || value.starts_with('|') || value.starts_with('>')) {
        return None;
    }
    if !pair {
        value = value.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '}' | ']'));
    }
    (!value.is_empty()).then_some((i, i + value.len()))
}

/// The rule matches in `text`: the secret part of each, checked. A match that fails its check
/// is searched again from where its value starts, so a token standing as the value of a
/// harmless name (`"AccessKeyId": "AKIA…"`) is still found by its own rule.
fn rule_spans(c: &Compiled, text: &str, markers: &[(usize, usize)]) -> Vec<Span> {
    let mut out = Vec::new();
    // One set of slots per rule, made when the rule first matches.
    let mut slots: Vec<Option<Captures>> = (0..c.rules.len()).map(|_| None).collect();
    let mut at = 0;
    // After a refused match the search starts again inside it (a secret may hide there), and
    // only looks a little way ahead: a value that runs to the end of the text
    // (`k=v;k=v;…`, `{"password": {"password": …`) would otherwise be read again from each
    // name inside it, which is quadratic. A match that reaches the edge and is not refused
    // is read again in full.
    let mut bound: Option<usize> = None;
    while at <= text.len() {
        let end = bound.map_or(text.len(), |b| b.max(at));
        let Some(m) = c.all.search(&Input::new(text).range(at..end)) else {
            if bound.take().is_some() {
                continue;
            }
            break;
        };
        let (m_start, m_end) = (m.start(), m.end());
        if let Some((_, end)) = in_marker(markers, m_start) {
            at = end.max(next_boundary(text, m_start));
            continue;
        }
        let truncated = end < text.len() && m_end == end;
        let refused_from = |s_start: usize| s_start.max(next_boundary(text, m_start));
        let i = m.pattern().as_usize();
        let (Some(re), Some(slot)) = (c.rules.get(i), slots.get_mut(i)) else {
            at = next_boundary(text, m_start);
            continue;
        };
        let caps = slot.get_or_insert_with(|| re.create_captures());
        // The rule alone, anchored where the combined search found it and ending where it
        // ended, matches the same way: the first pattern that matches at the leftmost start
        // is the one reported.
        re.search_captures(
            &Input::new(text)
                .range(m_start..m_end)
                .anchored(Anchored::Yes),
            caps,
        );
        if !caps.is_match() {
            at = next_boundary(text, m_start);
            continue;
        }
        let locs = |n: usize| caps.get_group(n).map(|sp| (sp.start, sp.end));
        let rule = &RULES[i];
        let g = &c.groups[i];
        let Some((s_start, s_end)) = g.secrets.iter().find_map(|&n| locs(n)).or_else(|| locs(0))
        else {
            at = next_boundary(text, m_start);
            continue;
        };
        let name = g
            .names
            .iter()
            .find_map(|&n| locs(n))
            .map_or("", |(a, b)| &text[a..b]);
        let secret = &text[s_start..s_end];
        if let Some(check) = rule.check
            && !check(name, secret)
        {
            at = refused_from(s_start);
            bound = Some(floor_boundary(text, at.saturating_add(RETRY_AHEAD)));
            continue;
        }
        if truncated {
            // Cut short by the bound and not refused: read it again without the bound.
            bound = None;
            continue;
        }
        bound = None;
        at = if m_end > m_start {
            m_end
        } else {
            next_boundary(text, m_start)
        };
        if secret.is_empty() {
            continue;
        }
        // A value that runs to the end of a line loses the punctuation that closes it, and a
        // bare value stops where the next `&name=` or `;Name=` pair starts (a query string, a
        // connection string), so the evidence beside it stays.
        let mut value =
            secret.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '}' | ']'));
        if let Some(cut) = next_pair(value) {
            value = &value[..cut];
        }
        let end = s_start + value.len();
        if end > s_start {
            out.push(Span {
                start: s_start,
                end,
                rule: rule.id,
                value: None,
            });
        }
        for (start, end) in g.extras.iter().filter_map(|&n| locs(n)) {
            out.push(Span {
                start,
                end,
                rule: rule.id,
                value: None,
            });
        }
    }
    // A value found by name alone keeps the name of the specific rule that also found it.
    // Found by binary search: a log with a secret on every line has thousands of both.
    out.sort_by_key(|s| s.start);
    let mut furthest = Vec::with_capacity(out.len());
    for s in &out {
        let before = furthest.last().copied().unwrap_or(0);
        furthest.push(s.end.max(before));
    }
    let mut widen = Vec::new();
    let mut alone = Vec::new();
    for n in named_spans(text, markers) {
        let upto = out.partition_point(|s| s.start < n.end);
        let overlapping = upto
            .checked_sub(1)
            .filter(|&k| furthest[k] > n.start)
            .and_then(|_| out[..upto].iter().rposition(|s| n.start < s.end));
        match overlapping {
            Some(k) => widen.push((k, n)),
            None => alone.push(n),
        }
    }
    for (k, n) in widen {
        if let Some(s) = out.get_mut(k) {
            s.start = s.start.min(n.start);
            s.end = s.end.max(n.end);
        }
    }
    out.extend(alone);
    out
}

/// Where a `&name=` or `;name=` pair starts inside a value, if one does.
fn next_pair(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    (0..b.len()).find(|&i| pair_at(b, i))
}

/// Whether a `&name=` or `;name=` pair starts at `i`.
fn pair_at(b: &[u8], i: usize) -> bool {
    if !matches!(b.get(i), Some(b'&' | b';')) {
        return false;
    }
    let name_len = b[i + 1..]
        .iter()
        .take_while(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-' | b' '))
        .count();
    name_len > 0 && b.get(i + 1 + name_len) == Some(&b'=') && b[i + 1] != b' '
}

/// How far ahead the search looks after a refused match, in bytes.
const RETRY_AHEAD: usize = 512;

/// The last character boundary at or before `i` (the text's end past it).
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut j = i.min(text.len());
    while j > 0 && !text.is_char_boundary(j) {
        j -= 1;
    }
    j
}

/// The next character boundary after `i`.
fn next_boundary(text: &str, i: usize) -> usize {
    let mut j = i + 1;
    while j < text.len() && !text.is_char_boundary(j) {
        j += 1;
    }
    j
}

/// Percent-decoding, once; `None` when nothing was encoded.
fn percent_decoded(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let d = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
    (d != s).then(|| d.into_owned())
}

/// A run of hex digits decoded, when it decodes to text.
fn hex_text(run: &str) -> Option<String> {
    if !run.len().is_multiple_of(2) || !run.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let s = String::from_utf8(hex::decode(run).ok()?).ok()?;
    s.chars()
        .all(|c| !c.is_control() || c.is_whitespace())
        .then_some(s)
}

/// A base64 or base64url run decoded, when it decodes to text.
fn base64_text(run: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let t = run.trim_end_matches('=');
    let bytes = if t.contains(['-', '_']) {
        URL_SAFE_NO_PAD.decode(t).ok()?
    } else {
        STANDARD_NO_PAD.decode(t).ok()?
    };
    let s = String::from_utf8(bytes).ok()?;
    let printable = s
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (printable * 10 >= s.chars().count() * 9).then_some(s)
}

/// A value found, with the rule that found it.
type Hit = (String, &'static str);

/// Secrets a text holds in encoded form: the decoded values found, and the encoded runs that
/// hold one (removed whole).
fn encoded_secrets(
    c: &Compiled,
    text: &str,
    found: &[Span],
    depth: u8,
) -> (Vec<Hit>, Vec<(usize, usize)>) {
    let mut values = Vec::new();
    let mut blobs = Vec::new();
    if depth == 0 || !c.encoded.is_match(text) {
        return (values, blobs);
    }
    let found_in = |view: &str, values: &mut Vec<Hit>| {
        let spans = rule_spans(c, view, &markers(view));
        let (inner, _) = encoded_secrets(c, view, &spans, depth - 1);
        for s in spans {
            values.push((view[s.start..s.end].to_owned(), s.rule));
        }
        values.extend(inner);
    };
    if let Some(d) = percent_decoded(text) {
        found_in(&d, &mut values);
    }
    // What is removed anyway, by start, with the furthest end reached so far: whether a run
    // lies inside one is a binary search (a log can hold thousands of both).
    let mut removed: Vec<(usize, usize)> = found.iter().map(|s| (s.start, s.end)).collect();
    removed.sort_unstable();
    let mut furthest = 0;
    for r in &mut removed {
        furthest = furthest.max(r.1);
        r.1 = furthest;
    }
    for m in c.base64_run.find_iter(text) {
        // A run inside what is removed anyway (a JWT's parts) needs no second look.
        let upto = removed.partition_point(|r| r.0 <= m.start());
        if upto > 0 && removed[upto - 1].1 >= m.end() {
            continue;
        }
        if let Some(d) = hex_text(m.as_str()).or_else(|| base64_text(m.as_str())) {
            let before = values.len();
            found_in(&d, &mut values);
            if values.len() > before {
                blobs.push((m.start(), m.end()));
            }
        }
    }
    (values, blobs)
}

/// Forms a value may be written in elsewhere: raw, percent-encoded (both hex cases, form
/// style, twice), base64 and base64url (a padded form holds the unpadded one), JSON-escaped.
fn variants(v: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = vec![v.to_owned()];
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        let strict: String = v
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let lower: String = v
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect();
        out.push(url::form_urlencoded::byte_serialize(v.as_bytes()).collect());
        out.push(strict.replace('%', "%25"));
        out.push(strict);
        out.push(lower);
        if let Ok(j) = serde_json::to_string(v) {
            out.push(j.trim_matches('"').to_owned());
        }
    }
    out.push(STANDARD_NO_PAD.encode(v));
    out.push(URL_SAFE_NO_PAD.encode(v));
    out.retain(|x| x.len() >= MIN_REPEAT);
    out.sort();
    out.dedup();
    out
}

/// Found values in all their spellings, ready to be searched for.
pub struct Known {
    values: Vec<Hit>,
    owner: Vec<usize>,
    spellings: Vec<String>,
    heads: Heads,
}

/// Spellings indexed by one window of [`MIN_REPEAT`] bytes each, found by sliding a window of
/// that many bytes over a text and checking a bit per window before any lookup.
///
/// A capture yields tens of thousands of values; an Aho-Corasick automaton over all their
/// spellings took longer to build (about 140 ms for a 25 MB capture) than the rest of the
/// final pass together. This index is built in a few milliseconds and searched at about a
/// nanosecond a byte. Values share beginnings (every JWT starts `eyJhbGciOi`, session ids
/// `sid-0000`) and endings, so each spelling is indexed by whichever of a few of its windows
/// is the rarest so far: no window leads to a long list of candidates. Values made to share
/// every window (`1aaaa…`, `1aaaaa…`) would make candidates costly to check; past a budget of
/// checked bytes the search stops and the automaton is built after all, whose cost is linear
/// whatever the values.
struct Heads {
    bits: Vec<u64>,
    shift: u32,
    /// Window → (spelling, where the window starts in it).
    by_window: HashMap<u64, Vec<(u32, u32)>, foldhash::fast::RandomState>,
}

/// How many of a spelling's windows are considered for its index entry.
const WINDOW_CHOICES: usize = 8;

impl Heads {
    fn new(spellings: &[String]) -> Heads {
        // About 32 bits per spelling keeps false hits near 3 %; at most 512 KiB of bits.
        let log2 = (spellings.len().max(1) * 32)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(10, 22);
        let mut heads = Heads {
            bits: vec![0; 1 << (log2 - 6)],
            shift: 64 - log2,
            by_window: HashMap::with_capacity_and_hasher(
                spellings.len(),
                foldhash::fast::RandomState::default(),
            ),
        };
        for (i, form) in spellings.iter().enumerate() {
            let b = form.as_bytes();
            let Some(last) = b.len().checked_sub(MIN_REPEAT) else {
                continue;
            };
            let steps = last.clamp(1, WINDOW_CHOICES - 1);
            let Some((at, key)) = (0..=steps)
                .map(|k| last * k / steps)
                .map(|at| (at, window(&b[at..])))
                .min_by_key(|(_, key)| heads.by_window.get(key).map_or(0, Vec::len))
            else {
                continue;
            };
            let (Ok(i), Ok(at32)) = (u32::try_from(i), u32::try_from(at)) else {
                continue;
            };
            let h = heads.slot(key);
            heads.bits[h >> 6] |= 1 << (h & 63);
            heads.by_window.entry(key).or_default().push((i, at32));
        }
        heads
    }

    fn slot(&self, key: u64) -> usize {
        // Fibonacci hashing: the top bits of the product, as many as the table has.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Every place a spelling occurs, overlapping ones included: (start, end, spelling);
    /// `None` when checking candidates costs more than a few bytes per byte of text.
    fn find(&self, spellings: &[String], text: &str) -> Option<Vec<(usize, usize, usize)>> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let Some(first) = b.get(..MIN_REPEAT) else {
            return Some(out);
        };
        let mut budget = b.len().saturating_mul(4).saturating_add(1 << 16);
        let mut key = window(first);
        let top = 8 * (MIN_REPEAT as u32 - 1);
        for j in 0..=b.len() - MIN_REPEAT {
            if j > 0 {
                key = (key >> 8) | (u64::from(b[j + MIN_REPEAT - 1]) << top);
            }
            let h = self.slot(key);
            if self.bits[h >> 6] & (1 << (h & 63)) == 0 {
                continue;
            }
            for &(p, at) in self.by_window.get(&key).map_or(&[][..], Vec::as_slice) {
                let (p, at) = (p as usize, at as usize);
                let (Some(start), Some(form)) = (j.checked_sub(at), spellings.get(p)) else {
                    continue;
                };
                budget = budget.checked_sub(form.len())?;
                if b[start..].starts_with(form.as_bytes()) {
                    out.push((start, start + form.len(), p));
                }
            }
        }
        Some(out)
    }
}

// A window of `MIN_REPEAT` bytes fits one u64.
const _: () = assert!(MIN_REPEAT <= 8);

/// The first `MIN_REPEAT` bytes as a number, the first byte lowest.
fn window(head: &[u8]) -> u64 {
    head.iter()
        .take(MIN_REPEAT)
        .rev()
        .fold(0, |k, &x| (k << 8) | u64::from(x))
}

impl Known {
    fn new(values: Vec<Hit>) -> Known {
        let mut spellings = Vec::new();
        let mut owner = Vec::new();
        for (i, (v, _)) in values.iter().enumerate() {
            for form in variants(v) {
                spellings.push(form);
                owner.push(i);
            }
        }
        let heads = Heads::new(&spellings);
        Known {
            values,
            owner,
            spellings,
            heads,
        }
    }

    /// Where any spelling occurs: (start, end, spelling).
    fn occurrences(&self, text: &str) -> Vec<(usize, usize, usize)> {
        if let Some(found) = self.heads.find(&self.spellings, text) {
            return found;
        }
        // Spellings made to defeat the index: the automaton, linear in the text.
        match AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::NoncontiguousNFA))
            .build(&self.spellings)
        {
            Ok(ac) => ac
                .find_iter(text)
                .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
                .collect(),
            // Beyond the automaton's limits: every spelling searched on its own.
            Err(_) => self
                .spellings
                .iter()
                .enumerate()
                .flat_map(|(p, form)| {
                    text.match_indices(form.as_str())
                        .map(move |(i, m)| (i, i + m.len(), p))
                })
                .collect(),
        }
    }

    /// Where the values appear in `text` (outside markers); short values only as whole
    /// tokens.
    fn spans(&self, text: &str, markers: &[(usize, usize)]) -> Vec<Span> {
        if self.values.is_empty() {
            return Vec::new();
        }
        let bytes = text.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        self.occurrences(text)
            .into_iter()
            .filter(|&(start, end, _)| {
                (end - start >= 12
                    || ((start == 0 || !word(bytes[start - 1]))
                        && (end == bytes.len() || !word(bytes[end]))))
                    && in_marker(markers, start).is_none()
            })
            .map(|(start, end, p)| {
                let (value, rule) = &self.values[self.owner[p]];
                Span {
                    start,
                    end,
                    rule,
                    value: Some(value.clone()),
                }
            })
            .collect()
    }
}

/// Replaces the spans (merged where they overlap) with markers.
fn apply(text: &str, mut spans: Vec<Span>, tag: &Tag, found: &mut Found) -> String {
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut merged: Vec<Span> = Vec::new();
    for s in spans {
        if !text.is_char_boundary(s.start) || !text.is_char_boundary(s.end) {
            continue;
        }
        match merged.last_mut() {
            Some(last) if s.start < last.end => {
                if s.end > last.end {
                    last.end = s.end;
                    last.value = None;
                }
            }
            _ => merged.push(s),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in merged {
        out.push_str(&text[at..s.start]);
        let raw = &text[s.start..s.end];
        let value = s.value.as_deref().unwrap_or(raw);
        // A found value is remembered in its raw form too, so its other spellings go later.
        if s.value.is_some() {
            found.remember(raw);
        }
        out.push_str(&found.redact(s.rule, value, tag));
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Scrubs `text`: every secret found, in any of its spellings, is replaced by a marker.
/// Returns `None` when nothing was found (the text is kept as it is).
pub fn scrub(text: &str, tag: &Tag, found: &mut Found) -> Result<Option<String>> {
    let c = detector()?;
    let markers = markers(text);
    let mut spans = rule_spans(c, text, &markers);
    let mut undone: Vec<Hit> = Vec::new();
    // What is hidden by zero-width characters, full-width letters, entities or escapes is
    // found in the undone view, and removed where it stands in the text.
    if let Some(view) = normalized_view(text) {
        for sp in rule_spans(c, &view.text, &self::markers(&view.text)) {
            let (Some(first), Some(last)) = (view.from.get(sp.start), view.from.get(sp.end - 1))
            else {
                continue;
            };
            undone.push((view.text[sp.start..sp.end].to_owned(), sp.rule));
            spans.push(Span {
                start: first.0,
                end: last.1,
                rule: sp.rule,
                value: Some(view.text[sp.start..sp.end].to_owned()),
            });
        }
    }
    let (decoded, blobs) = encoded_secrets(c, text, &spans, 2);
    for (start, end) in blobs {
        spans.push(Span {
            start,
            end,
            rule: "encoded_secret",
            value: None,
        });
    }
    let mut values: Vec<Hit> = searchable(&spans)
        .map(|s| (text[s.start..s.end].to_owned(), s.rule))
        .chain(decoded)
        .chain(undone)
        .filter(|(v, _)| v.chars().count() >= MIN_REPEAT && v.len() <= MAX_SEARCHED)
        .collect();
    values.sort();
    values.dedup_by(|a, b| a.0 == b.0);
    spans.extend(Known::new(values).spans(text, &markers));
    if spans.is_empty() {
        return Ok(None);
    }
    Ok(Some(apply(text, spans, tag, found)))
}

/// The longest found value searched for elsewhere, in bytes: longer ones are the rest of a
/// line after a name, not a token that travels (keys and tokens that do have rules of their
/// own, which find every copy).
const MAX_SEARCHED: usize = 1024;

/// The spans whose values are searched for elsewhere: of those that end at the same place
/// (`password: {"password": {"password": …` finds one value per name, each running to the end
/// of the line), only the longest, so the values stay as long as the text, not its square.
fn searchable(spans: &[Span]) -> impl Iterator<Item = &Span> {
    let mut longest: HashMap<usize, &Span> = HashMap::new();
    for s in spans {
        longest
            .entry(s.end)
            .and_modify(|l| {
                if s.start < l.start {
                    *l = s;
                }
            })
            .or_insert(s);
    }
    let mut kept: Vec<&Span> = longest.into_values().collect();
    kept.sort_by_key(|s| (s.start, s.end));
    kept.into_iter()
}

/// A text with obfuscations undone, each of its bytes mapped to the span of the original it
/// came from.
struct View {
    text: String,
    from: Vec<(usize, usize)>,
}

/// Zero-width and direction characters that hide inside names and tokens.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The character an escape or entity at the start of `rest` stands for, and its length.
fn unescape(rest: &str) -> Option<(char, usize)> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    if let Some(r) = rest.strip_prefix("&#") {
        let end = r.find(';').filter(|e| (1..=8).contains(e))?;
        let body = &r[..end];
        let n = match body.strip_prefix(['x', 'X']) {
            Some(h) => hex(h)?,
            None => body.parse().ok()?,
        };
        return char::from_u32(n).map(|c| (c, end + 3));
    }
    for (name, c) in [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&apos;", '\''),
    ] {
        if rest.starts_with(name) {
            return Some((c, name.len()));
        }
    }
    if let Some(r) = rest.strip_prefix("\\u") {
        let hi = hex(r.get(..4)?)?;
        if (0xD800..0xDC00).contains(&hi)
            && r.get(4..6) == Some("\\u")
            && let Some(lo) = r.get(6..10).and_then(hex)
            && (0xDC00..0xE000).contains(&lo)
        {
            let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
            return Some((c, 12));
        }
        return char::from_u32(hi).map(|c| (c, 6));
    }
    if let Some(r) = rest.strip_prefix("\\x") {
        return char::from_u32(hex(r.get(..2)?)?).map(|c| (c, 4));
    }
    None
}

/// The text with zero-width characters dropped, full-width forms read as ASCII, and HTML
/// entities and `\u`/`\x` escapes decoded; `None` when there is nothing to undo.
fn normalized_view(text: &str) -> Option<View> {
    if text.is_ascii() && !text.contains("&#") && !text.contains('\\') && !text.contains("&amp;") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut from = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(ch) = rest.chars().next() else { break };
        let (c, len) = if invisible(ch) {
            (None, ch.len_utf8())
        } else if let Some((c, len)) = (ch == '&' || ch == '\\').then(|| unescape(rest)).flatten() {
            (Some(c), len)
        } else if ('\u{FF01}'..='\u{FF5E}').contains(&ch) {
            (char::from_u32(u32::from(ch) - 0xFEE0), ch.len_utf8())
        } else if ch == '\u{3000}' {
            (Some(' '), ch.len_utf8())
        } else {
            (Some(ch), ch.len_utf8())
        };
        if let Some(c) = c.filter(|c| !invisible(*c)) {
            let at = out.len();
            out.push(c);
            from.extend(std::iter::repeat_n((i, i + len), out.len() - at));
        }
        i += len;
    }
    (out != text).then_some(View { text: out, from })
}

/// Where the markers already in a text are, in order: a marker is never read as a name
/// (`[REDACTED:cookie:…]` holds `cookie:`) or a value.
fn markers(text: &str) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for open in ["[REDACTED:", "[HASHED:"] {
        for (i, _) in text.match_indices(open) {
            let end = text[i..]
                .find(']')
                .filter(|e| *e <= 100)
                .map_or(i + open.len(), |e| i + e + 1);
            out.push((i, end));
        }
    }
    out.sort_unstable();
    out
}

/// The marker `i` falls in, if any.
fn in_marker(markers: &[(usize, usize)], i: usize) -> Option<(usize, usize)> {
    let k = markers.partition_point(|m| m.0 <= i);
    k.checked_sub(1).map(|k| markers[k]).filter(|m| i < m.1)
}

/// Scrubs a text in place; true when something was removed.
pub fn scrub_in_place(text: &mut String, tag: &Tag, found: &mut Found) -> Result<bool> {
    match scrub(text, tag, found)? {
        Some(s) => {
            *text = s;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Scrubs every string of a JSON value: members named like a secret lose their value, and
/// every other string meets the detector. Personal and hashed names are left to the caller.
pub fn scrub_json(v: &mut serde_json::Value, tag: &Tag, found: &mut Found) -> Result<()> {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let private_jwk = map.contains_key("kty");
            // {"name": "API_TOKEN", "value": "…"}: a list of names and values (environment
            // variables, headers, cookies, form fields) says which value is secret by its name.
            let pair_secret = ["name", "key"].iter().any(|k| {
                map.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(is_secret_name)
            });
            for (k, val) in map.iter_mut() {
                let secret_member = is_secret_name(k)
                    || (pair_secret && k == "value")
                    || (private_jwk
                        && ["d", "p", "q", "dp", "dq", "qi", "k"].contains(&k.as_str()));
                match val {
                    Value::String(s) if secret_member && is_real_value(s) => {
                        *s = found.redact("secret_parameter", s, tag);
                    }
                    Value::Number(n) if secret_member => {
                        let text = n.to_string();
                        if is_real_value(&text) {
                            *val = Value::String(found.redact("secret_parameter", &text, tag));
                        }
                    }
                    Value::Array(_) | Value::Object(_) if is_secret_container(k) => {
                        redact_all(val, tag, found);
                    }
                    _ => scrub_json(val, tag, found)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                scrub_json(item, tag, found)?;
            }
        }
        Value::String(s) => {
            scrub_in_place(s, tag, found)?;
        }
        _ => {}
    }
    Ok(())
}

/// Redacts every text and number inside a member that holds credentials.
fn redact_all(v: &mut serde_json::Value, tag: &Tag, found: &mut Found) {
    use serde_json::Value;
    match v {
        Value::String(s) if is_real_value(s) => *s = found.redact("secret_parameter", s, tag),
        Value::Number(n) => {
            let text = n.to_string();
            if is_real_value(&text) {
                *v = Value::String(found.redact("secret_parameter", &text, tag));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_all(i, tag, found)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_all(i, tag, found)),
        _ => {}
    }
}

/// [`scrub_json`], then every value it removed taken out of the other strings too (a password
/// quoted again in a debug message).
pub fn scrub_json_everywhere(
    v: &mut serde_json::Value,
    tag: &Tag,
    found: &mut Found,
) -> Result<()> {
    scrub_json(v, tag, found)?;
    if !found.is_empty() {
        let known = found.known();
        walk_known(v, &known, tag, found)?;
    }
    Ok(())
}

/// Runs the detector over every string of a JSON value that casedesk wrote itself (a report),
/// where member names are casedesk's own and say nothing about their values.
pub fn scrub_strings(v: &mut serde_json::Value, tag: &Tag, found: &mut Found) -> Result<()> {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            scrub_in_place(s, tag, found)?;
        }
        Value::Array(items) => {
            for item in items {
                scrub_strings(item, tag, found)?;
            }
        }
        Value::Object(map) => {
            for val in map.values_mut() {
                scrub_strings(val, tag, found)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Removes from every string of a JSON value the values found so far, in any spelling, then
/// runs the detector over it: the last pass over anything derived from scrubbed input.
pub fn scrub_json_known(
    v: &mut serde_json::Value,
    known: &Known,
    tag: &Tag,
    found: &mut Found,
) -> Result<()> {
    walk_known(v, known, tag, found)
}

fn walk_known(
    v: &mut serde_json::Value,
    known: &Known,
    tag: &Tag,
    found: &mut Found,
) -> Result<()> {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Some(t) = found.scrub_with(known, s, tag) {
                *s = t;
            }
            scrub_in_place(s, tag, found)?;
        }
        Value::Array(items) => {
            for item in items {
                walk_known(item, known, tag, found)?;
            }
        }
        Value::Object(map) => {
            for val in map.values_mut() {
                walk_known(val, known, tag, found)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Claims of a JWT that are kept as evidence: who issued it, for whom, when; never the subject
/// or personal claims.
pub const KEPT_CLAIMS: [&str; 9] = [
    "iss",
    "aud",
    "azp",
    "client_id",
    "exp",
    "iat",
    "nbf",
    "scope",
    "typ",
];

/// The header (`alg`, `kid`, `typ`) and kept claims of a JWT, with its tag; `None` when the
/// header does not decode.
pub fn jwt_evidence(token: &str, tag: &Tag) -> Option<serde_json::Value> {
    let mut parts = token.split('.');
    let dec = |s: &str| -> Option<serde_json::Value> {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice::<serde_json::Value>(&b).ok()
    };
    let header = dec(parts.next()?)?;
    let mut h = serde_json::Map::new();
    for k in ["alg", "kid", "typ", "enc"] {
        if let Some(v) = header.get(k).filter(|v| v.is_string()) {
            h.insert(k.to_owned(), v.clone());
        }
    }
    let segments = token.split('.').count();
    let mut claims = serde_json::Map::new();
    if segments == 3
        && let Some(payload) = parts.next().and_then(dec)
    {
        for k in KEPT_CLAIMS {
            if let Some(v) = payload.get(k) {
                claims.insert(k.to_owned(), v.clone());
            }
        }
        for k in ["nonce", "at_hash"] {
            if payload.get(k).is_some() {
                claims.insert(format!("has_{k}"), serde_json::Value::Bool(true));
            }
        }
    }
    let mut out = serde_json::json!({"header": h, "claims": claims,
        "encrypted": segments == 5});
    if let (Some(h8), Some(o)) = (tag.h8(token), out.as_object_mut()) {
        o.insert("tag".into(), serde_json::Value::String(h8));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> (String, Found) {
        let mut f = Found::default();
        let out = scrub(text, &Tag::Plain, &mut f)
            .unwrap()
            .unwrap_or_else(|| text.to_owned());
        (out, f)
    }

    const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLWJ5dGVz";

    #[test]
    fn the_detector_compiles() {
        assert!(detector().is_ok(), "{:?}", DETECTOR.as_ref().err());
    }

    /// The corpus: every rule finds its two examples and leaves its near miss alone.
    #[test]
    fn every_rule_finds_its_examples_and_not_its_near_miss() {
        for r in RULES {
            for text in r.examples.0 {
                let (out, f) = s(text);
                assert!(
                    f.counts.contains_key(r.id),
                    "{}: {text:?} → {out:?} {:?}",
                    r.id,
                    f.counts
                );
            }
            let (out, f) = s(r.examples.1);
            assert!(
                f.is_empty(),
                "{} near miss {:?} → {out:?}",
                r.id,
                r.examples.1
            );
        }
    }

    #[test]
    fn finds_each_kind_and_keeps_the_rest() {
        let cases = [
            (format!("token was {JWT} today"), "jwt", "today"),
            (
                "Authorization: Bearer ya29.a0AfH6SMBx-long_token".into(),
                "header",
                "Bearer ",
            ),
            (
                "db at postgres://app:hunter2@db.internal/x".into(),
                "url_password",
                "postgres://app:",
            ),
            (
                "key AKIAABCDEFGHIJKLMNOP used".into(),
                "aws_access_key",
                "used",
            ),
            (
                "client_secret=s3cr3t-value&x=1".into(),
                "secret_parameter",
                "&x=1",
            ),
            (
                r#"{"password": "correct horse"}"#.into(),
                "secret_parameter",
                "password",
            ),
            (
                "https://app/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=x".into(),
                "url_secret",
                "&state=x",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq cut here".into(),
                "private_key",
                "",
            ),
        ];
        for (text, rule, kept) in cases {
            let (out, f) = s(&text);
            assert!(f.counts.contains_key(rule), "{text} → {out} {f:?}");
            assert!(out.contains(&format!("[REDACTED:{rule}]")), "{out}");
            assert!(out.contains(kept), "{out} lost {kept}");
        }
    }

    #[test]
    fn aws_secret_keys_in_every_common_form() {
        let key = "wJalrXUtnFEMIK7MDENGbPxRfiCYzzzzEXAMPLE1";
        for text in [
            format!("aws_secret_access_key = {key}"),
            format!("export AWS_SECRET_ACCESS_KEY={key}"),
            format!("{{\"SecretAccessKey\": \"{key}\"}}"),
            format!("AWS_SECRET_ACCESS_KEY: \"{key}\""),
            format!("<SecretAccessKey>{key}</SecretAccessKey>"),
            format!("aws configure set aws_secret_access_key {key}"),
        ] {
            let (out, f) = s(&text);
            assert!(!out.contains(key), "{text} → {out}");
            assert!(!f.is_empty());
        }
    }

    #[test]
    fn secrets_inside_encodings_are_found_and_every_spelling_removed() {
        let token = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(format!("{{\"t\":\"{token}\"}}"));
        for text in [
            format!(
                "https://idp/authorize?redirect_uri={}",
                enc(&format!("https://app/cb?token={token}&x=1"))
            ),
            format!(
                "error_description={}",
                enc("invalid client_secret=Sup3rS3cretValue9 given")
            ),
            format!("state={b64}"),
            format!("{token} and again {}", enc(token)),
        ] {
            let (out, f) = s(&text);
            assert!(!f.is_empty(), "{text}");
            for v in [token, "Sup3rS3cretValue9"] {
                for form in variants(v) {
                    assert!(!out.contains(&form), "{text} → {out} still holds {form}");
                }
            }
        }
    }

    #[test]
    fn hidden_spellings_are_undone() {
        let token = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
        let hex: String = hex::encode(format!("client_secret={token}"));
        for text in [
            "token ghp_aBcDeFgHi\u{200B}JkLmNoPqRsTuVwXyZ0123456789 here".to_owned(),
            format!("{{\"\\u0070assword\": \"{token}\"}}"),
            format!("&#112;&#97;&#115;&#115;&#119;&#111;&#114;&#100;={token}"),
            format!("ｐａｓｓｗｏｒｄ={token}"),
            format!("blob {hex} end"),
        ] {
            let (out, f) = s(&text);
            assert!(!f.is_empty(), "{text}");
            assert!(!out.contains("0123456789"), "{text} → {out}");
        }
        let jwt = "eyJhbGciOiJSUzI1NiJ9\n.eyJzdWIiOiJ4In0\n.c2lnbmF0dXJlLWJ5dGVz";
        let (out, f) = s(&format!("token:\n{jwt}"));
        assert!(!out.contains("c2lnbmF0dXJl"), "{out}");
        assert_eq!(f.tokens.len(), 1, "the broken token is still read as one");
    }

    #[test]
    fn ordinary_identifiers_are_left_alone() {
        for text in [
            "Case #1019 for tenant acme-prod, request id req-7f3a9c2e, correlation c0ffee00-1234.",
            "session 7f3a9c2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b started; client_id=0oa1b2c3d4e5f6g7h8i9",
            "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 and sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "token_endpoint: https://idp.example/oauth2/v1/token, token_type: Bearer, expires_in: 3600",
            "max_tokens=4096; password_policy=strong; secret_rotation_days: 90; api_key_id: key_01HQ",
            "state=af0ifjsldkj&nonce=n-0S6_WzA2Mj&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
            "The password policy requires 12 characters. client_secret is rotated monthly.",
            "Error code: E0000011 while exchanging the authorization code.",
            "Use the Authorization header with a Bearer token from /oauth2/token.",
            "org_id=00o1a2b3c4d5e6f7g8h9 app=0oa9z8y7x6w5v4u3t2s1 user 00u1b2c3d4e5f6g7h8i9",
            "kid: 6f1c0d8a-21e4-4f8b-9c4d-3a2b1c0d9e8f; jti=9c1b2a3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
        ] {
            let (out, f) = s(text);
            assert!(f.is_empty(), "{text} → {out} {:?}", f.counts);
        }
    }

    #[test]
    fn scrubbing_twice_changes_nothing_more() {
        let (once, _) = s(&format!("password={JWT} and Bearer abcdefghijklmnop1234"));
        let mut f = Found::default();
        assert_eq!(scrub(&once, &Tag::Plain, &mut f).unwrap(), None, "{once}");
    }

    #[test]
    fn keyed_tags_link_equal_values_only() {
        let tag = Tag::keyed(&[7; 32]).unwrap();
        let other = Tag::keyed(&[8; 32]).unwrap();
        assert_eq!(tag.marker("cookie", "abc"), tag.marker("cookie", "abc"));
        assert_ne!(tag.marker("cookie", "abc"), tag.marker("cookie", "abd"));
        assert_ne!(tag.marker("cookie", "abc"), other.marker("cookie", "abc"));
        assert!(tag.marker("cookie", "abc").starts_with("[REDACTED:cookie:"));
    }

    #[test]
    fn jwt_evidence_keeps_only_allowed_claims() {
        let mut f = Found::default();
        scrub(JWT, &Tag::Plain, &mut f).unwrap();
        let t = &f.tokens[0];
        assert_eq!(t["header"]["kid"], "k1");
        assert_eq!(t["claims"]["iss"], "https://idp.example");
        assert_eq!(t["claims"]["exp"], 1_700_000_000);
        assert!(t["claims"].get("sub").is_none(), "the subject is personal");
    }

    /// Covered byte ranges, merged: what a removal of the occurrences would take out.
    fn covered(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
        spans.sort_unstable();
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (a, b) in spans {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    fn naive(spellings: &[String], text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for form in spellings {
            let mut from = 0;
            while let Some(i) = text[from..].find(form.as_str()) {
                out.push((from + i, from + i + form.len()));
                from += i + text[from + i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        covered(out)
    }

    proptest::proptest! {
        /// The window index finds every occurrence a plain search finds, whatever the values
        /// share (beginnings, endings, windows).
        #[test]
        fn the_window_index_finds_what_a_plain_search_finds(
            values in proptest::collection::vec("(sid-0000|eyJhbG|)[a-c0-2]{0,10}(==|-0000|)", 1..40),
            picks in proptest::collection::vec((0usize..40, "[a-c0-2 ]{0,3}"), 0..30),
        ) {
            let values: Vec<String> = values.into_iter().filter(|v| v.len() >= MIN_REPEAT).collect();
            let mut text = String::new();
            for (i, glue) in &picks {
                if let Some(v) = values.get(i % values.len().max(1)) {
                    text.push_str(v);
                }
                text.push_str(glue);
            }
            let known = Known::new(values.iter().map(|v| (v.clone(), "t")).collect());
            let got = covered(known.occurrences(&text).into_iter().map(|(a, b, _)| (a, b)).collect());
            proptest::prop_assert_eq!(got, naive(&known.spellings, &text));
        }
    }

    /// A refused match is searched again from inside (a secret hides there) but only a little
    /// way ahead; what is cut short there and not refused is read again whole.
    #[test]
    fn secrets_inside_refused_matches_are_found_whole() {
        let long = format!("Zq81{}x9", "Planted".repeat(400));
        for text in [
            format!("https://app/cb?k=x;access_token={long}"),
            format!("{}&access_token={long}", "?k=v1;k=v2".repeat(300)),
            format!("name: a, value: b name: API_TOKEN, value: {long}"),
            format!("{}password={long}", "k=Zq81x;".repeat(500)),
        ] {
            let (out, _) = s(&text);
            assert!(
                !out.contains("Planted"),
                "{}",
                &out[out.len().saturating_sub(300)..]
            );
        }
        // A nested name whose value runs to the end of the line: one value, all removed.
        let (out, f) = s(&format!("{}Zq81Planted9x", "{\"password\": ".repeat(3000)));
        assert!(!out.contains("Planted") && !f.is_empty());
    }

    /// Values made so that every window of theirs is shared still cost a linear search (the
    /// automaton takes over), and every occurrence is found.
    #[test]
    fn values_made_to_defeat_the_index_are_still_found() {
        let values: Vec<Hit> = (1..400)
            .map(|n| (format!("1{}", "a".repeat(n + 200)), "t"))
            .collect();
        let known = Known::new(values);
        let text = format!("x {} y 1{} z", "a".repeat(100_000), "a".repeat(350));
        assert!(known.heads.find(&known.spellings, &text).is_none());
        let found = known.occurrences(&text);
        assert!(
            found.iter().any(|&(a, b, _)| text[a..b].len() == 351),
            "{found:?}"
        );
    }

    #[test]
    fn values_never_print() {
        let (_, f) = s("password=hunter2hunter2");
        assert!(!format!("{f:?}").contains("hunter2"));
    }

    #[test]
    fn names() {
        for n in [
            "password",
            "Client_Secret",
            "csrf_token",
            "SAMLResponse",
            "x_token",
            "new_password",
            "passphrase",
            "X-Session-Id",
            "AWS_SECRET_ACCESS_KEY",
            "SecretAccessKey",
            "JSESSIONID",
            "x-api-key",
            "code",
            "db.password",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "state",
            "redirect_uri",
            "error",
            "client_id",
            "scope",
            "token_type",
            "token_endpoint",
            "password_policy",
            "api_key_id",
            "max_tokens",
            "tokenizer",
            "secret_expires_at",
            "footprint",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }
}
