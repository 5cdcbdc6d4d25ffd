//! From verified claims to a casedesk user: who it is (email), which account, which roles,
//! and whether an unknown user is created. The provider's roles win on every token, so a
//! change there takes effect with the next token.

use casedesk_core::admin::{NewUser, create_user};
use casedesk_core::permissions::ElevatedLimits;
use casedesk_core::store::Store;
use casedesk_core::users::{Principal, Role, Scope, User, normalize_email};
use casedesk_core::{DomainError, Result};
use serde_json::{Map, Value};

use super::config::{IssuerConfig, Provisioning};
use super::jwt::string_list;

/// Role and flags a token asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Access {
    role: Role,
    case_admin: bool,
    elevated: bool,
    queues: Option<Vec<String>>,
}

fn denied(issuer: &IssuerConfig, why: impl std::fmt::Display) -> DomainError {
    DomainError::Forbidden(format!(
        "The token from {} cannot be used: {why}.",
        issuer.name
    ))
}

fn access_from(cfg: &IssuerConfig, claims: &Map<String, Value>) -> Result<Option<Access>> {
    let Some(values) = string_list(claims, &cfg.claims.roles) else {
        return Ok(None);
    };
    let v = &cfg.role_values;
    let has = |x: &String| values.iter().any(|r| r == x);
    let role = if has(&v.manager) {
        Role::Manager
    } else if has(&v.agent) {
        Role::Agent
    } else if has(&v.super_admin) {
        Role::SuperAdmin
    } else if has(&v.admin) {
        Role::Admin
    } else {
        return Err(denied(
            cfg,
            format_args!("its {} claim names no casedesk role", cfg.claims.roles),
        ));
    };
    if let Some(allowed) = &cfg.allowed_roles
        && !allowed.contains(&role)
    {
        return Err(denied(
            cfg,
            format_args!("this issuer may not grant the {} role", role.key()),
        ));
    }
    let customer = role.is_customer();
    Ok(Some(Access {
        role,
        case_admin: customer && (role == Role::SuperAdmin || has(&v.case_admin)),
        elevated: customer && has(&v.elevated),
        queues: (role == Role::Agent)
            .then(|| string_list(claims, &cfg.claims.queues))
            .flatten(),
    }))
}

fn account_allowed(cfg: &IssuerConfig, account: &casedesk_core::accounts::Account) -> bool {
    cfg.accounts.as_ref().is_none_or(|list| {
        list.iter()
            .any(|a| a == &account.name || a == &account.id.to_string())
    })
}

/// The scopes a verified token grants, limited to what the user holds.
pub fn scopes(cfg: &IssuerConfig, claims: &Map<String, Value>, user: &User) -> Vec<Scope> {
    let granted = string_list(claims, &cfg.claims.scope).unwrap_or_default();
    user.effective_scopes(&Scope::parse_list(granted.iter().map(String::as_str)))
}

