use std::sync::Arc;

use casedesk_core::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
}

impl AppState {
    /// State over a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}
