//! What the SLA keeps: calendars and policies with their versions, the settings, and each
//! case's clock log and timers.

use uuid::Uuid;

use super::clock::ClockEvent;
use crate::acts::AuditRecord;
use crate::cases::CaseStore;
use crate::directory::DirectoryStore;
use crate::{Result, Timestamp};

/// What a case change writes to the SLA: log entries and the two derived columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaWrite {
    /// Entries to append to the case's clock log.
    pub events: Vec<ClockEvent>,
    /// The earliest due time of a running cycle.
    pub due_at: Option<Timestamp>,
    /// The next instant a warning or breach must be recorded.
    pub alert_at: Option<Timestamp>,
}

/// Calendars, policies, SLA settings and each case's clock log and timers.
#[async_trait::async_trait]
pub trait SlaStore: DirectoryStore + CaseStore {
    /// Saves a version of SLA calendar `name` (as `Calendar::to_json` writes it), in force from
    /// `from`.
    async fn put_calendar(
        &self,
        name: &str,
        spec: &str,
        from: Timestamp,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Every version of calendar `name`, oldest first (empty when there is no such calendar).
    async fn calendar_versions(&self, name: &str) -> Result<Vec<(Timestamp, String)>>;

    /// The newest version of every calendar, by name: (name, in force since, spec).
    async fn list_calendars(&self) -> Result<Vec<(String, Timestamp, String)>>;

    /// Saves the edited policy of a plan and priority.
    async fn put_policy(
        &self,
        plan: &str,
        priority: &str,
        spec: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// The edited policies: (plan, priority, spec, when edited).
    async fn list_policies(&self) -> Result<Vec<(String, String, String, Timestamp)>>;

    /// Chooses the calendar of an account (`None`: its region's).
    async fn set_account_calendar(
        &self,
        account_id: Uuid,
        calendar: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// The calendar chosen for an account, if one was.
    async fn account_calendar(&self, account_id: Uuid) -> Result<Option<String>>;

    /// The SLA settings as stored (`None`: defaults).
    async fn sla_settings(&self) -> Result<Option<String>>;

    /// Replaces the SLA settings; open cases are recomputed by a job written with them.
    async fn put_sla_settings(&self, spec: &str, audit: &AuditRecord) -> Result<()>;

    /// The SLA clock log of a case, oldest first.
    async fn sla_log(&self, number: i64) -> Result<Vec<ClockEvent>>;

    /// Appends to a case's clock log and sets its timers if the case is still at
    /// `expected_version` (and moves the version on, so a change computed from the older log
    /// is retried), without a timeline event; false when another change came first.
    async fn set_sla(&self, number: i64, expected_version: i64, sla: &SlaWrite) -> Result<bool>;

    /// Cases whose next SLA timer is at or before `until`, soonest first (through the
    /// `cases_sla_alert` index).
    async fn sla_alerts_due(&self, until: Timestamp, limit: u32) -> Result<Vec<i64>>;
}
