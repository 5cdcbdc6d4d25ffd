//! The Trust Center: evidence documents (audit reports, penetration-test summaries, policies)
//! that managers publish for customers' security reviews, some behind a non-disclosure
//! agreement that a super admin accepts for the whole account. Every download is audited.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::Account;
use crate::acts::AuditRecord;
use crate::cases::{Case, Stage};
use crate::directory::DirectoryStore;
use crate::permissions::require_scope;
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, FieldError, Result, Timestamp};

/// The version of the agreement customers accept today. A new version needs a new acceptance.
pub const NDA_VERSION: &str = "2026-1";

/// The agreement, in full: what a super admin accepts for their account.
pub const NDA_TEXT: &str = "Mutual confidentiality for security evidence (version 2026-1).\n\n\
1. The documents marked \"NDA\" in the Trust Center describe how the identity platform is built, \
run and tested. Your organisation may use them only to assess the platform's security for its \
own use.\n\
2. Share them only with your employees and advisers who need them for that assessment and who \
are bound to keep them confidential.\n\
3. Do not publish them, and do not pass them to another vendor or customer.\n\
4. This agreement binds the account, not only the person who accepts it; every download is \
recorded with who made it.\n\
5. It lasts three years from acceptance, or until a new version is accepted.";

/// Issue area whose production-stage cases are offered the documents.
pub const SECURITY_REVIEW: &str = "security-review";
/// Largest document, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;
const MAX_TITLE: usize = 200;
const MAX_SUMMARY: usize = 2_000;
const MAX_NAME: usize = 200;

/// A published document (its content is kept beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustDocument {
    /// Identifier.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// What it shows, in a few sentences.
    pub summary: String,
    /// Whether the caller's account must have accepted the NDA to download it.
    pub requires_nda: bool,
    /// Issue areas it answers questions of.
    pub topics: Vec<String>,
    /// File name.
    pub file_name: String,
    /// Content type, read from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content (hex), so a reviewer can cite exactly what they read.
    pub sha256: String,
    /// When.
    pub published_at: Timestamp,
    /// Who published it (email).
    pub published_by: String,
}

/// An account's acceptance of one version of the NDA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NdaAcceptance {
    /// The account bound by it.
    pub account_id: Uuid,
    /// The version accepted.
    pub version: String,
    /// The super admin who accepted.
    pub user_id: Uuid,
    /// Their name as they typed it.
    pub name: String,
    /// Their job title as they typed it.
    pub title: String,
    /// When.
    pub accepted_at: Timestamp,
}

