//! Lists of cases: the filters a caller may put on them, read into the store's query.

use uuid::Uuid;

use super::writes::ServiceStore;
use crate::cases::{
    CaseQuery, CaseSort, CaseSummary, DueKey, PageCursor, Priority, Stage, Status, Visibility,
};
use crate::permissions::{self, require_case_access, require_scope};
use crate::users::{Principal, Scope, normalize_email};
use crate::{DomainError, FieldError, Result};

const MAX_PAGE: u32 = 100;

const DEFAULT_PAGE: u32 = 25;

/// Filters a caller may put on a case list (all optional).
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    /// `mine`: only cases I opened, am a contact on, or (support) am assigned.
    pub view: Option<String>,
    /// Comma-separated statuses; `active` means every status but closed.
    pub status: Option<String>,
    /// Comma-separated priorities.
    pub priority: Option<String>,
    /// Issue area key.
    pub issue_area: Option<String>,
    /// Stage key.
    pub stage: Option<String>,
    /// Tenant slug.
    pub tenant: Option<String>,
    /// Queue.
    pub queue: Option<String>,
    /// Assignee email, `me`, or `none`.
    pub assignee: Option<String>,
    /// `true` or `false`.
    pub escalated: Option<String>,
    /// Words to find.
    pub q: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<PageCursor>,
    /// `newest` (default) or `sla_due` (next SLA due time first).
    pub sort: Option<String>,
    /// Only this account's cases (the agent workspace's "other open cases").
    pub account: Option<uuid::Uuid>,
}

/// A page of the cases the caller may see, and the cursor of the next page.
pub async fn list_cases(
    store: &dyn ServiceStore,
    p: &Principal,
    f: &ListFilters,
) -> Result<(Vec<CaseSummary>, Option<PageCursor>)> {
    require_case_access(p)?;
    require_scope(p, Scope::CasesRead)?;
    let (query, limit) = query_of(store, p, f).await?;
    let mut rows = store.list_cases(&query).await?;
    let next = next_page(&mut rows, limit, query.sort);
    Ok((rows, next))
}

/// The store's query for the filters, and the page size; every invalid filter is named.
async fn query_of(
    store: &dyn ServiceStore,
    p: &Principal,
    f: &ListFilters,
) -> Result<(CaseQuery, u32)> {
    let mut errors = Vec::new();
    let mine = match f.view.as_deref() {
        None | Some("all") => false,
        Some("mine") => true,
        Some(_) => {
            errors.push(FieldError::new("view", "must be mine or all"));
            false
        }
    };
    let visibility = permissions::visibility(p, mine)?;
    let statuses = statuses_of(&f.status, &mut errors);
    let priorities = priorities_of(&f.priority, &mut errors);
    let stage = match f.stage.as_deref() {
        None => None,
        Some(s) => Stage::parse(s).or_else(|| {
            errors.push(FieldError::new(
                "stage",
                "must be onboarding, production or advanced",
            ));
            None
        }),
    };
    let assignee = assignee_of(store, p, f.assignee.as_deref(), &mut errors).await?;
    let escalated = match f.escalated.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("escalated", "must be true or false"));
            None
        }
    };
    let limit = match f.limit {
        None => DEFAULT_PAGE,
        Some(l) if (1..=MAX_PAGE).contains(&l) => l,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
            DEFAULT_PAGE
        }
    };
    let text = search_text(f.q.as_deref(), &mut errors);
    let sort = match f.sort.as_deref() {
        None | Some("newest") => CaseSort::Newest,
        Some("sla_due") => CaseSort::SlaDue,
        Some(_) => {
            errors.push(FieldError::new("sort", "must be newest or sla_due"));
            CaseSort::Newest
        }
    };
    let (before, after_due) = cursor_of(sort, f.cursor, &mut errors);
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let text_account = match visibility {
        Visibility::Mine { .. } | Visibility::Account { .. } => p.user.account_id,
        _ => None,
    };
    let query = CaseQuery {
        account: f.account,
        text_account,
        text_internal: matches!(visibility, Visibility::Queues { .. } | Visibility::All),
        visibility,
        statuses,
        priorities,
        issue_area: f.issue_area.clone(),
        stage,
        tenant: f.tenant.clone(),
        queue: f.queue.clone(),
        assignee,
        escalated,
        text,
        before,
        sort,
        after_due,
        limit: limit + 1,
    };
    Ok((query, limit))
}

