//! `casedesk jobs …` and `casedesk audit …`: operating the background work and the trail.

use anyhow::anyhow;
use casedesk_core::audit::AuditFilter;
use casedesk_core::audit::{self, Actor, AuditRecord};
use casedesk_core::jobs::{self, JobQuery, JobState};
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;
use crate::shell::{explain, open_store, print};

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// List jobs, newest first.
    List {
        /// queued, running, done, dead or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// A kind, e.g. webhook.deliver.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Queue a dead or cancelled job again, with fresh attempts.
    Retry {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a queued or dead job.
    Cancel {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain from the last retention checkpoint; exits non-zero and names
    /// every break (an edited, inserted, deleted or reordered entry).
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Write the trail as JSON Lines to stdout.
    Export {
        /// Only this account (id or name), and only what its own export shows.
        #[arg(long)]
        account: Option<String>,
        /// RFC 3339; entries at or after.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339; entries before.
        #[arg(long)]
        until: Option<String>,
    },
}

fn job_id(id: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id.trim()).map_err(|_| anyhow!("id: {id:?} is not a job id"))
}

pub async fn jobs(cfg: &Config, cmd: JobsCmd) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    match cmd {
        JobsCmd::List {
            state,
            kind,
            limit,
            json,
        } => {
            let state = match state.as_deref() {
                None => None,
                Some(s) => Some(JobState::parse(s).ok_or_else(|| {
                    anyhow!("state: must be queued, running, done, dead or cancelled")
                })?),
            };
            let q = JobQuery {
                state,
                kind,
                before: None,
                limit: limit.clamp(1, 10_000),
            };
            let items = store.list_jobs(&q).await.map_err(explain)?;
            let text = items
                .iter()
                .map(|j| {
                    format!(
                        "{}  {:<16} {:<9} attempts {}/{}  next {}{}",
                        j.id,
                        j.kind,
                        j.state.key(),
                        j.attempts,
                        j.max_attempts,
                        j.run_at,
                        j.last_error
                            .as_deref()
                            .map(|e| format!("  last error: {e}"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(json, json!({ "items": items }), text);
            Ok(())
        }
        JobsCmd::Retry { id, json } => {
            let id = job_id(&id)?;
            let a = AuditRecord::new(Actor::cli(), "job.retry", format!("job:{id}")).internal();
            let j = jobs::retry_as(store.as_ref(), id, &a)
                .await
                .map_err(explain)?;
            print(json, json!(j), format!("job {} queued again", j.id));
            Ok(())
        }
        JobsCmd::Cancel { id, json } => {
            let id = job_id(&id)?;
            let a = AuditRecord::new(Actor::cli(), "job.cancel", format!("job:{id}")).internal();
            let j = jobs::cancel_as(store.as_ref(), id, &a)
                .await
                .map_err(explain)?;
            print(json, json!(j), format!("job {} cancelled", j.id));
            Ok(())
        }
    }
}

fn time(field: &str, v: Option<String>) -> anyhow::Result<Option<casedesk_core::Timestamp>> {
    v.map(|s| {
        s.parse()
            .map_err(|_| anyhow!("{field}: must be an RFC 3339 time such as 2026-11-01T00:00:00Z"))
    })
    .transpose()
}

pub async fn audit(cfg: &Config, cmd: AuditCmd) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    match cmd {
        AuditCmd::Verify { json } => {
            let r = audit::verify_store(store.as_ref()).await.map_err(explain)?;
            let head = r.head.clone();
            let text = if r.problems.is_empty() {
                match &head {
                    Some((seq, hash)) => format!(
                        "audit trail intact: {} entries checked, head is entry {seq} with hash {hash}",
                        r.checked
                    ),
                    None => "audit trail intact: it is empty".into(),
                }
            } else {
                format!(
                    "audit trail BROKEN ({} entries checked):\n{}",
                    r.checked,
                    r.problems
                        .iter()
                        .map(|p| format!("  - {p}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            };
            print(
                json,
                json!({"ok": r.problems.is_empty(), "checked": r.checked, "head": head.map(|(s, h)| json!({"seq": s, "hash": h})), "problems": r.problems}),
                text,
            );
            if r.problems.is_empty() {
                Ok(())
            } else {
                Err(anyhow!("the audit trail does not verify"))
            }
        }
        AuditCmd::Export {
            account,
            since,
            until,
        } => {
            let account_id = match account {
                Some(a) => Some(admin_account(store.as_ref(), &a).await?),
                None => None,
            };
            let filter = AuditFilter {
                account_id,
                since: time("since", since)?,
                until: time("until", until)?,
            };
            let rec = AuditRecord::new(Actor::cli(), "audit.export", "audit")
                .account(account_id)
                .summary(json!({"account": account_id, "since": filter.since.map(|t| t.to_string()), "until": filter.until.map(|t| t.to_string())}));
            store.append_audit(&rec).await.map_err(explain)?;
            let mut after = 0;
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            loop {
                let page = store
                    .audit_page(after, 1000, &filter)
                    .await
                    .map_err(explain)?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for e in &page {
                    serde_json::to_writer(&mut out, &e.exported())?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
            Ok(())
        }
    }
}

async fn admin_account(
    store: &dyn casedesk_core::store::Store,
    a: &str,
) -> anyhow::Result<uuid::Uuid> {
    Ok(casedesk_core::admin::resolve_account(store, a)
        .await
        .map_err(explain)?
        .id)
}
