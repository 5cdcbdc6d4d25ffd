//! Paging through a case list reaches every visible case exactly once, whatever the
//! visibility union (requester or contact; assignee or queue), the filters, the order and the
//! page size: random data, random page sizes, compared with one unpaged read, on both
//! databases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use casedesk_core::accounts::{Account, Environment, Plan, Region, Tenant};
use casedesk_core::audit::{AuditRecord, Origin};
use casedesk_core::cases::*;
use casedesk_core::service::{self, CasePatch, ListFilters, NewCase};
use casedesk_core::store::Store;
use casedesk_core::users::{Principal, Role, Scope, User};
use casedesk_testkit::{Backend, test_db};
use proptest::prelude::*;
use serde_json::{Map, json};
use uuid::Uuid;

const QUEUES: [&str; 3] = ["identity", "integrations", "billing"];
const STATUSES: [Status; 6] = [
    Status::New,
    Status::Open,
    Status::Pending,
    Status::OnHold,
    Status::Solved,
    Status::Closed,
];

/// One generated case.
#[derive(Debug, Clone)]
struct Spec {
    /// Account 0 or 1.
    account: usize,
    /// Requester: one of the account's three customers.
    requester: usize,
    /// Team contacts among the account's customers (bit set).
    contacts: u8,
    queue: usize,
    /// Assigned to agent 0, agent 1 or the manager.
    assignee: Option<usize>,
    status: usize,
    p1: bool,
    /// Due times from a handful of values, so that ties are common.
    due: Option<i64>,
    escalated: bool,
    /// Whether the subject carries the search word.
    word: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0..2usize, 0..3usize, 0..8u8, 0..3usize),
        (prop::option::of(0..3usize), 0..6usize, any::<bool>()),
        (
            prop::option::weighted(0.6, 0..4i64),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (account, requester, contacts, queue),
                (assignee, status, p1),
                (due, escalated, word),
            )| Spec {
                account,
                requester,
                contacts,
                queue,
                assignee,
                status,
                p1,
                due,
                escalated,
                word,
            },
        )
}

/// A list request: who asks, and with which filters.
#[derive(Debug, Clone)]
struct Ask {
    /// 0–5 customers (account × person), 6–7 agents, 8 the manager.
    who: usize,
    mine: bool,
    status: Option<usize>,
    p1: Option<bool>,
    assignee: Option<bool>,
    escalated: Option<bool>,
    word: bool,
    by_due: bool,
}

fn ask() -> impl Strategy<Value = Ask> {
    (
        (0..9usize, any::<bool>(), prop::option::of(0..7usize)),
        (
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
        ),
        (prop::bool::weighted(0.2), any::<bool>()),
    )
        .prop_map(
            |((who, mine, status), (p1, assignee, escalated), (word, by_due))| Ask {
                who,
                mine,
                status,
                p1,
                assignee,
                escalated,
                word,
                by_due,
            },
        )
}

struct World {
    store: Arc<dyn Store>,
    /// Customers by account, three each (the second one elevated: they see the account).
    customers: [[User; 3]; 2],
    agents: [User; 2],
    manager: User,
}

fn audit() -> AuditRecord {
    AuditRecord::new(
        casedesk_core::audit::Actor::system("paging"),
        "test.write",
        "test",
    )
}

fn person(account: Option<Uuid>, email: String, role: Role, elevated: bool) -> User {
    User {
        id: Uuid::now_v7(),
        account_id: account,
        email,
        role,
        case_admin: true,
        elevated,
        queues: vec![],
        created_at: casedesk_core::now(),
        deactivated_at: None,
    }
}

