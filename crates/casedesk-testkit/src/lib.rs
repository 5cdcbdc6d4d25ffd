//! Test helpers: a real casedesk server on a random loopback port, over a fresh SQLite file
//! or a fresh PostgreSQL database, plus a small world of accounts, users and tokens.
//!
//! PostgreSQL comes from `CASEDESK_TEST_PG_URL`, which `scripts/test` sets after starting a
//! throw-away cluster. A PostgreSQL test without it fails loudly; it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use casedesk_core::accounts::{Environment, Plan, Region};
use casedesk_core::admin::{self, NewUser};
use casedesk_core::permissions::ElevatedLimits;
use casedesk_core::store::Store;
use casedesk_core::users::{Role, Scope};
use serde_json::{Value, json};
pub use smtp::test_mail_config;
use tokio::sync::oneshot;

pub mod browser;
pub mod hooks;
pub mod op;
pub mod s3;
pub mod smtp;

/// The actor of changes a test makes directly.
pub fn actor() -> casedesk_core::audit::Actor {
    casedesk_core::audit::Actor::system("test")
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database in the PostgreSQL of `CASEDESK_TEST_PG_URL`.
    Postgres,
}

/// Environment variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "CASEDESK_TEST_PG_URL";

/// A database for one test: its URL and whatever keeps it alive.
pub struct TestDb {
    /// URL to hand to casedesk.
    pub url: String,
    /// Temporary folder (SQLite file, data folder).
    pub dir: tempfile::TempDir,
    /// The server key every node on this database uses (base64).
    pub key: String,
}

/// Creates an empty database for a test.
pub async fn test_db(backend: Backend) -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("casedesk.db").display()),
        Backend::Postgres => {
            let admin = std::env::var(PG_ENV).unwrap_or_else(|_| {
                panic!("{PG_ENV} is not set. Run the tests with scripts/test, which starts PostgreSQL and sets it.")
            });
            let name = format!("casedesk_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {PG_ENV}: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(admin);
            format!("{base}/{name}")
        }
    };
    let key = casedesk_auth::sealing::ServerKey::generate_base64().expect("key");
    TestDb { url, dir, key }
}

/// A running casedesk server.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://addr`.
    pub base: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// Direct access to its database.
    pub store: Arc<dyn Store>,
    /// The database.
    pub db: Arc<TestDb>,
    /// Its authenticator (to read key-cache counters).
    pub auth: Arc<casedesk_auth::Authenticator>,
    /// The email channel as configured.
    pub mailer: Arc<casedesk_mail::Mailer>,
    /// Where attachment content is stored.
    pub blobs: Arc<dyn casedesk_core::attachments::Blobs>,
    /// The attachment settings it runs with.
    pub attachments: casedesk_core::attachments::AttachmentConfig,
    stop: Option<oneshot::Sender<()>>,
    runner: Option<casedesk_jobs::RunnerHandle>,
}

/// Settings of a test server beyond its database.
#[derive(Clone)]
pub struct Options {
    /// Sign-in.
    pub auth: casedesk_auth::AuthConfig,
    /// Job runner (fast polling and short leases by default).
    pub jobs: casedesk_jobs::JobsConfig,
    /// Webhooks (loopback receivers allowed, plain HTTP, retries after about a second).
    pub webhooks: casedesk_jobs::WebhookConfig,
    /// Email (the outbox in the database's folder unless a test sends through SMTP).
    pub mail: casedesk_mail::MailConfig,
    /// Attachments (content in `attachments/` of the database's folder).
    pub attachments: casedesk_core::attachments::AttachmentConfig,
    /// Key-cache timings of the JWT explainer (its defaults unless a test needs a rotation
    /// to show within seconds).
    pub explainer_keys: casedesk_auth::oidc::keys::CachePolicy,
    /// The API's request budgets: off, since a test client sends far more than a person
    /// (a test of the limits turns them on).
    pub rate_limits: casedesk_web::limits::RateLimits,
    /// Listener timeouts and connection caps (the defaults).
    pub http: casedesk_web::server::HttpLimits,
    /// Who may read `/metrics` (anyone, on the main listener, by default).
    pub metrics: casedesk_web::metrics::MetricsConfig,
    /// How long requests wait on the database (the defaults).
    pub database: casedesk_store::DbConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            auth: Default::default(),
            jobs: casedesk_jobs::JobsConfig {
                workers: 16,
                poll_interval_ms: 100,
                lease_seconds: 5,
                shutdown_grace_seconds: 2,
                retry_base_seconds: 0.2,
                retry_cap_seconds: 1.0,
                sla_scan_interval_ms: 200,
                ..Default::default()
            },
            webhooks: casedesk_jobs::WebhookConfig {
                timeout_seconds: 2,
                connect_timeout_seconds: 1,
                allow_private_networks: true,
                require_https: false,
                retry_schedule_seconds: vec![1, 1, 1, 1, 1],
                ..Default::default()
            },
            mail: test_mail_config(),
            attachments: Default::default(),
            explainer_keys: casedesk_auth::oidc::keys::CachePolicy {
                max_age: std::time::Duration::from_secs(600),
                refetch_interval: std::time::Duration::from_secs(30),
                unreachable_grace: std::time::Duration::from_secs(3600),
            },
            rate_limits: casedesk_web::limits::RateLimits {
                enabled: false,
                ..Default::default()
            },
            http: Default::default(),
            metrics: Default::default(),
            database: Default::default(),
        }
    }
}

