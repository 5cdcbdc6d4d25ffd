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

/// Whether the provider vouches for the email: `email_verified` read as it is written, a
/// boolean or the text `"true"`/`"false"` (as some providers send it). Absent counts as
/// vouched, as most access tokens carry no such claim.
fn email_verified(claims: &Map<String, Value>) -> bool {
    match claims.get("email_verified") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        Some(_) => false,
    }
}

/// Records a token refused because it would stand for a user bound elsewhere, in the user's
/// audit trail, naming the issuer.
async fn refuse_identity(
    store: &dyn Store,
    cfg: &IssuerConfig,
    user: &User,
    subject: &str,
    why: &str,
) -> DomainError {
    let audit = casedesk_core::audit::AuditRecord::new(
        casedesk_core::audit::Actor::system(format!("issuer:{}", cfg.name)),
        "signin.identity_refused",
        format!("user:{}", user.email),
    )
    .account(user.account_id)
    .summary(serde_json::json!({"issuer": cfg.issuer, "issuer_name": cfg.name, "subject": subject, "reason": why}));
    if let Err(e) = store.append_audit(&audit).await {
        tracing::error!(error = %e, "could not record a refused identity in the audit trail");
    }
    denied(cfg, why)
}

/// Whether this issuer may bind a user who exists already at their first sign-in through it.
async fn may_bind_existing(store: &dyn Store, cfg: &IssuerConfig, user: &User) -> Result<bool> {
    if cfg.link_existing_users {
        return Ok(true);
    }
    // An issuer trusted for named accounts may bind the users of those accounts.
    if cfg.accounts.is_some()
        && user.role.is_customer()
        && let Some(id) = user.account_id
        && let Some(acc) = store.find_account(&id.to_string()).await?
    {
        return Ok(account_allowed(cfg, &acc));
    }
    Ok(false)
}

