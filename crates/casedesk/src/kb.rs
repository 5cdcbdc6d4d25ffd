//! `casedesk kb`: import knowledge-base entries (the starter set, or a folder of them).

use std::path::PathBuf;

use anyhow::Context;
use casedesk_core::audit::Actor;
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;
use crate::shell::{explain, open_store, print};

#[derive(Debug, Subcommand)]
pub enum KbCmd {
    /// Import entries: new ones are created, changed ones get a new version, the rest are
    /// left alone; nothing is written unless every file reads.
    Import {
        /// A folder of `.md` entries; default: the starter knowledge base casedesk ships with.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Measure the ranking of suggestions: every query of `kb/relevance.jsonl` is looked up as
    /// a customer would, on a scratch database holding the starter knowledge base, and
    /// nDCG@5 and recall@5 are printed.
    Relevance {
        /// The scratch database (it gets the starter set); default: a new SQLite file in a
        /// temporary folder, removed afterwards. Use an empty PostgreSQL database to measure
        /// that backend.
        #[arg(long)]
        scratch_url: Option<String>,
        /// Leave the issue area out of every query (the words alone).
        #[arg(long)]
        words_only: bool,
        /// Exit with status 1 when nDCG@5 is below this.
        #[arg(long)]
        min_ndcg: Option<f64>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cfg: &Config, cmd: KbCmd) -> anyhow::Result<()> {
    match cmd {
        KbCmd::Relevance {
            scratch_url,
            words_only,
            min_ndcg,
            json,
        } => relevance(scratch_url, words_only, min_ndcg, json).await,
        KbCmd::Import { dir, json } => {
            let files = match &dir {
                None => casedesk_core::kb::starter_files(),
                Some(d) => {
                    let mut files = Vec::new();
                    let rd = std::fs::read_dir(d)
                        .with_context(|| format!("cannot read the folder {}", d.display()))?;
                    for e in rd {
                        let path = e?.path();
                        if path.extension().is_some_and(|x| x == "md") {
                            let name = path
                                .file_stem()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            let text = std::fs::read_to_string(&path)
                                .with_context(|| format!("cannot read {}", path.display()))?;
                            files.push((name, text));
                        }
                    }
                    files.sort();
                    files
                }
            };
            let store = open_store(cfg).await?;
            let r = casedesk_core::kb::import(store.as_ref(), &Actor::cli(), &files)
                .await
                .map_err(explain)?;
            print(
                json,
                json!(r),
                format!(
                    "{} created, {} updated, {} unchanged",
                    r.created.len(),
                    r.updated.len(),
                    r.unchanged
                ),
            );
            Ok(())
        }
    }
}

async fn relevance(
    scratch_url: Option<String>,
    words_only: bool,
    min_ndcg: Option<f64>,
    json: bool,
) -> anyhow::Result<()> {
    use casedesk_core::kb::search;
    let dir = std::env::temp_dir().join(format!("casedesk-relevance-{}", uuid::Uuid::now_v7()));
    let url = match scratch_url {
        Some(u) => u,
        None => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            format!("sqlite://{}", dir.join("relevance.db").display())
        }
    };
    let outcome = async {
        let store = casedesk_store::connect(&url).await.map_err(explain)?;
        casedesk_core::kb::import(
            store.as_ref(),
            &Actor::cli(),
            &casedesk_core::kb::starter_files(),
        )
        .await
        .map_err(explain)?;
        let mut set = search::relevance_set().map_err(explain)?;
        if words_only {
            for j in &mut set {
                j.issue_area = None;
            }
        }
        search::evaluate(store.as_ref(), &casedesk_search::KbIndex::new(), &set)
            .await
            .map_err(explain)
    }
    .await;
    // The scratch folder goes whatever happened.
    let _ = std::fs::remove_dir_all(&dir);
    let (ndcg, recall, scores) = outcome?;
    let mut text = String::new();
    for s in scores
        .iter()
        .filter(|s| (!s.relevant.is_empty() && s.ndcg < 1.0) || s.relevant.is_empty() == s.strong)
    {
        text.push_str(&format!(
            "  {:.2}  {}{}\n        wanted {:?}, got {:?} (best covers {:.0}%: {})\n",
            s.ndcg,
            s.query,
            if s.source.is_some() {
                " [held-out]"
            } else {
                ""
            },
            s.relevant,
            s.returned,
            s.coverage * 100.0,
            if s.strong {
                "strong"
            } else {
                "no strong match"
            }
        ));
    }
    let part = |held: bool| {
        let v: Vec<&search::QueryScore> = scores
            .iter()
            .filter(|s| s.source.is_some() == held && !s.relevant.is_empty())
            .collect();
        let n = v.len().max(1) as f64;
        (
            v.len(),
            v.iter().map(|s| s.ndcg).sum::<f64>() / n,
            v.iter()
                .filter(|s| s.returned.first().is_some_and(|r| s.relevant.contains(r)))
                .count(),
        )
    };
    let (own_n, own_ndcg, _) = part(false);
    let (held_n, held_ndcg, held_top) = part(true);
    let answered: Vec<&search::QueryScore> =
        scores.iter().filter(|s| !s.relevant.is_empty()).collect();
    let unanswered: Vec<&search::QueryScore> =
        scores.iter().filter(|s| s.relevant.is_empty()).collect();
    let strong_ok = answered.iter().filter(|s| s.strong).count();
    let weak_ok = unanswered.iter().filter(|s| !s.strong).count();
    text.push_str(&format!(
        "{} queries: nDCG@5 {ndcg:.3}, recall@5 {recall:.3}\n  written with the entries: {own_n} queries, nDCG@5 {own_ndcg:.3}\n  held out: {held_n} answered queries, nDCG@5 {held_ndcg:.3}, top result relevant for {held_top}\n  strong match on {strong_ok} of {} answered queries; no strong match on {weak_ok} of {} that no entry answers",
        scores.len(),
        answered.len(),
        unanswered.len()
    ));
    print(
        json,
        json!({"queries": scores.len(), "ndcg_at_5": ndcg, "recall_at_5": recall,
               "own": {"queries": own_n, "ndcg_at_5": own_ndcg},
               "held_out": {"queries": held_n, "ndcg_at_5": held_ndcg, "top_relevant": held_top},
               "strong_on_answered": strong_ok, "answered": answered.len(),
               "weak_on_unanswered": weak_ok, "unanswered": unanswered.len(),
               "scores": scores}),
        text,
    );
    if let Some(min) = min_ndcg
        && ndcg < min
    {
        anyhow::bail!("nDCG@5 {ndcg:.3} is below {min}");
    }
    Ok(())
}