impl TestApp {
    /// Stops claiming jobs, lets running ones finish, releases the rest (a graceful stop).
    pub async fn stop_jobs(&mut self) {
        if let Some(r) = self.runner.take() {
            r.shutdown().await;
        }
    }
}

impl TestApp {
    /// The messages in the outbox (the default transport of test servers), as text.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.db.dir.path().join("outbox");
        let Ok(rd) = std::fs::read_dir(dir) else {
            return vec![];
        };
        rd.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// Waits (up to 20 s) until `pred` holds for the outbox, and answers it.
    pub async fn wait_outbox(&self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let all = self.outbox();
            if pred(&all) {
                return all;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; the outbox holds {all:#?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Hands a raw message to the mail gate with `token`.
    pub async fn mailgate(&self, token: &str, raw: &[u8]) -> Answer {
        let r = self
            .client
            .post(format!("{}/api/v1/inbound/email", self.base))
            .bearer_auth(token)
            .header("content-type", "message/rfc822")
            .body(raw.to_vec())
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body");
        Answer {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts casedesk on `127.0.0.1:0` over a fresh database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = Arc::new(test_db(backend).await);
    spawn_app_on(db).await
}

/// Starts casedesk on `127.0.0.1:0` over a fresh database with `opts`.
pub async fn spawn_app_with(backend: Backend, opts: Options) -> TestApp {
    let db = Arc::new(test_db(backend).await);
    spawn_with(reserve().await, db, opts).await
}

/// Starts another casedesk server over an existing database (several nodes, one database).
pub async fn spawn_app_on(db: Arc<TestDb>) -> TestApp {
    spawn_reserved(reserve().await, db, casedesk_auth::AuthConfig::default()).await
}

/// A loopback port bound before the server starts, so its address can go into the
/// configuration (an OpenID provider needs casedesk's redirect URI first).
pub struct Reserved {
    listener: tokio::net::TcpListener,
    /// The address.
    pub addr: SocketAddr,
}

/// Binds `127.0.0.1:0`.
pub async fn reserve() -> Reserved {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    Reserved { listener, addr }
}

/// Starts casedesk on a reserved port over `db` with the given sign-in settings.
pub async fn spawn_reserved(
    reserved: Reserved,
    db: Arc<TestDb>,
    auth: casedesk_auth::AuthConfig,
) -> TestApp {
    spawn_with(
        reserved,
        db,
        Options {
            auth,
            ..Options::default()
        },
    )
    .await
}

/// Starts casedesk (server and job runner) on a reserved port over `db` with `opts`.
pub async fn spawn_with(reserved: Reserved, db: Arc<TestDb>, opts: Options) -> TestApp {
    let Options {
        auth,
        jobs,
        webhooks,
        mail,
        attachments,
        explainer_keys,
        rate_limits,
        http,
        metrics,
        database,
    } = opts;
    let mailer = Arc::new(casedesk_mail::Mailer::new(mail, db.dir.path()).expect("mail config"));
    let wake = Arc::new(tokio::sync::Notify::new());
    let store = casedesk_store::connect_with(&db.url, wake.clone(), &database)
        .await
        .expect("open store");
    let key: Arc<dyn casedesk_core::webhooks::SecretBox> =
        Arc::new(casedesk_auth::sealing::ServerKey::from_base64(&db.key).expect("key"));
    let blobs = casedesk_store::blobs_for(&attachments, db.dir.path()).expect("blobs");
    let runner = casedesk_jobs::standard_runner(
        store.clone(),
        key.clone(),
        wake,
        &jobs,
        &webhooks,
        mailer.clone(),
    )
    .expect("runner")
    .handle(
        casedesk_core::jobs::MAINTENANCE,
        Arc::new(
            casedesk_jobs::Maintenance::new(store.clone(), jobs.clone())
                .with_attachments(blobs.clone(), attachments.clone()),
        ),
    )
    .start();
    let Reserved { listener, addr } = reserved;
    let (tx, rx) = oneshot::channel::<()>();
    let auth = casedesk_auth::Authenticator::new(store.clone(), auth, ElevatedLimits::default())
        .expect("auth config");
    let auth = Arc::new(auth);
    let state = casedesk_web::AppState::new(
        store.clone(),
        auth.clone(),
        key,
        webhooks.url_policy(),
        mailer.clone(),
    )
    .with_attachments(blobs.clone(), attachments.clone())
    .with_rate_limits(rate_limits)
    .with_http(http)
    .with_metrics(&metrics);
    let mut state = state;
    state.jwt_explainer = Arc::new(casedesk_auth::explain::JwtExplainer::with_keys(
        webhooks.url_policy(),
        casedesk_web::report_tag(state.secrets.as_ref()),
        explainer_keys,
    ));
    tokio::spawn(async move {
        let _ = casedesk_web::serve(listener, state, async {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        auth,
        db,
        mailer,
        blobs,
        attachments,
        stop: Some(tx),
        runner: Some(runner),
    }
}

/// An HTTP answer, read fully.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when empty or not JSON).
    pub json: Value,
}

impl Answer {
    /// The `field` of every item of a problem's `errors` list.
    pub fn error_fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestApp {
    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        self.call_with(method, path, token, body, &[]).await
    }

    /// Like [`TestApp::call`], with extra headers.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    /// POSTs a multipart upload: one `file` part per `(name, bytes)`, and a `case` part
    /// (JSON) when given.
    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        files: &[(&str, Vec<u8>)],
        case: Option<&Value>,
    ) -> Answer {
        let mut form = reqwest::multipart::Form::new();
        if let Some(c) = case {
            form = form.text("case", c.to_string());
        }
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name((*name).to_owned()),
            );
        }
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        Answer {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// GETs raw bytes: status, headers, body.
    pub async fn download(
        &self,
        path: &str,
        token: &str,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("download");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.bytes().await.expect("body").to_vec())
    }

    /// Every byte casedesk keeps: each file of the data folder (the SQLite database and its
    /// journal, attachments, the outbox) and, on PostgreSQL, every row of every table as text.
    pub async fn everything_stored(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stack = vec![self.db.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(b) = std::fs::read(&p) {
                    out.extend_from_slice(&b);
                    out.push(b'\n');
                }
            }
        }
        if self.db.url.starts_with("postgres") {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.db.url)
                .await
                .expect("connect");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .expect("tables");
            for t in tables {
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM \"{t}\" t"
                )))
                .fetch_all(&mut conn)
                .await
                .expect("dump");
                for r in rows {
                    out.extend_from_slice(r.as_bytes());
                    out.push(b'\n');
                }
            }
        }
        out
    }

