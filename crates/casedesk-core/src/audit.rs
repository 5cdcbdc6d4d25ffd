//! The audit trail: every state-changing action, appended with who, where from and what
//! changed, and chained by hash so that an edited, inserted, deleted or reordered entry is
//! found by [`verify`].
//!
//! The chain: entry `n` stores `hash_n = SHA-256(hash_{n-1} "|" canonical(n, fields))`, with
//! 64 zeros before the first entry. Entries are written in the same transaction as the change
//! they record; the store keeps the head (last sequence number and hash) in one row, locked by
//! the writing transaction, so sequence numbers have no gaps. Retention deletes the oldest
//! entries and records a checkpoint (the last deleted entry's number and hash) and, in the
//! chain itself, an `audit.pruned` entry naming it, so a forged checkpoint is found too.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Result, Timestamp};

pub use crate::acts::{Actor, AuditRecord};
pub use crate::users::Origin;
use crate::users::Principal;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How long entries are kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The record.
    pub record: AuditRecord,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// The entry as exported (JSON Lines).
#[derive(Debug, Serialize)]
pub struct ExportedEntry<'a> {
    /// Position in the chain.
    pub seq: i64,
    /// RFC 3339.
    pub at: String,
    /// Who.
    pub actor: &'a str,
    /// Account id.
    pub account_id: Option<String>,
    /// What.
    pub action: &'a str,
    /// On what.
    pub target: &'a str,
    /// What changed.
    pub summary: Value,
    /// Client address.
    pub source_ip: Option<&'a str>,
    /// Request id.
    pub request_id: Option<&'a str>,
    /// Chain hash, so a reviewer can compare with a later export.
    pub hash: &'a str,
}

impl AuditEntry {
    /// The exported form.
    pub fn exported(&self) -> ExportedEntry<'_> {
        let r = &self.record;
        ExportedEntry {
            seq: self.seq,
            at: r.at.to_string(),
            actor: &r.actor.label,
            account_id: r.account_id.map(|a| a.to_string()),
            action: &r.action,
            target: &r.target,
            summary: serde_json::from_str(&r.summary).unwrap_or(Value::Null),
            source_ip: r.source_ip.as_deref(),
            request_id: r.request_id.as_deref(),
            hash: &self.hash,
        }
    }
}

/// Which entries a caller may export: a super admin their own account's (and only what the
/// account may see), a manager everything or one account's. Refused for everyone else.
pub fn export_filter(
    p: &Principal,
    account: Option<Uuid>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> crate::Result<AuditFilter> {
    crate::permissions::require_scope(p, crate::users::Scope::Admin)?;
    let account_id = match p.user.role {
        crate::users::Role::Manager => account,
        crate::users::Role::SuperAdmin => {
            if account.is_some() && account != p.user.account_id {
                return Err(crate::DomainError::field(
                    "account",
                    "you can export only your own account's trail",
                ));
            }
            p.user.account_id
        }
        _ => {
            return Err(crate::DomainError::Forbidden(
                "Only a super admin of the account (for its own trail) or a support manager can export the audit trail.".into(),
            ));
        }
    };
    if let (Some(a), Some(b)) = (since, until)
        && a >= b
    {
        return Err(crate::DomainError::field("until", "must be after since"));
    }
    Ok(AuditFilter {
        account_id,
        since,
        until,
    })
}

/// Walks the whole trail from the newest checkpoint and checks every link.
pub async fn verify_store(store: &dyn AuditStore) -> crate::Result<VerifyReport> {
    let mut v = Verifier::new(store.audit_checkpoint().await?);
    let mut after = v.expected_seq - 1;
    loop {
        let page = store
            .audit_page(after, 5_000, &AuditFilter::default())
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            v.push(e);
        }
    }
    Ok(v.finish(store.audit_head().await?))
}

/// The hash of entry `seq` holding `r` after `prev`.
pub fn chain_hash(prev: &str, seq: i64, r: &AuditRecord) -> String {
    let canonical = serde_json::json!([
        seq,
        r.at.as_microsecond(),
        r.actor.user_id.map(|u| u.to_string()),
        r.actor.label,
        r.account_id.map(|u| u.to_string()),
        r.action,
        r.target,
        r.summary,
        r.source_ip,
        r.request_id,
        r.customer_visible,
    ]);
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"|");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Where the remaining chain starts after retention pruned older entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last pruned entry's sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When it was pruned.
    pub at: Timestamp,
}

/// What `audit verify` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// The last good sequence number and hash.
    pub head: Option<(i64, String)>,
    /// Every problem, in chain order, each naming where.
    pub problems: Vec<String>,
}

/// Checks a chain incrementally: feed entries in sequence order, then [`Verifier::finish`].
pub struct Verifier {
    expected_seq: i64,
    running: String,
    checkpoint: Option<Checkpoint>,
    checkpoint_confirmed: bool,
    report: VerifyReport,
}

const MAX_PROBLEMS: usize = 100;

impl Verifier {
    /// Starts after `checkpoint` (or at the beginning).
    pub fn new(checkpoint: Option<Checkpoint>) -> Self {
        let (expected_seq, running) = match &checkpoint {
            Some(c) => (c.seq + 1, c.hash.clone()),
            None => (1, GENESIS.to_owned()),
        };
        Self {
            expected_seq,
            running,
            checkpoint,
            checkpoint_confirmed: false,
            report: VerifyReport::default(),
        }
    }

    fn problem(&mut self, p: String) {
        if self.report.problems.len() < MAX_PROBLEMS {
            self.report.problems.push(p);
        }
    }

