//! What every subcommand does around its work: open the store the configuration names,
//! print an answer (JSON or text), and explain a domain error in words.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use casedesk_core::store::Store;
use casedesk_core::{DomainError, FieldError};

use crate::config::Config;

/// Turns a domain error into a readable CLI message.
pub(crate) fn explain(e: DomainError) -> anyhow::Error {
    match e {
        DomainError::Validation(errs) => anyhow!(
            "{}",
            errs.iter()
                .map(|FieldError { field, message }| format!("{field}: {message}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow!("{other}"),
    }
}

pub(crate) async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = cfg.database_url()?;
    casedesk_store::connect(&url)
        .await
        .map_err(explain)
        .context("cannot open the database")
}

pub(crate) fn print(json_out: bool, value: serde_json::Value, text: String) {
    if json_out {
        println!("{value}");
    } else {
        println!("{text}");
    }
}
