//! Attachments: files on a case, stored by the SHA-256 of their (scrubbed) content.
//!
//! Before anything is written, every file is prepared here: its type is read from its bytes,
//! its name made safe, a HAR capture scrubbed and summarised, and a text file scrubbed of
//! secrets. Only prepared content reaches a [`Blobs`] store.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::cases::{Case, CaseStore, EventKind, NewEvent, Status};
use crate::diagnostics::har;
use crate::diagnostics::secrets::{self, Found, Tag};
use crate::permissions::{can_see, is_support, require_case_access, require_scope};
use crate::users::{Principal, Scope};
use crate::{DomainError, FieldError, Result, now};

/// Files in one upload.
pub const MAX_FILES: usize = 10;
/// Longest stored file name, in characters.
pub const MAX_NAME: usize = 120;

/// Size limits and retention, from `[attachments]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentConfig {
    /// Largest file, in bytes (2 MB by default).
    pub max_file_bytes: u64,
    /// Largest HAR capture, in bytes (25 MB by default); it is scrubbed before it is stored.
    pub max_har_bytes: u64,
    /// Days after a case closes when its attachments are deleted.
    pub retention_days: u32,
    /// The same per plan key (`gold = 30`), overriding `retention_days`.
    pub retention_days_by_plan: std::collections::BTreeMap<String, u32>,
    /// S3-compatible storage for the content; the data folder when absent.
    pub s3: Option<S3Settings>,
}

/// Where attachment content goes on S3-compatible storage (AWS S3, MinIO, R2, …).
#[derive(Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Bucket.
    pub bucket: String,
    /// Region (`us-east-1` when the service ignores it).
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint of an S3-compatible service; AWS when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (prefer `CASEDESK_ATTACHMENTS__S3__SECRET_ACCESS_KEY`). Never shown.
    #[serde(skip_serializing)]
    pub secret_access_key: String,
    /// Allow `http://` endpoints (a service on the same host or in tests).
    #[serde(default)]
    pub allow_http: bool,
    /// Key prefix inside the bucket.
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_prefix() -> String {
    "attachments".into()
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"…")
            .field("allow_http", &self.allow_http)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Default for AttachmentConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 2 * 1024 * 1024,
            max_har_bytes: 25 * 1024 * 1024,
            retention_days: 7,
            retention_days_by_plan: Default::default(),
            s3: None,
        }
    }
}

impl AttachmentConfig {
    /// Checks the settings at start.
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        if self.max_file_bytes == 0 || self.max_file_bytes > 100 * 1024 * 1024 {
            errors.push(FieldError::new(
                "attachments.max_file_bytes",
                "must be between 1 byte and 100 MB",
            ));
        }
        if self.max_har_bytes == 0 || self.max_har_bytes > 200 * 1024 * 1024 {
            errors.push(FieldError::new(
                "attachments.max_har_bytes",
                "must be between 1 byte and 200 MB",
            ));
        }
        if let Some(s3) = &self.s3 {
            if s3.bucket.trim().is_empty() {
                errors.push(FieldError::new(
                    "attachments.s3.bucket",
                    "must name a bucket",
                ));
            }
            if s3.access_key_id.is_empty() || s3.secret_access_key.is_empty() {
                errors.push(FieldError::new(
                    "attachments.s3",
                    "needs access_key_id and secret_access_key",
                ));
            }
            if let Some(e) = &s3.endpoint {
                match url::Url::parse(e) {
                    Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && s3.allow_http) => {}
                    Ok(_) => errors.push(FieldError::new(
                        "attachments.s3.endpoint",
                        "must be https:// (or http:// with allow_http = true)",
                    )),
                    Err(_) => errors.push(FieldError::new(
                        "attachments.s3.endpoint",
                        "must be an absolute URL",
                    )),
                }
            }
        }
        for k in self.retention_days_by_plan.keys() {
            if k.parse::<crate::accounts::Plan>().is_err() {
                errors.push(FieldError::new(
                    format!("attachments.retention_days_by_plan.{k}"),
                    "is not a plan",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// Days a closed case of this plan keeps its attachments.
    pub fn retention_for(&self, plan: &str) -> u32 {
        self.retention_days_by_plan
            .get(plan)
            .copied()
            .unwrap_or(self.retention_days)
    }

    /// The limit for a file of this name: HAR captures have their own.
    pub fn limit_for(&self, name: &str) -> u64 {
        if is_har_name(name) {
            self.max_har_bytes.max(self.max_file_bytes)
        } else {
            self.max_file_bytes
        }
    }
}

/// The key that tags values redacted from one account's files: equal values stay linkable
/// within the account's cases and nowhere else.
pub fn tag_for(secrets: &dyn crate::webhooks::SecretBox, account: Uuid) -> Result<Tag> {
    Tag::keyed(&secrets.derive(&format!("casedesk-har-tag:{account}")))
}

/// Where a channel that receives files (the web, the mail gate) puts them.
#[derive(Clone, Copy)]
pub struct Sink<'a> {
    /// The content store.
    pub blobs: &'a dyn Blobs,
    /// The server key, for the tags of redacted values.
    pub secrets: &'a dyn crate::webhooks::SecretBox,
    /// Limits.
    pub config: &'a AttachmentConfig,
}

/// Whether a file name says it is a HAR capture.
pub fn is_har_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".har")
}