async fn world(store: Arc<dyn Store>, specs: &[Spec]) -> World {
    let s = store.as_ref();
    let mut customers = Vec::new();
    let mut tenants = Vec::new();
    for a in 0..2 {
        let account = Account {
            id: Uuid::now_v7(),
            name: format!("Account {a}"),
            plan: Plan::Gold,
            csm: None,
            copy_requester: false,
            created_at: casedesk_core::now(),
        };
        s.create_account(&account, &audit()).await.unwrap();
        let tenant = Tenant {
            id: Uuid::now_v7(),
            account_id: account.id,
            slug: format!("tenant-{a}"),
            region: Region::Eu,
            environment: Environment::Production,
            created_at: casedesk_core::now(),
        };
        s.create_tenant(&tenant, &audit()).await.unwrap();
        tenants.push(tenant);
        let people: [User; 3] = std::array::from_fn(|i| {
            person(
                Some(account.id),
                format!("c{i}@a{a}.example"),
                Role::Admin,
                i == 1,
            )
        });
        for u in &people {
            s.create_user(u, None, &audit()).await.unwrap();
        }
        customers.push(people);
    }
    let mut agents: [User; 2] = std::array::from_fn(|i| {
        person(
            None,
            format!("agent{i}@support.example"),
            Role::Agent,
            false,
        )
    });
    agents[0].queues = vec![QUEUES[0].into(), QUEUES[1].into()];
    agents[1].queues = vec![QUEUES[2].into()];
    let manager = person(None, "lead@support.example".into(), Role::Manager, false);
    for u in agents.iter().chain([&manager]) {
        s.create_user(u, None, &audit()).await.unwrap();
    }
    let customers: [[User; 3]; 2] = [customers[0].clone(), customers[1].clone()];
    let base = casedesk_core::now();
    for (i, c) in specs.iter().enumerate() {
        let people = &customers[c.account];
        let requester = &people[c.requester];
        let team_contacts = (0..3)
            .filter(|k| c.contacts & (1 << k) != 0)
            .map(|k| TeamContact {
                user_id: people[k].id,
                email: people[k].email.clone(),
            })
            .collect();
        let mut ids = Map::new();
        ids.insert("organization_id".into(), json!("org_1"));
        let due = c.due.map(|d| {
            base.checked_add(jiff::SignedDuration::from_hours(d))
                .unwrap()
        });
        let nc = NewCase {
            account_id: requester.account_id.unwrap(),
            requester_id: requester.id,
            tenant_id: tenants[c.account].id,
            queue: QUEUES[c.queue].into(),
            fields: CaseFields {
                priority: if c.p1 { Priority::P1 } else { Priority::P3 },
                subject: if c.word {
                    format!("Token refresh fails {i}")
                } else {
                    format!("Webhook retries {i}")
                },
                description: "Seen since the last deploy.".into(),
                steps_to_reproduce: None,
                issue_area: "webhooks".into(),
                scope: ImpactScope::OneUser,
                business_impact: None,
                contact: Contact {
                    email: requester.email.clone(),
                    phone: "+1 555 0100".into(),
                    timezone: "Europe/Berlin".into(),
                },
                stage: Stage::Production,
                identifiers: ids,
                context: Map::new(),
                checklist: Map::new(),
            },
            team_contacts,
            follow_up_of: None,
            created_at: casedesk_core::now(),
            sla: casedesk_core::sla::SlaWrite {
                events: vec![],
                due_at: due,
                alert_at: None,
            },
        };
        let created = NewEvent {
            actor_id: Some(requester.id),
            kind: EventKind::Created,
            public: true,
            data: json!({}),
            at: casedesk_core::now(),
        };
        let CreateOutcome::Created(number) = s
            .create_case(&nc, &created, None, &audit(), None)
            .await
            .unwrap()
        else {
            panic!("not created")
        };
        let staff = [&agents[0], &agents[1], &manager];
        let patch = CasePatch {
            status: Some(STATUSES[c.status]),
            assignee: Some(c.assignee.map(|k| staff[k].id)),
            escalated: Some(c.escalated),
            ..Default::default()
        };
        let changed = NewEvent {
            actor_id: None,
            kind: EventKind::Assigned,
            public: false,
            data: json!({}),
            at: casedesk_core::now(),
        };
        let case = s.get_case(number).await.unwrap().unwrap();
        s.update_case(number, case.version, &patch, &changed, &audit())
            .await
            .unwrap()
            .expect("no concurrent change");
    }
    World {
        store,
        customers,
        agents,
        manager,
    }
}

