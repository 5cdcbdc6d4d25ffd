use std::sync::Arc;

use casedesk_auth::Authenticator;
use casedesk_core::store::Store;
use casedesk_core::webhooks::{SecretBox, UrlPolicy};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Credentials: API tokens, trusted issuers, sign-in settings.
    pub auth: Arc<Authenticator>,
    /// Sign-in attempts per client address.
    pub limiter: Arc<crate::signin::SignInLimiter>,
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
        Self {
            store,
            auth,
            limiter: Arc::default(),
            secrets,
            url_policy,
            mailer,
            kb_index: Arc::default(),
            status: Arc::default(),
        }
    }
}