    /// Files under the attachments folder (the content store), temporary files excluded.
    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.db.dir.path().join("attachments")];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if !p.parent().is_some_and(|d| d.ends_with("tmp")) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(&body)).await
    }

    /// PUT JSON with a token.
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("PUT", path, Some(token), Some(&body)).await
    }

    /// Creates a user and returns an API token for them (all scopes unless given).
    pub async fn user_with_token(
        &self,
        account: Option<&str>,
        email: &str,
        role: Role,
        case_admin: bool,
        elevated: bool,
        queues: &[&str],
    ) -> String {
        admin::create_user(
            self.store.as_ref(),
            &ElevatedLimits::default(),
            NewUser {
                account: account.map(str::to_owned),
                email: email.into(),
                role,
                case_admin,
                elevated,
                queues: queues.iter().map(|q| (*q).to_owned()).collect(),
            },
            &actor(),
        )
        .await
        .expect("create user");
        self.token(email, &[]).await
    }

    /// A new token for an existing user.
    pub async fn token(&self, email: &str, scopes: &[Scope]) -> String {
        let t = casedesk_auth::generate_token().expect("token");
        admin::create_token(self.store.as_ref(), email, scopes, None, t.hash, &actor())
            .await
            .expect("store token");
        t.secret
    }

    /// Builds the standard test world.
    pub async fn world(&self) -> World {
        let s = self.store.as_ref();
        admin::create_account(s, "Acme", Plan::Gold, &actor())
            .await
            .expect("account");
        admin::create_tenant(
            s,
            "Acme",
            "acme-prod",
            Region::Eu,
            Environment::Production,
            &actor(),
        )
        .await
        .expect("tenant");
        admin::create_tenant(
            s,
            "Acme",
            "acme-dev",
            Region::Americas,
            Environment::Development,
            &actor(),
        )
        .await
        .expect("tenant");
        admin::create_account(s, "Globex", Plan::Platinum, &actor())
            .await
            .expect("account");
        admin::create_tenant(
            s,
            "Globex",
            "globex-prod",
            Region::Apac,
            Environment::Production,
            &actor(),
        )
        .await
        .expect("tenant");
        World {
            super_admin: self
                .user_with_token(
                    Some("Acme"),
                    "owner@acme.example",
                    Role::SuperAdmin,
                    false,
                    false,
                    &[],
                )
                .await,
            ops: self
                .user_with_token(
                    Some("Acme"),
                    "ops@acme.example",
                    Role::Admin,
                    true,
                    false,
                    &[],
                )
                .await,
            teammate: self
                .user_with_token(
                    Some("Acme"),
                    "teammate@acme.example",
                    Role::Admin,
                    true,
                    false,
                    &[],
                )
                .await,
            secops: self
                .user_with_token(
                    Some("Acme"),
                    "secops@acme.example",
                    Role::Admin,
                    true,
                    true,
                    &[],
                )
                .await,
            viewer: self
                .user_with_token(
                    Some("Acme"),
                    "viewer@acme.example",
                    Role::Admin,
                    false,
                    false,
                    &[],
                )
                .await,
            globex: self
                .user_with_token(
                    Some("Globex"),
                    "ops@globex.example",
                    Role::Admin,
                    true,
                    true,
                    &[],
                )
                .await,
            agent: self
                .user_with_token(
                    None,
                    "ana@support.example",
                    Role::Agent,
                    false,
                    false,
                    &["identity", "integrations"],
                )
                .await,
            other_agent: self
                .user_with_token(
                    None,
                    "kai@support.example",
                    Role::Agent,
                    false,
                    false,
                    &["commerce"],
                )
                .await,
            manager: self
                .user_with_token(
                    None,
                    "mia@support.example",
                    Role::Manager,
                    false,
                    false,
                    &[],
                )
                .await,
        }
    }

    /// Opens a case as `token` and returns its number.
    pub async fn open_case(&self, token: &str, body: Value) -> i64 {
        let a = self.post("/api/v1/cases", token, body).await;
        assert_eq!(a.status, 201, "create failed: {}", a.json);
        a.json["number"].as_i64().expect("number")
    }
}

