//! The storage interface as a whole: the sum of every feature's store trait, each declared
//! beside its feature. `casedesk-store` implements each of them for SQLite and PostgreSQL; the
//! store contract tests run the same suite, trait by trait, against both.

use crate::Result;
use crate::attachments::AttachmentStore;
use crate::audit::AuditStore;
use crate::cases::CaseStore;
use crate::directory::DirectoryStore;
use crate::grants::GrantStore;
use crate::identity::IdentityStore;
use crate::jobs::JobStore;
use crate::kb::KbStore;
use crate::kb::replies::ReplyStore;
use crate::mail::MailStore;
use crate::reports::ReportStore;
use crate::satisfaction::SatisfactionStore;
use crate::service::ServiceStore;
use crate::sla::SlaStore;
use crate::status::StatusStore;
use crate::trust::TrustStore;
use crate::webhooks::WebhookStore;

/// Persistence for everything casedesk keeps.
#[async_trait::async_trait]
pub trait Store:
    DirectoryStore
    + CaseStore
    + IdentityStore
    + AuditStore
    + JobStore
    + WebhookStore
    + SlaStore
    + MailStore
    + KbStore
    + ReplyStore
    + StatusStore
    + AttachmentStore
    + ReportStore
    + GrantStore
    + SatisfactionStore
    + TrustStore
    + ServiceStore
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;
}

/// Every feature's store trait, for code that calls store methods on a concrete backend
/// (`use casedesk_core::store::traits::*`).
pub mod traits {
    pub use crate::attachments::AttachmentStore;
    pub use crate::audit::AuditStore;
    pub use crate::cases::CaseStore;
    pub use crate::directory::DirectoryStore;
    pub use crate::grants::GrantStore;
    pub use crate::identity::IdentityStore;
    pub use crate::jobs::JobStore;
    pub use crate::kb::KbStore;
    pub use crate::kb::replies::ReplyStore;
    pub use crate::mail::MailStore;
    pub use crate::reports::ReportStore;
    pub use crate::satisfaction::SatisfactionStore;
    pub use crate::service::ServiceStore;
    pub use crate::sla::SlaStore;
    pub use crate::status::StatusStore;
    pub use crate::trust::TrustStore;
    pub use crate::webhooks::WebhookStore;
}