/// Where attachment content lives: the data folder, or S3-compatible storage.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores content under its SHA-256 (hex); storing it again is harmless. Takes the
    /// bytes, so a large file is not copied on its way out.
    async fn put(&self, sha256: &str, bytes: Vec<u8>) -> Result<()>;
    /// The content, if stored.
    async fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>>;
    /// Deletes the content (missing content is not an error).
    async fn delete(&self, sha256: &str) -> Result<()>;
}

/// A stored attachment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// Identifier.
    pub id: Uuid,
    /// The case.
    pub case_number: i64,
    /// Safe file name.
    pub file_name: String,
    /// Content type read from the bytes.
    pub content_type: String,
    /// Bytes stored.
    pub size: i64,
    /// SHA-256 of the stored content, hex.
    pub sha256: String,
    /// `file` or `har` (a scrubbed capture).
    pub kind: String,
    /// Visible to the customer (an agent's internal attachment is not).
    pub public: bool,
    /// Who uploaded it (email).
    pub uploaded_by: Option<String>,
    /// When.
    pub created_at: Timestamp,
    /// When retention deleted its content.
    pub deleted_at: Option<Timestamp>,
}

/// An attachment about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    /// Identifier.
    pub id: Uuid,
    /// Safe file name.
    pub file_name: String,
    /// Content type read from the bytes.
    pub content_type: String,
    /// Bytes stored.
    pub size: i64,
    /// SHA-256 of the stored content.
    pub sha256: String,
    /// `file` or `har`.
    pub kind: String,
    /// Visible to the customer.
    pub public: bool,
    /// Who uploaded it.
    pub uploaded_by: Option<Uuid>,
}

/// A file as received, before it is prepared.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The file name the client gave.
    pub name: String,
    /// The bytes (at most the limit, counted while they arrived).
    pub bytes: Vec<u8>,
}

/// A file ready to be stored: its content and what was learnt from it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The row to write.
    pub attachment: NewAttachment,
    /// The content to store (scrubbed).
    pub content: Vec<u8>,
    /// What was removed.
    pub found: Found,
    /// A HAR capture's evidence summary.
    pub evidence: Option<Value>,
}

