//! The orchestration: one case change run across features in one transaction. A request to
//! open or change a case, an SLA timer firing, evidence arriving or mail being answered all
//! come here; this layer asks each feature for its part (the SLA clocks, the jobs to queue,
//! the mail to send, the attachments to keep) and hands the composed write to the store.

mod cases;
mod evidence;
mod intake;
pub mod timers;
pub mod writes;

pub use cases::*;
pub use evidence::{attach, record_report};
pub use intake::put_email_intake;
pub use writes::{CasePatch, FollowUp, NewCase, ServiceStore};