/// What the store keeps of the Trust Center.
#[async_trait::async_trait]
pub trait TrustStore: DirectoryStore {
    /// Stores a document and its content, with the audit entry.
    async fn put_document(
        &self,
        doc: &TrustDocument,
        content: &[u8],
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Every document, newest first.
    async fn documents(&self) -> Result<Vec<TrustDocument>>;

    /// A document's content, if it exists.
    async fn document_content(&self, id: Uuid) -> Result<Option<Vec<u8>>>;

    /// Records an acceptance with its audit entry; false (and nothing written) when the
    /// account had already accepted this version.
    async fn accept_nda(&self, a: &NdaAcceptance, audit: &AuditRecord) -> Result<bool>;

    /// The account's acceptance of `version`, if any.
    async fn nda_acceptance(
        &self,
        account_id: Uuid,
        version: &str,
    ) -> Result<Option<NdaAcceptance>>;
}

/// The fields of a document to publish, as sent (multipart text parts).
#[derive(Debug, Clone, Default)]
pub struct DocumentForm {
    /// `title`.
    pub title: Option<String>,
    /// `summary`.
    pub summary: Option<String>,
    /// `requires_nda`: `true` or `false`.
    pub requires_nda: Option<String>,
    /// `topics`: issue-area keys, separated by commas (or given as several parts).
    pub topics: Vec<String>,
    /// The file's name and bytes.
    pub file: Option<(String, Vec<u8>)>,
}

fn text_field(
    errs: &mut Vec<FieldError>,
    field: &str,
    v: &Option<String>,
    max: usize,
    multi_line: bool,
) -> String {
    let t = v.as_deref().map(str::trim).unwrap_or("");
    if t.is_empty() {
        errs.push(FieldError::new(field, "is required"));
    } else if t.chars().count() > max {
        errs.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    } else if let Err(m) = crate::cases::intake::check_characters(t, multi_line) {
        errs.push(FieldError::new(field, m));
    }
    t.to_owned()
}

/// Fails unless the caller is a support manager.
fn require_manager(p: &Principal, what: &str) -> Result<()> {
    if p.user.role == Role::Manager {
        Ok(())
    } else {
        Err(DomainError::Forbidden(format!(
            "Only support managers can {what}."
        )))
    }
}

/// Publishes a document (managers): every fault of the form at once; only PDF and plain text.
pub async fn publish(
    store: &dyn TrustStore,
    p: &Principal,
    form: DocumentForm,
) -> Result<TrustDocument> {
    require_manager(p, "publish Trust Center documents")?;
    require_scope(p, Scope::Admin)?;
    let mut errs = Vec::new();
    let title = text_field(&mut errs, "title", &form.title, MAX_TITLE, false);
    let summary = text_field(&mut errs, "summary", &form.summary, MAX_SUMMARY, true);
    let requires_nda = match form.requires_nda.as_deref().map(str::trim) {
        Some("true") => true,
        Some("false") => false,
        None | Some("") => {
            errs.push(FieldError::new(
                "requires_nda",
                "is required: true or false",
            ));
            false
        }
        Some(_) => {
            errs.push(FieldError::new("requires_nda", "must be true or false"));
            false
        }
    };
    let areas = store.issue_areas().await?;
    let mut topics: Vec<String> = form
        .topics
        .iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    topics.sort();
    topics.dedup();
    for t in &topics {
        if !areas.iter().any(|a| &a.key == t) {
            errs.push(FieldError::new(
                "topics",
                format!(
                    "{t:?} is not an issue area; use keys such as {}",
                    areas
                        .iter()
                        .take(4)
                        .map(|a| a.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if topics.is_empty() {
        errs.push(FieldError::new(
            "topics",
            "is required: at least one issue area the document answers",
        ));
    }
    let (file_name, bytes) = match form.file {
        None => {
            errs.push(FieldError::new("file", "is required: the document itself"));
            (String::new(), Vec::new())
        }
        Some((name, bytes)) => {
            if bytes.is_empty() {
                errs.push(FieldError::new("file", "is empty"));
            } else if bytes.len() > MAX_DOCUMENT_BYTES {
                errs.push(FieldError::new(
                    "file",
                    format!("is larger than {} MB", MAX_DOCUMENT_BYTES / (1024 * 1024)),
                ));
            }
            let mut n = crate::attachments::safe_name(&name);
            if n.chars().count() > MAX_NAME {
                n = n.chars().take(MAX_NAME).collect();
            }
            (n, bytes)
        }
    };
    let content_type = crate::attachments::sniff(&bytes);
    if !bytes.is_empty()
        && content_type != "application/pdf"
        && !content_type.starts_with("text/plain")
    {
        errs.push(FieldError::new(
            "file",
            format!("must be a PDF or a plain-text document; this one reads as {content_type}"),
        ));
    } else if content_type.starts_with("text/plain") && looks_like_markup(&bytes) {
        // Served as text it could not run here, but a reviewer who saves and opens it could.
        errs.push(FieldError::new(
            "file",
            "must be a PDF or a plain-text document; this one is markup (HTML, SVG or XML)",
        ));
    }
    // The name's extension says what the file is, whatever it was called.
    let ext = if content_type == "application/pdf" {
        "pdf"
    } else {
        "txt"
    };
    let file_name = with_extension(&file_name, ext);
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    let doc = TrustDocument {
        id: Uuid::now_v7(),
        title,
        summary,
        requires_nda,
        topics,
        file_name,
        content_type,
        size: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
        published_at: crate::now(),
        published_by: p.user.email.clone(),
    };
    let audit = AuditRecord::by(p, "trust.document_published", format!("trust-document:{}", doc.id))
        .summary(json!({"title": doc.title, "requires_nda": doc.requires_nda, "topics": doc.topics, "sha256": doc.sha256, "size": doc.size}));
    store.put_document(&doc, &bytes, &audit).await?;
    Ok(doc)
}

/// Whether text is markup a browser would run: it opens with a tag, or holds a script or an
/// event handler anywhere.
fn looks_like_markup(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    let start = text.trim_start_matches('\u{feff}').trim_start();
    start.starts_with('<')
        || [
            "<script",
            "<html",
            "<svg",
            "<iframe",
            "<object",
            "<embed",
            "javascript:",
            " onload=",
            " onerror=",
        ]
        .iter()
        .any(|m| text.contains(m))
}

/// `name` with the extension `ext` (replacing another).
fn with_extension(name: &str, ext: &str) -> String {
    let stem = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() && e.len() <= 10 => s,
        _ => name,
    };
    let stem = if stem.is_empty() { "document" } else { stem };
    format!("{stem}.{ext}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails unless the caller may read the Trust Center: a customer user of an account (any
/// admin: evidence is for security reviews, not only for case-admins) or a manager, with a
/// credential carrying `trust:read` (a token narrowed to another purpose reads nothing here).
fn require_reader(p: &Principal) -> Result<()> {
    match p.user.role {
        Role::Manager => {}
        Role::SuperAdmin | Role::Admin if p.user.account_id.is_some() => {}
        _ => {
            return Err(DomainError::Forbidden(
                "The Trust Center is for customer administrators and support managers.".into(),
            ));
        }
    }
    require_scope(p, Scope::TrustRead)
}

/// The documents, for a customer user or a manager.
pub async fn list(store: &dyn TrustStore, p: &Principal) -> Result<Vec<TrustDocument>> {
    require_reader(p)?;
    store.documents().await
}

/// Whether the caller's account has accepted the current NDA (managers: always).
pub async fn nda_accepted(store: &dyn TrustStore, p: &Principal) -> Result<Option<NdaAcceptance>> {
    match p.user.account_id {
        Some(a) => store.nda_acceptance(a, NDA_VERSION).await,
        None => Ok(None),
    }
}

/// A document's content for the caller; an NDA document only once their account accepted the
/// current version. Every download is audited with who, which document and which account.
pub async fn download(
    store: &dyn TrustStore,
    audit: &dyn crate::audit::AuditStore,
    p: &Principal,
    id: Uuid,
) -> Result<(TrustDocument, Vec<u8>)> {
    require_reader(p)?;
    let not_found = || DomainError::NotFound {
        entity: "Trust Center document",
    };
    let doc = store
        .documents()
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(not_found)?;
    if doc.requires_nda && p.user.role != Role::Manager {
        let accepted = nda_accepted(store, p).await?.is_some();
        if !accepted {
            return Err(DomainError::Forbidden(format!(
                "\"{}\" is shared under the non-disclosure agreement, and your account has not accepted it (version {NDA_VERSION}). A super admin of your account can accept it in the Trust Center (POST /api/v1/trust/nda).",
                doc.title
            )));
        }
    }
    let bytes = store.document_content(id).await?.ok_or_else(not_found)?;
    let a = AuditRecord::by(
        p,
        "trust.document_downloaded",
        format!("trust-document:{}", doc.id),
    )
    .summary(json!({"title": doc.title, "requires_nda": doc.requires_nda, "sha256": doc.sha256}));
    audit.append_audit(&a).await?;
    Ok((doc, bytes))
}

/// Accepts the current NDA for the caller's account: a super admin, with their name and title.
/// Accepting again answers the first acceptance and records nothing.
pub async fn accept_nda(
    store: &dyn TrustStore,
    p: &Principal,
    v: &Value,
) -> Result<(NdaAcceptance, bool)> {
    require_scope(p, Scope::Admin)?;
    let Some(account_id) = p
        .user
        .account_id
        .filter(|_| p.user.role == Role::SuperAdmin)
    else {
        return Err(DomainError::Forbidden(
            "Only a super admin of the account can accept the non-disclosure agreement for it."
                .into(),
        ));
    };
    let Some(obj) = v.as_object() else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    let mut errs = Vec::new();
    for k in obj.keys() {
        if !matches!(k.as_str(), "accept" | "name" | "title") {
            errs.push(FieldError::new(k, "is not a field of an NDA acceptance"));
        }
    }
    if obj.get("accept") != Some(&Value::Bool(true)) {
        errs.push(FieldError::new(
            "accept",
            "must be true: the agreement is accepted by saying so",
        ));
    }
    let mut person = |k: &str| match obj.get(k) {
        Some(x) if !x.is_string() && !x.is_null() => {
            errs.push(FieldError::new(k, "must be text"));
            String::new()
        }
        x => text_field(
            &mut errs,
            k,
            &x.and_then(Value::as_str).map(str::to_owned),
            200,
            false,
        ),
    };
    let name = person("name");
    let title = person("title");
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    if let Some(a) = store.nda_acceptance(account_id, NDA_VERSION).await? {
        return Ok((a, false));
    }
    let a = NdaAcceptance {
        account_id,
        version: NDA_VERSION.into(),
        user_id: p.user.id,
        name,
        title,
        accepted_at: crate::now(),
    };
    let audit = AuditRecord::by(p, "trust.nda_accepted", format!("account:{account_id}"))
        .summary(json!({"version": a.version, "name": a.name, "title": a.title}));
    if store.accept_nda(&a, &audit).await? {
        Ok((a, true))
    } else {
        // Another super admin accepted at the same moment: theirs stands.
        let first = store
            .nda_acceptance(account_id, NDA_VERSION)
            .await?
            .ok_or_else(|| DomainError::Internal("the NDA acceptance vanished".into()))?;
        Ok((first, false))
    }
}

/// The documents a new case is offered: production-stage security reviews get those whose
/// topics include the case's issue area.
pub async fn offers(store: &dyn TrustStore, case: &Case) -> Result<Vec<TrustDocument>> {
    if case.fields.stage != Stage::Production || case.fields.issue_area != SECURITY_REVIEW {
        return Ok(vec![]);
    }
    Ok(store
        .documents()
        .await?
        .into_iter()
        .filter(|d| d.topics.contains(&case.fields.issue_area))
        .collect())
}

/// A document as the API shows it (never its content).
pub fn summary(d: &TrustDocument) -> Value {
    json!({
        "id": d.id, "title": d.title, "summary": d.summary, "requires_nda": d.requires_nda,
        "topics": d.topics, "file_name": d.file_name, "content_type": d.content_type,
        "size": d.size, "sha256": d.sha256, "published_at": d.published_at,
        "link": format!("/api/v1/trust/documents/{}/content", d.id),
    })
}

/// The account's standing with the NDA, as the API shows it.
pub fn nda_status(account: Option<&Account>, a: Option<&NdaAcceptance>) -> Value {
    json!({
        "version": NDA_VERSION,
        "text": NDA_TEXT,
        "account": account.map(|a| a.name.clone()),
        "accepted": a.is_some(),
        "accepted_at": a.map(|a| a.accepted_at),
        "accepted_by": a.map(|a| json!({"name": a.name, "title": a.title})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_the_file_is_and_markup_is_told_apart() {
        assert_eq!(with_extension("report.html", "txt"), "report.txt");
        assert_eq!(with_extension("fake.pdf", "txt"), "fake.txt");
        assert_eq!(with_extension("pentest", "pdf"), "pentest.pdf");
        assert!(looks_like_markup(b"  <html><body>x"));
        assert!(looks_like_markup(b"Summary\n<script>alert(1)</script>"));
        assert!(!looks_like_markup(
            b"Access is reviewed monthly; a < b and c > d."
        ));
    }

    #[test]
    fn the_digest_is_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
