//! Files in requests and answers, for the API and the pages alike: reading a multipart body
//! part by part within its limits, preparing and storing each file, what the uploader is
//! told, and serving a stored file as a download no browser renders.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use casedesk_core::DomainError;
use casedesk_core::attachments::{self, AttachmentConfig, MAX_FILES, Prepared, Upload};
use casedesk_core::permissions::is_support;
use casedesk_core::users::Principal;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// Largest non-file part of a multipart request (the case JSON of a create).
const MAX_FORM_PART: u64 = crate::limits::MAX_JSON_BODY as u64;

/// What a multipart request carried.
pub(crate) struct Form {
    /// The `case` part (JSON), when one was sent.
    pub case: Option<Vec<u8>>,
    /// The files, in order.
    pub files: Vec<Upload>,
    /// Text fields of a web form, in order.
    pub texts: Vec<(String, String)>,
}

/// Which parts a multipart request may carry beside its `file` parts.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Parts {
    /// Files only (an upload to a case).
    Files,
    /// A `case` part holding the JSON of a new case.
    Case,
    /// The text fields of a web form; a file input left empty is skipped.
    Web,
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    // The reader's error wraps the body's: a body that arrived too slowly is a 408 like
    // anywhere else, whatever the multipart parser made of it.
    let mut cause: Option<&dyn std::error::Error> = Some(&e);
    while let Some(c) = cause {
        if c.to_string().contains(crate::error::BODY_TIMED_OUT) {
            return ApiError::BodyTimeout;
        }
        cause = c.source();
    }
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::TooLarge;
    }
    DomainError::field(
        "body",
        "is not a readable multipart/form-data upload: it ends early or its parts are malformed",
    )
    .into()
}

/// Reads a multipart body part by part, counting each file's bytes as they arrive: a file
/// over its limit is refused at the first chunk past it, never buffered whole.
pub(crate) async fn read_form(
    mp: Result<Multipart, MultipartRejection>,
    cfg: &AttachmentConfig,
    parts: Parts,
) -> ApiResult<Form> {
    let mut mp = mp.map_err(|_| {
        ApiError::from(DomainError::field(
            "body",
            "must be multipart/form-data with a boundary, one part named file per file",
        ))
    })?;
    // Counted across all files too: a body sent without a length is not capped by the
    // declared-length check, and ten HAR captures are not one.
    let total_limit = crate::limits::upload_limit(cfg);
    let mut total = 0u64;
    let mut form = Form {
        case: None,
        files: Vec::new(),
        texts: Vec::new(),
    };
    let mut text_bytes = 0u64;
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" | "files" | "files[]" => {
                // A browser sends a file input left empty as a part with an empty file name.
                if parts == Parts::Web && field.file_name().is_none_or(str::is_empty) {
                    while field.chunk().await.map_err(multipart_error)?.is_some() {}
                    continue;
                }
                let index = form.files.len();
                let label = format!("files[{index}]");
                if index >= MAX_FILES {
                    return Err(DomainError::field(
                        "files",
                        format!("at most {MAX_FILES} files may be sent at once"),
                    )
                    .into());
                }
                let file_name = field.file_name().unwrap_or("attachment").to_owned();
                let limit = cfg.limit_for(&file_name);
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    total += chunk.len() as u64;
                    if total > total_limit {
                        return Err(ApiError::TooLarge);
                    }
                    if (bytes.len() + chunk.len()) as u64 > limit {
                        return Err(ApiError::FileTooLarge {
                            field: label,
                            file_name: attachments::safe_name(&file_name),
                            limit,
                            har_limit: cfg.max_har_bytes,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if bytes.is_empty() {
                    return Err(DomainError::field(label, "is empty").into());
                }
                form.files.push(Upload {
                    name: file_name,
                    bytes,
                });
            }
            "case" if parts == Parts::Case => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if (bytes.len() + chunk.len()) as u64 > MAX_FORM_PART {
                        return Err(ApiError::TooLarge);
                    }
                    bytes.extend_from_slice(&chunk);
                }
                form.case = Some(bytes);
            }
            other if parts == Parts::Web && !other.is_empty() => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    text_bytes += chunk.len() as u64;
                    if text_bytes > MAX_FORM_PART {
                        return Err(ApiError::TooLarge);
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(bytes)
                    .map_err(|_| DomainError::field(other, "must be UTF-8 text"))?;
                form.texts.push((other.to_owned(), text));
            }
            other => {
                return Err(DomainError::field(
                    if other.is_empty() { "body" } else { other },
                    if parts == Parts::Case {
                        "is not a part of this request: send the case as JSON in a part named case, and each file in a part named file"
                    } else {
                        "is not a part of this request: send each file in a part named file"
                    },
                )
                .into());
            }
        }
    }
    Ok(form)
}

/// Prepares every file off the async threads (a HAR capture takes a moment to scrub); the
/// first refusal names its file.
pub(crate) async fn prepare_all(
    st: &AppState,
    p: &Principal,
    account: uuid::Uuid,
    files: Vec<Upload>,
    public: bool,
) -> ApiResult<Vec<Prepared>> {
    // One key per account: equal values stay linkable within the account's cases and
    // nowhere else.
    let tag = attachments::tag_for(st.secrets.as_ref(), account)?;
    let uploader = Some(p.user.id);
    let limits = st.attachments.clone();
    let mut prepared = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                attachments::prepare(f, &format!("files[{i}]"), public, uploader, &tag, &limits)
            })
            .collect::<casedesk_core::Result<Vec<_>>>()
    })
    .await
    .map_err(|e| DomainError::Internal(format!("preparing files: {e}")))??;
    for f in &mut prepared {
        // The content leaves memory with the write; the rest of `Prepared` is what the
        // caller is told.
        let content = std::mem::take(&mut f.content);
        st.blobs.put(&f.attachment.sha256, content).await?;
    }
    Ok(prepared)
}