/// Finds, creates or updates the user the claims describe.
pub async fn resolve_user(
    store: &dyn Store,
    limits: &ElevatedLimits,
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
) -> Result<User> {
    let email = claims
        .get(&cfg.claims.email)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            denied(
                cfg,
                format_args!("it carries no {} claim", cfg.claims.email),
            )
        })?;
    let email = normalize_email(email).map_err(|m| denied(cfg, format_args!("its email {m}")))?;
    // Users are found by email, so an address the provider itself has not verified must not
    // stand for anyone.
    if claims.get("email_verified") == Some(&Value::Bool(false)) {
        return Err(denied(
            cfg,
            "the provider says its email address is not verified",
        ));
    }
    let wanted = access_from(cfg, claims)?;
    let account_claim = claims.get(&cfg.claims.account).and_then(Value::as_str);
    let account = match account_claim {
        Some(a) => Some(
            store
                .find_account(a)
                .await?
                .ok_or_else(|| denied(cfg, "its account claim names no casedesk account"))?,
        ),
        None => None,
    };
    if let Some(a) = &account
        && !account_allowed(cfg, a)
    {
        return Err(denied(
            cfg,
            "this issuer may not sign users into that account",
        ));
    }

    let existing = store.find_user_by_email(&email).await?;
    let Some(mut user) = existing else {
        if cfg.provisioning == Provisioning::Existing {
            return Err(denied(
                cfg,
                "no casedesk user has its email; an operator must create the user first",
            ));
        }
        let access = wanted.ok_or_else(|| {
            denied(
                cfg,
                format_args!("a new user needs roles in the {} claim", cfg.claims.roles),
            )
        })?;
        if access.role.is_customer() && account.is_none() {
            return Err(denied(
                cfg,
                format_args!("a new admin needs the {} claim", cfg.claims.account),
            ));
        }
        let input = NewUser {
            account: if access.role.is_customer() {
                account.as_ref().map(|a| a.id.to_string())
            } else {
                None
            },
            email: email.clone(),
            role: access.role,
            case_admin: access.case_admin,
            elevated: access.elevated,
            queues: access.queues.unwrap_or_default(),
        };
        let actor = casedesk_core::audit::Actor::system(format!("issuer:{}", cfg.name));
        return match create_user(store, limits, input, &actor).await {
            Ok(u) => Ok(u),
            // Two first requests at once: the other one created the user.
            Err(DomainError::Conflict(m)) => store
                .find_user_by_email(&email)
                .await?
                .ok_or_else(|| denied(cfg, m)),
            Err(DomainError::Validation(errs)) => Err(denied(
                cfg,
                errs.iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
            Err(e) => Err(e),
        };
    };

    if let (Some(a), true) = (&account, user.role.is_customer())
        && user.account_id != Some(a.id)
    {
        return Err(denied(
            cfg,
            "its account claim does not match the user's account",
        ));
    }
    if user.role.is_customer()
        && let Some(id) = user.account_id
        && cfg.accounts.is_some()
    {
        let acc = store.find_account(&id.to_string()).await?;
        if !acc.as_ref().is_some_and(|a| account_allowed(cfg, a)) {
            return Err(denied(
                cfg,
                "this issuer may not sign users into that account",
            ));
        }
    }
    match wanted {
        Some(access) => {
            if access.role.is_customer() != user.role.is_customer() {
                return Err(denied(
                    cfg,
                    "it would move the user between a customer account and the support team",
                ));
            }
            let queues = match access.queues {
                Some(q) => {
                    let known: Vec<String> = store
                        .issue_areas()
                        .await?
                        .into_iter()
                        .map(|a| a.queue)
                        .collect();
                    let mut q: Vec<String> = q.into_iter().filter(|x| known.contains(x)).collect();
                    q.sort();
                    q.dedup();
                    q
                }
                None if access.role == Role::Agent => user.queues.clone(),
                None => vec![],
            };
            let changed = user.role != access.role
                || user.case_admin != access.case_admin
                || user.elevated != access.elevated
                || user.queues != queues;
            if changed {
                if access.elevated
                    && !user.elevated
                    && let Some(account_id) = user.account_id
                    && let Some(acc) = store.find_account(&account_id.to_string()).await?
                {
                    let cap = limits.for_plan(acc.plan);
                    let n = store
                        .list_account_users(account_id)
                        .await?
                        .iter()
                        .filter(|u| u.elevated)
                        .count();
                    if n >= cap as usize {
                        return Err(denied(
                            cfg,
                            format_args!(
                                "the account already has {n} elevated support contacts, the most its plan allows"
                            ),
                        ));
                    }
                }
                user.role = access.role;
                user.case_admin = access.case_admin;
                user.elevated = access.elevated;
                user.queues = queues;
                let audit = casedesk_core::audit::AuditRecord::new(
                    casedesk_core::audit::Actor::system(format!("issuer:{}", cfg.name)),
                    "user.access_changed",
                    format!("user:{}", user.email),
                )
                .account(user.account_id)
                .summary(casedesk_core::admin::access_summary(&user));
                store.update_user_access(&user, &audit).await?;
                tracing::info!(user = %user.id, role = user.role.key(), "roles updated from the identity provider");
            }
        }
        None => {
            if let Some(allowed) = &cfg.allowed_roles
                && !allowed.contains(&user.role)
            {
                return Err(denied(
                    cfg,
                    format_args!("this issuer may not grant the {} role", user.role.key()),
                ));
            }
        }
    }
    Ok(user)
}

/// The caller a verified access token stands for.
pub async fn principal(
    store: &dyn Store,
    limits: &ElevatedLimits,
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
) -> Result<Principal> {
    let user = resolve_user(store, limits, cfg, claims).await?;
    let scopes = scopes(cfg, claims, &user);
    Ok(Principal {
        user,
        scopes,
        origin: Default::default(),
    })
}
