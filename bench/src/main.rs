//! casedesk-bench: fills a database with many cases and drives a running casedesk with load.
//!
//! `generate` writes accounts, users, tokens and cases straight through the Store (the
//! same code the server uses), then saves the tokens and sample case numbers the load
//! client needs. `load` runs one scenario at a given concurrency and prints throughput
//! and latency percentiles. See bench/README.md for the full procedure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use casedesk_core::accounts::{Environment, Plan, Region};
use casedesk_core::admin::{self, NewUser};
use casedesk_core::cases::{CaseFields, Contact, ImpactScope, Priority, Stage, Status};
use casedesk_core::permissions::ElevatedLimits;
use casedesk_core::service::NewCase;
use casedesk_core::store::Store;
use casedesk_core::taxonomy::DEFAULT_ISSUE_AREAS;
use casedesk_core::users::Role;
mod attach;
mod hooks;
mod mail;
mod scan;
mod search;

use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};

#[derive(Parser)]
#[command(name = "casedesk-bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Weigh the stylesheets and scripts a page of a running server loads (uncompressed).
    AssetWeight {
        #[arg(long)]
        base: String,
        /// Pages to weigh.
        #[arg(long, default_values_t = ["/auth/login".to_owned(), "/kb".to_owned(), "/status".to_owned()])]
        path: Vec<String>,
        /// A session cookie value, for pages behind sign-in.
        #[arg(long)]
        session: Option<String>,
    },
    /// Fill an empty database.
    Generate {
        /// sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1000)]
        accounts: usize,
        #[arg(long, default_value_t = 1_000_000)]
        cases: usize,
        /// Where to write tokens and sample case numbers for `load`.
        #[arg(long, default_value = "bench-data.json")]
        out: PathBuf,
        /// Cases per import transaction.
        #[arg(long, default_value_t = 5000)]
        batch: usize,
        /// Import transactions in flight at once (PostgreSQL benefits; SQLite serialises).
        #[arg(long, default_value_t = 1)]
        parallel: usize,
    },
    /// Compare `GET /api/v1/cases/{number}` with a JWT caller and an API-token caller, on an
    /// in-process server over a temporary SQLite file (keys from a loopback JWKS server).
    AuthLoad {
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds per caller kind.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Fan-out throughput: cases opened first, then the job runner started; prints how fast
    /// every delivery reached a loopback receiver.
    WebhookLoad {
        /// Default: a temporary SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Internal endpoints, each receiving every event.
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
        /// Cases opened (one case.created event each).
        #[arg(long, default_value_t = 1000)]
        cases: usize,
        /// Concurrent jobs.
        #[arg(long, default_value_t = 32)]
        workers: usize,
    },
    /// The SLA scanner's query on a database `generate` filled: every open case gets a timer
    /// in the next 30 days; prints the query plan and times finding those due in 5 minutes.
    SlaScan {
        /// sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: String,
        /// Timed runs of the query.
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
    /// The email channel: replies through the mail gate route of an in-process server
    /// (ingest throughput), then the dispatcher rendering, composing and queueing the
    /// messages of the events they left (outbound throughput).
    MailLoad {
        /// Default: a temporary SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Replies handed to the gate.
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        /// Replies in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Open cases the replies are spread over.
        #[arg(long, default_value_t = 200)]
        cases: usize,
    },
    /// Suggestion latency: a scratch database with the starter knowledge base and generated
    /// entries up to `--entries`, `POST /api/v1/solutions/suggest` of an in-process server
    /// timed at concurrency 1 and `--concurrency`.
    KbSuggest {
        /// Default: a temporary SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        entries: usize,
        /// Requests per concurrency level.
        #[arg(long, default_value_t = 4000)]
        requests: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Upload throughput: files of one size and kind (`binary` kept as sent, `text` scrubbed)
    /// to one case of an in-process server over a temporary SQLite file.
    AttachLoad {
        #[arg(long, default_value_t = 400)]
        files: usize,
        #[arg(long, default_value_t = 1024)]
        size_kb: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value = "binary")]
        kind: String,
    },
    /// Drive a running server with one scenario.
    Load {
        /// Base URL of the server, e.g. http://127.0.0.1:8080
        #[arg(long)]
        base: String,
        /// The file `generate` wrote.
        #[arg(long, default_value = "bench-data.json")]
        data: PathBuf,
        /// create, get, mine, queue, or a case search as a customer (search), an elevated
        /// contact (search-account), an agent (search-queue) or a manager (search-all).
        #[arg(long)]
        scenario: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// How long to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
}

/// Starts casedesk's routes over `store` on `127.0.0.1:0` in this process (sign-in as `auth`
/// says, a fresh server key); answers its base URL.
pub(crate) async fn serve_in_process(
    store: Arc<dyn Store>,
    auth: casedesk_auth::AuthConfig,
    mailer: Arc<casedesk_mail::Mailer>,
) -> anyhow::Result<String> {
    serve_in_process_with(store, auth, mailer, None).await
}

/// [`serve_in_process`] with attachment content stored in `blobs`.
pub(crate) async fn serve_in_process_with(
    store: Arc<dyn Store>,
    auth: casedesk_auth::AuthConfig,
    mailer: Arc<casedesk_mail::Mailer>,
    blobs: Option<Arc<dyn casedesk_core::attachments::Blobs>>,
) -> anyhow::Result<String> {
    let m = |e: casedesk_core::DomainError| anyhow::anyhow!("{e}");
    let auth = casedesk_auth::Authenticator::new(store.clone(), auth, ElevatedLimits::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let key: Arc<dyn casedesk_core::webhooks::SecretBox> = Arc::new(
        casedesk_auth::sealing::ServerKey::from_base64(
            &casedesk_auth::sealing::ServerKey::generate_base64().map_err(m)?,
        )
        .map_err(m)?,
    );
    let mut state =
        casedesk_web::AppState::new(store, Arc::new(auth), key, Default::default(), mailer)
            // One client sends everything here: the budgets would measure themselves.
            .with_rate_limits(casedesk_web::limits::RateLimits {
                enabled: false,
                ..Default::default()
            });
    if let Some(b) = blobs {
        state = state.with_attachments(b, Default::default());
    }
    tokio::spawn(casedesk_web::serve(listener, state, std::future::pending()));
    Ok(base)
}

/// A tiny deterministic PRNG (xorshift), so generated data is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const STATUS_MIX: [(Status, u32); 6] = [
    (Status::Closed, 60),
    (Status::Solved, 10),
    (Status::Open, 10),
    (Status::Pending, 8),
    (Status::New, 8),
    (Status::OnHold, 4),
];

fn pick_status(r: &mut Rng) -> Status {
    let mut x = (r.next() % 100) as u32;
    for (s, w) in STATUS_MIX {
        if x < w {
            return s;
        }
        x -= w;
    }
    Status::Closed
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Generate {
            database_url,
            accounts,
            cases,
            out,
            batch,
            parallel,
        } => generate(&database_url, accounts, cases, &out, batch, parallel).await,
        Cmd::Load {
            base,
            data,
            scenario,
            concurrency,
            seconds,
        } => load(&base, &data, &scenario, concurrency, seconds).await,
        Cmd::AuthLoad {
            concurrency,
            seconds,
        } => auth_load(concurrency, seconds).await,
        Cmd::WebhookLoad {
            database_url,
            endpoints,
            cases,
            workers,
        } => hooks::webhook_load(database_url, endpoints, cases, workers).await,
        Cmd::SlaScan { database_url, runs } => scan::sla_scan(&database_url, runs).await,
        Cmd::KbSuggest {
            database_url,
            entries,
            requests,
            concurrency,
        } => search::kb_suggest(database_url, entries, requests, concurrency).await,
        Cmd::AssetWeight {
            base,
            path,
            session,
        } => asset_weight(&base, &path, session.as_deref()).await,
        Cmd::AttachLoad {
            files,
            size_kb,
            concurrency,
            kind,
        } => attach::attach_load(files, size_kb, concurrency, kind).await,
        Cmd::MailLoad {
            database_url,
            messages,
            concurrency,
            cases,
        } => mail::mail_load(database_url, messages, concurrency, cases).await,
    }
}

