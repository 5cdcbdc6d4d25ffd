use std::sync::Arc;

use casedesk_auth::Authenticator;
use casedesk_core::outbound::UrlPolicy;
use casedesk_core::store::Store;
use casedesk_core::webhooks::SecretBox;

/// What every handler can reach. axum clones the state for each extractor and middleware of
/// every request: one shared allocation makes that one reference count (measured: cloning
/// and dropping the fields one by one took about 1.5 % of the server's CPU creating cases).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// Changed only while the server is assembled, before any request is served (a clone made
/// earlier keeps what it had).
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut AppParts {
        Arc::make_mut(&mut self.0)
    }
}

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct AppParts {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Credentials: API tokens, trusted issuers, sign-in settings.
    pub auth: Arc<Authenticator>,
    /// Sign-in attempts per client address.
    pub limiter: Arc<crate::limits::SignInLimiter>,
    /// The status page's subscription form budget (apart from sign-in's).
    pub subscribe_limiter: Arc<crate::limits::SubscribeLimiter>,
    /// Seals webhook signing secrets with the server key.
    pub secrets: Arc<dyn SecretBox>,
    /// Where webhook endpoints may point.
    pub url_policy: UrlPolicy,
    /// The email channel (the mail gate reads with its settings).
    pub mailer: Arc<casedesk_mail::Mailer>,
    /// This process's ranked knowledge-base index (rebuilt when the knowledge base changes).
    pub kb_index: Arc<casedesk_search::KbIndex>,
    /// The regions and components of the status page.
    pub status: Arc<casedesk_core::status::StatusConfig>,
    /// The open incidents as last read, and when (new cases are matched against them).
    pub open_incidents: Arc<tokio::sync::Mutex<Option<OpenIncidents>>>,
    /// Where attachment content is stored.
    pub blobs: Arc<dyn casedesk_core::attachments::Blobs>,
    /// Attachment limits and retention.
    pub attachments: Arc<casedesk_core::attachments::AttachmentConfig>,
    /// The JWT explainer, with its own key caches and the URL policy of webhooks.
    pub jwt_explainer: Arc<casedesk_auth::explain::JwtExplainer>,
    /// The API's request budgets (per credential, per address, failed authentications).
    pub rate_limiter: Arc<crate::limits::Limiter>,
    /// Timeouts and connection caps of the listener.
    pub http: crate::server::HttpLimits,
    /// Who may read `/metrics` on the main address.
    pub metrics: Arc<crate::metrics::MetricsAccess>,
    /// The console's view counts, each kept a short while per person.
    pub view_counts: Arc<ViewCounts>,
}

/// Attachment storage before one is configured: every use fails loudly rather than losing
/// a file.
struct NoBlobs;

#[async_trait::async_trait]
impl casedesk_core::attachments::Blobs for NoBlobs {
    async fn put(&self, _: &str, _: Vec<u8>) -> casedesk_core::Result<()> {
        Err(casedesk_core::DomainError::Internal(
            "attachment storage is not configured".into(),
        ))
    }
    async fn get(&self, _: &str) -> casedesk_core::Result<Option<Vec<u8>>> {
        Err(casedesk_core::DomainError::Internal(
            "attachment storage is not configured".into(),
        ))
    }
    async fn delete(&self, _: &str) -> casedesk_core::Result<()> {
        Err(casedesk_core::DomainError::Internal(
            "attachment storage is not configured".into(),
        ))
    }
}

/// Open incidents read at an instant.
pub type OpenIncidents = (
    std::time::Instant,
    Arc<Vec<casedesk_core::status::Incident>>,
);

/// How long a read of the open incidents serves new cases. An incident opened on another
/// node is offered to new cases at most this much later; this node's changes forget the read.
pub const OPEN_INCIDENTS_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl AppState {
    /// What writes a new case's messages with the case (none when mail is off: the
    /// dispatcher then has nothing to send either).
    pub fn composer(&self) -> Option<Arc<dyn casedesk_core::mail::Composer>> {
        let m: Arc<dyn casedesk_core::mail::Composer> = self.mailer.clone();
        self.mailer.enabled().then_some(m)
    }

    /// The open incidents, read again when the last read is older than
    /// [`OPEN_INCIDENTS_TTL`].
    pub async fn open_incidents(
        &self,
    ) -> casedesk_core::Result<Arc<Vec<casedesk_core::status::Incident>>> {
        let mut cached = self.open_incidents.lock().await;
        if let Some((at, list)) = cached.as_ref()
            && at.elapsed() < OPEN_INCIDENTS_TTL
        {
            return Ok(list.clone());
        }
        let list = Arc::new(self.store.list_incidents(true, 100).await?);
        *cached = Some((std::time::Instant::now(), list.clone()));
        Ok(list)
    }

    /// Forgets the open incidents read (after this node changed one).
    pub async fn forget_open_incidents(&self) {
        *self.open_incidents.lock().await = None;
    }
}