/// What the uploader is told about each file.
pub(crate) fn uploaded(p: &Principal, number: i64, prepared: &[Prepared]) -> Vec<Value> {
    let support = is_support(p);
    prepared
        .iter()
        .map(|f| {
            let a = &f.attachment;
            let mut v = json!({
                "id": a.id, "file_name": a.file_name, "content_type": a.content_type,
                "size": a.size, "sha256": a.sha256, "kind": a.kind, "public": a.public,
                "url": format!("/api/v1/cases/{number}/attachments/{}", a.id),
            });
            if let Some(o) = v.as_object_mut() {
                if !f.found.is_empty() {
                    o.insert("secrets_removed".into(), f.found.notice());
                }
                // The evidence is for support; the customer sees what was removed.
                if support && let Some(ev) = &f.evidence {
                    o.insert("evidence".into(), ev.clone());
                }
            }
            v
        })
        .collect()
}

/// An attachment's content as a download that a browser never renders (the API's route and
/// the web pages' link both answer with this).
pub(crate) async fn serve_file(
    st: &AppState,
    p: &Principal,
    n: i64,
    id: &str,
) -> ApiResult<Response> {
    let id = uuid::Uuid::parse_str(id).map_err(|_| DomainError::NotFound {
        entity: "attachment",
    })?;
    let (a, bytes) = attachments::download(st.store.as_ref(), st.blobs.as_ref(), p, n, id).await?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&a.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition(&a.file_name))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(res)
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII name for old clients,
/// the exact one for the rest.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Reads a Trust Center document form: one `file` part and the text parts `title`,
/// `summary`, `requires_nda` and `topics` (repeatable, or comma-separated). The file counts
/// against the document limit while it arrives; another part is a field error.
pub(crate) async fn read_document_form(
    mp: Result<Multipart, MultipartRejection>,
) -> ApiResult<(casedesk_core::trust::DocumentForm, Option<String>)> {
    use casedesk_core::trust::MAX_DOCUMENT_BYTES;
    let mut mp = mp.map_err(|_| {
        ApiError::from(DomainError::field(
            "body",
            "must be multipart/form-data: a part named file, and title, summary, requires_nda and topics",
        ))
    })?;
    let mut form = casedesk_core::trust::DocumentForm::default();
    let mut csrf = None;
    let mut text_bytes = 0u64;
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            // A browser sends a file input left empty as a part with an empty file name.
            if field.file_name().is_none_or(str::is_empty) {
                while field.chunk().await.map_err(multipart_error)?.is_some() {}
                continue;
            }
            if form.file.is_some() {
                return Err(DomainError::field("file", "send one document at a time").into());
            }
            let file_name = field.file_name().unwrap_or("document").to_owned();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if bytes.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                    return Err(DomainError::field(
                        "file",
                        format!(
                            "{} is larger than {} MB, the largest Trust Center document; nothing was stored",
                            attachments::safe_name(&file_name),
                            MAX_DOCUMENT_BYTES / (1024 * 1024)
                        ),
                    )
                    .into());
                }
                bytes.extend_from_slice(&chunk);
            }
            form.file = Some((file_name, bytes));
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            text_bytes += chunk.len() as u64;
            if text_bytes > MAX_FORM_PART {
                return Err(DomainError::field(
                    name,
                    "is too long: the text parts of a document may hold 1 MB together",
                )
                .into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| DomainError::field(name.clone(), "must be UTF-8 text"))?;
        // A part given twice is refused, as a key given twice in JSON is; the web form's NDA
        // box alone comes as a hidden "false" and, ticked, a "true" after it.
        let once = |slot: &Option<String>| -> ApiResult<()> {
            if slot.is_some() {
                return Err(DomainError::field(name.clone(), "is given twice").into());
            }
            Ok(())
        };
        match name.as_str() {
            "title" => {
                once(&form.title)?;
                form.title = Some(text);
            }
            "summary" => {
                once(&form.summary)?;
                form.summary = Some(text);
            }
            "requires_nda" if form.requires_nda.as_deref() == Some("false") && text == "true" => {
                form.requires_nda = Some(text);
            }
            "requires_nda" => {
                once(&form.requires_nda)?;
                form.requires_nda = Some(text);
            }
            "topics" => form.topics.push(text),
            // The web form's CSRF token travels as a part; the page checks it.
            "csrf" => csrf = Some(text),
            _ => {
                return Err(DomainError::field(
                    name,
                    "is not a part of a document: file, title, summary, requires_nda, topics",
                )
                .into());
            }
        }
    }
    Ok((form, csrf))
}

/// The file as a download: its type as read from the bytes, never rendered by the browser.
pub(crate) fn trust_file(doc: &casedesk_core::trust::TrustDocument, bytes: Vec<u8>) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&doc.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let name: String = doc
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn disposition_quotes_nothing_dangerous() {
        let d = super::disposition("résumé \"x\".pdf");
        assert_eq!(
            d,
            "attachment; filename=\"r_sum_ _x_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.pdf"
        );
    }
}