    /// Checks the next entry.
    pub fn push(&mut self, e: &AuditEntry) {
        self.report.checked += 1;
        if e.seq > self.expected_seq {
            let missing = if e.seq - self.expected_seq == 1 {
                format!("entry {} is missing", self.expected_seq)
            } else {
                format!("entries {} to {} are missing", self.expected_seq, e.seq - 1)
            };
            self.problem(format!("{missing} (deleted) before entry {}", e.seq));
        } else if e.seq < self.expected_seq {
            self.problem(format!(
                "entry {} appears again after entry {}: a duplicated or reordered entry",
                e.seq,
                self.expected_seq - 1
            ));
        }
        if e.prev_hash != self.running {
            self.problem(format!(
                "entry {} does not follow the entry before it (its previous-hash differs): an entry before it was deleted, inserted, reordered or edited",
                e.seq
            ));
        }
        let recomputed = chain_hash(&e.prev_hash, e.seq, &e.record);
        if recomputed != e.hash {
            self.problem(format!(
                "entry {} was altered: its content does not match its hash ({} by {} at {})",
                e.seq, e.record.action, e.record.actor.label, e.record.at
            ));
        }
        if let Some(c) = &self.checkpoint
            && e.record.action == "audit.pruned"
            && let Ok(v) = serde_json::from_str::<Value>(&e.record.summary)
            && v["through_seq"].as_i64() == Some(c.seq)
            && v["through_hash"].as_str() == Some(c.hash.as_str())
        {
            self.checkpoint_confirmed = true;
        }
        self.expected_seq = e.seq + 1;
        self.running = e.hash.clone();
        self.report.head = Some((e.seq, e.hash.clone()));
    }

    /// Ends the walk, comparing with the head the store recorded.
    pub fn finish(mut self, recorded_head: Option<(i64, String)>) -> VerifyReport {
        if let Some(c) = &self.checkpoint
            && !self.checkpoint_confirmed
        {
            let p = format!(
                "the retention checkpoint at entry {} is not confirmed by an audit.pruned entry in the chain: it may be forged",
                c.seq
            );
            self.problem(p);
        }
        let last = self.expected_seq - 1;
        match recorded_head {
            Some((seq, _)) if seq > last => self.problem(format!(
                "entries {} to {seq} are missing (deleted from the end of the trail)",
                last + 1
            )),
            Some((seq, hash_rec)) if seq == last && hash_rec != self.running => self.problem(
                format!("entry {seq} does not match the recorded head of the trail"),
            ),
            Some((seq, _)) if seq < last => self.problem(format!(
                "entries after {seq} were added outside casedesk (the recorded head is {seq})"
            )),
            _ => {}
        }
        self.report
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this account's entries, and only those its export may show.
    pub account_id: Option<Uuid>,
    /// Not before.
    pub since: Option<crate::Timestamp>,
    /// Before.
    pub until: Option<crate::Timestamp>,
}

/// The audit trail: appending, reading in pages, the head and the retention checkpoint.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry on its own (a refused sign-in changes nothing else).
    async fn append_audit(&self, audit: &AuditRecord) -> Result<()>;

    /// Entries after `after_seq`, in order, at most `limit`.
    async fn audit_page(
        &self,
        after_seq: i64,
        limit: u32,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>>;

    /// The last sequence number and hash the store recorded.
    async fn audit_head(&self) -> Result<Option<(i64, String)>>;

    /// The newest retention checkpoint.
    async fn audit_checkpoint(&self) -> Result<Option<Checkpoint>>;

    /// Deletes entries older than `before`, recording a checkpoint and an `audit.pruned`
    /// entry (`audit` is its template); the number deleted.
    async fn prune_audit(&self, before: crate::Timestamp, audit: &AuditRecord) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let record =
                    AuditRecord::new(Actor::system("test"), "case.reply", format!("case:{seq}"))
                        .summary(serde_json::json!({"n": seq}));
                let hash = chain_hash(&prev, seq, &record);
                let e = AuditEntry {
                    seq,
                    record,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn check(entries: &[AuditEntry], head: Option<(i64, String)>) -> VerifyReport {
        let mut v = Verifier::new(None);
        for e in entries {
            v.push(e);
        }
        v.finish(head)
    }

    fn head(c: &[AuditEntry]) -> Option<(i64, String)> {
        c.last().map(|e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let c = chain(5);
        let r = check(&c, head(&c));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.checked, 5);
    }

    #[test]
    fn an_edit_names_the_entry() {
        let mut c = chain(5);
        let h = head(&c);
        c[2].record.target = "case:999".into();
        let r = check(&c, h);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(
            r.problems[0].starts_with("entry 3 was altered"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn a_deletion_names_the_gap() {
        let mut c = chain(5);
        let h = head(&c);
        c.remove(1);
        let r = check(&c, h);
        assert!(
            r.problems[0].contains("entry 2 is missing"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn a_deleted_tail_is_found_from_the_head() {
        let mut c = chain(5);
        let h = head(&c);
        c.truncate(3);
        let r = check(&c, h);
        assert!(
            r.problems[0].contains("entries 4 to 5 are missing"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn a_swap_of_two_entries_is_found() {
        let mut c = chain(5);
        let h = head(&c);
        // Swap the contents of 2 and 3 but keep the sequence numbers in place.
        let (a, b) = (c[1].clone(), c[2].clone());
        c[1] = AuditEntry { seq: 2, ..b };
        c[2] = AuditEntry { seq: 3, ..a };
        let r = check(&c, h);
        assert!(
            r.problems.iter().any(|p| p.starts_with("entry 2")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn an_unconfirmed_checkpoint_is_reported() {
        let c = chain(4);
        let cp = Checkpoint {
            seq: 2,
            hash: c[1].hash.clone(),
            at: crate::now(),
        };
        let mut v = Verifier::new(Some(cp));
        for e in &c[2..] {
            v.push(e);
        }
        let r = v.finish(head(&c));
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].contains("checkpoint"));
    }
}