fn principal(w: &World, who: usize) -> Principal {
    let user = match who {
        0..=5 => w.customers[who / 3][who % 3].clone(),
        6 | 7 => w.agents[who - 6].clone(),
        _ => w.manager.clone(),
    };
    Principal {
        user,
        scopes: Scope::ALL.to_vec(),
        origin: Origin::default(),
    }
}

fn filters(a: &Ask) -> ListFilters {
    ListFilters {
        view: a.mine.then(|| "mine".into()),
        status: a.status.map(|s| match s {
            6 => "active".into(),
            s => STATUSES[s].key().into(),
        }),
        priority: a.p1.map(|p| if p { "P1" } else { "P3" }.into()),
        assignee: a.assignee.map(|me| if me { "me" } else { "none" }.into()),
        escalated: a.escalated.map(|e| e.to_string()),
        q: a.word.then(|| "token".into()),
        sort: a.by_due.then(|| "sla_due".into()),
        ..Default::default()
    }
}

/// Walks every page of `a` at `size` and checks it against one unpaged read.
async fn check(w: &World, a: &Ask, size: u32) {
    let p = principal(w, a.who);
    let s = w.store.as_ref();
    let mut all = filters(a);
    all.limit = Some(100);
    let (whole, rest) = service::list_cases(s, &p, &all).await.unwrap();
    assert!(rest.is_none(), "the unpaged read holds every case");
    if a.mine && a.who >= 6 {
        // "Mine" for support staff: assigned to them, whatever their queues.
        let me = &p.user.email;
        assert!(
            whole.iter().all(|r| r.assignee.as_ref() == Some(me)),
            "{a:?}"
        );
    }
    let whole: Vec<i64> = whole.iter().map(|r| r.number).collect();
    let mut walked = Vec::new();
    let mut f = filters(a);
    f.limit = Some(size);
    for _ in 0..=whole.len() + 1 {
        let (rows, next) = service::list_cases(s, &p, &f).await.unwrap();
        assert!(rows.len() <= size as usize);
        walked.extend(rows.iter().map(|r| r.number));
        match next {
            Some(c) => {
                assert_eq!(rows.len(), size as usize, "a page with a next is full");
                f.cursor = Some(c);
            }
            None => break,
        }
    }
    assert_eq!(walked, whole, "{a:?} at page size {size}");
}

/// Without filters, the unpaged read is exactly the cases the caller may open.
async fn listed_is_openable(w: &World, who: usize, cases: usize) {
    let p = principal(w, who);
    let s = w.store.as_ref();
    let f = ListFilters {
        limit: Some(100),
        ..Default::default()
    };
    let listed: BTreeSet<i64> = service::list_cases(s, &p, &f)
        .await
        .unwrap()
        .0
        .iter()
        .map(|r| r.number)
        .collect();
    let mut openable = BTreeSet::new();
    for n in 1001..1001 + cases as i64 {
        if service::get_case(s, &p, n).await.is_ok() {
            openable.insert(n);
        }
    }
    assert_eq!(
        listed, openable,
        "caller {who}: every case they may open is listed"
    );
}

fn run(b: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = ProptestConfig {
        cases: 10,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        specs in prop::collection::vec(spec(), 0..50),
        asks in prop::collection::vec((ask(), 1..8u32), 12),
    )| {
        rt.block_on(async {
            let db = test_db(b).await;
            let store = casedesk_store::connect(&db.url).await.unwrap();
            let w = world(store, &specs).await;
            for (a, size) in &asks {
                check(&w, a, *size).await;
            }
            // Every role at every page size, without filters, in both orders.
            for who in 0..9 {
                listed_is_openable(&w, who, specs.len()).await;
                for by_due in [false, true] {
                    let a = Ask { who, mine: false, status: None, p1: None, assignee: None,
                        escalated: None, word: false, by_due };
                    check(&w, &a, 1 + (who as u32 % 3)).await;
                }
            }
        });
    });
}

#[test]
fn every_visible_case_once_across_pages_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn every_visible_case_once_across_pages_postgres() {
    run(Backend::Postgres);
}
