//! Opening a case: the intake checked, the clocks started and the case stored with its
//! acknowledgement in one transaction.

use std::sync::Arc;

use serde_json::{Value, json};

use super::change::scrub_fields;
use super::read::case_sla;
use super::writes::{NewCase, ServiceStore};
use crate::audit::AuditRecord;
use crate::cases::intake::{IntakeContext, validate};
use crate::cases::store::not_found;
use crate::cases::{
    Case, CaseEvent, CreateOutcome, EventKind, IdempotencyKey, NewEvent, Status, TeamContact,
};
use crate::mail::{Compose, Composer};
use crate::permissions::{self, can_see, require_case_access, require_customer, require_scope};
use crate::sla::case::{self as sla_case, step};
use crate::sla::{Happening, SlaWrite};
use crate::users::{Principal, Scope, User};
use crate::{DomainError, Result, now};

/// Opens a case for a customer. Returns the case and whether it is a replay of an earlier
/// request with the same idempotency key.
/// With a `composer`, the messages the new case sends are written with it, in the same
/// transaction, rather than by the dispatcher of its `created` event afterwards.
pub async fn create_case(
    store: &dyn ServiceStore,
    p: &Principal,
    body: &Value,
    idempotency: Option<(String, String)>,
    composer: Option<Arc<dyn Composer>>,
) -> Result<(Case, bool, Value, Option<Value>)> {
    // The permission first: its 403 says what is missing and who can grant it.
    require_case_access(p)?;
    require_scope(p, Scope::CasesWrite)?;
    require_customer(p, "open cases; support staff work the cases customers open")?;
    let account_id = p
        .user
        .account_id
        .ok_or_else(|| DomainError::Forbidden(permissions::MISSING_CASE_ADMIN.into()))?;
    let key = idempotency_key(p, idempotency)?;

    let (tenants, areas, users) = (
        store.list_tenants(account_id).await?,
        store.issue_areas().await?,
        store.list_account_users(account_id).await?,
    );
    let at = now();
    let intake = validate(
        body,
        &IntakeContext {
            tenants: &tenants,
            areas: &areas,
            account_users: &users,
            now: at,
        },
    )
    .map_err(DomainError::Validation)?;
    if let Some(n) = intake.follow_up_of {
        check_follow_up(store, p, n).await?;
    }
    let tenant = tenants
        .get(intake.tenant_index)
        .ok_or_else(|| DomainError::Internal("tenant index".into()))?;
    let team_contacts = team_contacts_of(&intake.team_contact_indexes, &users);
    let mut fields = intake.fields;
    let removed = scrub_fields(&mut fields)?;
    let mut new = NewCase {
        account_id,
        requester_id: p.user.id,
        tenant_id: tenant.id,
        queue: intake.queue,
        fields,
        team_contacts,
        follow_up_of: intake.follow_up_of,
        created_at: at,
        sla: SlaWrite::default(),
    };
    // The clocks start with the case, in the same transaction.
    let ctx = sla_case::context(store, account_id, new.fields.priority).await?;
    new.sla = step(&[], false, &[Happening::Created(ctx.policy)], at, &ctx);
    let sla = sla_case::summary(&new.sla.events, &ctx, at);
    let event = created_event(p, &new, removed.as_ref());
    // The store writes the number it assigns into the target.
    let audit = AuditRecord::by(p, "case.create", "")
        .account(Some(account_id))
        .summary(json!({"priority": new.fields.priority.key(), "queue": new.queue, "tenant": tenant.slug, "issue_area": new.fields.issue_area}));
    let mails = match composer {
        Some(c) => Some(compose_created(store, c, p, &tenant.slug, &new, &event).await?),
        None => None,
    };
    match store
        .create_case(&new, &event, key.as_ref(), &audit, mails)
        .await?
    {
        // The answer is built from what was stored, sparing a read back.
        CreateOutcome::Created(number) => Ok((
            stored_case(number, p, &tenant.slug, new),
            false,
            sla,
            removed,
        )),
        CreateOutcome::Replayed(number) => {
            let case = store.get_case(number).await?.ok_or_else(not_found)?;
            let sla = case_sla(store, &case).await?;
            Ok((case, true, sla, None))
        }
        CreateOutcome::KeyReused => Err(DomainError::Conflict(
            "this Idempotency-Key was already used with a different request; use a new key for a new case".into(),
        )),
    }
}

