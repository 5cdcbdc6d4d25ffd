//! `casedesk sla due|between`: the calendar preview without a server.

use std::path::Path;

use anyhow::Context;
use casedesk_core::sla::{preview, settings};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::config::Config;
use crate::shell::{explain, open_store};

#[derive(Debug, Subcommand)]
pub enum SlaCmd {
    /// When a target starting at an instant falls due on a calendar.
    Due {
        /// A calendar: the name of a stored calendar, a JSON file, inline JSON, `24x7`, or an
        /// IANA zone name (weekdays 08:00–18:00 there).
        #[arg(long)]
        calendar: String,
        /// When the clock starts (RFC 3339 with an offset).
        #[arg(long)]
        start: String,
        /// The target: minutes (`480`) or a duration (`8h`, `1h 30m`).
        #[arg(long)]
        target: String,
        #[arg(long)]
        json: bool,
    },
    /// The business time between two instants on a calendar.
    Between {
        /// As for `due`.
        #[arg(long)]
        calendar: String,
        /// RFC 3339 with an offset.
        #[arg(long)]
        from: String,
        /// RFC 3339 with an offset.
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// The calendar an account's business hours count on; `--set` chooses one, `--clear`
    /// goes back to its region's.
    AccountCalendar {
        /// Account id or name.
        #[arg(long)]
        account: String,
        /// A stored calendar's name, or a region (americas, eu, apac).
        #[arg(long, conflicts_with = "clear")]
        set: Option<String>,
        #[arg(long)]
        clear: bool,
        #[arg(long)]
        json: bool,
    },
}

/// A calendar argument as the preview reads it.
fn calendar_arg(s: &str) -> anyhow::Result<Value> {
    let t = s.trim();
    if t.starts_with('{') {
        return serde_json::from_str(t).context("--calendar is not valid JSON");
    }
    if t.ends_with(".json") || Path::new(t).is_file() {
        let text = std::fs::read_to_string(t).with_context(|| format!("cannot read {t}"))?;
        return serde_json::from_str(&text).with_context(|| format!("{t} is not valid JSON"));
    }
    Ok(json!(t))
}

/// Minutes from `480`, `8h`, `1h 30m`, `2d` (a day is 24 hours of calendar time here: it is
/// the length of the target, counted in business time by the calendar).
fn minutes_arg(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    if let Ok(m) = t.parse::<u64>() {
        return Ok(m);
    }
    let d: jiff::SignedDuration = t
        .parse()
        .with_context(|| format!("--target {t:?} is neither minutes nor a duration like 8h"))?;
    let secs = d.as_secs();
    if secs <= 0 || secs % 60 != 0 {
        anyhow::bail!("--target must be a positive whole number of minutes");
    }
    Ok(u64::try_from(secs / 60)?)
}

pub async fn run(cfg: &Config, cmd: SlaCmd) -> anyhow::Result<()> {
    match cmd {
        SlaCmd::Due {
            calendar,
            start,
            target,
            json,
        } => {
            let mut q = json!({"calendar": calendar_arg(&calendar)?, "start": start,
                "target_minutes": minutes_arg(&target)?});
            stored(cfg, &mut q).await?;
            let a = preview::due(&q).map_err(explain)?;
            if json {
                println!("{a}");
            } else {
                println!("due {} ({})", str_of(&a["due_at"]), str_of(&a["due_local"]));
                println!("counted:");
                print_intervals(&a["counted"]);
            }
        }
        SlaCmd::Between {
            calendar,
            from,
            to,
            json,
        } => {
            let mut q = json!({"calendar": calendar_arg(&calendar)?, "from": from, "to": to});
            stored(cfg, &mut q).await?;
            let a = preview::between(&q).map_err(explain)?;
            if json {
                println!("{a}");
            } else {
                println!("{} business minutes", a["business_minutes"]);
                print_intervals(&a["counted"]);
            }
        }
        SlaCmd::AccountCalendar {
            account,
            set,
            clear,
            json,
        } => {
            let store = open_store(cfg).await?;
            if set.is_some() || clear {
                settings::set_account_calendar(
                    store.as_ref(),
                    &casedesk_core::audit::Actor::cli(),
                    &account,
                    set.as_deref(),
                )
                .await
                .map_err(explain)?;
            }
            let acc = store
                .find_account(&account)
                .await
                .map_err(explain)?
                .context("no such account")?;
            let (name, why, cals) = settings::account_calendars(store.as_ref(), acc.id)
                .await
                .map_err(explain)?;
            let now = casedesk_core::now();
            let cal = cals.at(now).to_json();
            if json {
                println!(
                    "{}",
                    json!({"account": acc.name, "calendar": name, "why": why, "hours": cal})
                );
            } else {
                println!("{}: calendar {name} ({why})", acc.name);
                println!("{cal}");
            }
        }
    }
    Ok(())
}

/// A calendar given by name is read from the database; nothing else opens it.
async fn stored(cfg: &Config, q: &mut Value) -> anyhow::Result<()> {
    let named = q["calendar"]
        .as_str()
        .is_some_and(|n| settings::check_name(n).is_ok());
    if named {
        let store = open_store(cfg).await?;
        settings::resolve(store.as_ref(), q)
            .await
            .map_err(explain)?;
    }
    Ok(())
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn print_intervals(v: &Value) {
    for i in v.as_array().into_iter().flatten() {
        println!("  {} – {}", str_of(&i["from"]), str_of(&i["to"]));
    }
}
