//! Recommended solutions: what a customer's subject and description are looked up with, who
//! may see which hits, "this solved it" (deflections) and the relevance measure over the
//! written query set. The ranking itself is a [`SolutionIndex`] (casedesk-search keeps one in
//! memory per process); this module decides what is asked and what is shown.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::KbStore;

pub use super::{Deflection, Question};
use super::{EntryKind, EntryVisibility, may_read};
use crate::users::{Principal, Role};
use crate::{DomainError, FieldError, Result, Timestamp};

/// Suggestions returned.
pub const SUGGESTIONS: u32 = 5;
/// How much an entry filed under the asked issue area counts more (a factor on its rank).
pub const AREA_BOOST: f64 = 1.5;
/// Words looked up at most; the rest of a long description adds little and costs time.
const MAX_TERMS: usize = 16;
const MAX_SUBJECT: usize = 200;
const MAX_DESCRIPTION: usize = 20_000;

/// Words too common to say anything about a problem (English; the index stems the rest).
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "before",
    "being",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "dont",
    "for",
    "from",
    "get",
    "gets",
    "getting",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "im",
    "in",
    "into",
    "is",
    "it",
    "its",
    "ive",
    "just",
    "me",
    "my",
    "no",
    "not",
    "now",
    "of",
    "on",
    "one",
    "only",
    "or",
    "our",
    "out",
    "over",
    "please",
    "so",
    "some",
    "still",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "too",
    "up",
    "us",
    "use",
    "using",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "help",
    "hi",
    "hello",
    "thanks",
    "thank",
    "issue",
    "problem",
    "anyone",
    "know",
    "something",
    "since",
    "keep",
    "keeps",
    "way",
    "need",
    "want",
    "tried",
    "try",
    "seems",
    "like",
];

/// Whether a lowercase word is too common to look up.
pub fn is_stopword(w: &str) -> bool {
    STOPWORDS.contains(&w)
}

/// The words of `text` worth looking up: lowercase letters and digits, common words left
/// out, each once, at most 16, in order of appearance.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = w.to_lowercase();
        if w.chars().count() > 40 || STOPWORDS.contains(&w.as_str()) || out.contains(&w) {
            continue;
        }
        out.push(w);
        if out.len() == MAX_TERMS {
            break;
        }
    }
    out
}

/// Ranks published knowledge-base entries for a lookup.
#[async_trait::async_trait]
pub trait SolutionIndex: Send + Sync {
    /// The best entries for `q` among the visibilities it names, best first, each with a
    /// snippet; the index brings itself up to date with `store` first.
    async fn search(&self, store: &dyn KbStore, q: &KbSearch) -> Result<Vec<KbHit>>;
}

/// A knowledge-base lookup as an index runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct KbSearch {
    /// Words, any of which may match (see [`terms`]).
    pub terms: Vec<String>,
    /// Entries filed under this area rank higher.
    pub issue_area: Option<String>,
    /// Only entries with these visibilities (published ones only).
    pub visibilities: Vec<EntryVisibility>,
    /// Hits wanted.
    pub limit: u32,
}

/// One entry found, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbHit {
    /// Entry id.
    pub id: String,
    /// Kind.
    pub kind: EntryKind,
    /// Title.
    pub title: String,
    /// Summary.
    pub summary: String,
    /// Documentation address (links).
    pub url: Option<String>,
    /// The passage of the body that matched best, as plain text.
    pub snippet: String,
    /// The index's rank (higher is better; comparable only within one answer).
    pub score: f64,
    /// The share of the question's words the entry contains, 0 to 1: unlike the rank, it
    /// says whether the entry is about the question at all.
    pub coverage: f64,
}

/// The published visibilities a reader may see.
pub fn readable(p: Option<&Principal>) -> Vec<EntryVisibility> {
    match p.map(|p| p.user.role) {
        None => vec![EntryVisibility::Public],
        Some(Role::Agent | Role::Manager) => vec![
            EntryVisibility::Public,
            EntryVisibility::Customers,
            EntryVisibility::Internal,
        ],
        Some(_) => vec![EntryVisibility::Public, EntryVisibility::Customers],
    }
}

fn str_field(v: &Value, key: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    match v.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() <= max => s.trim().to_owned(),
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                key,
                format!("must be at most {max} characters"),
            ));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::new(key, "must be a string"));
            String::new()
        }
    }
}