/// Makes a client's file name safe to store and to send back in `Content-Disposition`: the
/// last path part, no control or quoting characters, no leading dots, at most
/// [`MAX_NAME`] characters with the extension kept.
pub fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .map(|c| match c {
            '"' | '\'' | ';' | ':' | '*' | '?' | '<' | '>' | '|' | '%' | '`' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let name = if trimmed.is_empty() {
        "attachment".to_owned()
    } else {
        trimmed.to_owned()
    };
    if name.chars().count() <= MAX_NAME {
        return name;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if e.chars().count() <= 10 && !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    let keep = MAX_NAME.saturating_sub(ext.chars().count());
    format!("{}{ext}", stem.chars().take(keep).collect::<String>())
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// The content type, read from the bytes. Text that a browser would run (HTML, SVG, XML) is
/// served as plain text.
pub fn sniff(bytes: &[u8]) -> String {
    if let Some(kind) = infer::get(bytes) {
        let mime = kind.mime_type();
        // infer reads some text formats; those are served as text below.
        if !mime.starts_with("text/") && mime != "image/svg+xml" && !mime.contains("xml") {
            return mime.to_owned();
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(t) if !t.contains('\0') => {
            let start = t.trim_start();
            if (start.starts_with('{') || start.starts_with('['))
                && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
            {
                "application/json".into()
            } else {
                "text/plain; charset=utf-8".into()
            }
        }
        _ => "application/octet-stream".into(),
    }
}

/// Archive formats that could hold a capture or a log casedesk cannot scrub file by file.
const ARCHIVES: [(&str, &str); 9] = [
    ("application/zip", "a zip archive"),
    ("application/x-7z-compressed", "a 7-Zip archive"),
    ("application/vnd.rar", "a RAR archive"),
    ("application/x-tar", "a tar archive"),
    ("application/x-bzip2", "a bzip2 file"),
    ("application/x-xz", "an xz file"),
    ("application/zstd", "a zstd file"),
    ("application/x-lzip", "an lzip file"),
    ("application/x-compress", "a compressed file"),
];

/// Programs: nobody on a case should run one, so none is kept (by content, and by the names
/// Windows runs whatever they hold).
const PROGRAMS: [(&str, &str); 6] = [
    (
        "application/vnd.microsoft.portable-executable",
        "a Windows program",
    ),
    ("application/x-msdownload", "a Windows program"),
    ("application/x-executable", "a program"),
    ("application/x-mach-binary", "a macOS program"),
    ("application/vnd.android.dex", "Android code"),
    ("application/wasm", "WebAssembly code"),
];
const PROGRAM_NAMES: [&str; 6] = [".exe", ".msi", ".dll", ".scr", ".com", ".bat"];

/// Whether `b` is a Windows program: `MZ`, then `PE\0\0` at the offset the header names.
fn is_pe(b: &[u8]) -> bool {
    let Some(off) = b.get(0x3c..0x40) else {
        return false;
    };
    let off = u32::from_le_bytes([off[0], off[1], off[2], off[3]]) as usize;
    b.starts_with(b"MZ") && b.get(off..off.saturating_add(4)) == Some(b"PE\0\0".as_slice())
}

/// The upload as it is meant to be read: gzip inflated (to at most `limit` bytes, against
/// compression bombs) and its `.gz` suffix dropped; archives refused with what to send
/// instead, since a file inside one could not be scrubbed before it is stored.
fn unwrap(upload: &mut Upload, field: &str, limit: u64) -> Result<()> {
    use std::io::Read;
    let shown = safe_name(&upload.name);
    if upload.bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut inflate = flate2::read::MultiGzDecoder::new(upload.bytes.as_slice())
            .take(limit.saturating_add(1));
        if inflate.read_to_end(&mut out).is_err() {
            return Err(DomainError::field(
                field,
                format!("{shown} is a gzip file that does not inflate; send the file itself"),
            ));
        }
        if out.len() as u64 > limit {
            return Err(DomainError::field(
                field,
                format!(
                    "{shown} inflates to more than {limit} bytes, the most casedesk unpacks; send a smaller capture"
                ),
            ));
        }
        upload.bytes = out;
        let lower = upload.name.to_ascii_lowercase();
        for suffix in [".gz", ".gzip"] {
            if lower.ends_with(suffix) {
                upload.name.truncate(upload.name.len() - suffix.len());
                break;
            }
        }
        return unwrap(upload, field, limit);
    }
    if let Some(kind) = infer::get(&upload.bytes)
        && let Some((_, what)) = ARCHIVES.iter().find(|(m, _)| *m == kind.mime_type())
    {
        return Err(DomainError::field(
            field,
            format!(
                "{shown} is {what}, and nothing of it was kept: casedesk removes secrets from each file before it is stored, which it cannot do inside an archive. Upload the files themselves (a HAR capture as .har, or compressed with gzip)."
            ),
        ));
    }
    let program = infer::get(&upload.bytes)
        .and_then(|k| PROGRAMS.iter().find(|(m, _)| *m == k.mime_type()))
        // "MZ" alone opens many a text (a log of an MZ cluster); a Windows program also has
        // the PE signature where its header says.
        .filter(|(m, _)| {
            !m.starts_with("application/vnd.microsoft") && *m != "application/x-msdownload"
                || is_pe(&upload.bytes)
        })
        .map(|(_, what)| *what)
        .or_else(|| {
            let lower = upload.name.to_ascii_lowercase();
            PROGRAM_NAMES
                .iter()
                .any(|x| lower.ends_with(x))
                .then_some("named as a program")
        });
    if let Some(what) = program {
        return Err(DomainError::field(
            field,
            format!(
                "{shown} is {what}, and nothing of it was kept: casedesk does not keep programs, which nobody on a case should run. Send what it shows or writes instead: a screenshot, a log or a HAR capture."
            ),
        ));
    }
    if upload.bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        upload.bytes.drain(..3);
    }
    Ok(())
}

/// Prepares one file: gzip inflated and archives refused; a HAR capture (by name or by
/// content) scrubbed and summarised (refused when it does not parse), JSON scrubbed member by
/// member, a text file scrubbed of secrets, any other file kept as it came. `limits` bound
/// what a compressed file may unpack to.
pub fn prepare(
    mut upload: Upload,
    field: &str,
    public: bool,
    uploader: Option<Uuid>,
    tag: &Tag,
    limits: &AttachmentConfig,
) -> Result<Prepared> {
    unwrap(
        &mut upload,
        field,
        limits.max_har_bytes.max(limits.max_file_bytes),
    )?;
    let mut found = Found::default();
    // A file's name is stored and shown too: it meets the detector like its content.
    let name = match secrets::scrub(&upload.name, &Tag::Plain, &mut found)? {
        Some(scrubbed) => safe_name(&scrubbed),
        None => safe_name(&upload.name),
    };
    let named_har = is_har_name(&name);
    // The usual capture (a UTF-8 JSON object with log.entries) is handed over as it came and
    // scrubbed entry by entry, never parsed whole (a parsed capture takes several times its
    // size); other spellings of one are read below.
    if is_har_object(&upload.bytes) {
        let raw = if named_har {
            std::mem::take(&mut upload.bytes)
        } else {
            upload.bytes.clone()
        };
        match har::scrub(raw, tag) {
            Ok(s) => {
                found.merge(s.found);
                return Ok(Prepared {
                    attachment: NewAttachment {
                        id: Uuid::now_v7(),
                        file_name: name,
                        content_type: "application/json".into(),
                        size: i64::try_from(s.bytes.len()).unwrap_or(i64::MAX),
                        sha256: s.sha256,
                        kind: "har".into(),
                        public,
                        uploaded_by: uploader,
                    },
                    content: s.bytes,
                    found,
                    evidence: Some(s.summary),
                });
            }
            Err(e) if named_har => {
                return Err(DomainError::field(
                    field,
                    format!("{name} was refused and nothing of it was kept: {e}"),
                ));
            }
            Err(_) => {}
        }
    }
    let text = as_text(&upload.bytes);
    // A capture is recognised by what it holds, whatever its name, encoding or wrapping.
    let json = text.as_deref().and_then(first_json);
    if let Some((value, _)) = &json
        && (named_har || holds_har(value))
    {
        match scrub_captures(value, tag) {
            Ok((bytes, evidence, har_found)) => {
                found.merge(har_found);
                let sha256 = hex::encode(Sha256::digest(&bytes));
                return Ok(Prepared {
                    attachment: NewAttachment {
                        id: Uuid::now_v7(),
                        file_name: name,
                        content_type: "application/json".into(),
                        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
                        sha256,
                        kind: "har".into(),
                        public,
                        uploaded_by: uploader,
                    },
                    content: bytes,
                    found,
                    evidence,
                });
            }
            Err(e) if named_har => {
                return Err(DomainError::field(
                    field,
                    format!("{name} was refused and nothing of it was kept: {e}"),
                ));
            }
            Err(_) => {}
        }
    } else if named_har {
        // The capture's reader says what is wrong with it (cut short, no log.entries, …).
        let bytes = text
            .clone()
            .map_or_else(|| upload.bytes.clone(), String::into_bytes);
        let why = match har::scrub(bytes, tag) {
            Err(e) => e.to_string(),
            Ok(_) => "it is not a HAR capture (a JSON object with log.entries)".into(),
        };
        return Err(DomainError::field(
            field,
            format!("{name} was refused and nothing of it was kept: {why}"),
        ));
    }
    let (content, content_type) = match (json, text) {
        // JSON member by member: a secret-named member loses its value at any depth, and
        // whatever it held is removed from the other members too.
        (Some((mut v, whole)), Some(_)) if whole => {
            secrets::scrub_json_everywhere(&mut v, tag, &mut found)?;
            let bytes = if found.is_empty() {
                upload.bytes
            } else {
                serde_json::to_vec_pretty(&v).map_err(|e| DomainError::Internal(e.to_string()))?
            };
            (bytes, "application/json".to_owned())
        }
        (_, Some(t)) => {
            let bytes = match secrets::scrub(&t, &Tag::Plain, &mut found)? {
                Some(s) => s.into_bytes(),
                None if t.as_bytes() == upload.bytes.as_slice() => upload.bytes,
                // Decoded from UTF-16 or Latin-1: stored as the UTF-8 it was read as.
                None => t.into_bytes(),
            };
            (bytes, "text/plain; charset=utf-8".to_owned())
        }
        (_, None) => {
            // A file that is not text is kept as it came, unless its readable parts hold a
            // secret: casedesk cannot remove one from an image or a document, so it keeps
            // none of the file and says why.
            let kinds = secrets_in_binary(&upload.bytes)?;
            if !kinds.is_empty() {
                let kinds: Vec<&str> = kinds.into_iter().collect();
                return Err(DomainError::field(
                    field,
                    format!(
                        "{name} holds what looks like {}, which casedesk cannot remove from a file of this kind; nothing of it was kept. Remove it (and rotate it) and upload the file again.",
                        kinds.join(" and ")
                    ),
                ));
            }
            let sniffed = sniff(&upload.bytes);
            (upload.bytes, sniffed)
        }
    };
    let sha256 = hex::encode(Sha256::digest(&content));
    Ok(Prepared {
        attachment: NewAttachment {
            id: Uuid::now_v7(),
            file_name: name,
            content_type,
            size: i64::try_from(content.len()).unwrap_or(i64::MAX),
            sha256,
            kind: "file".into(),
            public,
            uploaded_by: uploader,
        },
        content,
        found,
        evidence: None,
    })
}

/// The text a file holds, when it is text in a common encoding: UTF-8 (a stray NUL allowed),
/// UTF-16 with or without a byte-order mark, or a single-byte encoding read as Latin-1.
fn as_text(bytes: &[u8]) -> Option<String> {
    let printable = |t: &str| {
        let n = t.chars().count().max(1);
        let good = t
            .chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
            .count();
        good * 100 >= n * 95
    };
    let utf16 = |le: bool, body: &[u8]| -> String {
        let units = har::utf16_units(body, le);
        String::from_utf16_lossy(&units)
    };
    if bytes.is_empty() {
        return Some(String::new());
    }
    if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return Some(utf16(true, body)).filter(|t| printable(t));
    }
    if let Some(body) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return Some(utf16(false, body)).filter(|t| printable(t));
    }
    // UTF-16 without a mark: one byte of each pair is mostly zero.
    if bytes.len() >= 8 && bytes.len().is_multiple_of(2) {
        let pairs = bytes.len() / 2;
        let odd_zero = bytes.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
        let even_zero = bytes.iter().step_by(2).filter(|b| **b == 0).count();
        for (le, zero, other) in [(true, odd_zero, even_zero), (false, even_zero, odd_zero)] {
            if zero * 10 >= pairs * 6 && other * 20 <= pairs {
                let t = utf16(le, bytes);
                if printable(&t) {
                    return Some(t);
                }
            }
        }
    }
    if let Ok(t) = std::str::from_utf8(bytes) {
        return printable(t).then(|| t.to_owned());
    }
    // Read as Latin-1, a byte is a character: counted before any text is built, since most
    // files that get here are images and documents.
    let good = bytes
        .iter()
        .filter(|&&b| {
            !(b < 0x20 || (0x7f..=0x9f).contains(&b)) || matches!(b, b'\n' | b'\r' | b'\t' | 0x0c)
        })
        .count();
    (good * 100 >= bytes.len() * 95).then(|| bytes.iter().map(|&b| char::from(b)).collect())
}

