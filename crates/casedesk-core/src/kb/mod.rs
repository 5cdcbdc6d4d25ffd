//! The knowledge base: entries of three kinds (articles, documentation links, community
//! answers) that answer a customer before a case is opened, and the starter set casedesk
//! ships with. Entries are written as Markdown with a small front matter block.

pub mod replies;
pub mod search;
pub mod starter;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{Actor, AuditRecord};
use crate::directory::DirectoryStore;
use crate::users::{Principal, Role};
use crate::{DomainError, FieldError, Result, Timestamp};

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// An article written in Markdown.
    Article,
    /// A link to documentation, with a summary.
    Link,
    /// An answer from the community, in Markdown.
    Community,
}

/// Who may read an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryVisibility {
    /// Everyone, signed in or not.
    Public,
    /// Signed-in customers and support.
    Customers,
    /// Support staff only.
    Internal,
}

/// Whether an entry is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Being written; only managers see it.
    Draft,
    /// Shown to those who may read it.
    Published,
}

/// An entry as written, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryText {
    /// Stable slug.
    pub id: String,
    /// Kind.
    pub kind: EntryKind,
    /// Title.
    pub title: String,
    /// One or two sentences shown in suggestions.
    pub summary: String,
    /// Markdown body (the summary's longer form for a link).
    pub body: String,
    /// The documentation address of a link.
    pub url: Option<String>,
    /// Issue-area keys.
    pub issue_areas: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Who may read it.
    pub visibility: EntryVisibility,
    /// Draft or published.
    pub state: EntryState,
}

fn bracket_list(v: &str) -> Vec<String> {
    v.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Reads an entry written as front matter and Markdown; every problem is reported by key.
/// `areas` are the issue-area keys an entry may name.
pub fn parse(text: &str, areas: &[&str]) -> std::result::Result<EntryText, Vec<FieldError>> {
    let text = text.replace("\r\n", "\n");
    let Some(rest) = text.strip_prefix("---\n") else {
        return Err(vec![FieldError::new(
            "front_matter",
            "must start with a line of three dashes",
        )]);
    };
    let Some((head, body)) = rest.split_once("\n---\n") else {
        return Err(vec![FieldError::new(
            "front_matter",
            "must end with a line of three dashes",
        )]);
    };
    let mut errors = Vec::new();
    let mut get = std::collections::BTreeMap::new();
    for line in head.lines().filter(|l| !l.trim().is_empty()) {
        match line.split_once(": ") {
            Some((k, v)) => {
                if get
                    .insert(k.trim().to_owned(), v.trim().to_owned())
                    .is_some()
                {
                    errors.push(FieldError::new(k.trim(), "is given twice"));
                }
            }
            None => errors.push(FieldError::new(
                "front_matter",
                format!("{line:?} is not a `key: value` line"),
            )),
        }
    }
    check(get, body, errors, areas)
}

/// An entry given as JSON (the API): the keys of the file format, with `issue_areas` and
/// `tags` as lists and `body` as a string; the id comes from the address.
pub fn from_json(
    id: &str,
    v: &serde_json::Value,
    areas: &[&str],
) -> std::result::Result<EntryText, Vec<FieldError>> {
    let Some(obj) = v.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let mut get = std::collections::BTreeMap::new();
    get.insert("id".to_owned(), id.to_owned());
    let mut body = String::new();
    for (k, val) in obj {
        match (k.as_str(), val) {
            ("id", _) => errors.push(FieldError::new(
                "id",
                "comes from the address; leave it out",
            )),
            ("body", serde_json::Value::String(b)) => body = b.clone(),
            ("issue_areas" | "tags", serde_json::Value::Array(items)) => {
                let mut words = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    match it.as_str() {
                        Some(w) if !w.trim().is_empty() && !w.contains([',', '[', ']', '\n']) => {
                            words.push(w.trim().to_owned())
                        }
                        _ => errors.push(FieldError::new(
                            format!("{k}[{i}]"),
                            "must be a word or phrase without commas or brackets",
                        )),
                    }
                }
                get.insert(k.clone(), format!("[{}]", words.join(", ")));
            }
            (_, serde_json::Value::String(x)) if !x.contains('\n') => {
                get.insert(k.clone(), x.trim().to_owned());
            }
            (_, serde_json::Value::String(x)) => {
                errors.push(FieldError::new(k.as_str(), "must be one line"));
                // Kept (joined) so the key is not also reported as missing.
                get.insert(k.clone(), x.replace('\n', " "));
            }
            _ => errors.push(FieldError::new(
                k.as_str(),
                "must be a string (a list for issue_areas and tags)",
            )),
        }
    }
    check(get, &body, errors, areas)
}