/// Reads and checks a question: a subject or a description is needed; an issue area must be
/// one of the taxonomy's.
pub async fn question(store: &dyn KbStore, v: &Value) -> Result<Question> {
    let mut errors = Vec::new();
    if !v.is_object() {
        return Err(DomainError::field("body", "must be a JSON object"));
    }
    let subject = str_field(v, "subject", MAX_SUBJECT, &mut errors);
    let description = str_field(v, "description", MAX_DESCRIPTION, &mut errors);
    let area = str_field(v, "issue_area", 100, &mut errors);
    let issue_area = if area.is_empty() {
        None
    } else if store.issue_areas().await?.iter().any(|a| a.key == area) {
        Some(area)
    } else {
        errors.push(FieldError::new(
            "issue_area",
            "is not an issue area of the intake (see GET /api/v1/intake)",
        ));
        None
    };
    if errors.is_empty() && subject.is_empty() && description.is_empty() {
        errors.push(FieldError::new(
            "subject",
            "give a subject or a description to look up",
        ));
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    Ok(Question {
        subject,
        description,
        issue_area,
    })
}

/// The entries that may answer `q`, best first, among those `p` may read.
pub async fn suggest(
    store: &dyn KbStore,
    index: &dyn SolutionIndex,
    p: Option<&Principal>,
    q: &Question,
) -> Result<Vec<KbHit>> {
    suggest_among(store, index, readable(p), q).await
}

/// [`suggest`] among entries of the given visibilities.
pub async fn suggest_among(
    store: &dyn KbStore,
    index: &dyn SolutionIndex,
    visibilities: Vec<EntryVisibility>,
    q: &Question,
) -> Result<Vec<KbHit>> {
    // The subject says what is wrong in few words; its words go first so a long description
    // cannot crowd them out of the term limit.
    let terms = terms(&format!("{} {}", q.subject, q.description));
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let search = KbSearch {
        terms,
        issue_area: q.issue_area.clone(),
        visibilities,
        limit: SUGGESTIONS,
    };
    let mut hits = index.search(store, &search).await?;
    for h in &mut hits {
        h.snippet = plain(&h.snippet);
    }
    Ok(hits)
}

/// A snippet without Markdown marks, on one line.
fn plain(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, '*' | '`' | '#' | '>'))
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The share of the question's words the best entry must exceed for the suggestions to be
/// offered as an answer (more than half); at or below it the customer is told there is no
/// strong match. Chosen on the relevance sets, held-out questions included: `casedesk kb
/// relevance` prints how each side of it falls.
pub const STRONG_COVERAGE: f64 = 0.5;

/// Whether the best suggestion answers the question (see [`STRONG_COVERAGE`]).
pub fn strong_match(hits: &[KbHit]) -> bool {
    hits.first().is_some_and(|h| h.coverage > STRONG_COVERAGE)
}

/// Whether a question reads like an outage (many users, errors of the service, nothing
/// answering): such a customer should see the status page before an article.
pub fn outage_like(q: &Question) -> bool {
    let text = format!("{} {}", q.subject, q.description).to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let phrase = |p: &str| text.contains(p);
    // "down" as in "the service is down", not "wind down" or "scroll down".
    let down = words.iter().enumerate().any(|(i, w)| {
        *w == "down"
            && (i
                .checked_sub(1)
                .and_then(|j| words.get(j))
                .is_some_and(|p| {
                    matches!(
                        *p,
                        "is" | "are"
                            | "was"
                            | "went"
                            | "been"
                            | "goes"
                            | "service"
                            | "platform"
                            | "site"
                            | "login"
                            | "signin"
                            | "sso"
                            | "everything"
                            | "api"
                            | "endpoint"
                            | "completely"
                            | "totally"
                    )
                })
                || words
                    .get(i + 1)
                    .is_some_and(|n| matches!(*n, "since" | "for" | "again" | "right")))
    });
    has("outage")
        || down
        || has("unavailable")
        || has("503")
        || has("502")
        || has("504")
        || (has("500") && (has("error") || has("errors")))
        || has("everyone")
        || has("nobody")
        || phrase("no one can")
        || phrase("all users")
        || phrase("all our users")
        || phrase("not responding")
        || phrase("stopped working")
        || phrase("stopped delivering")
        || phrase("timed out")
        || phrase("extremely slow")
        || phrase("extremly slow")
        || phrase("very slow")
}