fn err(e: casedesk_core::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

async fn token(store: &dyn Store, email: &str) -> anyhow::Result<String> {
    let t = casedesk_auth::generate_token().map_err(err)?;
    admin::create_token(
        store,
        email,
        &[],
        None,
        t.hash,
        &casedesk_core::audit::Actor::system("bench"),
    )
    .await
    .map_err(err)?;
    Ok(t.secret)
}

/// A browser session for `email` (the web pages' benchmarks send it as the cookie).
async fn session(store: &dyn Store, email: &str) -> anyhow::Result<String> {
    let user = store
        .find_user_by_email(email)
        .await
        .map_err(err)?
        .context("no such user")?;
    let secret = casedesk_auth::tokens::random_b64(32).map_err(err)?;
    let now = casedesk_core::now();
    let s = casedesk_core::identity::Session {
        hash: casedesk_auth::tokens::hash_token(&secret),
        user_id: user.id,
        csrf: casedesk_auth::tokens::random_b64(24).map_err(err)?,
        issuer: None,
        created_at: now,
        expires_at: now
            .checked_add(Duration::from_secs(30 * 86_400))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let audit = casedesk_core::audit::AuditRecord::new(
        casedesk_core::audit::Actor::system("bench"),
        "signin.success",
        format!("user:{email}"),
    );
    store.create_session(&s, &audit).await.map_err(err)?;
    Ok(secret)
}

async fn generate(
    url: &str,
    accounts: usize,
    cases: usize,
    out: &PathBuf,
    batch: usize,
    parallel: usize,
) -> anyhow::Result<()> {
    let store = casedesk_store::connect(url)
        .await
        .map_err(err)
        .context("open database")?;
    if !store.list_accounts().await.map_err(err)?.is_empty() {
        bail!("the database is not empty; generate into a fresh one");
    }
    let started = Instant::now();
    let limits = ElevatedLimits::default();
    let regions = [Region::Americas, Region::Eu, Region::Apac];
    // (account id, [(user id, email)], prod tenant id, dev tenant id, slug)
    let mut people = Vec::with_capacity(accounts);
    for a in 0..accounts {
        let name = format!("Bench {a:04}");
        let acct = admin::create_account(
            store.as_ref(),
            &name,
            Plan::ALL[a % Plan::ALL.len()],
            &casedesk_core::audit::Actor::system("bench"),
        )
        .await
        .map_err(err)?;
        let slug = format!("bench-{a:04}");
        let prod = admin::create_tenant(
            store.as_ref(),
            &name,
            &format!("{slug}-prod"),
            regions[a % 3],
            Environment::Production,
            &casedesk_core::audit::Actor::system("bench"),
        )
        .await
        .map_err(err)?;
        let dev = admin::create_tenant(
            store.as_ref(),
            &name,
            &format!("{slug}-dev"),
            Region::Eu,
            Environment::Development,
            &casedesk_core::audit::Actor::system("bench"),
        )
        .await
        .map_err(err)?;
        let mut users = Vec::new();
        for k in 0..4 {
            let u = admin::create_user(
                store.as_ref(),
                &limits,
                NewUser {
                    account: Some(name.clone()),
                    email: format!("admin{k}@{slug}.example"),
                    role: Role::Admin,
                    case_admin: true,
                    elevated: k == 0,
                    queues: vec![],
                },
                &casedesk_core::audit::Actor::system("bench"),
            )
            .await
            .map_err(err)?;
            users.push((u.id, u.email));
        }
        people.push((acct.id, users, prod.id, dev.id, slug));
    }
    let queues = [
        "identity",
        "integrations",
        "commerce",
        "security",
        "general",
    ];
    let mut agents = Vec::new();
    let mut agent_sessions = Vec::new();
    for i in 0..10 {
        let email = format!("agent{i}@support.example");
        let qs = vec![queues[i % 5].to_owned(), queues[(i + 1) % 5].to_owned()];
        admin::create_user(
            store.as_ref(),
            &limits,
            NewUser {
                account: None,
                email: email.clone(),
                role: Role::Agent,
                case_admin: false,
                elevated: false,
                queues: qs,
            },
            &casedesk_core::audit::Actor::system("bench"),
        )
        .await
        .map_err(err)?;
        agents.push(token(store.as_ref(), &email).await?);
        agent_sessions.push(session(store.as_ref(), &email).await?);
    }
    admin::create_user(
        store.as_ref(),
        &limits,
        NewUser {
            account: None,
            email: "manager@support.example".into(),
            role: Role::Manager,
            case_admin: false,
            elevated: false,
            queues: vec![],
        },
        &casedesk_core::audit::Actor::system("bench"),
    )
    .await
    .map_err(err)?;
    let manager = token(store.as_ref(), "manager@support.example").await?;
    let manager_session = session(store.as_ref(), "manager@support.example").await?;
    eprintln!("accounts and users ready after {:.1?}", started.elapsed());

    // Cases, oldest first, spread over the last two years, their text drawn from the words
    // of the starter knowledge base.
    let vocab = search::Vocab::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = casedesk_core::now().as_microsecond();
    let span = 2 * 365 * 24 * 3600 * 1_000_000i64;
    let mut samples: BTreeMap<(usize, usize), Vec<i64>> = BTreeMap::new();
    let store2: Arc<dyn Store> = store.clone();
    let mut inflight = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let mut chunk_start = 0usize;
    while chunk_start < cases {
        let n = batch.min(cases - chunk_start);
        let mut rows = Vec::with_capacity(n);
        let mut owners = Vec::with_capacity(n);
        for i in chunk_start..chunk_start + n {
            let a = rng.below(accounts);
            let k = rng.below(4);
            let (account_id, users, prod, dev, slug) = &people[a];
            let area = DEFAULT_ISSUE_AREAS[rng.below(DEFAULT_ISSUE_AREAS.len())];
            let topic = rng.below(vocab.topics());
            let at = now - span + (span / cases as i64) * i as i64;
            let mut ids = Map::new();
            ids.insert("organization_id".into(), json!(format!("org_{a}")));
            ids.insert(
                "application_key".into(),
                json!(format!("app_{}", rng.below(50))),
            );
            ids.insert("client_purpose".into(), json!("automation"));
            ids.insert("error_message".into(), json!("invalid_client"));
            // The error happened an hour before the case was opened.
            let occurred = jiff::Timestamp::from_microsecond(at - 3_600_000_000)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            ids.insert("occurred_at".into(), json!(occurred.to_string()));
            let c = NewCase {
                account_id: *account_id,
                requester_id: users[k].0,
                tenant_id: if rng.below(4) == 0 { *dev } else { *prod },
                queue: area.3.into(),
                fields: CaseFields {
                    priority: Priority::ALL[rng.below(4)],
                    subject: format!("{} ({slug})", vocab.about(&mut rng, topic, 5, 4)),
                    description: vocab.about(&mut rng, topic, 20, 40),
                    steps_to_reproduce: None,
                    issue_area: area.0.into(),
                    scope: ImpactScope::SomeUsers,
                    business_impact: None,
                    contact: Contact {
                        email: users[k].1.clone(),
                        phone: "+1 555 0100".into(),
                        timezone: "Europe/Berlin".into(),
                    },
                    stage: Stage::Onboarding,
                    identifiers: ids,
                    context: Map::new(),
                    checklist: Map::new(),
                },
                team_contacts: vec![],
                follow_up_of: None,
                created_at: jiff::Timestamp::from_microsecond(at)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                sla: Default::default(),
            };
            rows.push((c, pick_status(&mut rng)));
            owners.push((a, k));
        }
        let s = store2.clone();
        inflight.spawn(async move { (s.import_cases(&rows).await, owners) });
        chunk_start += n;
        while inflight.len() >= parallel.max(1) || (chunk_start >= cases && !inflight.is_empty()) {
            let Some(r) = inflight.join_next().await else {
                break;
            };
            let (numbers, owners) = r?;
            let numbers = numbers.map_err(err)?;
            for (num, owner) in numbers.iter().zip(owners) {
                let v = samples.entry(owner).or_default();
                if v.len() < 20 {
                    v.push(*num);
                }
            }
            done += numbers.len();
            if done % 100_000 < batch {
                eprintln!("{done} cases after {:.1?}", started.elapsed());
            }
        }
    }

    // Tokens for 200 customers (non-elevated admins) with their sample case numbers.
    let mut customers = Vec::new();
    for a in (0..accounts).step_by((accounts / 200).max(1)).take(200) {
        let k = 1 + a % 3;
        let (_, users, _, _, slug) = &people[a];
        let t = token(store.as_ref(), &users[k].1).await?;
        let browser = session(store.as_ref(), &users[k].1).await?;
        customers.push(json!({
            "token": t, "session": browser, "email": users[k].1, "tenant": format!("{slug}-prod"),
            "cases": samples.get(&(a, k)).cloned().unwrap_or_default(),
        }));
    }
    // Elevated contacts (they see their whole account) of 50 accounts.
    let mut elevated = Vec::new();
    for a in (0..accounts).step_by((accounts / 50).max(1)).take(50) {
        elevated.push(token(store.as_ref(), &people[a].1[0].1).await?);
    }
    let data = json!({"customers": customers, "elevated": elevated, "agents": agents, "manager": manager,
        "agent_sessions": agent_sessions, "manager_session": manager_session, "cases": cases, "accounts": accounts});
    std::fs::write(out, serde_json::to_vec_pretty(&data)?)?;
    eprintln!(
        "generated {cases} cases in {accounts} accounts in {:.1?}; load data in {}",
        started.elapsed(),
        out.display()
    );
    Ok(())
}

/// The `/assets/…` a page links (stylesheets and scripts), fetched and weighed.
async fn asset_weight(base: &str, paths: &[String], session: Option<&str>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for path in paths {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(s) = session {
            req = req.header("cookie", format!("casedesk_session={s}"));
        }
        let page = req.send().await?;
        if !page.status().is_success() {
            bail!("{path} answered {}", page.status());
        }
        let html = page.text().await?;
        let mut assets: Vec<String> = Vec::new();
        for attr in ["href=\"", "src=\""] {
            for piece in html.split(attr).skip(1) {
                let url = piece.split('"').next().unwrap_or_default();
                if (url.ends_with(".css") || url.ends_with(".js"))
                    && !assets.iter().any(|a| a == url)
                {
                    assets.push(url.to_owned());
                }
            }
        }
        let mut total = 0usize;
        let mut each = Vec::new();
        for a in &assets {
            let bytes = client
                .get(format!("{base}{a}"))
                .send()
                .await?
                .bytes()
                .await?
                .len();
            total += bytes;
            each.push(json!({"url": a, "bytes": bytes}));
        }
        println!(
            "{}",
            json!({"page": path, "html_bytes": html.len(), "assets": each, "js_css_bytes": total})
        );
    }
    Ok(())
}

fn create_body(email: &str, tenant: &str, i: u64) -> Value {
    json!({
        "priority": "P3",
        "subject": format!("Load test case {i}: refresh token rejected"),
        "description": "refresh_token grant answers invalid_grant after 60 minutes; logs attached.",
        "tenant": tenant,
        "issue_area": "tokens-and-jwks",
        "scope": "some_users",
        "contact": {"email": email, "phone": "+1 555 0100", "timezone": "America/Chicago"},
        "stage": "onboarding",
        "identifiers": {"organization_id": "org_1", "application_key": "app_1", "client_purpose": "automation",
                        "error_message": "invalid_grant", "occurred_at": casedesk_bench::error_time()},
        "checklist": {"tenant_registered": true, "jwks_validation": true}
    })
}

async fn auth_load(concurrency: usize, seconds: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = casedesk_store::connect(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let s = store.as_ref();
    let m = |e: casedesk_core::DomainError| anyhow::anyhow!("{e}");
    admin::create_account(
        s,
        "Bench",
        Plan::Gold,
        &casedesk_core::audit::Actor::system("bench"),
    )
    .await
    .map_err(m)?;
    admin::create_tenant(
        s,
        "Bench",
        "bench-prod",
        Region::Eu,
        Environment::Production,
        &casedesk_core::audit::Actor::system("bench"),
    )
    .await
    .map_err(m)?;
    admin::create_user(
        s,
        &ElevatedLimits::default(),
        NewUser {
            account: Some("Bench".into()),
            email: "ops@bench.example".into(),
            role: Role::Admin,
            case_admin: true,
            elevated: false,
            queues: vec![],
        },
        &casedesk_core::audit::Actor::system("bench"),
    )
    .await
    .map_err(m)?;
    let api = casedesk_auth::generate_token().map_err(m)?;
    admin::create_token(
        s,
        "ops@bench.example",
        &[],
        None,
        api.hash,
        &casedesk_core::audit::Actor::system("bench"),
    )
    .await
    .map_err(m)?;
    let issuer = casedesk_bench::jwks_server().await;
    let auth = casedesk_auth::AuthConfig {
        issuers: vec![casedesk_bench::issuer_config(&issuer)],
        ..Default::default()
    };
    let base = serve_in_process(store.clone(), auth, casedesk_bench::mail_off()).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let body = json!({
        "priority": "P2", "subject": "Benchmark case", "description": "A case read by the auth benchmark.",
        "steps_to_reproduce": "Read it", "tenant": "bench-prod", "issue_area": "sign-in-and-redirects",
        "scope": "some_users", "business_impact": "None",
        "contact": {"email": "ops@bench.example", "phone": "+49 30 1234567", "timezone": "Europe/Berlin"},
        "stage": "onboarding",
        "identifiers": {"organization_id": "org_1", "application_key": "app_1", "client_purpose": "interactive_web",
            "redirect_uri": "https://app.bench.example/callback", "error_message": "redirect_uri_mismatch",
            "occurred_at": casedesk_bench::error_time()},
        "context": {"correlation_id": "c-1", "token_flow": "authorization_code", "endpoint_path": "/oauth2/authorize",
            "frequency": "intermittent", "affected": "some"},
        "checklist": {"tenant_registered": true, "application_key_verified": true, "redirect_uris_exact": false,
            "credentials_out_of_source": true, "jwks_validation": true, "marketplace_identifiers": false}
    });
    let created: Value = client
        .post(format!("{base}/api/v1/cases"))
        .bearer_auth(&api.secret)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let number = created["number"]
        .as_i64()
        .with_context(|| format!("case not created: {created}"))?;
    let jwt = casedesk_bench::token(&issuer, "RS256", "ops@bench.example", "Bench");
    for (kind, token) in [("api-token", api.secret.clone()), ("jwt-rs256", jwt)] {
        let url = format!("{base}/api/v1/cases/{number}");
        // Warm-up: caches, keys, connections.
        for _ in 0..200 {
            let r = client.get(&url).bearer_auth(&token).send().await?;
            if !r.status().is_success() {
                bail!("{kind}: {}", r.status());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tasks.spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    if ok {
                        lat.push(t.elapsed());
                    }
                }
                lat
            });
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r?);
        }
        let secs = started.elapsed().as_secs_f64();
        all.sort_unstable();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{kind:<10} c{concurrency}: {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests)",
            all.len() as f64 / secs,
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            all.len()
        );
    }
    Ok(())
}