/// The messages of the new case, as the dispatcher of its `created` event would write them
/// (a customer opens cases, so the actor is never support), composed once it has a number.
async fn compose_created(
    store: &dyn ServiceStore,
    composer: Arc<dyn Composer>,
    p: &Principal,
    tenant: &str,
    new: &NewCase,
    event: &NewEvent,
) -> Result<Compose> {
    let account = store.find_account(&new.account_id.to_string()).await?;
    let csm = account.as_ref().and_then(|a| a.csm.clone());
    let copy_requester = account.is_some_and(|a| a.copy_requester);
    let (p, tenant, new) = (p.clone(), tenant.to_owned(), new.clone());
    let (kind, public, data, at) = (event.kind, event.public, event.data.clone(), event.at);
    Ok(Arc::new(move |number| {
        let case = stored_case(number, &p, &tenant, new.clone());
        let event = CaseEvent {
            // Not yet known; no message shows it.
            id: 0,
            case_number: number,
            actor: Some(p.user.email.clone()),
            kind,
            public,
            data: data.clone(),
            at,
        };
        composer.event_mails(&case, &event, false, csm.clone(), copy_requester)
    }))
}

/// The idempotency key of a create, kept as a hash: a client may put anything in the header,
/// a token included, and the key is only ever compared.
fn idempotency_key(
    p: &Principal,
    idempotency: Option<(String, String)>,
) -> Result<Option<IdempotencyKey>> {
    let Some((key, fingerprint)) = idempotency else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > 200 {
        return Err(DomainError::field(
            "Idempotency-Key",
            "must be 1 to 200 characters",
        ));
    }
    Ok(Some(IdempotencyKey {
        user_id: p.user.id,
        key: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes())),
        fingerprint,
    }))
}

/// A follow-up names a closed case the requester can see.
async fn check_follow_up(store: &dyn ServiceStore, p: &Principal, n: i64) -> Result<()> {
    match store.get_case(n).await? {
        Some(c) if can_see(p, &c) && c.status == Status::Closed => Ok(()),
        Some(c) if can_see(p, &c) => Err(DomainError::field(
            "follow_up_of",
            format!(
                "case {n} is {}; only closed cases get follow-ups — reply on it instead",
                c.status.key()
            ),
        )),
        _ => Err(DomainError::field(
            "follow_up_of",
            format!("there is no case {n} that you can see"),
        )),
    }
}

/// The team contacts the intake chose, in the order a later read lists them (by email).
fn team_contacts_of(indexes: &[usize], users: &[User]) -> Vec<TeamContact> {
    let mut team_contacts = indexes
        .iter()
        .filter_map(|i| users.get(*i))
        .map(|u| TeamContact {
            user_id: u.id,
            email: u.email.clone(),
        })
        .collect::<Vec<_>>();
    team_contacts.sort_by(|a, b| a.email.cmp(&b.email));
    team_contacts
}

/// The timeline's first event; it says which secrets were removed from the fields.
fn created_event(p: &Principal, new: &NewCase, removed: Option<&Value>) -> NewEvent {
    let mut event = NewEvent {
        actor_id: Some(p.user.id),
        kind: EventKind::Created,
        public: true,
        data: json!({"status": Status::New.key(), "priority": new.fields.priority.key(), "queue": new.queue}),
        at: new.created_at,
    };
    if let Some(n) = removed {
        event.data["secrets_removed"] = n.clone();
    }
    event
}

/// The case as the store now holds it, built from what was written.
fn stored_case(number: i64, p: &Principal, tenant: &str, new: NewCase) -> Case {
    Case {
        number,
        account_id: new.account_id,
        tenant_id: new.tenant_id,
        tenant: tenant.to_owned(),
        requester_id: p.user.id,
        requester: p.user.email.clone(),
        assignee_id: None,
        assignee: None,
        queue: new.queue,
        status: Status::New,
        escalated: false,
        fields: new.fields,
        team_contacts: new.team_contacts,
        follow_up_of: new.follow_up_of,
        created_at: new.created_at,
        updated_at: new.created_at,
        version: 1,
    }
}

/// Checks an intake body for `account` as if a case admin of it submitted it, storing
/// nothing (the email intake's defaults are checked this way before they are enabled).
pub async fn check_intake(
    store: &dyn ServiceStore,
    account_id: uuid::Uuid,
    body: &Value,
) -> Result<()> {
    let (tenants, areas, users) = (
        store.list_tenants(account_id).await?,
        store.issue_areas().await?,
        store.list_account_users(account_id).await?,
    );
    validate(
        body,
        &IntakeContext {
            tenants: &tenants,
            areas: &areas,
            account_users: &users,
            now: now(),
        },
    )
    .map(|_| ())
    .map_err(DomainError::Validation)
}
