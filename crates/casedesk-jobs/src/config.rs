//! Settings of the job runner and of webhook delivery (`[jobs]` and `[webhooks]`).

use serde::{Deserialize, Serialize};

/// The job runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs run at once by this process.
    pub workers: usize,
    /// How often idle workers look for jobs written by other processes, in milliseconds
    /// (jobs written by this process wake them at once).
    pub poll_interval_ms: u64,
    /// How long a claim lasts; a job whose process died is claimed again after it (checked
    /// every few seconds).
    pub lease_seconds: u64,
    /// After new work is announced, wait this long before claiming, so a burst of jobs is
    /// claimed together (fewer database writes, a few milliseconds more latency).
    pub claim_delay_ms: u64,
    /// On shutdown, how long running jobs may finish before they are released.
    pub shutdown_grace_seconds: u64,
    /// First retry delay of jobs other than webhook deliveries; doubles per attempt.
    pub retry_base_seconds: f64,
    /// Longest retry delay of those jobs.
    pub retry_cap_seconds: f64,
    /// How often housekeeping runs.
    pub maintenance_interval_seconds: u64,
    /// Cancelled jobs and webhook delivery logs are kept this long (successful jobs are
    /// deleted when they finish; dead ones stay until retried or cancelled).
    pub keep_finished_days: u32,
    /// Audit entries are kept this long, then pruned behind a checkpoint.
    pub audit_retention_days: u32,
    /// How often the SLA scanner looks for due warnings and breaches, in milliseconds.
    pub sla_scan_interval_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 32,
            poll_interval_ms: 500,
            lease_seconds: 60,
            claim_delay_ms: 20,
            shutdown_grace_seconds: 10,
            retry_base_seconds: 2.0,
            retry_cap_seconds: 3600.0,
            maintenance_interval_seconds: 3600,
            keep_finished_days: 14,
            audit_retention_days: casedesk_core::audit::DEFAULT_RETENTION_DAYS,
            sla_scan_interval_ms: 15_000,
        }
    }
}

impl JobsConfig {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1024).contains(&self.workers) {
            return Err("jobs.workers: must be 1 to 1024".into());
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return Err("jobs.poll_interval_ms: must be 10 to 60000".into());
        }
        if self.claim_delay_ms > 1000 {
            return Err("jobs.claim_delay_ms: must be at most 1000".into());
        }
        if !(1..=86_400).contains(&self.lease_seconds) {
            return Err("jobs.lease_seconds: must be 1 to 86400".into());
        }
        if self.retry_base_seconds <= 0.0 || self.retry_cap_seconds < self.retry_base_seconds {
            return Err(
                "jobs.retry_base_seconds and retry_cap_seconds: must be positive, base ≤ cap"
                    .into(),
            );
        }
        if self.audit_retention_days == 0 {
            return Err("jobs.audit_retention_days: must be at least 1".into());
        }
        if !(100..=300_000).contains(&self.sla_scan_interval_ms) {
            return Err("jobs.sla_scan_interval_ms: must be 100 to 300000".into());
        }
        if self.maintenance_interval_seconds == 0 {
            return Err("jobs.maintenance_interval_seconds: must be at least 1".into());
        }
        Ok(())
    }
}

/// Webhook delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Whole-request timeout in seconds.
    pub timeout_seconds: u64,
    /// Connection timeout in seconds.
    pub connect_timeout_seconds: u64,
    /// Most bytes of an answer read (the rest is dropped).
    pub max_response_bytes: usize,
    /// Deliver to loopback, private and link-local addresses (tests, on-premise receivers).
    pub allow_private_networks: bool,
    /// Private hosts allowed all the same, each `host` or `host:port` (an on-premise
    /// receiver), when private networks are otherwise refused. The JWT explainer follows the
    /// same rules.
    pub allowed_private_hosts: Vec<String>,
    /// Refuse `http://` endpoints.
    pub require_https: bool,
    /// Delay before each retry, in seconds; the number of entries plus one is the number of
    /// attempts, after which the delivery fails and its endpoint is disabled.
    pub retry_schedule_seconds: Vec<u64>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout_seconds: 15,
            connect_timeout_seconds: 5,
            max_response_bytes: 16 * 1024,
            allow_private_networks: false,
            allowed_private_hosts: Vec::new(),
            require_https: true,
            // About three days in all, like the payment and messaging providers do.
            retry_schedule_seconds: vec![
                5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400,
            ],
        }
    }
}

impl WebhookConfig {
    /// Attempts of one delivery.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_schedule_seconds.len()).unwrap_or(30) + 1
    }

    /// Where endpoints may point.
    pub fn url_policy(&self) -> casedesk_core::outbound::UrlPolicy {
        casedesk_core::outbound::UrlPolicy {
            allow_private: self.allow_private_networks,
            require_https: self.require_https,
            private_exceptions: self.allowed_private_hosts.clone(),
        }
    }

    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=60).contains(&self.timeout_seconds) {
            return Err("webhooks.timeout_seconds: must be 1 to 60".into());
        }
        if !(1..=60).contains(&self.connect_timeout_seconds) {
            return Err("webhooks.connect_timeout_seconds: must be 1 to 60".into());
        }
        if self.retry_schedule_seconds.len() > 30
            || self.retry_schedule_seconds.iter().any(|s| *s > 7 * 86_400)
        {
            return Err(
                "webhooks.retry_schedule_seconds: at most 30 entries of at most a week".into(),
            );
        }
        if self.max_response_bytes > 1024 * 1024 {
            return Err("webhooks.max_response_bytes: must be at most 1 MiB".into());
        }
        Ok(())
    }
}
