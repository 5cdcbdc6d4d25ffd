//! The store contract: one suite, run against SQLite and PostgreSQL, a module per store
//! trait of `casedesk_core` (the same module names as the features that declare them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use casedesk_core::DomainError;
use casedesk_core::accounts::{Account, Environment, Plan, Region, Tenant};
use casedesk_core::audit::AuditRecord;
use casedesk_core::cases::*;
use casedesk_core::service::{CasePatch, NewCase};
use casedesk_core::store::Store;
use casedesk_core::taxonomy::DEFAULT_ISSUE_AREAS;
use casedesk_core::users::{Role, User};
use casedesk_testkit::{Backend, both, test_db};
use serde_json::{Map, Value, json};
use uuid::Uuid;

mod attachments;
mod audit;
mod cases;
mod directory;
mod identity;
mod jobs;
mod kb;
mod mail;
mod reports;
mod service;
mod sla;
mod status;
mod support;
mod webhooks;

async fn store(b: Backend) -> (Arc<dyn Store>, casedesk_testkit::TestDb) {
    let db = test_db(b).await;
    let s = casedesk_store::connect(&db.url).await.unwrap();
    (s, db)
}

fn user(account: Option<Uuid>, email: &str, role: Role) -> User {
    User {
        id: Uuid::now_v7(),
        account_id: account,
        email: email.into(),
        role,
        case_admin: true,
        elevated: false,
        queues: vec![],
        created_at: casedesk_core::now(),
        deactivated_at: None,
    }
}

fn fields(subject: &str) -> CaseFields {
    let mut ids = Map::new();
    ids.insert("organization_id".into(), json!("org_1"));
    CaseFields {
        priority: Priority::P2,
        subject: subject.into(),
        description: "d — ünïcode ✓".into(),
        steps_to_reproduce: None,
        issue_area: "webhooks".into(),
        scope: ImpactScope::OneUser,
        business_impact: Some("b".into()),
        contact: Contact {
            email: "a@x.example".into(),
            phone: "+1 555 0100".into(),
            timezone: "Asia/Tokyo".into(),
        },
        stage: Stage::Onboarding,
        identifiers: ids,
        context: Map::new(),
        checklist: Map::new(),
    }
}

#[derive(Clone)]
struct Fixture {
    account: Account,
    tenant: Tenant,
    requester: User,
    contact: User,
}

async fn fixture(s: &dyn Store) -> Fixture {
    let account = Account {
        id: Uuid::now_v7(),
        name: "Acme".into(),
        plan: Plan::Gold,
        csm: None,
        copy_requester: false,
        created_at: casedesk_core::now(),
    };
    s.create_account(&account, &a()).await.unwrap();
    let tenant = Tenant {
        id: Uuid::now_v7(),
        account_id: account.id,
        slug: "acme-prod".into(),
        region: Region::Eu,
        environment: Environment::Production,
        created_at: casedesk_core::now(),
    };
    s.create_tenant(&tenant, &a()).await.unwrap();
    let requester = user(Some(account.id), "req@acme.example", Role::Admin);
    let contact = user(Some(account.id), "mate@acme.example", Role::Admin);
    s.create_user(&requester, None, &a()).await.unwrap();
    s.create_user(&contact, None, &a()).await.unwrap();
    Fixture {
        account,
        tenant,
        requester,
        contact,
    }
}

fn new_case(f: &Fixture, subject: &str) -> NewCase {
    NewCase {
        account_id: f.account.id,
        requester_id: f.requester.id,
        tenant_id: f.tenant.id,
        queue: "integrations".into(),
        fields: fields(subject),
        team_contacts: vec![TeamContact {
            user_id: f.contact.id,
            email: f.contact.email.clone(),
        }],
        follow_up_of: None,
        created_at: casedesk_core::now(),
        sla: Default::default(),
    }
}

fn event(actor: Uuid, kind: EventKind, public: bool) -> NewEvent {
    NewEvent {
        actor_id: Some(actor),
        kind,
        public,
        data: json!({"body": "x"}),
        at: casedesk_core::now(),
    }
}

#[test]
fn both_backends_have_the_same_migrations() {
    let (sqlite, postgres) = casedesk_store::migration_versions();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

/// The audit entry the contract's writes carry.
fn a() -> AuditRecord {
    AuditRecord::new(
        casedesk_core::audit::Actor::system("contract"),
        "test.write",
        "test",
    )
}

/// An enabled endpoint of the fixture's account, for every event type.
fn endpoint(f: &Fixture, url: &str) -> casedesk_core::webhooks::Endpoint {
    let now = casedesk_core::now();
    casedesk_core::webhooks::Endpoint {
        id: Uuid::now_v7(),
        account_id: Some(f.account.id),
        url: url.into(),
        description: None,
        event_types: vec![],
        enabled: true,
        disabled_reason: None,
        failure_streak: 0,
        created_at: now,
        updated_at: now,
    }
}

/// A signing secret of an endpoint, as stored (sealed).
fn secret(endpoint_id: Uuid, sealed: &str) -> casedesk_core::webhooks::SecretRecord {
    casedesk_core::webhooks::SecretRecord {
        id: Uuid::now_v7(),
        endpoint_id,
        sealed: sealed.into(),
        created_at: casedesk_core::now(),
        expires_at: None,
    }
}

/// The jobs of `kind`, queued or not (at most 100).
async fn jobs_of(s: &dyn Store, kind: &str) -> Vec<casedesk_core::jobs::Job> {
    s.list_jobs(&casedesk_core::jobs::JobQuery {
        kind: Some(kind.into()),
        limit: 100,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Opens a case through the store and answers its number.
async fn created(s: &dyn Store, f: &Fixture, subject: &str) -> i64 {
    match s
        .create_case(
            &new_case(f, subject),
            &event(f.requester.id, EventKind::Created, true),
            None,
            &a(),
            None,
        )
        .await
    {
        Ok(CreateOutcome::Created(number)) => number,
        other => panic!("not created: {other:?}"),
    }
}
