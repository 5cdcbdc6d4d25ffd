//! Background work: a runner that claims jobs from the database and hands each to the
//! handler of its kind, and the handlers — case events fanned out to webhook endpoints,
//! signed webhook deliveries, messages sent by email, the hourly housekeeping (audit retention, old jobs), the SLA
//! scanner, reapply pass and notices, and the expiry of support access grants.
//!
//! Jobs live in the database (see `casedesk_core::jobs`), so they survive a crash: a job
//! claimed by a process that died is claimed again when its lease runs out.

mod config;
mod grants;
mod mail;
mod registry;
mod runner;
pub mod signing;
pub mod sla;
pub mod status;
mod webhooks;

pub use config::{JobsConfig, WebhookConfig};
pub use mail::MailSender;
pub use registry::{Handled, Handler};
pub use runner::{Runner, RunnerHandle};
pub use webhooks::{Dispatcher, Maintenance, WebhookSender};

use std::sync::Arc;

use casedesk_core::store::Store;
use casedesk_core::webhooks::SecretBox;

/// A runner with every handler casedesk has.
pub fn standard_runner(
    store: Arc<dyn Store>,
    sbox: Arc<dyn SecretBox>,
    wake: Arc<tokio::sync::Notify>,
    jobs: &JobsConfig,
    hooks: &WebhookConfig,
    mailer: Arc<casedesk_mail::Mailer>,
) -> Result<Runner, casedesk_core::DomainError> {
    let link_key = sbox.derive(casedesk_core::status::LINK_KEY);
    let sender = WebhookSender::new(store.clone(), sbox, hooks)?;
    Ok(Runner::new(store.clone(), wake, jobs.clone())
        .handle(
            casedesk_core::jobs::CASE_EVENT,
            Arc::new(Dispatcher::new(
                store.clone(),
                hooks.max_attempts(),
                Some(mailer.clone()),
            )),
        )
        .handle(
            casedesk_core::mail::SEND,
            Arc::new(MailSender::new(store.clone(), mailer.clone())),
        )
        .handle(casedesk_core::jobs::WEBHOOK_DELIVERY, Arc::new(sender))
        .handle(
            casedesk_core::jobs::MAINTENANCE,
            Arc::new(Maintenance::new(store.clone(), jobs.clone())),
        )
        .handle(
            casedesk_core::sla::SCAN,
            Arc::new(sla::Scanner::new(
                store.clone(),
                std::time::Duration::from_millis(jobs.sla_scan_interval_ms),
            )),
        )
        .handle(
            casedesk_core::sla::REAPPLY,
            Arc::new(sla::Reapply::new(store.clone())),
        )
        .handle(
            casedesk_core::sla::NOTIFY,
            Arc::new(sla::Notify::new(store.clone(), mailer.clone())),
        )
        .handle(
            casedesk_core::status::NOTIFY,
            Arc::new(status::Notify::new(
                store.clone(),
                Some(mailer),
                hooks.max_attempts(),
                link_key,
            )),
        )
        .handle(
            casedesk_core::grants::EXPIRE,
            Arc::new(grants::Expire::new(store.clone())),
        )
        .handle(
            casedesk_core::status::RESOLVE,
            Arc::new(status::Resolve::new(store)),
        ))
}