/// Records that entry `entry_id` answered the caller's question, so no case is opened.
pub async fn record_deflection(
    store: &dyn KbStore,
    p: &Principal,
    v: &Value,
) -> Result<Deflection> {
    if matches!(p.user.role, Role::Agent | Role::Manager) {
        return Err(DomainError::Forbidden(
            "Only customers record that an entry solved their problem.".into(),
        ));
    }
    crate::permissions::require_scope(p, crate::users::Scope::CasesWrite)?;
    let entry_id = match v.get("entry_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(DomainError::field("entry_id", "is required"));
        }
        Some(_) => return Err(DomainError::field("entry_id", "must be a string")),
    };
    let question = question(store, v).await?;
    // An entry the caller may not read does not exist for them.
    let readable = store.kb_entry(&entry_id).await?.is_some_and(|e| {
        e.entry.state == super::EntryState::Published && may_read(Some(p), &e.entry)
    });
    if !readable {
        return Err(DomainError::field(
            "entry_id",
            "is not a knowledge-base entry you can read",
        ));
    }
    let d = Deflection {
        id: Uuid::now_v7(),
        at: crate::now(),
        account_id: p.user.account_id,
        user_id: p.user.id,
        entry_id,
        question,
    };
    store.record_deflection(&d).await?;
    Ok(d)
}

/// Deflections and cases opened in one issue area over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaDeflection {
    /// Issue area (`""`: none given).
    pub issue_area: String,
    /// "This solved it" records.
    pub deflections: u64,
    /// Cases opened.
    pub cases: u64,
    /// deflections / (deflections + cases), or null with neither.
    pub rate: Option<f64>,
}

/// The deflection rate by issue area over `[since, until)` (managers).
pub async fn deflection_report(
    store: &dyn KbStore,
    p: &Principal,
    since: Timestamp,
    until: Timestamp,
) -> Result<Vec<AreaDeflection>> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can see deflection reports.".into(),
        ));
    }
    crate::permissions::require_scope(p, crate::users::Scope::CasesRead)?;
    if until <= since {
        return Err(DomainError::field("until", "must be after since"));
    }
    let rows = store.deflection_counts(since, until).await?;
    Ok(rows
        .into_iter()
        .map(|(issue_area, deflections, cases)| AreaDeflection {
            rate: (deflections + cases > 0)
                .then(|| deflections as f64 / (deflections + cases) as f64),
            issue_area,
            deflections,
            cases,
        })
        .collect())
}

/// One query of the relevance set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Judged {
    /// What a customer would type.
    pub query: String,
    /// The issue area they would pick.
    #[serde(default)]
    pub issue_area: Option<String>,
    /// Entries that answer it; none when no entry does (the search should then say there
    /// is no strong match).
    #[serde(default)]
    pub relevant: Vec<String>,
    /// `held-out` for questions written before their entries were read.
    #[serde(default)]
    pub source: Option<String>,
}

/// The relevance set compiled in (`kb/relevance.jsonl`).
pub fn relevance_set() -> Result<Vec<Judged>> {
    super::starter::RELEVANCE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| DomainError::Internal(format!("relevance.jsonl line {}: {e}", i + 1)))
        })
        .collect()
}

/// One query's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryScore {
    /// The query.
    pub query: String,
    /// What came back, best first.
    pub returned: Vec<String>,
    /// What should have.
    pub relevant: Vec<String>,
    /// nDCG@5 of this query.
    pub ndcg: f64,
    /// Recall@5 of this query.
    pub recall: f64,
    /// How much of the query the best entry covers.
    pub coverage: f64,
    /// Whether the search called its best entry a strong match.
    pub strong: bool,
    /// Where the query comes from (`held-out`, or none for the set written with the entries).
    pub source: Option<String>,
}

/// nDCG@k with binary gains: hits discounted by log2 of their rank + 1, over the best order
/// possible.
pub fn ndcg(returned: &[String], relevant: &[String], k: usize) -> f64 {
    let dcg: f64 = returned
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, id)| relevant.contains(id))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    if ideal == 0.0 { 0.0 } else { dcg / ideal }
}

/// Recall@k: the share of the relevant entries among the first k returned.
pub fn recall(returned: &[String], relevant: &[String], k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let found = relevant
        .iter()
        .filter(|r| returned.iter().take(k).any(|x| x == *r))
        .count();
    found as f64 / relevant.len() as f64
}

