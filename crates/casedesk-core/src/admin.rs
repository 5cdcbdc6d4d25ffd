//! Administration: creating accounts, tenants, users and tokens (the CLI and demo use these).

use uuid::Uuid;

use crate::accounts::{Account, Environment, Plan, Region, Tenant, validate_slug};
use crate::audit::{Actor, AuditRecord};
use crate::directory::Keep;
use crate::identity::{IdentityStore, TokenRecord};
use crate::permissions::ElevatedLimits;
use crate::users::{Role, Scope, User, normalize_email};
use crate::{DomainError, FieldError, Result, now};

/// Creates a customer account.
pub async fn create_account(
    store: &dyn IdentityStore,
    name: &str,
    plan: Plan,
    actor: &Actor,
) -> Result<Account> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(DomainError::field("name", "must be 1 to 200 characters"));
    }
    let account = Account {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        plan,
        csm: None,
        copy_requester: false,
        created_at: now(),
    };
    let audit = AuditRecord::new(
        actor.clone(),
        "account.create",
        format!("account:{}", account.id),
    )
    .account(Some(account.id))
    .summary(serde_json::json!({"name": account.name, "plan": account.plan.key()}));
    store.create_account(&account, &audit).await?;
    Ok(account)
}

/// What a manager may change on an account: its customer success manager (`Some(None)`
/// removes it) and whether the requester gets a copy of mail sent to another case email.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// The CSM's email, or `Some(None)` for none.
    pub csm: Option<Option<String>>,
    /// Copy the requester on the case's mail.
    pub copy_requester: Option<bool>,
}

/// Changes an account's CSM or mail preference (the CLI); the CSM must be a support engineer
/// or manager.
pub async fn set_account(
    store: &dyn IdentityStore,
    account: &str,
    change: &AccountChange,
    actor: &Actor,
) -> Result<Account> {
    let account = resolve_account(store, account).await?;
    apply_account_change(store, account, change, |id| {
        AuditRecord::new(actor.clone(), "account.update", format!("account:{id}"))
    })
    .await
}

/// Changes an account through the API: `{"csm": email|null, "copy_requester": bool}`. A
/// manager may change both; a super admin of the account only its mail preference.
pub async fn update_account(
    store: &dyn IdentityStore,
    p: &crate::users::Principal,
    account: &str,
    v: &serde_json::Value,
) -> Result<Account> {
    // Another account's is not found, whatever the credential carries.
    let account = visible_account(store, p, account).await?;
    crate::permissions::require_scope(p, Scope::Admin)?;
    let Some(obj) = v.as_object() else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    let mut errs = Vec::new();
    let mut change = AccountChange::default();
    for (k, val) in obj {
        match (k.as_str(), val) {
            ("csm", serde_json::Value::Null) => change.csm = Some(None),
            ("csm", serde_json::Value::String(s)) => change.csm = Some(Some(s.clone())),
            ("csm", _) => errs.push(FieldError::new(
                "csm",
                "must be the email of a support engineer or manager, or null",
            )),
            ("copy_requester", serde_json::Value::Bool(b)) => change.copy_requester = Some(*b),
            ("copy_requester", _) => {
                errs.push(FieldError::new("copy_requester", "must be true or false"))
            }
            _ => errs.push(FieldError::new(
                k,
                "is not a field of an account you can change: csm, copy_requester",
            )),
        }
    }
    if errs.is_empty() && change == AccountChange::default() {
        errs.push(FieldError::new(
            "body",
            "names nothing to change: give csm, copy_requester or both",
        ));
    }
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    if change.csm.is_some() && p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers name an account's customer success manager.".into(),
        ));
    }
    apply_account_change(store, account, &change, |id| {
        AuditRecord::by(p, "account.update", format!("account:{id}"))
    })
    .await
}