fn check(
    get: std::collections::BTreeMap<String, String>,
    body: &str,
    mut errors: Vec<FieldError>,
    areas: &[&str],
) -> std::result::Result<EntryText, Vec<FieldError>> {
    const KEYS: [&str; 10] = [
        "id",
        "kind",
        "title",
        "summary",
        "issue_areas",
        "tags",
        "visibility",
        "state",
        "url",
        "body",
    ];
    for k in get.keys() {
        if !KEYS.contains(&k.as_str()) || k == "body" {
            errors.push(FieldError::new(k.as_str(), "is not a known key"));
        }
    }
    let mut required = |k: &str| -> String {
        match get.get(k).filter(|v| !v.is_empty()) {
            Some(v) => v.clone(),
            None => {
                errors.push(FieldError::new(k, "is required"));
                String::new()
            }
        }
    };
    let id = required("id");
    let title = required("title");
    let summary = required("summary");
    let kind_raw = required("kind");
    let vis_raw = required("visibility");
    let state_raw = required("state");
    let areas_raw = required("issue_areas");
    let kind = match kind_raw.as_str() {
        "article" => Some(EntryKind::Article),
        "link" => Some(EntryKind::Link),
        "community" => Some(EntryKind::Community),
        "" => None,
        _ => {
            errors.push(FieldError::new(
                "kind",
                "must be article, link or community",
            ));
            None
        }
    };
    let visibility = match vis_raw.as_str() {
        "public" => Some(EntryVisibility::Public),
        "customers" => Some(EntryVisibility::Customers),
        "internal" => Some(EntryVisibility::Internal),
        "" => None,
        _ => {
            errors.push(FieldError::new(
                "visibility",
                "must be public, customers or internal",
            ));
            None
        }
    };
    let state = match state_raw.as_str() {
        "draft" => Some(EntryState::Draft),
        "published" => Some(EntryState::Published),
        "" => None,
        _ => {
            errors.push(FieldError::new("state", "must be draft or published"));
            None
        }
    };
    if !id.is_empty()
        && !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        errors.push(FieldError::new(
            "id",
            "must be lower-case letters, digits and dashes",
        ));
    }
    let issue_areas = bracket_list(&areas_raw);
    if !areas_raw.is_empty() && issue_areas.is_empty() {
        errors.push(FieldError::new("issue_areas", "must name at least one"));
    }
    for a in &issue_areas {
        if !areas.contains(&a.as_str()) {
            errors.push(FieldError::new(
                "issue_areas",
                format!("{a} is not an issue area"),
            ));
        }
    }
    let url = get.get("url").cloned();
    match (kind, &url) {
        (Some(EntryKind::Link), None) => {
            errors.push(FieldError::new("url", "is required for a link"))
        }
        (Some(EntryKind::Link), Some(u)) if !u.starts_with("https://") => {
            errors.push(FieldError::new("url", "must be an https:// address"))
        }
        (Some(EntryKind::Article | EntryKind::Community), Some(_)) => {
            errors.push(FieldError::new("url", "only links have one"))
        }
        _ => {}
    }
    let body = body.trim().to_owned();
    if body.is_empty() {
        errors.push(FieldError::new("body", "must not be empty"));
    }
    match (kind, visibility, state, errors.is_empty()) {
        (Some(kind), Some(visibility), Some(state), true) => Ok(EntryText {
            id,
            kind,
            title,
            summary,
            body,
            url,
            issue_areas,
            tags: get.get("tags").map(|t| bracket_list(t)).unwrap_or_default(),
            visibility,
            state,
        }),
        _ => Err(errors),
    }
}

impl EntryKind {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            EntryKind::Article => "article",
            EntryKind::Link => "link",
            EntryKind::Community => "community",
        }
    }

    /// From its key.
    pub fn parse(s: &str) -> Option<Self> {
        [EntryKind::Article, EntryKind::Link, EntryKind::Community]
            .into_iter()
            .find(|k| k.key() == s)
    }
}

impl EntryState {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            EntryState::Draft => "draft",
            EntryState::Published => "published",
        }
    }
}

impl EntryVisibility {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            EntryVisibility::Public => "public",
            EntryVisibility::Customers => "customers",
            EntryVisibility::Internal => "internal",
        }
    }
}

/// A stored entry: its current text and version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEntry {
    /// The text.
    #[serde(flatten)]
    pub entry: EntryText,
    /// 1, 2, … (every change keeps the earlier version).
    pub version: i64,
    /// Last change.
    pub updated_at: Timestamp,
    /// Who changed it last.
    pub updated_by: String,
}

