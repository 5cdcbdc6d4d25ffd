//! Service-level clocks: business calendars, policies (plan × priority → goals), and the
//! append-only clock log from which every due time, state and explanation is derived.

pub mod calendar;
pub mod clock;
pub mod policy;
pub mod preview;
pub mod settings;

pub use calendar::Calendar;
pub use clock::{Calendars, ClockEvent, ClockEventKind, Clocks, Cycle, CycleState, Happening};
pub use policy::{Basis, Goal, Policy, Target, default_policy};