/// The account as its own users and managers may read it; anyone else finds nothing.
pub async fn visible_account(
    store: &dyn IdentityStore,
    p: &crate::users::Principal,
    account: &str,
) -> Result<Account> {
    let not_found = || DomainError::NotFound { entity: "account" };
    let a = store
        .find_account(account.trim())
        .await?
        .ok_or_else(not_found)?;
    match p.user.role {
        Role::Manager => Ok(a),
        Role::SuperAdmin if p.user.account_id == Some(a.id) => Ok(a),
        Role::SuperAdmin | Role::Admin if p.user.account_id != Some(a.id) => Err(not_found()),
        _ => Err(DomainError::Forbidden(
            "Only support managers and the account's super admins can change an account.".into(),
        )),
    }
}

async fn apply_account_change(
    store: &dyn IdentityStore,
    mut account: Account,
    change: &AccountChange,
    audit: impl FnOnce(Uuid) -> AuditRecord,
) -> Result<Account> {
    let before = serde_json::json!({"csm": account.csm, "copy_requester": account.copy_requester});
    let mut csm_id = match &account.csm {
        Some(e) => store.find_user_by_email(e).await?.map(|u| u.id),
        None => None,
    };
    if let Some(csm) = &change.csm {
        match csm.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => {
                csm_id = None;
                account.csm = None;
            }
            Some(email) => {
                let u = crate::directory::resolve_user(store, email, "csm").await?;
                if !crate::permissions::can_be_assigned(u.role) {
                    return Err(DomainError::field(
                        "csm",
                        format!(
                            "{} is not a support engineer or manager; a customer success manager works for support",
                            u.email
                        ),
                    ));
                }
                csm_id = Some(u.id);
                account.csm = Some(u.email);
            }
        }
    }
    if let Some(c) = change.copy_requester {
        account.copy_requester = c;
    }
    let audit = audit(account.id)
        .account(Some(account.id))
        .summary(serde_json::json!({"from": before, "to": {"csm": account.csm, "copy_requester": account.copy_requester}}));
    store
        .set_account_profile(account.id, csm_id, account.copy_requester, &audit)
        .await?;
    Ok(account)
}

/// Finds an account by id or name, or says it does not exist.
pub async fn resolve_account(store: &dyn IdentityStore, id_or_name: &str) -> Result<Account> {
    store.find_account(id_or_name.trim()).await?.ok_or_else(|| {
        DomainError::field(
            "account",
            format!("no account has the id or name {id_or_name:?}"),
        )
    })
}

/// Creates a tenant for an account.
pub async fn create_tenant(
    store: &dyn IdentityStore,
    account: &str,
    slug: &str,
    region: Region,
    environment: Environment,
    actor: &Actor,
) -> Result<Tenant> {
    let account = resolve_account(store, account).await?;
    let slug = slug.trim().to_owned();
    validate_slug(&slug).map_err(|m| DomainError::field("slug", m))?;
    let tenant = Tenant {
        id: Uuid::now_v7(),
        account_id: account.id,
        slug,
        region,
        environment,
        created_at: now(),
    };
    let audit = AuditRecord::new(
        actor.clone(),
        "tenant.create",
        format!("tenant:{}", tenant.slug),
    )
    .account(Some(account.id))
    .summary(
        serde_json::json!({"region": tenant.region.key(), "environment": tenant.environment.key()}),
    );
    store.create_tenant(&tenant, &audit).await?;
    Ok(tenant)
}

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Account id or name, for customer admins.
    pub account: Option<String>,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Case-admin permission (super admins hold it regardless of this flag).
    pub case_admin: bool,
    /// Elevated support contact.
    pub elevated: bool,
    /// Queues, for agents.
    pub queues: Vec<String>,
}

/// Creates a user, enforcing the role rules and the elevated-contact cap of the plan.
pub async fn create_user(
    store: &dyn IdentityStore,
    limits: &ElevatedLimits,
    input: NewUser,
    actor: &Actor,
) -> Result<User> {
    let (user, cap, audit) = new_user(store, limits, input, actor).await?;
    store.create_user(&user, cap, &audit).await?;
    Ok(user)
}