fn split(s: &Option<String>) -> Vec<&str> {
    s.as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `status=`: statuses, `active` standing for every status but closed.
fn statuses_of(raw: &Option<String>, errors: &mut Vec<FieldError>) -> Vec<Status> {
    let mut statuses = Vec::new();
    for s in split(raw) {
        if s == "active" {
            statuses.extend(Status::ALL.into_iter().filter(|s| *s != Status::Closed));
        } else if let Some(st) = Status::parse(s) {
            statuses.push(st);
        } else {
            errors.push(FieldError::new("status", "must be a comma-separated list of new, open, pending, on_hold, solved, closed or active"));
        }
    }
    statuses
}

/// `priority=`: priorities.
fn priorities_of(raw: &Option<String>, errors: &mut Vec<FieldError>) -> Vec<Priority> {
    let mut priorities = Vec::new();
    for s in split(raw) {
        match Priority::parse(s) {
            Some(pr) => priorities.push(pr),
            None => errors.push(FieldError::new(
                "priority",
                "must be a comma-separated list of P1, P2, P3, P4",
            )),
        }
    }
    priorities
}

/// `assignee=`: `none`, `me`, or a person's email.
async fn assignee_of(
    store: &dyn ServiceStore,
    p: &Principal,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Option<Uuid>>> {
    Ok(match raw {
        None => None,
        Some("none") => Some(None),
        Some("me") => Some(Some(p.user.id)),
        Some(email) => match normalize_email(email) {
            Ok(e) => match store.find_user_by_email(&e).await? {
                Some(u) => Some(Some(u.id)),
                // An unknown assignee matches nothing rather than erroring, so the answer
                // does not reveal which addresses have accounts.
                None => Some(Some(Uuid::nil())),
            },
            Err(m) => {
                errors.push(FieldError::new(
                    "assignee",
                    format!("must be me, none, or an {m}"),
                ));
                None
            }
        },
    })
}

/// `q=`: the words to find.
fn search_text(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    // Control characters separate words like spaces do: no index reads them, and FTS5 stops
    // a quoted word at a NUL.
    let text = raw
        .map(|s| s.replace(char::is_control, " "))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        errors.push(FieldError::new("q", "must be at most 200 characters"));
    } else if text
        .as_ref()
        .is_some_and(|t| !t.chars().any(char::is_alphanumeric))
    {
        errors.push(FieldError::new("q", "must contain a word to search for"));
    }
    text
}

/// `cursor=`: where the page starts; a cursor continues the order it was handed out in.
fn cursor_of(
    sort: CaseSort,
    cursor: Option<PageCursor>,
    errors: &mut Vec<FieldError>,
) -> (Option<i64>, Option<DueKey>) {
    match (sort, cursor) {
        (_, None) => (None, None),
        (CaseSort::Newest, Some(PageCursor::Before(n))) => (Some(n), None),
        (CaseSort::SlaDue, Some(PageCursor::AfterDue(k))) => (None, Some(k)),
        (_, Some(_)) => {
            errors.push(FieldError::new(
                "cursor",
                "belongs to a list in another order; start again without it",
            ));
            (None, None)
        }
    }
}

/// Trims the one row read past the page and returns the cursor of the next page, if any.
fn next_page(rows: &mut Vec<CaseSummary>, limit: u32, sort: CaseSort) -> Option<PageCursor> {
    if rows.len() <= limit as usize {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|r| match sort {
        CaseSort::Newest => PageCursor::Before(r.number),
        CaseSort::SlaDue => PageCursor::AfterDue(DueKey {
            due: r.sla_due_at,
            number: r.number,
        }),
    })
}

/// What a customer success manager watches: the open P1 and escalated cases of the accounts
/// they manage, newest first (support staff only; nothing for an account they do not manage).
pub async fn csm_cases(store: &dyn ServiceStore, p: &Principal) -> Result<Vec<CaseSummary>> {
    if !permissions::is_support(p) {
        return Ok(vec![]);
    }
    let mut out: Vec<CaseSummary> = Vec::new();
    for a in store.accounts_of_csm(p.user.id).await? {
        for (priorities, escalated) in [(vec![Priority::P1], None), (vec![], Some(true))] {
            let q = CaseQuery {
                account: None,
                visibility: Visibility::Account { account_id: a.id },
                statuses: Status::ALL
                    .into_iter()
                    .filter(|s| *s != Status::Closed)
                    .collect(),
                priorities,
                issue_area: None,
                stage: None,
                tenant: None,
                queue: None,
                assignee: None,
                escalated,
                text: None,
                text_internal: false,
                text_account: None,
                before: None,
                sort: CaseSort::default(),
                after_due: None,
                limit: 50,
            };
            for c in store.list_cases(&q).await? {
                if !out.iter().any(|o| o.number == c.number) {
                    out.push(c);
                }
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.number));
    Ok(out)
}
