use std::sync::Arc;

use casedesk_auth::Authenticator;
use casedesk_core::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Credentials: API tokens, trusted issuers, sign-in settings.
    pub auth: Arc<Authenticator>,
    /// Sign-in attempts per client address.
    pub limiter: Arc<crate::signin::SignInLimiter>,
}

impl AppState {
    /// State over a store and an authenticator.
    pub fn new(store: Arc<dyn Store>, auth: Arc<Authenticator>) -> Self {
        Self {
            store,
            auth,
            limiter: Arc::default(),
        }
    }
}