/// Finds, creates or updates the user the claims describe. A user is found by the identity
/// bound to the token's issuer and subject; a token from an issuer, or with a subject, that
/// no user is bound to never becomes a user who is bound to another identity. `link_to` is
/// the user already signed in in this browser: signing in with both binds the identity to
/// them (an explicit act of the user).
pub async fn resolve_user(
    store: &dyn Store,
    limits: &ElevatedLimits,
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
    link_to: Option<&User>,
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
    if !email_verified(claims) {
        return Err(denied(
            cfg,
            "the provider says its email address is not verified",
        ));
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or_else(|| denied(cfg, "it carries no subject (sub) claim"))?
        .to_owned();
    let wanted = access_from(cfg, claims)?;
    // The account claim means something for customer roles only; a staff token may carry
    // any value there (or none).
    let account_for = |role: Role| role.is_customer();
    let account_claim = claims.get(&cfg.claims.account).and_then(Value::as_str);
    let find_account = |a: &str| {
        let a = a.to_owned();
        async move {
            store
                .find_account(&a)
                .await?
                .ok_or_else(|| denied(cfg, "its account claim names no casedesk account"))
        }
    };

    let bound = store.find_identity(&cfg.issuer, &subject).await?;
    let mut bind = false;
    let existing = match (bound, link_to) {
        (Some(u), Some(signed_in)) if u.id != signed_in.id => {
            return Err(refuse_identity(
                store,
                cfg,
                signed_in,
                &subject,
                "this identity is already bound to another user",
            )
            .await);
        }
        (Some(u), _) => Some(u),
        (None, Some(signed_in)) => {
            bind = true;
            Some(signed_in.clone())
        }
        (None, None) => match store.find_user_by_email(&email).await? {
            Some(u) => {
                let ids = store.identities_of(u.id).await?;
                // Bound a moment ago by a concurrent first request with this same token.
                let ours = ids
                    .iter()
                    .any(|i| i.issuer == cfg.issuer && i.subject == subject);
                if !ids.is_empty() && !ours {
                    let names: Vec<&str> = ids.iter().map(|i| i.issuer_name.as_str()).collect();
                    return Err(refuse_identity(
                        store,
                        cfg,
                        &u,
                        &subject,
                        &format!(
                            "{email} is bound to another sign-in ({}); a token naming the same email from another issuer or subject is not that user. A support manager can link another identity explicitly",
                            names.join(", ")
                        ),
                    )
                    .await);
                }
                if !ours && !may_bind_existing(store, cfg, &u).await? {
                    return Err(refuse_identity(
                        store,
                        cfg,
                        &u,
                        &subject,
                        &format!(
                            "{email} has not been linked to this issuer. The user can sign in with their password and then with this issuer to link it, or a support manager links it"
                        ),
                    )
                    .await);
                }
                bind = !ours;
                Some(u)
            }
            None => None,
        },
    };

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
        let account = match account_claim {
            Some(a) if account_for(access.role) => Some(find_account(a).await?),
            _ => None,
        };
        if let Some(a) = &account
            && !account_allowed(cfg, a)
        {
            return Err(denied(
                cfg,
                "this issuer may not sign users into that account",
            ));
        }
        if access.role.is_customer() && account.is_none() {
            return Err(denied(
                cfg,
                format_args!("a new admin needs the {} claim", cfg.claims.account),
            ));
        }
        let input = NewUser {
            account: account.as_ref().map(|a| a.id.to_string()),
            email: email.clone(),
            role: access.role,
            case_admin: access.case_admin,
            elevated: access.elevated,
            queues: access.queues.unwrap_or_default(),
        };
        let actor = casedesk_core::audit::Actor::system(format!("issuer:{}", cfg.name));
        let user = match create_user(store, limits, input, &actor).await {
            Ok(u) => u,
            // Two first requests with this token at once: the other one created the user and
            // binds this identity in a moment. Anyone else's user is not taken over.
            Err(DomainError::Conflict(m)) => {
                for _ in 0..40 {
                    if let Some(u) = store.find_identity(&cfg.issuer, &subject).await? {
                        return Ok(u);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                return Err(denied(cfg, m));
            }
            Err(DomainError::Validation(errs)) => {
                return Err(denied(
                    cfg,
                    errs.iter()
                        .map(|e| format!("{} {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                ));
            }
            Err(e) => return Err(e),
        };
        bind_identity(
            store,
            cfg,
            &user,
            &subject,
            "created from the issuer's token",
        )
        .await?;
        return Ok(user);
    };
    if !user.active() {
        // A deactivated user stays out whatever the issuer says; only a person in casedesk
        // lets them back in.
        return Err(denied(cfg, "the user is deactivated in casedesk"));
    }

    let customer = wanted
        .as_ref()
        .map_or(user.role.is_customer(), |a| account_for(a.role));
    if customer && let Some(a) = account_claim {
        let a = find_account(a).await?;
        if !account_allowed(cfg, &a) {
            return Err(denied(
                cfg,
                "this issuer may not sign users into that account",
            ));
        }
        if user.role.is_customer() && user.account_id != Some(a.id) {
            return Err(denied(
                cfg,
                "its account claim does not match the user's account",
            ));
        }
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
                let before = user.clone();
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
                // The provider is the source of these roles: no `keep` rule overrides it.
                store
                    .update_user_access(&before, &user, &Default::default(), &audit)
                    .await?;
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
    if bind {
        let how = if link_to.is_some() {
            "signed in with both"
        } else {
            "first sign-in through this issuer"
        };
        bind_identity(store, cfg, &user, &subject, how).await?;
    }
    Ok(user)
}

/// Binds the issuer's subject to a user, recorded in the audit trail; a concurrent first
/// sign-in that bound it to the same user is fine, to another one is refused.
async fn bind_identity(
    store: &dyn Store,
    cfg: &IssuerConfig,
    user: &User,
    subject: &str,
    how: &str,
) -> Result<()> {
    let audit = casedesk_core::audit::AuditRecord::new(
        casedesk_core::audit::Actor::system(format!("issuer:{}", cfg.name)),
        "user.identity_linked",
        format!("user:{}", user.email),
    )
    .account(user.account_id)
    .summary(serde_json::json!({"issuer": cfg.issuer, "issuer_name": cfg.name, "subject": subject, "how": how}));
    let identity = casedesk_core::identity::Identity {
        issuer: cfg.issuer.clone(),
        subject: subject.to_owned(),
        user_id: user.id,
        issuer_name: cfg.name.clone(),
        created_at: casedesk_core::now(),
    };
    if store.link_identity(&identity, &audit).await? {
        return Ok(());
    }
    match store.find_identity(&cfg.issuer, subject).await? {
        Some(u) if u.id == user.id => Ok(()),
        _ => Err(denied(
            cfg,
            "this identity is already bound to another user",
        )),
    }
}

/// The caller a verified access token stands for.
pub async fn principal(
    store: &dyn Store,
    limits: &ElevatedLimits,
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
) -> Result<Principal> {
    let user = resolve_user(store, limits, cfg, claims, None).await?;
    let scopes = scopes(cfg, claims, &user);
    Ok(Principal {
        user,
        scopes,
        origin: casedesk_core::audit::Origin {
            via: Some(format!("issuer:{}", cfg.name)),
            ..Default::default()
        },
    })
}