/// A new user checked against the role rules, with the plan's cap of elevated contacts and
/// the audit entry of its creation.
async fn new_user(
    store: &dyn IdentityStore,
    limits: &ElevatedLimits,
    input: NewUser,
    actor: &Actor,
) -> Result<(User, Option<u32>, AuditRecord)> {
    let mut errors = Vec::new();
    let email = normalize_email(&input.email)
        .map_err(|m| errors.push(FieldError::new("email", m)))
        .ok();
    let customer = input.role.is_customer();
    if customer && input.account.is_none() {
        errors.push(FieldError::new(
            "account",
            "is required for super-admin and admin users",
        ));
    }
    if !customer && input.account.is_some() {
        errors.push(FieldError::new(
            "account",
            "support agents and managers do not belong to a customer account",
        ));
    }
    if !customer && (input.case_admin || input.elevated) {
        errors.push(FieldError::new(
            "role",
            "case-admin and elevated apply to customer admins only",
        ));
    }
    if customer && !input.queues.is_empty() {
        errors.push(FieldError::new(
            "queue",
            "queues apply to agents and managers only",
        ));
    }
    check_queues(store, &input.queues, &mut errors).await?;
    let account = match &input.account {
        Some(a) => match store.find_account(a).await? {
            Some(acc) => Some(acc),
            None => {
                errors.push(FieldError::new(
                    "account",
                    format!("no account has the id or name {a:?}"),
                ));
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let email = email.ok_or_else(|| DomainError::field("email", "is required"))?;
    let user = User {
        id: Uuid::now_v7(),
        account_id: account.as_ref().map(|a| a.id),
        email,
        role: input.role,
        case_admin: input.role == Role::SuperAdmin || input.case_admin,
        elevated: input.elevated,
        queues: input.queues,
        created_at: now(),
        deactivated_at: None,
    };
    if user.elevated
        && let Some(full) = elevated_full(store, limits, &user).await?
    {
        return Err(DomainError::Validation(vec![full]));
    }
    let cap = account.as_ref().map(|a| limits.for_plan(a.plan));
    let audit = AuditRecord::new(actor.clone(), "user.create", format!("user:{}", user.email))
        .account(user.account_id)
        .summary(access_summary(&user));
    Ok((user, cap, audit))
}

/// Composes the invitation of a user who is about to be created.
pub type Invitation<'a> = &'a (dyn Fn(&User) -> Result<crate::mail::NewMail> + Send + Sync);

/// Creates a user for someone signed in: a support manager creates anyone; a super admin
/// creates admins of their own account. With an invitation, its message is written with the
/// user.
pub async fn create_user_as(
    store: &dyn IdentityStore,
    limits: &ElevatedLimits,
    p: &crate::users::Principal,
    mut input: NewUser,
    invitation: Option<Invitation<'_>>,
) -> Result<User> {
    if p.user.is_administrator() {
        crate::permissions::require_scope(p, Scope::Admin)?;
    }
    match p.user.role {
        Role::Manager => {}
        Role::SuperAdmin => {
            if input.role != Role::Admin {
                return Err(DomainError::field(
                    "role",
                    "a super admin creates admins of their own account; ask support for other roles",
                ));
            }
            input.account = p.user.account_id.map(|a| a.to_string());
        }
        _ => {
            return Err(DomainError::Forbidden(
                "Only a super admin of the account or a support manager can create users.".into(),
            ));
        }
    }
    let (user, cap, audit) = new_user(store, limits, input, &Actor::user(&p.user)).await?;
    match invitation {
        Some(compose) => {
            let mail = compose(&user)?;
            let mut summary = access_summary(&user);
            summary["invited"] = serde_json::json!(true);
            let audit = audit.summary(summary);
            store.invite_user(&user, cap, &audit, &mail).await?;
        }
        None => store.create_user(&user, cap, &audit).await?,
    }
    Ok(user)
}

/// Records an API token for a user. The caller generated the token and hands only its hash.
/// Without scopes, the token gets every scope the user may hold.
pub async fn create_token(
    store: &dyn IdentityStore,
    email: &str,
    scopes: &[Scope],
    label: Option<String>,
    hash: String,
    actor: &Actor,
) -> Result<(User, TokenRecord)> {
    let user = crate::directory::resolve_user(store, email, "user").await?;
    let record = token_record(&user, scopes, None, label, hash)?;
    let audit = token_audit(
        AuditRecord::new(
            actor.clone(),
            "token.create",
            format!("token:{}", record.id),
        ),
        &user,
        &record,
    );
    store.create_token(&record, &audit).await?;
    Ok((user, record))
}

/// Builds a token record for `user` after checking its scopes and label.
pub fn token_record(
    user: &User,
    scopes: &[Scope],
    ceiling: Option<&[Scope]>,
    label: Option<String>,
    hash: String,
) -> Result<TokenRecord> {
    let scopes = crate::identity::scopes_for_new_token(user, scopes, ceiling)?;
    let label = label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    if label.as_ref().is_some_and(|l| l.chars().count() > 100) {
        return Err(DomainError::field(
            "label",
            "must be at most 100 characters",
        ));
    }
    Ok(TokenRecord {
        id: Uuid::now_v7(),
        user_id: user.id,
        hash,
        scopes,
        label,
        created_at: now(),
        last_used_at: None,
    })
}

/// Creates the first support manager; refused once any manager exists, so the command
/// cannot be used to add managers behind the others' backs.
pub async fn bootstrap_manager(
    store: &dyn IdentityStore,
    email: &str,
    actor: &Actor,
) -> Result<User> {
    if crate::identity::has_manager(store).await? {
        return Err(DomainError::Conflict(
            "a manager already exists; bootstrap only creates the first one".into(),
        ));
    }
    create_user(
        store,
        &ElevatedLimits::default(),
        NewUser {
            account: None,
            email: email.to_owned(),
            role: Role::Manager,
            case_admin: false,
            elevated: false,
            queues: vec![],
        },
        actor,
    )
    .await
}

/// Adds an error for each name that is not a queue of the taxonomy.
async fn check_queues(
    store: &dyn IdentityStore,
    queues: &[String],
    errors: &mut Vec<FieldError>,
) -> Result<()> {
    let areas = store.issue_areas().await?;
    for q in queues {
        if !areas.iter().any(|a| a.queue == *q) {
            let mut known: Vec<&str> = areas.iter().map(|a| a.queue.as_str()).collect();
            known.sort_unstable();
            known.dedup();
            errors.push(FieldError::new(
                "queue",
                format!("{q:?} is not a queue; queues are {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// What a user may do, as changed by someone who may change it.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Case-admin permission (customer admins).
    pub case_admin: bool,
    /// Elevated support contact (customer admins).
    pub elevated: bool,
    /// Queues (support engineers and managers).
    pub queues: Vec<String>,
}

/// Changes a user's access. A super admin grants case-admin and elevated to the admins of
/// their own account (within the plan's elevated cap); a support manager changes anyone's,
/// and the queues of support staff.
pub async fn set_access(
    store: &dyn IdentityStore,
    limits: &ElevatedLimits,
    p: &crate::users::Principal,
    email: &str,
    access: Access,
) -> Result<User> {
    // The role first: its 403 says who may change access.
    if !p.user.is_administrator() {
        return Err(DomainError::Forbidden(
            "Only a super admin of the account or a support manager can change access.".into(),
        ));
    }
    crate::permissions::require_scope(p, Scope::Admin)?;
    let mut user = crate::directory::resolve_user(store, email, "email").await?;
    let manager = p.user.role == Role::Manager;
    let own_super_admin = p.user.role == Role::SuperAdmin
        && user.role.is_customer()
        && user.account_id.is_some()
        && user.account_id == p.user.account_id;
    if !manager && !own_super_admin {
        // Users of other accounts do not exist for the caller.
        return Err(if p.user.role == Role::SuperAdmin {
            DomainError::field("email", format!("no user has the email {}", user.email))
        } else {
            DomainError::Forbidden(
                "Only a super admin of the account or a support manager can change access.".into(),
            )
        });
    }
    let before = user.clone();
    let mut errors = Vec::new();
    if user.role.is_customer() {
        if !access.queues.is_empty() {
            errors.push(FieldError::new(
                "queue",
                "queues apply to agents and managers only",
            ));
        }
        user.case_admin = user.role == Role::SuperAdmin || access.case_admin;
        user.elevated = access.elevated;
    } else {
        if access.case_admin || access.elevated {
            errors.push(FieldError::new(
                "role",
                "case-admin and elevated apply to customer admins only",
            ));
        }
        check_queues(store, &access.queues, &mut errors).await?;
        user.queues = access.queues;
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let keep = Keep {
        elevated_cap: if user.elevated && !before.elevated {
            elevated_cap(store, limits, &user).await?
        } else {
            None
        },
        ..Keep::default()
    };
    let audit = AuditRecord::by(p, "user.access", format!("user:{}", user.email))
        .account(user.account_id)
        .summary(access_summary(&user));
    store
        .update_user_access(&before, &user, &keep, &audit)
        .await?;
    Ok(user)
}

/// The plan's cap of elevated contacts for the account of `user` (none for support staff).
async fn elevated_cap(
    store: &dyn IdentityStore,
    limits: &ElevatedLimits,
    user: &User,
) -> Result<Option<u32>> {
    let Some(account_id) = user.account_id else {
        return Ok(None);
    };
    Ok(store
        .find_account(&account_id.to_string())
        .await?
        .map(|a| limits.for_plan(a.plan)))
}

/// The refusal of a new elevated contact when the account's active elevated contacts already
/// fill the plan's cap; `None` when there is room. The store checks the cap again as it
/// writes.
async fn elevated_full(
    store: &dyn IdentityStore,
    limits: &ElevatedLimits,
    user: &User,
) -> Result<Option<FieldError>> {
    let (Some(account_id), Some(cap)) = (user.account_id, elevated_cap(store, limits, user).await?)
    else {
        return Ok(None);
    };
    let used = store
        .list_account_users(account_id)
        .await?
        .iter()
        .filter(|u| u.elevated && u.active() && u.id != user.id)
        .count();
    Ok((used as u64 >= u64::from(cap)).then(|| {
        FieldError::new(
            "elevated",
            format!("the plan allows {cap} elevated support contacts, and all are in use"),
        )
    }))
}

/// The user `email` as `p` may change their role or whether they are active: a support
/// manager changes anyone, a super admin the customer users of their own account; nobody
/// changes themselves, so nobody locks themselves out (and the last manager stays).
async fn changeable(
    store: &dyn IdentityStore,
    p: &crate::users::Principal,
    email: &str,
    what: &str,
) -> Result<User> {
    if !p.user.is_administrator() {
        return Err(DomainError::Forbidden(
            "Only a super admin of the account or a support manager can change users.".into(),
        ));
    }
    crate::permissions::require_scope(p, Scope::Admin)?;
    let user = crate::directory::resolve_user(store, email, "email").await?;
    let manager = p.user.role == Role::Manager;
    let own = p.user.role == Role::SuperAdmin
        && user.role.is_customer()
        && user.account_id.is_some()
        && user.account_id == p.user.account_id;
    if !manager && !own {
        // Users of other accounts, and support staff, do not exist for a super admin.
        return Err(DomainError::field(
            "email",
            format!(
                "no user has the email {}",
                normalize_email(email).unwrap_or_default()
            ),
        ));
    }
    if user.id == p.user.id {
        return Err(DomainError::field(
            "email",
            format!(
                "you cannot {what} yourself; ask another {}",
                if manager {
                    "support manager"
                } else {
                    "super admin of your account, or support"
                }
            ),
        ));
    }
    Ok(user)
}

/// Changes a user's role within their side: a customer user between super admin and admin,
/// support staff between agent and manager; answers the user and whether anything changed.
/// An account always keeps an active super admin, and the team an active manager (the store
/// checks both inside the change).
pub async fn set_role(
    store: &dyn IdentityStore,
    p: &crate::users::Principal,
    email: &str,
    role: Role,
) -> Result<(User, bool)> {
    let mut user = changeable(store, p, email, "change the role of").await?;
    if role.is_customer() != user.role.is_customer() {
        return Err(DomainError::field(
            "role",
            if user.role.is_customer() {
                "a customer user is a super admin or an admin of their account; add support staff as new users"
            } else {
                "support staff are agents or managers; customer users belong to an account and are added there"
            },
        ));
    }
    if role == user.role {
        return Ok((user, false));
    }
    let before = user.clone();
    user.role = role;
    // Super admins hold case-admin by definition; one who steps down keeps it.
    user.case_admin = user.case_admin || role == Role::SuperAdmin;
    let mut summary = access_summary(&user);
    summary["from"] = serde_json::json!(before.role.key());
    let audit = AuditRecord::by(p, "user.role", format!("user:{}", user.email))
        .account(user.account_id)
        .summary(summary);
    let keep = Keep {
        super_admin: true,
        manager: true,
        elevated_cap: None,
    };
    store
        .update_user_access(&before, &user, &keep, &audit)
        .await?;
    Ok((user, true))
}

/// Deactivates a user (their sessions and API tokens end with it) or reactivates them;
/// answers the user and whether anything changed. Their cases, messages and audit entries
/// stay theirs. An account always keeps an active super admin, the team an active manager,
/// and a reactivated elevated contact must fit the plan's cap (the store checks all three
/// inside the change).
pub async fn set_active(
    store: &dyn IdentityStore,
    limits: &ElevatedLimits,
    p: &crate::users::Principal,
    email: &str,
    active: bool,
) -> Result<(User, bool)> {
    let what = if active { "reactivate" } else { "deactivate" };
    let mut user = changeable(store, p, email, what).await?;
    if user.active() == active {
        return Ok((user, false));
    }
    let before = user.clone();
    user.deactivated_at = if active { None } else { Some(now()) };
    let audit = AuditRecord::by(p, &format!("user.{what}"), format!("user:{}", user.email))
        .account(user.account_id)
        .summary(access_summary(&user));
    let keep = Keep {
        super_admin: true,
        manager: true,
        elevated_cap: if active && user.elevated {
            elevated_cap(store, limits, &user).await?
        } else {
            None
        },
    };
    store
        .update_user_access(&before, &user, &keep, &audit)
        .await?;
    Ok((user, true))
}

/// Sends an active user a new invitation: where passwords are on, its link lets them choose
/// a new password (and stops working once they do).
pub async fn invite_again(
    store: &dyn IdentityStore,
    p: &crate::users::Principal,
    email: &str,
    compose: Invitation<'_>,
) -> Result<User> {
    let user = changeable(store, p, email, "invite").await?;
    if !user.active() {
        return Err(DomainError::field(
            "email",
            format!("{} is deactivated; reactivate them first", user.email),
        ));
    }
    let mail = compose(&user)?;
    let audit = AuditRecord::by(p, "user.invite", format!("user:{}", user.email))
        .account(user.account_id)
        .summary(serde_json::json!({"again": true}));
    store.invite_again(&audit, &mail).await?;
    Ok(user)
}

/// What an audit entry records about a user's access.
pub fn access_summary(u: &User) -> serde_json::Value {
    serde_json::json!({"role": u.role.key(), "case_admin": u.case_admin, "elevated": u.elevated, "queues": u.queues})
}

/// Completes the audit entry of a token change: whose token, which scopes, never the secret.
pub fn token_audit(a: AuditRecord, owner: &User, t: &TokenRecord) -> AuditRecord {
    a.account(owner.account_id).summary(serde_json::json!({
        "owner": owner.email,
        "scopes": t.scopes.iter().map(|s| s.key()).collect::<Vec<_>>(),
        "label": t.label,
    }))
}
