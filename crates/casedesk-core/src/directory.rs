//! The directory: accounts, their tenants and users, and the issue areas, as the store keeps
//! them. Every feature finds people and accounts through it.

use uuid::Uuid;

use crate::accounts::{Account, Tenant};
use crate::acts::AuditRecord;
use crate::taxonomy::IssueArea;
use crate::users::{Role, User, normalize_email};
use crate::{DomainError, Result};

/// What the directory keeps: accounts, tenants, users and the issue areas.
/// What must still hold when a user's role, access or activity changes. The store checks it
/// in the transaction of the change, after every change made before it in the same group (an
/// account's users, or the support team), so two changes at once cannot each leave it broken.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// The user's account keeps an active super admin.
    pub super_admin: bool,
    /// The support team keeps an active manager.
    pub manager: bool,
    /// The account's active elevated contacts stay within this many.
    pub elevated_cap: Option<u32>,
}

#[async_trait::async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Stores a new account; a duplicate name is a conflict.
    async fn create_account(&self, account: &Account, audit: &AuditRecord) -> Result<()>;

    /// Finds an account by id or by exact name.
    async fn find_account(&self, id_or_name: &str) -> Result<Option<Account>>;

    /// Sets an account's customer success manager (a user id) and mail preference.
    async fn set_account_profile(
        &self,
        account_id: Uuid,
        csm: Option<Uuid>,
        copy_requester: bool,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// The accounts whose customer success manager is `user_id`, oldest first.
    async fn accounts_of_csm(&self, user_id: Uuid) -> Result<Vec<Account>>;

    /// Every account, oldest first.
    async fn list_accounts(&self) -> Result<Vec<Account>>;

    /// Stores a new tenant; a duplicate slug is a conflict.
    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditRecord) -> Result<()>;

    /// The tenants of an account.
    async fn list_tenants(&self, account_id: Uuid) -> Result<Vec<Tenant>>;

    /// A tenant by its (unique) slug.
    async fn find_tenant(&self, slug: &str) -> Result<Option<Tenant>>;

    /// Stores a new user with their queues; a duplicate email is a conflict. When
    /// `elevated_cap` is given and the user is elevated, the store refuses (conflict) if the
    /// account already has that many elevated contacts, checked in the same transaction.
    async fn create_user(
        &self,
        user: &User,
        elevated_cap: Option<u32>,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// A user by id.
    async fn get_user(&self, id: Uuid) -> Result<Option<User>>;

    /// A user by (lowercase) email.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;

    /// The users of an account.
    async fn list_account_users(&self, account_id: Uuid) -> Result<Vec<User>>;

    /// Replaces a user's role, flags, queues and whether they are active, if they are still as
    /// `before` (else a conflict: someone changed them meanwhile) and `keep` still holds after
    /// it. A deactivated user's sessions and API tokens are deleted in the same transaction.
    async fn update_user_access(
        &self,
        before: &User,
        after: &User,
        keep: &Keep,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// How many users have a role.
    async fn count_users_with_role(&self, role: Role) -> Result<u64>;

    /// Support engineers and managers, with their queues.
    async fn support_users(&self) -> Result<Vec<User>>;

    /// The issue-area taxonomy.
    async fn issue_areas(&self) -> Result<Vec<IssueArea>>;
}

/// Finds a user by email, or says (as an error of `field`) that none has it.
pub async fn resolve_user(store: &dyn DirectoryStore, email: &str, field: &str) -> Result<User> {
    let email = normalize_email(email).map_err(|m| DomainError::field(field, m))?;
    store
        .find_user_by_email(&email)
        .await?
        .ok_or_else(|| DomainError::field(field, format!("no user has the email {email}")))
}