/// Whether `p` (or an anonymous reader) may read `e`: public entries anyone, customer
/// entries anyone signed in, internal entries support staff; drafts only managers.
pub fn may_read(p: Option<&Principal>, e: &EntryText) -> bool {
    let role = p.map(|p| p.user.role);
    if e.state == EntryState::Draft {
        return role == Some(Role::Manager);
    }
    match e.visibility {
        EntryVisibility::Public => true,
        EntryVisibility::Customers => role.is_some(),
        EntryVisibility::Internal => matches!(role, Some(Role::Agent | Role::Manager)),
    }
}

/// The issue-area keys an entry may name.
async fn area_keys(store: &dyn KbStore) -> Result<Vec<String>> {
    Ok(store
        .issue_areas()
        .await?
        .into_iter()
        .map(|a| a.key)
        .collect())
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Entries that were new.
    pub created: Vec<String>,
    /// Entries whose text changed (a new version each).
    pub updated: Vec<String>,
    /// Entries already as given.
    pub unchanged: usize,
}

/// Imports entries written as front matter and Markdown: new ones are created, changed ones
/// get a new version, the others are left alone. Nothing is written unless every entry reads.
pub async fn import(
    store: &dyn KbStore,
    actor: &Actor,
    files: &[(String, String)],
) -> Result<ImportReport> {
    let areas = area_keys(store).await?;
    let area_refs: Vec<&str> = areas.iter().map(String::as_str).collect();
    let mut parsed = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for (name, text) in files {
        match parse(text, &area_refs) {
            Ok(e) => parsed.push(e),
            Err(errs) => errors.extend(
                errs.into_iter()
                    .map(|e| FieldError::new(format!("{name}.{}", e.field), e.message)),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let mut report = ImportReport::default();
    for e in parsed {
        let current = store.kb_entry(&e.id).await?;
        let version = match &current {
            Some(c) if c.entry == e => {
                report.unchanged += 1;
                continue;
            }
            Some(c) => {
                report.updated.push(e.id.clone());
                c.version + 1
            }
            None => {
                report.created.push(e.id.clone());
                1
            }
        };
        let audit = AuditRecord::new(actor.clone(), "kb.entry.put", format!("kb:{}", e.id))
            .summary(serde_json::json!({"version": version, "title": e.title}));
        let stored = StoredEntry {
            entry: e,
            version,
            updated_at: crate::now(),
            updated_by: actor.label.clone(),
        };
        store.put_kb_entry(&stored, &audit).await?;
    }
    Ok(report)
}

/// Creates or changes an entry (managers): a new entry is version 1, a change the next
/// version; the earlier ones are kept.
pub async fn put(
    store: &dyn KbStore,
    p: &Principal,
    id: &str,
    v: &serde_json::Value,
) -> Result<(StoredEntry, bool)> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can write knowledge-base entries.".into(),
        ));
    }
    crate::permissions::require_scope(p, crate::users::Scope::Admin)?;
    let areas = area_keys(store).await?;
    let area_refs: Vec<&str> = areas.iter().map(String::as_str).collect();
    let entry = from_json(id, v, &area_refs).map_err(DomainError::Validation)?;
    let current = store.kb_entry(id).await?;
    let created = current.is_none();
    let version = current.map(|c| c.version + 1).unwrap_or(1);
    let audit = AuditRecord::by(p, "kb.entry.put", format!("kb:{id}"))
        .summary(serde_json::json!({"version": version, "title": entry.title}));
    let stored = StoredEntry {
        entry,
        version,
        updated_at: crate::now(),
        updated_by: p.user.email.clone(),
    };
    store.put_kb_entry(&stored, &audit).await?;
    Ok((stored, created))
}

/// The starter knowledge base, as files for [`import`].
pub fn starter_files() -> Vec<(String, String)> {
    starter::STARTER
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}

/// The entries `p` may read, by title.
pub async fn list(store: &dyn KbStore, p: Option<&Principal>) -> Result<Vec<StoredEntry>> {
    let mut v: Vec<StoredEntry> = store
        .kb_entries()
        .await?
        .into_iter()
        .filter(|e| may_read(p, &e.entry))
        .collect();
    v.sort_by(|a, b| a.entry.title.cmp(&b.entry.title));
    Ok(v)
}

/// One entry, if `p` may read it (otherwise it does not exist for them).
pub async fn get(store: &dyn KbStore, p: Option<&Principal>, id: &str) -> Result<StoredEntry> {
    store
        .kb_entry(id)
        .await?
        .filter(|e| may_read(p, &e.entry))
        .ok_or(DomainError::NotFound { entity: "entry" })
}

/// Every version of an entry, newest first (managers).
pub async fn versions(store: &dyn KbStore, p: &Principal, id: &str) -> Result<Vec<StoredEntry>> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can see earlier versions of knowledge-base entries.".into(),
        ));
    }
    let v = store.kb_versions(id).await?;
    if v.is_empty() {
        return Err(DomainError::NotFound { entity: "entry" });
    }
    Ok(v)
}

