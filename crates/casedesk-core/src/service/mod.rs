//! The orchestration: one case change run across features in one transaction. A request to
//! open or change a case, an SLA timer firing, evidence arriving or mail being answered all
//! come here; this layer asks each feature for its part (the SLA clocks, the jobs to queue,
//! the mail to send, the attachments to keep) and hands the composed write to the store.

mod change;
mod create;
mod evidence;
pub mod grants;
mod intake;
mod list;
mod read;
pub mod satisfaction;
pub mod timers;
pub mod writes;

pub use crate::cases::get_case;
pub use change::{Command, MAX_BODY, act, act_by_email};
pub use create::{check_intake, create_case};
pub use evidence::{attach, record_report};
pub use intake::put_email_intake;
pub use list::{ListFilters, csm_cases, list_cases};
pub use read::{case_sla, events_of, explain_sla, get_sla, list_events, sla_of};
pub use writes::{CasePatch, FollowUp, HistoricCase, NewCase, ServiceStore};