/// Whether bytes are a UTF-8 JSON object with `log.entries`, read without building it.
fn is_har_object(bytes: &[u8]) -> bool {
    type Members<'a> = std::collections::HashMap<String, &'a serde_json::value::RawValue>;
    let Ok(top) = serde_json::from_slice::<Members>(bytes) else {
        return false;
    };
    top.get("log")
        .and_then(|l| serde_json::from_str::<Members>(l.get()).ok())
        .is_some_and(|l| l.contains_key("entries"))
}

/// The first JSON value of a text, and whether it is all of it (a capture saved with a
/// comment after it is still a capture).
fn first_json(text: &str) -> Option<(Value, bool)> {
    let t = text.trim_start_matches('\u{feff}').trim();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some((v, true));
    }
    let mut values = serde_json::Deserializer::from_str(t).into_iter::<Value>();
    values.next().and_then(|r| r.ok()).map(|v| (v, false))
}

/// Whether a JSON value is a HAR capture, or a list holding captures.
fn holds_har(v: &Value) -> bool {
    let one = |v: &Value| {
        v.get("log")
            .and_then(|l| l.get("entries"))
            .is_some_and(Value::is_array)
    };
    one(v)
        || v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(one))
}

/// Scrubs a capture, or each capture of a list: the stored bytes, the evidence (of the first
/// capture), and what was removed.
fn scrub_captures(
    v: &Value,
    tag: &Tag,
) -> std::result::Result<(Vec<u8>, Option<Value>, Found), har::HarError> {
    let scrub_one = |v: &Value| {
        let raw = serde_json::to_vec(v).map_err(|e| har::HarError::NotJson(e.to_string()))?;
        har::scrub(raw, tag)
    };
    match v.as_array() {
        None => scrub_one(v).map(|s| (s.bytes, Some(s.summary), s.found)),
        Some(list) => {
            let mut found = Found::default();
            let mut evidence = None;
            let mut out = Vec::with_capacity(list.len());
            for item in list {
                let s = scrub_one(item)?;
                found.merge(s.found);
                evidence.get_or_insert(s.summary);
                out.push(
                    serde_json::from_slice::<Value>(&s.bytes)
                        .map_err(|e| har::HarError::NotJson(e.to_string()))?,
                );
            }
            let bytes = serde_json::to_vec(&Value::Array(out))
                .map_err(|e| har::HarError::NotJson(e.to_string()))?;
            Ok((bytes, evidence, found))
        }
    }
}

