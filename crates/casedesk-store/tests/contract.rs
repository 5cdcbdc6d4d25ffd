//! The store contract: one suite, run against SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_core::audit::AuditRecord;
use std::sync::Arc;

use casedesk_core::DomainError;
use casedesk_core::accounts::{Account, Environment, Plan, Region, Tenant};
use casedesk_core::cases::*;
use casedesk_core::service::{CasePatch, NewCase};
use casedesk_core::store::Store;
use casedesk_core::taxonomy::DEFAULT_ISSUE_AREAS;
use casedesk_core::users::{Role, User};
use casedesk_testkit::{Backend, both, test_db};
use serde_json::{Map, Value, json};
use uuid::Uuid;

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

async fn taxonomy_and_uniqueness(b: Backend) {
    let (s, _db) = store(b).await;
    let areas = s.issue_areas().await.unwrap();
    let keys: Vec<(&str, &str)> = areas
        .iter()
        .map(|a| (a.key.as_str(), a.queue.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = DEFAULT_ISSUE_AREAS
        .iter()
        .map(|(k, _, _, q)| (*k, *q))
        .collect();
    assert_eq!(keys, want, "migrations seed the default taxonomy");

    let f = fixture(s.as_ref()).await;
    let dup = Account {
        id: Uuid::now_v7(),
        ..f.account.clone()
    };
    assert!(matches!(
        s.create_account(&dup, &a()).await,
        Err(DomainError::Conflict(_))
    ));
    let dup = Tenant {
        id: Uuid::now_v7(),
        ..f.tenant.clone()
    };
    assert!(matches!(
        s.create_tenant(&dup, &a()).await,
        Err(DomainError::Conflict(_))
    ));
    let dup = User {
        id: Uuid::now_v7(),
        ..f.requester.clone()
    };
    assert!(matches!(
        s.create_user(&dup, None, &a()).await,
        Err(DomainError::Conflict(_))
    ));
    assert_eq!(
        s.find_account("Acme").await.unwrap().unwrap().id,
        f.account.id
    );
    assert_eq!(
        s.find_account(&f.account.id.to_string())
            .await
            .unwrap()
            .unwrap()
            .name,
        "Acme"
    );
    assert!(
        s.find_account("acme").await.unwrap().is_none(),
        "names match exactly"
    );

    let agent = User {
        queues: vec!["identity".into(), "security".into()],
        ..user(None, "a@support.example", Role::Agent)
    };
    s.create_user(&agent, None, &a()).await.unwrap();
    assert_eq!(
        s.get_user(agent.id).await.unwrap().unwrap().queues,
        ["identity", "security"]
    );
}
both!(taxonomy_and_uniqueness);

async fn cases_round_trip_and_versions_guard_updates(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let nc = new_case(&f, "round trip");
    let CreateOutcome::Created(number) = s
        .create_case(
            &nc,
            &event(f.requester.id, EventKind::Created, true),
            None,
            &a(),
        )
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    assert_eq!(number, 1001, "numbers start at 1001 on both backends");
    let c = s.get_case(number).await.unwrap().unwrap();
    assert_eq!(c.fields, nc.fields);
    assert_eq!(c.created_at, nc.created_at);
    assert_eq!(c.tenant, "acme-prod");
    assert_eq!(c.requester, "req@acme.example");
    assert_eq!(c.team_contacts, nc.team_contacts);
    assert_eq!(c.status, Status::New);

    let patch = CasePatch {
        status: Some(Status::Open),
        priority: Some(Priority::P1),
        escalated: Some(true),
        ..Default::default()
    };
    let u = s
        .update_case(
            c.number,
            c.version,
            &patch,
            &event(f.requester.id, EventKind::Reply, true),
            &a(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.status, u.fields.priority, u.escalated, u.version),
        (Status::Open, Priority::P1, true, c.version + 1)
    );
    // A change based on the old version is refused and records nothing.
    let stale = s
        .update_case(
            c.number,
            c.version,
            &CasePatch::default(),
            &event(f.requester.id, EventKind::Note, false),
            &a(),
        )
        .await
        .unwrap();
    assert!(stale.is_none());
    let u = s
        .update_case(
            c.number,
            u.version,
            &CasePatch {
                remove_contact: Some(f.contact.id),
                ..Default::default()
            },
            &event(f.requester.id, EventKind::Note, false),
            &a(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(u.team_contacts.is_empty());

    let public: Vec<EventKind> = s
        .list_events(c.number, false)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    let all: Vec<EventKind> = s
        .list_events(c.number, true)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(public, [EventKind::Created, EventKind::Reply]);
    assert_eq!(all, [EventKind::Created, EventKind::Reply, EventKind::Note]);
    assert_eq!(
        s.list_events(c.number, true).await.unwrap()[0]
            .actor
            .as_deref(),
        Some("req@acme.example")
    );
}
both!(cases_round_trip_and_versions_guard_updates);

async fn idempotency_keys_replay_and_detect_reuse(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let key = IdempotencyKey {
        user_id: f.requester.id,
        key: "k".into(),
        fingerprint: "fp1".into(),
    };
    let e = event(f.requester.id, EventKind::Created, true);
    let CreateOutcome::Created(number) = s
        .create_case(&new_case(&f, "a"), &e, Some(&key), &a())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        s.create_case(&new_case(&f, "a"), &e, Some(&key), &a())
            .await
            .unwrap(),
        CreateOutcome::Replayed(number)
    );
    let other = IdempotencyKey {
        fingerprint: "fp2".into(),
        ..key.clone()
    };
    assert_eq!(
        s.create_case(&new_case(&f, "b"), &e, Some(&other), &a())
            .await
            .unwrap(),
        CreateOutcome::KeyReused
    );
}
both!(idempotency_keys_replay_and_detect_reuse);

async fn listing_by_visibility_filters_and_cursor(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let mut batch = Vec::new();
    for (i, st) in [Status::New, Status::Open, Status::Closed, Status::Pending]
        .into_iter()
        .enumerate()
    {
        let mut c = new_case(&f, &format!("imported {i}"));
        if i % 2 == 1 {
            c.team_contacts.clear();
        }
        batch.push((c, st));
    }
    let numbers = s.import_cases(&batch).await.unwrap();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    let q = |visibility: Visibility| CaseQuery {
        visibility,
        statuses: vec![],
        priorities: vec![],
        issue_area: None,
        stage: None,
        tenant: None,
        queue: None,
        assignee: None,
        escalated: None,
        text: None,
        text_internal: false,
        text_account: None,
        before: None,
        sort: Default::default(),
        after_due: None,
        limit: 10,
    };
    let nums = |rows: Vec<CaseSummary>| rows.iter().map(|r| r.number).collect::<Vec<_>>();
    let all = nums(s.list_cases(&q(Visibility::All)).await.unwrap());
    assert_eq!(all, numbers.iter().rev().copied().collect::<Vec<_>>());
    let mate = nums(
        s.list_cases(&q(Visibility::Mine {
            user_id: f.contact.id,
        }))
        .await
        .unwrap(),
    );
    assert_eq!(mate, [numbers[2], numbers[0]]);
    let mut closed = q(Visibility::Account {
        account_id: f.account.id,
    });
    closed.statuses = vec![Status::Closed];
    assert_eq!(nums(s.list_cases(&closed).await.unwrap()), [numbers[2]]);
    let mut page = q(Visibility::Queues {
        queues: vec!["integrations".into()],
        user_id: f.requester.id,
    });
    page.before = Some(numbers[2]);
    page.limit = 1;
    assert_eq!(nums(s.list_cases(&page).await.unwrap()), [numbers[1]]);
    let none = q(Visibility::Account {
        account_id: Uuid::now_v7(),
    });
    assert!(s.list_cases(&none).await.unwrap().is_empty());
    let statuses: Vec<Value> = s
        .list_events(numbers[2], false)
        .await
        .unwrap()
        .iter()
        .map(|e| e.data["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("closed")]);
}
both!(listing_by_visibility_filters_and_cursor);

async fn identity_records_round_trip(b: Backend) {
    use casedesk_core::identity::TokenRecord;
    use casedesk_core::identity::{LoginFlow, Session};
    use casedesk_core::users::Scope;
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let now = casedesk_core::now();
    let later = |secs: i64| {
        now.checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap()
    };

    // Tokens: list newest first, per user; touch; revoke only one's own.
    let other = user(Some(f.account.id), "other@x.example", Role::Admin);
    s.create_user(&other, None, &a()).await.unwrap();
    let tok = |user_id, hash: &str, label: Option<&str>| TokenRecord {
        id: Uuid::now_v7(),
        user_id,
        hash: hash.into(),
        scopes: vec![Scope::CasesRead, Scope::Tokens],
        label: label.map(str::to_owned),
        created_at: casedesk_core::now(),
        last_used_at: None,
    };
    let mine = tok(f.requester.id, "h1", Some("ci"));
    s.create_token(&mine, &a()).await.unwrap();
    s.create_token(&tok(other.id, "h2", None), &a())
        .await
        .unwrap();
    let listed = s.list_tokens(Some(f.requester.id)).await.unwrap();
    assert_eq!(listed, vec![mine.clone()]);
    assert_eq!(s.list_tokens(None).await.unwrap().len(), 2);
    s.touch_token(mine.id, now).await.unwrap();
    let (u, found) = s.find_token("h1").await.unwrap().unwrap();
    assert_eq!(
        (u.id, found.last_used_at, found.label.as_deref()),
        (f.requester.id, Some(now), Some("ci"))
    );
    assert!(
        !s.revoke_token(mine.id, Some(other.id), &a()).await.unwrap(),
        "not another user's"
    );
    assert!(
        s.revoke_token(mine.id, Some(f.requester.id), &a())
            .await
            .unwrap()
    );
    assert!(s.find_token("h1").await.unwrap().is_none());

    // Roles and local credentials.
    let mut changed = other.clone();
    changed.case_admin = true;
    changed.elevated = true;
    s.update_user_access(&changed, &a()).await.unwrap();
    let back = s.get_user(other.id).await.unwrap().unwrap();
    assert!(back.case_admin && back.elevated);
    assert_eq!(s.count_users_with_role(Role::Manager).await.unwrap(), 0);
    s.set_password(other.id, Some("$argon2id$fake"), &a())
        .await
        .unwrap();
    let (_, c) = s
        .local_credentials("other@x.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.password_hash.as_deref(), Some("$argon2id$fake"));
    s.set_password(other.id, None, &a()).await.unwrap();
    let (_, c) = s
        .local_credentials("other@x.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.password_hash, None);

    // Throttle keys count failures, are forgotten at zero and pruned by age.
    assert_eq!(s.throttle("k1").await.unwrap(), None);
    s.set_throttle("k1", 3, now).await.unwrap();
    s.set_throttle("k1", 4, later(1)).await.unwrap();
    s.set_throttle("k2", 1, now).await.unwrap();
    assert_eq!(s.throttle("k1").await.unwrap(), Some((4, later(1))));
    s.set_throttle("k2", 0, now).await.unwrap();
    assert_eq!(s.throttle("k2").await.unwrap(), None);
    assert_eq!(s.prune_throttle(later(2)).await.unwrap(), 1);
    assert_eq!(s.throttle("k1").await.unwrap(), None);

    // Identities: one user per issuer and subject, never rebound by a second link.
    let id = casedesk_core::identity::Identity {
        issuer: "https://idp.example".into(),
        subject: "00u1".into(),
        user_id: other.id,
        issuer_name: "corp".into(),
        created_at: now,
    };
    assert!(s.link_identity(&id, &a()).await.unwrap());
    let stolen = casedesk_core::identity::Identity {
        user_id: f.requester.id,
        ..id.clone()
    };
    assert!(!s.link_identity(&stolen, &a()).await.unwrap());
    assert_eq!(
        s.find_identity("https://idp.example", "00u1")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(other.id)
    );
    assert_eq!(s.identities_of(other.id).await.unwrap(), vec![id.clone()]);
    assert!(s.identities_of(f.requester.id).await.unwrap().is_empty());
    assert!(
        s.unlink_identity("https://idp.example", "00u1", &a())
            .await
            .unwrap()
    );
    assert!(
        !s.unlink_identity("https://idp.example", "00u1", &a())
            .await
            .unwrap()
    );
    assert!(
        s.find_identity("https://idp.example", "00u1")
            .await
            .unwrap()
            .is_none()
    );

    // Sessions end at their expiry; login flows are taken once.
    let session = Session {
        hash: "sess".into(),
        user_id: other.id,
        csrf: "c".into(),
        issuer: Some("idp".into()),
        created_at: now,
        expires_at: later(60),
    };
    s.create_session(&session, &a()).await.unwrap();
    let (su, ss) = s.find_session("sess", now).await.unwrap().unwrap();
    assert_eq!((su.id, ss), (other.id, session.clone()));
    assert!(
        s.find_session("sess", later(61)).await.unwrap().is_none(),
        "expired"
    );
    s.delete_session("sess", &a()).await.unwrap();
    assert!(s.find_session("sess", now).await.unwrap().is_none());
    let flow = LoginFlow {
        state_hash: "st".into(),
        issuer: "idp".into(),
        nonce: "n".into(),
        verifier: "v".into(),
        return_to: "/".into(),
        created_at: now,
    };
    s.create_login_flow(&flow).await.unwrap();
    assert_eq!(s.take_login_flow("st").await.unwrap(), Some(flow));
    assert_eq!(s.take_login_flow("st").await.unwrap(), None);
}
both!(identity_records_round_trip);

/// The audit entry the contract's writes carry.
fn a() -> AuditRecord {
    AuditRecord::new(
        casedesk_core::audit::Actor::system("contract"),
        "test.write",
        "test",
    )
}

async fn jobs_are_claimed_once_fenced_by_their_lease_and_retried(b: Backend) {
    use casedesk_core::jobs::{Finish, JobQuery, JobState, NewJob};
    use casedesk_core::service::FollowUp;
    use std::time::Duration;
    let (s, _db) = store(b).await;
    let now = casedesk_core::now();
    let secs = |n: i64| now.checked_add(jiff::SignedDuration::from_secs(n)).unwrap();
    let due = NewJob::new("t.one", serde_json::json!({"n": 1}));
    let later = NewJob::new("t.one", serde_json::json!({"n": 2})).at(secs(3600));
    let unique = NewJob::new("t.two", serde_json::json!({})).unique("k");
    let twin = NewJob::new("t.two", serde_json::json!({})).unique("k");
    for j in [&due, &later, &unique, &twin] {
        s.enqueue_job(j).await.unwrap();
    }
    let all = s
        .list_jobs(&JobQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        3,
        "a second queued job with the same unique key is not written"
    );

    let lease = Duration::from_secs(1);
    let mut first = s.claim_jobs("a", secs(1), lease, 10).await.unwrap();
    first.sort_by_key(|c| c.job.kind.clone());
    assert_eq!(first.len(), 2, "only due jobs");
    assert!(
        first
            .iter()
            .all(|c| c.job.attempts == 1 && c.job.state == JobState::Running)
    );
    assert!(
        s.claim_jobs("b", secs(1), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased jobs are not claimed twice"
    );

    assert!(
        s.finish_job(&first[0], &Finish::Done, &FollowUp::default())
            .await
            .unwrap()
    );
    assert!(
        !s.finish_job(&first[0], &Finish::Done, &FollowUp::default())
            .await
            .unwrap(),
        "a finished job cannot finish again"
    );
    // A lease extended (a step that rightly takes long) is not released when it would have
    // run out; a stale lease token extends nothing.
    assert!(
        s.extend_lease(&first[1], secs(2) + Duration::from_millis(500))
            .await
            .unwrap()
    );
    assert_eq!(
        s.release_expired(secs(2) + Duration::from_millis(200))
            .await
            .unwrap(),
        0,
        "past the first lease, within the extension"
    );
    let mut stale = first[1].clone();
    stale.token = "not-the-lease".into();
    assert!(!s.extend_lease(&stale, secs(60)).await.unwrap());
    // The lease of the other runs out; another worker takes it over, and the first worker
    // can no longer end it.
    assert_eq!(s.release_expired(secs(3)).await.unwrap(), 1);
    let b2 = s.claim_jobs("b", secs(3), lease, 10).await.unwrap();
    assert_eq!(b2.len(), 1);
    assert_eq!(b2[0].job.id, unique.id);
    assert_eq!(b2[0].job.attempts, 2);
    assert!(
        !s.finish_job(&first[1], &Finish::Done, &FollowUp::default())
            .await
            .unwrap(),
        "fenced by the lease token"
    );
    let retry = Finish::Retry {
        at: secs(10),
        error: "boom".into(),
    };
    let follow = FollowUp {
        jobs: vec![NewJob::new("t.three", serde_json::json!({}))],
        audit: vec![a()],
        mails: vec![],
    };
    assert!(s.finish_job(&b2[0], &retry, &follow).await.unwrap());
    let j = s.get_job(unique.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.last_error.as_deref(), j.attempts),
        (JobState::Queued, Some("boom"), 2)
    );
    assert_eq!(j.run_at, secs(10));
    assert_eq!(
        s.list_jobs(&JobQuery {
            kind: Some("t.three".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        1,
        "follow-ups are written with the finish"
    );

    // The last attempt's failure is the dead letter; a manager's retry starts afresh.
    let once = NewJob::new("t.once", serde_json::json!({})).max_attempts(1);
    s.enqueue_job(&once).await.unwrap();
    let c = s.claim_jobs("a", secs(20), lease, 10).await.unwrap();
    let c = c.iter().find(|c| c.job.id == once.id).unwrap();
    assert!(
        s.finish_job(
            c,
            &Finish::Retry {
                at: secs(30),
                error: "last".into()
            },
            &FollowUp::default()
        )
        .await
        .unwrap()
    );
    let dead = s.get_job(once.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.state, dead.last_error.as_deref()),
        (JobState::Dead, Some("last"))
    );
    let back = s
        .set_job_state(once.id, JobState::Dead, JobState::Queued, &a())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((back.state, back.attempts), (JobState::Queued, 0));
    assert!(
        s.set_job_state(once.id, JobState::Dead, JobState::Cancelled, &a())
            .await
            .unwrap()
            .is_none(),
        "it moved meanwhile"
    );
    // Released at shutdown: the attempt does not count.
    let c = s.claim_jobs("a", secs(40), lease, 10).await.unwrap();
    let c = c.iter().find(|c| c.job.id == once.id).unwrap();
    assert!(
        s.finish_job(c, &Finish::Release, &FollowUp::default())
            .await
            .unwrap()
    );
    assert_eq!(s.get_job(once.id).await.unwrap().unwrap().attempts, 0);
    let counts = s.job_counts(secs(40)).await.unwrap();
    assert!(
        counts
            .iter()
            .any(|c| c.kind == "t.once" && c.state == JobState::Queued && c.count == 1)
    );
}
both!(jobs_are_claimed_once_fenced_by_their_lease_and_retried);

async fn audit_entries_chain_without_gaps(b: Backend) {
    let (s, _db) = store(b).await;
    for _ in 0..3 {
        s.append_audit(&a()).await.unwrap();
    }
    let page = s.audit_page(0, 10, &Default::default()).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(page[0].prev_hash, casedesk_core::audit::GENESIS);
    assert_eq!(page[1].prev_hash, page[0].hash);
    assert_eq!(
        s.audit_head().await.unwrap(),
        Some((3, page[2].hash.clone()))
    );
    let r = casedesk_core::audit::verify_store(s.as_ref())
        .await
        .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.checked, 3);
}
both!(audit_entries_chain_without_gaps);

/// Creates are written in groups that remember the chain's head between commits; other
/// writers, a second handle on the same database (as a second process would be) and groups of
/// several entries must still leave one whole chain, each create's entry naming its case.
async fn audit_chain_stays_whole_across_writers_and_groups(b: Backend) {
    let (s, db) = store(b).await;
    let s2 = casedesk_store::connect(&db.url).await.unwrap();
    let f = fixture(s.as_ref()).await;
    let creates = |st: Arc<dyn Store>, n: usize| {
        let cases: Vec<NewCase> = (0..n).map(|i| new_case(&f, &format!("c{i}"))).collect();
        let actor = f.requester.id;
        async move {
            let mut set = tokio::task::JoinSet::new();
            for c in cases {
                let st = st.clone();
                set.spawn(async move {
                    // An empty target: the store names the case it numbered.
                    let audit = AuditRecord::new(
                        casedesk_core::audit::Actor::system("contract"),
                        "case.create",
                        "",
                    );
                    st.create_case(&c, &event(actor, EventKind::Created, true), None, &audit)
                        .await
                        .unwrap()
                });
            }
            let mut numbers = vec![];
            while let Some(r) = set.join_next().await {
                match r.unwrap() {
                    CreateOutcome::Created(n) => numbers.push(n),
                    other => panic!("{other:?}"),
                }
            }
            numbers
        }
    };
    let mut numbers = creates(s.clone(), 20).await;
    s2.append_audit(&a()).await.unwrap();
    numbers.extend(creates(s.clone(), 3).await);
    s.append_audit(&a()).await.unwrap();
    let (x, y) = tokio::join!(creates(s.clone(), 10), creates(s2.clone(), 10));
    numbers.extend(x);
    numbers.extend(y);
    numbers.extend(creates(s.clone(), 1).await);

    let r = casedesk_core::audit::verify_store(s.as_ref())
        .await
        .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let page = s.audit_page(0, 1000, &Default::default()).await.unwrap();
    assert_eq!(r.checked, page.len() as u64);
    let mut targets: Vec<String> = page
        .iter()
        .filter(|e| e.record.action == "case.create")
        .map(|e| e.record.target.clone())
        .collect();
    targets.sort();
    let mut expected: Vec<String> = numbers.iter().map(|n| format!("case:{n}")).collect();
    expected.sort();
    assert_eq!(targets, expected, "one entry per created case, naming it");
}
both!(audit_chain_stays_whole_across_writers_and_groups);

async fn sla_calendars_keep_versions_and_policies_upsert(b: Backend) {
    let (s, _db) = store(b).await;
    assert!(s.calendar_versions("eu").await.unwrap().is_empty());
    let t1 = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    let t2 = jiff::Timestamp::from_second(1_790_100_000).unwrap();
    s.put_calendar("eu", r#"{"v":2}"#, t2, &a()).await.unwrap();
    s.put_calendar("eu", r#"{"v":1}"#, t1, &a()).await.unwrap();
    s.put_calendar("apac", r#"{"v":9}"#, t1, &a())
        .await
        .unwrap();
    assert_eq!(
        s.calendar_versions("eu").await.unwrap(),
        vec![(t1, r#"{"v":1}"#.to_owned()), (t2, r#"{"v":2}"#.to_owned())]
    );
    let list = s.list_calendars().await.unwrap();
    assert_eq!(
        list,
        vec![
            ("apac".to_owned(), t1, r#"{"v":9}"#.to_owned()),
            ("eu".to_owned(), t2, r#"{"v":2}"#.to_owned())
        ]
    );
    s.put_policy("gold", "P3", "{}", t1, &a()).await.unwrap();
    s.put_policy("gold", "P3", r#"{"x":1}"#, t2, &a())
        .await
        .unwrap();
    assert_eq!(
        s.list_policies().await.unwrap(),
        vec![("gold".into(), "P3".into(), r#"{"x":1}"#.into(), t2)]
    );
    // Each change wrote its audit entry.
    assert_eq!(
        casedesk_core::audit::verify_store(s.as_ref())
            .await
            .unwrap()
            .checked,
        5
    );
    // An account's chosen calendar: none, one, none again; an unknown account is not found.
    let f = fixture(s.as_ref()).await;
    assert_eq!(s.account_calendar(f.account.id).await.unwrap(), None);
    s.set_account_calendar(f.account.id, Some("eu"), &a())
        .await
        .unwrap();
    assert_eq!(
        s.account_calendar(f.account.id).await.unwrap().as_deref(),
        Some("eu")
    );
    s.set_account_calendar(f.account.id, None, &a())
        .await
        .unwrap();
    assert_eq!(s.account_calendar(f.account.id).await.unwrap(), None);
    assert!(matches!(
        s.set_account_calendar(Uuid::now_v7(), Some("eu"), &a())
            .await,
        Err(DomainError::NotFound { .. })
    ));
}
both!(sla_calendars_keep_versions_and_policies_upsert);

async fn sla_log_and_timers_are_written_with_the_case(b: Backend) {
    use casedesk_core::sla::{ClockEvent, ClockEventKind, Goal, SlaWrite, Target};
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let t = |sec: i64| jiff::Timestamp::from_second(1_790_000_000 + sec).unwrap();
    let ev = |target, kind, at| ClockEvent {
        target,
        cycle: 1,
        kind,
        at,
    };
    let first = vec![
        ev(
            Target::FirstResponse,
            ClockEventKind::Applied {
                goal: Goal::around_the_clock(60),
            },
            t(0),
        ),
        ev(Target::FirstResponse, ClockEventKind::Started, t(0)),
    ];
    let mut timed = Vec::new();
    for (i, alert) in [300, 100, 200].into_iter().enumerate() {
        let mut nc = new_case(&f, &format!("timed {i}"));
        nc.sla = SlaWrite {
            events: first.clone(),
            due_at: Some(t(alert + 1000)),
            alert_at: Some(t(alert)),
        };
        let CreateOutcome::Created(n) = s
            .create_case(
                &nc,
                &event(f.requester.id, EventKind::Created, true),
                None,
                &a(),
            )
            .await
            .unwrap()
        else {
            panic!("not created")
        };
        timed.push(n);
    }
    // A case without clocks (imported) has no log and no timer.
    let untimed = s
        .import_cases(&[(new_case(&f, "imported"), Status::Open)])
        .await
        .unwrap()[0];
    assert!(s.sla_log(untimed).await.unwrap().is_empty());
    assert_eq!(
        s.sla_log(timed[0]).await.unwrap(),
        first,
        "in order, exactly"
    );

    // The scanner's query: due ones only, soonest first.
    assert_eq!(
        s.sla_alerts_due(t(250), 10).await.unwrap(),
        vec![timed[1], timed[2]]
    );
    assert_eq!(s.sla_alerts_due(t(250), 1).await.unwrap(), vec![timed[1]]);
    assert!(s.sla_alerts_due(t(50), 10).await.unwrap().is_empty());

    // Timers and log entries move with a change, fenced by the case's version.
    let c = s.get_case(timed[1]).await.unwrap().unwrap();
    let met = ev(Target::FirstResponse, ClockEventKind::Met, t(120));
    let w = SlaWrite {
        events: vec![met],
        due_at: None,
        alert_at: None,
    };
    assert!(
        !s.set_sla(c.number, c.version + 1, &w).await.unwrap(),
        "stale version"
    );
    assert_eq!(
        s.sla_log(c.number).await.unwrap().len(),
        2,
        "nothing written"
    );
    let patch = CasePatch {
        sla: Some(w.clone()),
        ..Default::default()
    };
    s.update_case(
        c.number,
        c.version,
        &patch,
        &event(f.requester.id, EventKind::Reply, true),
        &a(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(s.sla_log(c.number).await.unwrap().last(), Some(&met));
    assert_eq!(
        s.sla_alerts_due(t(250), 10).await.unwrap(),
        vec![timed[2]],
        "a met clock has no timer"
    );
    let c = s.get_case(timed[2]).await.unwrap().unwrap();
    let later = SlaWrite {
        events: vec![],
        due_at: Some(t(5000)),
        alert_at: Some(t(4000)),
    };
    assert!(s.set_sla(c.number, c.version, &later).await.unwrap());
    assert!(s.sla_alerts_due(t(250), 10).await.unwrap().is_empty());

    // Open cases in number order, paged.
    let open = s.open_case_numbers(0, 100).await.unwrap();
    assert_eq!(open.len(), 4);
    assert_eq!(s.open_case_numbers(open[1], 2).await.unwrap(), open[2..4]);

    // Settings are one row, replaced.
    assert_eq!(s.sla_settings().await.unwrap(), None);
    s.put_sla_settings(r#"{"warning_percent":50}"#, &a())
        .await
        .unwrap();
    s.put_sla_settings(r#"{"warning_percent":60}"#, &a())
        .await
        .unwrap();
    assert_eq!(
        s.sla_settings().await.unwrap().as_deref(),
        Some(r#"{"warning_percent":60}"#)
    );
}
both!(sla_log_and_timers_are_written_with_the_case);

async fn mail_out_and_in_are_written_with_their_causes(b: Backend) {
    use casedesk_core::jobs::{Claim, Finish};
    use casedesk_core::mail::{InboundOutcome, InboundRecord, MailResult, MailState, NewMail};
    use casedesk_core::service::FollowUp;
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let CreateOutcome::Created(n) = s
        .create_case(
            &new_case(&f, "mail"),
            &event(f.requester.id, EventKind::Created, true),
            None,
            &a(),
        )
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    let mail = |to: &str| {
        let id = Uuid::now_v7();
        NewMail {
            id,
            case_number: Some(n),
            kind: "acknowledged".into(),
            recipient: to.into(),
            subject: format!("[casedesk #{n}] mail"),
            message_id: format!("<case-{n}.{}@casedesk.test>", id.simple()),
            message: "Subject: x\r\n\r\nbody\r\n".into(),
            created_at: casedesk_core::now(),
        }
    };
    // A public case event queues its dispatch job (which writes the messages) in the
    // transaction of the event, even with no webhook endpoint; an internal note does not.
    let jobs = |kind: &'static str| {
        let s = s.clone();
        async move {
            s.list_jobs(&casedesk_core::jobs::JobQuery {
                kind: Some(kind.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
        }
    };
    assert_eq!(jobs("case.event").await, 1);
    let c = s.get_case(n).await.unwrap().unwrap();
    s.update_case(
        n,
        c.version,
        &CasePatch::default(),
        &event(f.contact.id, EventKind::Note, false),
        &a(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        jobs("case.event").await,
        1,
        "internal events are not mailed"
    );

    // A job's follow-up writes messages and their sending jobs with its end.
    s.enqueue_job(&casedesk_core::jobs::NewJob::new("t.mail", json!({})))
        .await
        .unwrap();
    let claims: Vec<Claim> = s
        .claim_jobs(
            "a",
            casedesk_core::now(),
            std::time::Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    let mine = claims.iter().find(|c| c.job.kind == "t.mail").unwrap();
    let (m1, m2) = (mail("req@acme.example"), mail("mate@acme.example"));
    let follow = FollowUp {
        mails: vec![m1.clone(), m2.clone()],
        ..Default::default()
    };
    assert!(s.finish_job(mine, &Finish::Done, &follow).await.unwrap());
    assert_eq!(jobs(casedesk_core::mail::SEND).await, 2);
    let log = s.list_mail(n).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|m| m.state == MailState::Queued && m.attempts == 0)
    );
    let (rec, text) = s.get_mail(m1.id).await.unwrap().unwrap();
    assert_eq!(
        (rec.recipient.as_str(), text.as_str()),
        ("req@acme.example", "Subject: x\r\n\r\nbody\r\n")
    );

    // A sending attempt's result is recorded with the end of its job, fenced by the lease.
    let claims = s
        .claim_jobs(
            "a",
            casedesk_core::now(),
            std::time::Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    let send = claims
        .iter()
        .find(|c| c.job.payload["mail"] == json!(m1.id.to_string()))
        .unwrap();
    let sent = MailResult {
        id: m1.id,
        state: MailState::Sent,
        error: None,
        detail: Some("relay 250 ok".into()),
        at: casedesk_core::now(),
        next_attempt_at: None,
    };
    assert!(s.mail_result(send, &sent, &Finish::Done).await.unwrap());
    let mut stale = send.clone();
    stale.token = "not-the-lease".into();
    assert!(!s.mail_result(&stale, &sent, &Finish::Done).await.unwrap());
    let (rec, _) = s.get_mail(m1.id).await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.attempts, rec.detail.as_deref()),
        (MailState::Sent, 1, Some("relay 250 ok"))
    );
    assert!(rec.sent_at.is_some());

    // Received mail: recorded once per Message-ID; the notice answering it is queued with it.
    let received = |id: Option<&str>| InboundRecord {
        id: Uuid::now_v7(),
        received_at: casedesk_core::now(),
        sender: Some("stranger@elsewhere.example".into()),
        subject: "hello".into(),
        message_id: id.map(str::to_owned),
        case_number: Some(n),
        outcome: InboundOutcome::RefusedSender,
        detail: json!({"reason": "not on the case"}),
        raw: b"From: stranger@elsewhere.example\r\n\r\n\xff binary stays binary\r\n".to_vec(),
        replaces_held: false,
        fingerprint: None,
        counts: true,
    };
    let first = received(Some("m1@elsewhere.example"));
    let mut notice = mail("stranger@elsewhere.example");
    notice.case_number = None;
    assert!(s.record_inbound(&first, Some(&notice)).await.unwrap());
    assert_eq!(
        jobs(casedesk_core::mail::SEND).await,
        2,
        "one sent, one notice queued"
    );
    let again = received(Some("m1@elsewhere.example"));
    let mut notice2 = mail("stranger@elsewhere.example");
    notice2.case_number = None;
    assert!(
        !s.record_inbound(&again, Some(&notice2)).await.unwrap(),
        "same Message-ID"
    );
    assert!(
        s.get_mail(notice2.id).await.unwrap().is_none(),
        "and its notice was not written"
    );
    assert!(
        s.record_inbound(&received(None), None).await.unwrap(),
        "no Message-ID: always new"
    );
    let found = s
        .find_inbound("m1@elsewhere.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id, found.outcome.as_str()),
        (first.id, "refused_sender")
    );
    let (_, raw) = s.get_inbound(first.id).await.unwrap().unwrap();
    assert_eq!(raw, first.raw, "the original is kept byte for byte");
    assert_eq!(s.list_inbound(n).await.unwrap().len(), 2);

    // A posted reply records its message in the transaction of the case change.
    let c = s.get_case(n).await.unwrap().unwrap();
    let mut posted = received(Some("m2@acme.example"));
    posted.outcome = InboundOutcome::Posted;
    let patch = CasePatch {
        inbound: Some(posted.clone()),
        ..CasePatch::default()
    };
    s.update_case(
        n,
        c.version,
        &patch,
        &event(f.requester.id, EventKind::Reply, true),
        &a(),
    )
    .await
    .unwrap()
    .unwrap();
    let c = s.get_case(n).await.unwrap().unwrap();
    let events_before = s.list_events(n, true).await.unwrap().len();
    let dup = s
        .update_case(
            n,
            c.version,
            &patch,
            &event(f.requester.id, EventKind::Reply, true),
            &a(),
        )
        .await;
    assert!(matches!(dup, Err(DomainError::Conflict(_))), "{dup:?}");
    assert_eq!(
        s.list_events(n, true).await.unwrap().len(),
        events_before,
        "nothing posted twice"
    );

    // Held mail: listed by its outcome, decided once. A release replaces the held row (it
    // keeps its id and its original); a second decision finds nothing held.
    let mut held = received(Some("h1@acme.example"));
    held.outcome = InboundOutcome::Held;
    held.detail = json!({"hold": {"kind": "flood"}});
    held.fingerprint = Some("f00d".into());
    held.sender = Some("ops@acme.example".into());
    assert!(s.record_inbound(&held, None).await.unwrap());
    let listed = s.list_inbound_by_outcome("held", None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![held.id]
    );
    let since = casedesk_core::now() - jiff::SignedDuration::from_mins(5);
    let q = |fp: Option<&'static str>, case: Option<i64>, since, cap| {
        casedesk_core::mail::RecentQuery {
            sender: "ops@acme.example",
            case,
            fingerprint: fp,
            since,
            cap,
        }
    };
    let recent = s
        .recent_inbound(&q(Some("f00d"), Some(n), since, 10))
        .await
        .unwrap();
    assert_eq!(recent.from_sender, 1, "held mail counts against its sender");
    assert!(
        recent.on_case >= 2,
        "posted and held on the case: {recent:?}"
    );
    assert!(recent.repeated, "the same fingerprint from the sender");
    assert!(
        !s.recent_inbound(&q(Some("beef"), Some(n), since, 10))
            .await
            .unwrap()
            .repeated
    );
    // Mail whose sender was found false does not count against anyone's allowance.
    let mut forged = received(Some("forged-1@elsewhere.example"));
    forged.outcome = InboundOutcome::Held;
    forged.sender = Some("ops@acme.example".into());
    forged.fingerprint = Some("f00d".into());
    forged.counts = false;
    assert!(s.record_inbound(&forged, None).await.unwrap());
    let again = s
        .recent_inbound(&q(None, Some(n), since, 10))
        .await
        .unwrap();
    assert_eq!(
        (again.from_sender, again.on_case),
        (recent.from_sender, recent.on_case)
    );
    let capped = s.recent_inbound(&q(None, Some(n), since, 1)).await.unwrap();
    assert_eq!(
        (capped.from_sender, capped.on_case),
        (1, 1),
        "counts stop at the cap"
    );
    let later = s
        .recent_inbound(&q(
            Some("f00d"),
            None,
            casedesk_core::now() + jiff::SignedDuration::from_mins(1),
            10,
        ))
        .await
        .unwrap();
    assert!(!later.repeated);
    assert_eq!(
        (later.from_sender, later.on_case),
        (0, 0),
        "outside the window"
    );
    let mut decided = held.clone();
    decided.outcome = InboundOutcome::Posted;
    decided.detail = json!({"review": {"decision": "released"}});
    decided.raw = Vec::new();
    decided.replaces_held = true;
    assert!(s.record_inbound(&decided, None).await.unwrap());
    assert!(
        !s.record_inbound(&decided, None).await.unwrap(),
        "decided once"
    );
    let (now_posted, raw) = s.get_inbound(held.id).await.unwrap().unwrap();
    assert_eq!(now_posted.outcome, "posted");
    assert_eq!(raw, held.raw, "the original kept when it was held stays");
    assert!(
        s.list_inbound_by_outcome("held", None, 10)
            .await
            .unwrap()
            .iter()
            .all(|m| m.id != held.id),
        "released: no longer held"
    );
    let mut other = received(Some("h2@acme.example"));
    other.outcome = InboundOutcome::Held;
    assert!(s.record_inbound(&other, None).await.unwrap());
    assert!(
        s.review_held(
            other.id,
            "discarded",
            &json!({"review": {"decision": "discarded"}}),
            &a()
        )
        .await
        .unwrap()
    );
    assert!(
        !s.review_held(other.id, "discarded", &json!({}), &a())
            .await
            .unwrap(),
        "no longer held"
    );
    assert_eq!(
        s.list_inbound_by_outcome("discarded", None, 10)
            .await
            .unwrap()[0]
            .id,
        other.id
    );

    // A delivery report fails the message it names, by its Message-ID, and cancels its
    // waiting attempt; an id we never sent changes nothing.
    let bounced = s
        .bounce_mail(&m2.message_id, "bounced (failed): status 5.1.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((bounced.id, bounced.state), (m2.id, MailState::Failed));
    assert_eq!(
        bounced.last_error.as_deref(),
        Some("bounced (failed): status 5.1.1")
    );
    assert!(
        s.bounce_mail("<never@casedesk.example>", "x")
            .await
            .unwrap()
            .is_none()
    );

    // Email intake per account.
    assert_eq!(s.email_intake(f.account.id).await.unwrap(), None);
    s.set_email_intake(f.account.id, r#"{"enabled":true}"#, &a())
        .await
        .unwrap();
    assert_eq!(
        s.email_intake(f.account.id).await.unwrap().as_deref(),
        Some(r#"{"enabled":true}"#)
    );
}
both!(mail_out_and_in_are_written_with_their_causes);