/// Runs every judged query as a signed-in customer would (public and customer entries) and
/// scores the answers: mean nDCG@5, mean recall@5 and each query's outcome.
pub async fn evaluate(
    store: &dyn KbStore,
    index: &dyn SolutionIndex,
    set: &[Judged],
) -> Result<(f64, f64, Vec<QueryScore>)> {
    let mut scores = Vec::with_capacity(set.len());
    for j in set {
        let q = Question {
            subject: j.query.clone(),
            description: String::new(),
            issue_area: j.issue_area.clone(),
        };
        let customer = vec![EntryVisibility::Public, EntryVisibility::Customers];
        let hits = suggest_among(store, index, customer, &q).await?;
        let strong = strong_match(&hits);
        let coverage = hits.first().map(|h| h.coverage).unwrap_or(0.0);
        let returned: Vec<String> = hits.into_iter().map(|h| h.id).collect();
        let k = SUGGESTIONS as usize;
        scores.push(QueryScore {
            ndcg: ndcg(&returned, &j.relevant, k),
            recall: recall(&returned, &j.relevant, k),
            query: j.query.clone(),
            returned,
            relevant: j.relevant.clone(),
            coverage,
            strong,
            source: j.source.clone(),
        });
    }
    // Ranking is measured on the questions some entry answers.
    let answered: Vec<&QueryScore> = scores.iter().filter(|s| !s.relevant.is_empty()).collect();
    let n = answered.len().max(1) as f64;
    let mean_ndcg = answered.iter().map(|s| s.ndcg).sum::<f64>() / n;
    let mean_recall = answered.iter().map(|s| s.recall).sum::<f64>() / n;
    Ok((mean_ndcg, mean_recall, scores))
}

#[cfg(test)]
mod tests {

    fn q(subject: &str) -> Question {
        Question {
            subject: subject.into(),
            description: String::new(),
            issue_area: None,
        }
    }

    #[test]
    fn outage_like_questions_are_told_apart() {
        for yes in [
            "all users cannot sign in since 10 minutes",
            "login page returns 503",
            "token endpoint giving 500 errors",
            "Is the service down?",
            "sso down since 9am",
            "JWKS endpoint not responding",
        ] {
            assert!(outage_like(&q(yes)), "{yes}");
        }
        for no in [
            "download the audit log",
            "redirect_uri_mismatch on the callback",
            "one user cannot reset the password",
            "dropdown of applications is empty",
            "how to wind down a tenant we no longer use",
            "scroll down to the consent button",
        ] {
            assert!(!outage_like(&q(no)), "{no}");
        }
    }

    #[test]
    fn a_weak_best_hit_is_no_strong_match() {
        let hit = |coverage: f64| KbHit {
            id: "x".into(),
            kind: EntryKind::Article,
            title: String::new(),
            summary: String::new(),
            url: None,
            snippet: String::new(),
            score: 3.0,
            coverage,
        };
        assert!(strong_match(&[hit(0.75), hit(0.1)]));
        assert!(!strong_match(&[hit(0.5)]), "half is not more than half");
        assert!(
            !strong_match(&[hit(0.2), hit(0.9)]),
            "the best-ranked hit decides"
        );
        assert!(!strong_match(&[]));
    }

    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn terms_drop_common_words_and_repeats() {
        assert_eq!(
            terms("Why does the redirect_uri NOT match? The redirect URI is right!"),
            ids(&["redirect", "uri", "match", "right"])
        );
        assert!(terms("how do I ... ?").is_empty());
        assert_eq!(terms(&"word ".repeat(100)), ids(&["word"]));
    }

    #[test]
    fn ndcg_rewards_the_right_entry_early() {
        let rel = ids(&["a"]);
        assert_eq!(ndcg(&ids(&["a", "b"]), &rel, 5), 1.0);
        let second = ndcg(&ids(&["b", "a"]), &rel, 5);
        assert!((second - 1.0 / 3f64.log2()).abs() < 1e-9);
        assert_eq!(ndcg(&ids(&["b", "c", "d", "e", "f", "a"]), &rel, 5), 0.0);
        // Two relevant, one found first: 1 / (1 + 1/log2(3)).
        let two = ndcg(&ids(&["a", "x"]), &ids(&["a", "b"]), 5);
        assert!((two - 1.0 / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-9);
        assert_eq!(recall(&ids(&["a", "x"]), &ids(&["a", "b"]), 5), 0.5);
    }

    #[test]
    fn the_relevance_set_is_large_enough_and_names_starter_entries() {
        let set = relevance_set().expect("parses");
        assert!(set.len() >= 40);
        let names: Vec<&str> = super::super::starter::STARTER
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert!(
            set.iter()
                .filter(|j| j.source.as_deref() == Some("held-out"))
                .count()
                >= 40
        );
        for j in &set {
            assert!(
                !j.relevant.is_empty() || j.source.as_deref() == Some("held-out"),
                "{}",
                j.query
            );
            for r in &j.relevant {
                assert!(names.contains(&r.as_str()), "{r} of {:?}", j.query);
            }
        }
    }

    #[test]
    fn snippets_lose_markdown_marks() {
        assert_eq!(
            plain("Use **`openid`**\n  and # more"),
            "Use openid and more"
        );
    }
}