/// The key of personal claims in JWT reports (a keyed hash names no one, yet tells two
/// subjects apart).
pub fn report_tag(secrets: &dyn SecretBox) -> casedesk_core::diagnostics::secrets::Tag {
    casedesk_core::diagnostics::secrets::Tag::keyed(&secrets.derive("casedesk-jwt-report-tag"))
        .unwrap_or(casedesk_core::diagnostics::secrets::Tag::Plain)
}

impl AppState {
    /// State over a store and an authenticator.
    pub fn new(
        store: Arc<dyn Store>,
        auth: Arc<Authenticator>,
        secrets: Arc<dyn SecretBox>,
        url_policy: UrlPolicy,
        mailer: Arc<casedesk_mail::Mailer>,
    ) -> Self {
        let jwt_explainer = casedesk_auth::explain::JwtExplainer::new(
            url_policy.clone(),
            report_tag(secrets.as_ref()),
        );
        Self(Arc::new(AppParts {
            store,
            auth,
            limiter: Arc::default(),
            subscribe_limiter: Arc::default(),
            secrets,
            url_policy,
            mailer,
            kb_index: Arc::default(),
            status: Arc::default(),
            open_incidents: Arc::default(),
            blobs: Arc::new(NoBlobs),
            attachments: Arc::default(),
            jwt_explainer: Arc::new(jwt_explainer),
            rate_limiter: Arc::default(),
            http: Default::default(),
            metrics: Arc::new(crate::metrics::MetricsAccess::new(&Default::default())),
            view_counts: Arc::default(),
        }))
    }

    /// The same with other request budgets.
    pub fn with_rate_limits(mut self, limits: crate::limits::RateLimits) -> Self {
        self.rate_limiter = Arc::new(crate::limits::Limiter::new(limits));
        self
    }

    /// The same with other listener timeouts and caps.
    pub fn with_http(mut self, limits: crate::server::HttpLimits) -> Self {
        self.http = limits;
        self
    }

    /// The same with `/metrics` guarded (or moved) as `cfg` says.
    pub fn with_metrics(mut self, cfg: &crate::metrics::MetricsConfig) -> Self {
        self.metrics = Arc::new(crate::metrics::MetricsAccess::new(cfg));
        self
    }

    /// Stores attachments in `blobs` under `config`'s limits.
    pub fn with_attachments(
        mut self,
        blobs: Arc<dyn casedesk_core::attachments::Blobs>,
        config: casedesk_core::attachments::AttachmentConfig,
    ) -> Self {
        self.blobs = blobs;
        self.attachments = Arc::new(config);
        self
    }
}

impl axum::extract::FromRef<AppState> for Arc<crate::metrics::MetricsAccess> {
    fn from_ref(st: &AppState) -> Self {
        st.metrics.clone()
    }
}

/// How long a console view's count is kept before it is read again.
const VIEW_COUNT_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// The console's view counts, kept [`VIEW_COUNT_FOR`] per person and view: counting every
/// view on every load would cost the queue page many times its own list (measured: 1.2 ms
/// became 24 ms), and a count a few seconds old is what people expect of a tab.
#[derive(Default)]
pub struct ViewCounts(
    std::sync::Mutex<std::collections::HashMap<(uuid::Uuid, String), (std::time::Instant, usize)>>,
);

impl ViewCounts {
    /// The kept count of `view` for `user`, if fresh.
    pub fn get(&self, user: uuid::Uuid, view: &str) -> Option<usize> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&(user, view.to_owned()))
            .filter(|(at, _)| at.elapsed() < VIEW_COUNT_FOR)
            .map(|(_, n)| *n)
    }

    /// Keeps a count just read.
    pub fn put(&self, user: uuid::Uuid, view: &str, n: usize) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 50_000 {
            map.retain(|_, (at, _)| at.elapsed() < VIEW_COUNT_FOR);
        }
        map.insert((user, view.to_owned()), (std::time::Instant::now(), n));
    }

    /// Forgets every count of `user` (after they change cases, their tabs are read again).
    pub fn forget(&self, user: uuid::Uuid) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|(u, _), _| *u != user);
    }
}
