//! Saved replies: texts support managers write once and support engineers insert into a
//! reply, then edit before sending. Placeholders in braces are filled from the case when
//! inserted (`{requester}`, `{case}`, `{subject}`, `{tenant}`, `{agent}`).

use serde::Serialize;
use uuid::Uuid;

use crate::audit::AuditRecord;
use crate::users::{Principal, Role};
use crate::{DomainError, FieldError, Result, Timestamp};

/// Longest title of a saved reply.
pub const MAX_TITLE: usize = 120;
/// Longest text of a saved reply.
pub const MAX_BODY: usize = 10_000;

/// A saved reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedReply {
    /// Identifier.
    pub id: Uuid,
    /// What it is for, as listed in the composer.
    pub title: String,
    /// The text, with placeholders.
    pub body: String,
    /// Who wrote the version in force (email).
    pub updated_by: String,
    /// When.
    pub updated_at: Timestamp,
}

/// The case a saved reply is inserted into, for its placeholders.
pub struct Fill<'a> {
    /// Requester's email.
    pub requester: &'a str,
    /// Case number.
    pub case: i64,
    /// Subject.
    pub subject: &'a str,
    /// Tenant slug.
    pub tenant: &'a str,
    /// The support engineer inserting it.
    pub agent: &'a str,
}

/// The text with its placeholders filled, in one pass: what a value brings in (a subject
/// the customer wrote with braces, say) is never read as a placeholder. Unknown braces stay as
/// written.
pub fn fill(body: &str, f: &Fill<'_>) -> String {
    let case = format!("#{}", f.case);
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let value = [
            ("{requester}", f.requester),
            ("{case}", case.as_str()),
            ("{subject}", f.subject),
            ("{tenant}", f.tenant),
            ("{agent}", f.agent),
        ]
        .into_iter()
        .find(|(name, _)| tail.starts_with(name));
        match value {
            Some((name, v)) => {
                out.push_str(v);
                rest = &tail[name.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn require_support(p: &Principal) -> Result<()> {
    crate::permissions::require_support(p, "use saved replies")
}

fn require_manager(p: &Principal) -> Result<()> {
    if p.user.role == Role::Manager {
        crate::permissions::require_scope(p, crate::users::Scope::Admin)
    } else {
        Err(DomainError::Forbidden(
            "Only support managers write saved replies; support engineers insert them.".into(),
        ))
    }
}

/// Where saved replies are kept.
#[async_trait::async_trait]
pub trait ReplyStore: Send + Sync {
    /// Every saved reply.
    async fn saved_replies(&self) -> Result<Vec<SavedReply>>;

    /// Writes a saved reply (new, or a new text for one), with its audit entry.
    async fn put_saved_reply(&self, r: &SavedReply, audit: &AuditRecord) -> Result<()>;

    /// Removes a saved reply with its audit entry; whether there was one.
    async fn delete_saved_reply(&self, id: Uuid, audit: &AuditRecord) -> Result<bool>;
}

/// Every saved reply, by title (support staff).
pub async fn list(store: &dyn ReplyStore, p: &Principal) -> Result<Vec<SavedReply>> {
    require_support(p)?;
    let mut all = store.saved_replies().await?;
    all.sort_by_key(|r| r.title.to_lowercase());
    Ok(all)
}

/// Writes a saved reply: a new one (`id` none) or a new text for one (managers).
pub async fn save(
    store: &dyn ReplyStore,
    p: &Principal,
    id: Option<Uuid>,
    title: &str,
    body: &str,
) -> Result<SavedReply> {
    require_manager(p)?;
    let (title, body) = (title.trim(), body.trim());
    let mut errs = Vec::new();
    if title.is_empty() {
        errs.push(FieldError::new(
            "title",
            "is required: what the reply is for",
        ));
    } else if title.chars().count() > MAX_TITLE {
        errs.push(FieldError::new(
            "title",
            format!("must be at most {MAX_TITLE} characters"),
        ));
    } else if let Err(m) = crate::cases::intake::check_characters(title, false) {
        errs.push(FieldError::new("title", m));
    }
    if body.is_empty() {
        errs.push(FieldError::new("body", "is required: the text to insert"));
    } else if body.chars().count() > MAX_BODY {
        errs.push(FieldError::new(
            "body",
            format!("must be at most {MAX_BODY} characters"),
        ));
    } else if let Err(m) = crate::cases::intake::check_characters(body, true) {
        errs.push(FieldError::new("body", m));
    }
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    if let Some(id) = id
        && !store.saved_replies().await?.iter().any(|r| r.id == id)
    {
        return Err(DomainError::NotFound {
            entity: "saved reply",
        });
    }
    let r = SavedReply {
        id: id.unwrap_or_else(Uuid::now_v7),
        title: title.to_owned(),
        body: body.to_owned(),
        updated_by: p.user.email.clone(),
        updated_at: crate::now(),
    };
    let audit = AuditRecord::by(p, "saved_reply.save", format!("saved_reply:{}", r.id))
        .summary(serde_json::json!({"title": r.title}));
    store.put_saved_reply(&r, &audit).await?;
    Ok(r)
}

/// Removes a saved reply (managers).
pub async fn delete(store: &dyn ReplyStore, p: &Principal, id: Uuid) -> Result<()> {
    require_manager(p)?;
    let audit = AuditRecord::by(p, "saved_reply.delete", format!("saved_reply:{id}"));
    if store.delete_saved_reply(id, &audit).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound {
            entity: "saved reply",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_the_rest_kept() {
        let f = Fill {
            requester: "ops@acme.example",
            case: 42,
            subject: "Login loop",
            tenant: "acme-prod",
            agent: "ana@support.example",
        };
        assert_eq!(
            fill(
                "Hello {requester}, about {case} ({subject}) on {tenant}. {unknown} — {agent}",
                &f
            ),
            "Hello ops@acme.example, about #42 (Login loop) on acme-prod. {unknown} — ana@support.example"
        );
        let sly = Fill {
            subject: "{agent} {tenant}",
            ..f
        };
        assert_eq!(
            fill("Re: {subject}", &sly),
            "Re: {agent} {tenant}",
            "a value is not read again"
        );
        assert_eq!(fill("{{case}}", &f), "{#42}");
    }
}