/// Tokens of the standard test world. Acme (Gold) has tenants `acme-prod` and `acme-dev`;
/// Globex (Platinum) has `globex-prod`.
pub struct World {
    /// Acme super admin (holds case-admin by default).
    pub super_admin: String,
    /// Acme admin with case-admin.
    pub ops: String,
    /// Another Acme admin with case-admin (used as a team contact).
    pub teammate: String,
    /// Acme elevated support contact.
    pub secops: String,
    /// Acme admin without case-admin.
    pub viewer: String,
    /// Globex elevated admin (another account).
    pub globex: String,
    /// Agent of the identity and integrations queues.
    pub agent: String,
    /// Agent of the commerce queue only.
    pub other_agent: String,
    /// Support manager.
    pub manager: String,
}

/// A valid onboarding case for Acme.
pub fn acme_case(subject: &str) -> Value {
    json!({
        "priority": "P2",
        "subject": subject,
        "description": "Users get invalid_request after the redirect (error AUTH-4001).",
        "steps_to_reproduce": "Sign in from the portal",
        "tenant": "acme-prod",
        "issue_area": "sign-in-and-redirects",
        "scope": "some_users",
        "business_impact": "Some customers cannot log in",
        "contact": {"email": "ops@acme.example", "phone": "+49 30 1234567", "timezone": "Europe/Berlin"},
        "stage": "onboarding",
        "identifiers": {
            "organization_id": "org_123", "application_key": "app_abc", "client_purpose": "interactive_web",
            "redirect_uri": "https://app.acme.example/callback",
            "error_message": "redirect_uri_mismatch", "occurred_at": hours_ago(2)
        },
        "context": {"correlation_id": "corr-1", "token_flow": "authorization_code", "endpoint_path": "/oauth2/authorize",
                    "frequency": "intermittent", "affected": "some"},
        "checklist": {"tenant_registered": true, "application_key_verified": true, "redirect_uris_exact": false,
                      "credentials_out_of_source": true, "jwks_validation": true, "marketplace_identifiers": false}
    })
}

/// A moment `hours` before now (RFC 3339, whole seconds), such as when a case's error happened.
/// Tests take "recent" and "soon" from the clock so that they hold on any day they run.
pub fn hours_ago(hours: i64) -> String {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours);
    at.round(jiff::Unit::Second).unwrap_or(at).to_string()
}

/// The UTC date `days` after today (before it when negative), as `YYYY-MM-DD`.
pub fn date_in_days(days: i64) -> String {
    casedesk_core::utc_date_after(casedesk_core::now(), days).to_string()
}

/// A valid case for Globex.
pub fn globex_case(subject: &str) -> Value {
    let mut v = acme_case(subject);
    v["tenant"] = json!("globex-prod");
    v["contact"]["email"] = json!("ops@globex.example");
    v
}

/// Runs an async test body on both databases: generates `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await;
            }
        }
    };
}
