//! Service-level clocks: business calendars, policies (plan × priority → goals), and the
//! append-only clock log from which every due time, state and explanation is derived.

pub mod calendar;
pub mod case;
pub mod clock;
pub mod policy;
pub mod preview;
pub mod settings;
pub mod store;

pub use calendar::Calendar;
pub use clock::{Calendars, ClockEvent, ClockEventKind, Clocks, Cycle, CycleState, Happening};
pub use policy::{Basis, Goal, Policy, Target, default_policy};
pub use settings::SlaSettings;
pub use store::{SlaStore, SlaWrite};

/// The job that recomputes open cases after a policy, calendar or settings change.
pub const REAPPLY: &str = "sla.reapply";
/// The recurring job that records due warnings and breaches.
pub const SCAN: &str = "sla.scan";
/// The job that tells people of one warning or breach.
pub const NOTIFY: &str = "sla.notify";

/// A reapply job, written in the transaction of the change that needs it.
pub fn reapply_job() -> crate::jobs::NewJob {
    crate::jobs::NewJob::new(REAPPLY, serde_json::json!({"after": 0})).max_attempts(20)
}
