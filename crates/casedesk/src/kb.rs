//! `casedesk kb`: import knowledge-base entries (the starter set, or a folder of them).

use std::path::PathBuf;

use anyhow::Context;
use casedesk_core::audit::Actor;
use clap::Subcommand;
use serde_json::json;

use crate::cli::{explain, open_store, print};
use crate::config::Config;

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
}

pub async fn run(cfg: &Config, cmd: KbCmd) -> anyhow::Result<()> {
    match cmd {
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