async fn load(
    base: &str,
    data: &PathBuf,
    scenario: &str,
    concurrency: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    let data: Value = serde_json::from_slice(&std::fs::read(data).context("read load data")?)?;
    let customers = data["customers"].as_array().cloned().unwrap_or_default();
    let agents: Vec<String> = data["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if customers.is_empty() || agents.is_empty() {
        bail!("the load data has no customers or agents");
    }
    let scenarios = [
        "create",
        "get",
        "mine",
        "queue",
        "search",
        "search-account",
        "search-queue",
        "search-all",
        "ui-queue",
        "ui-case",
        "ui-workspace",
    ];
    if !scenarios.contains(&scenario) {
        bail!("scenario must be one of {}", scenarios.join(", "));
    }
    let elevated: Vec<String> = data["elevated"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let manager = data["manager"].as_str().unwrap_or_default().to_owned();
    let agent_sessions: Arc<Vec<String>> = Arc::new(
        data["agent_sessions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    );
    let manager_session = data["manager_session"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if scenario.starts_with("ui-") && (agent_sessions.is_empty() || manager_session.is_empty()) {
        bail!("the load data has no browser sessions; generate it again");
    }
    let elevated = Arc::new(elevated);
    let vocab = Arc::new(search::Vocab::new());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let customers = Arc::new(customers);
    let agents = Arc::new(agents);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (client, base, customers, agents, scenario) = (
            client.clone(),
            base.to_owned(),
            customers.clone(),
            agents.clone(),
            scenario.to_owned(),
        );
        let (elevated, manager, vocab) = (elevated.clone(), manager.clone(), vocab.clone());
        let (agent_sessions, manager_session) = (agent_sessions.clone(), manager_session.clone());
        tasks.spawn(async move {
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ ((w as u64 + 1) * 0x9e37_79b9));
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let c = &customers[rng.below(customers.len())];
                let token = c["token"].as_str().unwrap_or_default();
                let req = match scenario.as_str() {
                    "create" => client
                        .post(format!("{base}/api/v1/cases"))
                        .bearer_auth(token)
                        .json(&create_body(
                            c["email"].as_str().unwrap_or_default(),
                            c["tenant"].as_str().unwrap_or_default(),
                            i,
                        )),
                    "get" => {
                        let cases = c["cases"].as_array().cloned().unwrap_or_default();
                        let n = cases
                            .get(rng.below(cases.len()))
                            .and_then(Value::as_i64)
                            .unwrap_or(1001);
                        client
                            .get(format!("{base}/api/v1/cases/{n}"))
                            .bearer_auth(token)
                    }
                    "mine" => client
                        .get(format!("{base}/api/v1/cases"))
                        .bearer_auth(token),
                    "queue" => client
                        .get(format!(
                            "{base}/api/v1/cases?status=new,open,pending,on_hold"
                        ))
                        .bearer_auth(&agents[rng.below(agents.len())]),
                    // The web pages, as a signed-in browser asks for them.
                    "ui-queue" => client
                        .get(format!("{base}/console?view=unassigned"))
                        .header(
                            "cookie",
                            format!(
                                "casedesk_session={}",
                                agent_sessions[rng.below(agent_sessions.len())]
                            ),
                        ),
                    "ui-case" | "ui-workspace" => {
                        let cases = c["cases"].as_array().cloned().unwrap_or_default();
                        let n = cases
                            .get(rng.below(cases.len()))
                            .and_then(Value::as_i64)
                            .unwrap_or(1001);
                        let who = if scenario == "ui-case" {
                            c["session"].as_str().unwrap_or_default()
                        } else {
                            manager_session.as_str()
                        };
                        client
                            .get(format!("{base}/cases/{n}"))
                            .header("cookie", format!("casedesk_session={who}"))
                    }
                    search => {
                        // One or two words, common ones more often than rare ones.
                        let words = vocab.words(&mut rng, 1, 2).replace(' ', "+");
                        let who = match search {
                            "search" => token,
                            "search-account" => elevated
                                .get(rng.below(elevated.len()))
                                .map_or("", String::as_str),
                            "search-queue" => agents[rng.below(agents.len())].as_str(),
                            _ => manager.as_str(),
                        };
                        client
                            .get(format!("{base}/api/v1/cases?q={words}"))
                            .bearer_auth(who)
                    }
                };
                let t0 = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t0.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let summary = json!({
        "scenario": scenario, "concurrency": concurrency, "seconds": elapsed, "ok": lat.len(), "errors": errors,
        "throughput_per_s": lat.len() as f64 / elapsed,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": lat.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
    });
    println!("{summary}");
    Ok(())
}