/// What a customer is about to ask, as the suggestion box and a deflection carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The case subject typed so far.
    #[serde(default)]
    pub subject: String,
    /// The description typed so far.
    #[serde(default)]
    pub description: String,
    /// The issue area chosen, if any.
    #[serde(default)]
    pub issue_area: Option<String>,
}

/// "This solved it": a customer read an entry and opened no case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deflection {
    /// Identifier.
    pub id: Uuid,
    /// When.
    pub at: Timestamp,
    /// The customer's account.
    pub account_id: Option<Uuid>,
    /// The customer.
    pub user_id: Uuid,
    /// The entry that answered.
    pub entry_id: String,
    /// What they were about to ask.
    #[serde(flatten)]
    pub question: Question,
}

/// The knowledge base's entries and the record of deflections.
#[async_trait::async_trait]
pub trait KbStore: DirectoryStore {
    /// A number that changes with every change to the knowledge base (ranked indexes are
    /// rebuilt when it moves).
    async fn kb_generation(&self) -> Result<i64>;

    /// Records a deflection.
    async fn record_deflection(&self, d: &Deflection) -> Result<()>;

    /// (issue area, deflections, cases opened) over `[since, until)`, by issue area.
    async fn deflection_counts(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(String, u64, u64)>>;

    /// Writes an entry's new version (the earlier ones are kept); a conflict when another
    /// writer stored that version first.
    async fn put_kb_entry(&self, entry: &crate::kb::StoredEntry, audit: &AuditRecord)
    -> Result<()>;

    /// An entry's current version.
    async fn kb_entry(&self, id: &str) -> Result<Option<crate::kb::StoredEntry>>;

    /// Every entry's current version.
    async fn kb_entries(&self) -> Result<Vec<crate::kb::StoredEntry>>;

    /// Every version of an entry, newest first.
    async fn kb_versions(&self, id: &str) -> Result<Vec<crate::kb::StoredEntry>>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::taxonomy::DEFAULT_ISSUE_AREAS;

    fn areas() -> Vec<&'static str> {
        DEFAULT_ISSUE_AREAS.iter().map(|a| a.0).collect()
    }

    #[test]
    fn every_starter_entry_reads_and_the_set_covers_the_platform() {
        let mut ids = std::collections::BTreeSet::new();
        let mut kinds = std::collections::BTreeSet::new();
        let mut covered = std::collections::BTreeSet::new();
        for (name, text) in starter::STARTER {
            let e = parse(text, &areas()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(e.id, name, "the file is named after its id");
            assert!(ids.insert(e.id.clone()), "{name}: id used twice");
            kinds.insert(format!("{:?}", e.kind));
            covered.extend(e.issue_areas.clone());
            assert!(e.summary.len() <= 300, "{name}: the summary is short");
        }
        assert!(ids.len() >= 30, "at least 30 entries: {}", ids.len());
        assert_eq!(kinds.len(), 3, "articles, links and community answers");
        for a in areas() {
            assert!(covered.contains(a), "no entry for issue area {a}");
        }
    }

    #[test]
    fn the_relevance_set_names_existing_entries() {
        let ids: Vec<String> = starter::STARTER
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        let mut n = 0;
        for line in starter::RELEVANCE.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["query"].as_str().is_some_and(|q| !q.is_empty()));
            assert!(areas().contains(&v["issue_area"].as_str().unwrap()));
            let rel = v["relevant"].as_array().unwrap();
            // Only a held-out question may have no answer among the entries.
            assert!(!rel.is_empty() || v["source"] == "held-out", "{line}");
            for r in rel {
                assert!(ids.contains(&r.as_str().unwrap().to_owned()), "{line}");
            }
            n += 1;
        }
        assert!(n >= 80, "at least 80 queries: {n}");
        assert!(
            ids.len() >= 60,
            "at least 60 starter entries: {}",
            ids.len()
        );
    }

    #[test]
    fn bad_entries_are_refused_by_key() {
        let errs = parse(
            "---\nid: Bad Id\nkind: video\ntitle: t\nsummary: s\nissue_areas: [nowhere]\nvisibility: everyone\nstate: published\ncolour: red\n---\n",
            &areas(),
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["id", "kind", "issue_areas", "visibility", "colour", "body"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        assert!(parse("no front matter", &areas()).is_err());
        let link = "---\nid: l\nkind: link\ntitle: t\nsummary: s\nissue_areas: [other]\nvisibility: public\nstate: draft\n---\nbody\n";
        assert_eq!(parse(link, &areas()).unwrap_err()[0].field, "url");
    }
}