/// The kinds of secret (in words) in the readable parts of a binary file. Random bytes (a
/// photo, a compressed stream) spell a short name and a value (`Pw:x7Kq9z`) about once in
/// twenty megabytes, so there a named value counts only beside a long secret name; a secret
/// recognised by its shape always counts.
fn secrets_in_binary(bytes: &[u8]) -> Result<std::collections::BTreeSet<&'static str>> {
    let mut kinds = std::collections::BTreeSet::new();
    let runs = printable_runs(bytes);
    if secrets::scrub(&runs, &Tag::Plain, &mut Found::default())?.is_none() {
        return Ok(kinds);
    }
    for line in runs.lines() {
        let mut seen = Found::default();
        if secrets::scrub(line, &Tag::Plain, &mut seen)?.is_none() {
            continue;
        }
        let named = secrets::holds_long_secret_name(line);
        kinds.extend(
            seen.counts
                .keys()
                .filter(|k| named || secrets::is_format_rule(k))
                .map(|k| secrets::describe(k)),
        );
    }
    Ok(kinds)
}

/// The readable parts of a binary file (runs of printable ASCII, and of UTF-16 text), one per
/// line, for the detector.
fn printable_runs(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 6 {
            out.push_str(run);
            out.push('\n');
        }
        run.clear();
    };
    // ASCII runs are copied as slices: most of a photo is not text, and a byte at a time
    // made this loop the cost of an upload.
    let printable = |b: &u8| (0x20..0x7f).contains(b) || *b == b'\t';
    for chunk in bytes.split(|b| !printable(b)) {
        if chunk.len() >= 6
            && let Ok(t) = std::str::from_utf8(chunk)
        {
            out.push_str(t);
            out.push('\n');
        }
    }
    for pair in bytes.chunks_exact(2) {
        if pair[1] == 0 && (0x20..0x7f).contains(&pair[0]) {
            run.push(char::from(pair[0]));
        } else {
            flush(&mut run, &mut out);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Checks that the caller may attach to the case, before any byte of the upload is stored.
/// `internal` attachments are for support only.
pub fn check_attach(p: &Principal, case: &Case, internal: bool) -> Result<()> {
    require_case_access(p)?;
    require_scope(p, Scope::CasesWrite)?;
    if !can_see(p, case) {
        return Err(DomainError::NotFound { entity: "case" });
    }
    if internal && !is_support(p) {
        return Err(DomainError::field(
            "internal",
            "only support engineers can attach internal files",
        ));
    }
    if case.status == Status::Closed {
        return Err(DomainError::InvalidTransition {
            message: "the case is closed: open a follow-up case to add files".into(),
            status: case.status,
        });
    }
    Ok(())
}

/// The public record of an upload, and what a person is told about removed secrets.
pub fn upload_event(p: &Principal, prepared: &[Prepared], public: bool) -> NewEvent {
    let files: Vec<Value> = prepared
        .iter()
        .map(|f| {
            let a = &f.attachment;
            let mut v = json!({"id": a.id, "file_name": a.file_name, "content_type": a.content_type,
                "size": a.size, "sha256": a.sha256, "kind": a.kind});
            if !f.found.is_empty()
                && let Some(o) = v.as_object_mut()
            {
                o.insert("secrets_removed".into(), f.found.notice());
            }
            if a.kind == "har"
                && let (Some(o), Some(ev)) = (v.as_object_mut(), &f.evidence)
            {
                o.insert("sanitizer_version".into(), ev["sanitizer_version"].clone());
            }
            v
        })
        .collect();
    NewEvent {
        actor_id: Some(p.user.id),
        kind: EventKind::AttachmentsAdded,
        public,
        data: json!({"files": files}),
        at: now(),
    }
}

/// The agents' record of a HAR capture: its evidence summary.
pub fn evidence_event(p: &Principal, f: &Prepared) -> Option<NewEvent> {
    let ev = f.evidence.as_ref()?;
    Some(NewEvent {
        actor_id: Some(p.user.id),
        kind: EventKind::HarEvidence,
        public: false,
        data: json!({"attachment": f.attachment.id, "file_name": f.attachment.file_name,
                     "summary": ev}),
        at: now(),
    })
}

/// The case's context with the empty fields filled from the HAR summaries; `None` when
/// nothing would change. What the requester wrote always wins.
pub fn fill_context(case: &Case, prepared: &[Prepared]) -> Option<Map<String, Value>> {
    let mut ctx = case.fields.context.clone();
    let mut changed = false;
    for f in prepared {
        let Some(ev) = &f.evidence else { continue };
        for (k, v) in har::context_from(ev, &f.attachment.file_name) {
            let empty = ctx
                .get(&k)
                .is_none_or(|x| x.is_null() || x.as_str().is_some_and(str::is_empty));
            if empty {
                ctx.insert(k, v);
                changed = true;
            }
        }
    }
    changed.then_some(ctx)
}

/// An attachment the caller may download, with its content.
pub async fn download(
    store: &dyn AttachmentStore,
    blobs: &dyn Blobs,
    p: &Principal,
    number: i64,
    id: Uuid,
) -> Result<(Attachment, Vec<u8>)> {
    require_case_access(p)?;
    require_scope(p, Scope::CasesRead)?;
    let not_found = DomainError::NotFound {
        entity: "attachment",
    };
    let case = store
        .get_case(number)
        .await?
        .ok_or(DomainError::NotFound { entity: "case" })?;
    if !can_see(p, &case) {
        return Err(DomainError::NotFound { entity: "case" });
    }
    let a = store
        .get_attachment(number, id)
        .await?
        .filter(|a| a.public || is_support(p))
        .ok_or(not_found)?;
    if let Some(at) = a.deleted_at {
        return Err(DomainError::Gone(format!(
            "{} was deleted on {at}, when the retention period after the case closed ended",
            a.file_name
        )));
    }
    let bytes = blobs
        .get(&a.sha256)
        .await?
        .ok_or_else(|| DomainError::Internal(format!("content {} missing", a.sha256)))?;
    Ok((a, bytes))
}

/// The attachments of a case the caller may see.
pub async fn list(
    store: &dyn AttachmentStore,
    p: &Principal,
    number: i64,
) -> Result<Vec<Attachment>> {
    require_case_access(p)?;
    require_scope(p, Scope::CasesRead)?;
    let case = store
        .get_case(number)
        .await?
        .ok_or(DomainError::NotFound { entity: "case" })?;
    if !can_see(p, &case) {
        return Err(DomainError::NotFound { entity: "case" });
    }
    list_of(store, p, &case).await
}

/// The attachments of a case the caller was shown (customers see the public ones).
pub async fn list_of(
    store: &dyn AttachmentStore,
    p: &Principal,
    case: &Case,
) -> Result<Vec<Attachment>> {
    let support = is_support(p);
    Ok(store
        .list_attachments(case.number)
        .await?
        .into_iter()
        .filter(|a| a.public || support)
        .collect())
}

/// Deletes the attachments of cases closed longer ago than their plan's retention: rows
/// marked deleted with a timeline record, then content no live row uses. Returns how many.
pub async fn sweep(
    store: &dyn AttachmentStore,
    blobs: &dyn Blobs,
    cfg: &AttachmentConfig,
    at: Timestamp,
) -> Result<usize> {
    let mut deleted = 0;
    for (number, plan, closed_at) in store.closed_cases_with_attachments(500).await? {
        let days = i64::from(cfg.retention_for(&plan));
        let due = closed_at
            .checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap_or(closed_at);
        if due > at {
            continue;
        }
        let event = NewEvent {
            actor_id: None,
            kind: EventKind::AttachmentsDeleted,
            public: true,
            data: json!({"retention_days": days, "closed_at": closed_at}),
            at,
        };
        let orphans = store.delete_attachments(number, &event).await?;
        deleted += 1;
        for sha in orphans {
            blobs.delete(&sha).await?;
        }
    }
    Ok(deleted)
}

/// The attachments of cases (their bytes are in the blob store).
#[async_trait::async_trait]
pub trait AttachmentStore: CaseStore {
    /// One attachment of a case (deleted ones too, with `deleted_at`).
    async fn get_attachment(
        &self,
        number: i64,
        id: Uuid,
    ) -> Result<Option<crate::attachments::Attachment>>;

    /// The attachments of a case, oldest first.
    async fn list_attachments(&self, number: i64) -> Result<Vec<crate::attachments::Attachment>>;

    /// Closed cases that still have attachments: number, plan, when closed.
    async fn closed_cases_with_attachments(
        &self,
        limit: u32,
    ) -> Result<Vec<(i64, String, crate::Timestamp)>>;

    /// Marks a case's attachments deleted and appends `event`, in one transaction; answers
    /// the content hashes no live attachment uses any more.
    async fn delete_attachments(&self, number: i64, event: &NewEvent) -> Result<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\me\\capture.har"), "capture.har");
        assert_eq!(safe_name("a\"b;c\r\n.txt"), "a_b_c.txt");
        assert_eq!(safe_name("..."), "attachment");
        assert_eq!(safe_name(".htaccess"), "htaccess");
        assert_eq!(safe_name("x\u{202e}gpj.exe"), "xgpj.exe");
        let long = format!("{}.har", "a".repeat(300));
        let s = safe_name(&long);
        assert_eq!(s.chars().count(), MAX_NAME);
        assert!(s.ends_with(".har"));
    }

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(
            sniff(b"<html><script>alert(1)</script>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(sniff(b"{\"a\": 1}"), "application/json");
        assert_eq!(sniff(b"\0\x01\x02binary"), "application/octet-stream");
    }

    /// A PDF-looking file of random bytes, as the upload benchmark makes them.
    fn random_pdf(seed: u64, size: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut out = b"%PDF-1.7\n".to_vec();
        while out.len() < size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.truncate(size);
        out
    }

    #[test]
    fn random_bytes_are_not_read_as_a_named_secret() {
        // These two spell a short secret-like name and a value in their readable runs: they
        // were refused when any named value counted in a binary file.
        for seed in [28, 29] {
            let kinds = secrets_in_binary(&random_pdf(seed, 1 << 20)).unwrap();
            assert!(kinds.is_empty(), "seed {seed}: {kinds:?}");
        }
    }

    #[test]
    fn a_binary_file_with_a_secret_is_refused_by_its_shape_or_a_long_name() {
        let with = |text: &str| {
            let mut b = random_pdf(7, 4096);
            b.extend_from_slice(text.as_bytes());
            b.extend_from_slice(&[0, 1, 2, 250]);
            secrets_in_binary(&b).unwrap()
        };
        assert!(!with("ghp_0123456789abcdefghijABCDEFGHIJ012345").is_empty());
        assert!(!with("tEXtComment password=Zq81Planted9x").is_empty());
        assert!(!with("client_secret: Zq81Planted9x").is_empty());
        assert!(with("pw=Zq81Planted9x").is_empty());
        assert!(with("Sid:Zq81Planted9x").is_empty());
    }

    #[test]
    fn a_text_file_loses_its_secrets() {
        let up = Upload {
            name: "server.log".into(),
            bytes: b"GET /cb?code=abcdefgh1234 200\nAuthorization: Bearer abcdefghijklmnop.qrs"
                .to_vec(),
        };
        let p = prepare(
            up,
            "file",
            true,
            None,
            &Tag::Plain,
            &AttachmentConfig::default(),
        )
        .unwrap();
        let text = String::from_utf8(p.content).unwrap();
        assert!(
            !text.contains("abcdefgh1234") && !text.contains("abcdefghijklmnop"),
            "{text}"
        );
        assert_eq!(p.found.counts.len(), 2);
    }

    #[test]
    fn a_broken_har_is_refused_by_name() {
        let up = Upload {
            name: "x.har".into(),
            bytes: b"{\"log\": {".to_vec(),
        };
        let e = prepare(
            up,
            "files[0]",
            true,
            None,
            &Tag::Plain,
            &AttachmentConfig::default(),
        )
        .unwrap_err();
        assert!(
            matches!(e, DomainError::Validation(ref v) if v[0].field == "files[0]"),
            "{e:?}"
        );
    }

    #[test]
    fn retention_per_plan() {
        let mut c = AttachmentConfig::default();
        c.retention_days_by_plan.insert("gold".into(), 30);
        assert_eq!(c.retention_for("gold"), 30);
        assert_eq!(c.retention_for("silver"), 7);
        assert!(c.validate().is_ok());
        c.retention_days_by_plan.insert("bronze".into(), 1);
        assert!(c.validate().is_err());
    }
}
