//! Who did what, from where: the record every state-changing write carries into the audit
//! trail. The model owns it because every feature's write takes one; the chain, its checks
//! and its export live in `audit`.

use serde_json::Value;
use uuid::Uuid;

use crate::Timestamp;
use crate::users::{Origin, Principal, User};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user, when a person acted.
    pub user_id: Option<Uuid>,
    /// Their email, or `cli`, `job:<kind>`, `issuer:<name>`, `anonymous`.
    pub label: String,
}

impl Actor {
    /// A signed-in person.
    pub fn user(u: &User) -> Self {
        Self {
            user_id: Some(u.id),
            label: u.email.clone(),
        }
    }

    /// An operator at the command line of the server.
    pub fn cli() -> Self {
        let who = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "operator".into());
        Self {
            user_id: None,
            label: format!("cli:{who}"),
        }
    }

    /// casedesk itself: a job, a trusted issuer, the retention sweep.
    pub fn system(label: impl Into<String>) -> Self {
        Self {
            user_id: None,
            label: label.into(),
        }
    }
}

/// One entry about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: Actor,
    /// The customer account concerned (none: the support side or unknown).
    pub account_id: Option<Uuid>,
    /// What, as `area.verb`, e.g. `case.reply`, `token.create`, `signin.failure`.
    pub action: String,
    /// On what, e.g. `case:1042`, `user:ops@acme.example`. For `create_case` the store
    /// fills in the number it assigns.
    pub target: String,
    /// What changed, as JSON (never a secret, never the text of an internal note).
    pub summary: String,
    /// Client address.
    pub source_ip: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Whether the account's own export shows it (internal notes and assignments do not).
    pub customer_visible: bool,
}

impl AuditRecord {
    /// An entry for `action` on `target` by `actor`, now.
    pub fn new(actor: Actor, action: &str, target: impl Into<String>) -> Self {
        Self {
            at: crate::now(),
            actor,
            account_id: None,
            action: action.into(),
            target: target.into(),
            summary: "{}".into(),
            source_ip: None,
            request_id: None,
            customer_visible: true,
        }
    }

    /// An entry for something a caller of the API did.
    pub fn by(p: &Principal, action: &str, target: impl Into<String>) -> Self {
        Self::new(Actor::user(&p.user), action, target)
            .account(p.user.account_id)
            .origin(&p.origin)
    }

    /// Sets the account concerned.
    pub fn account(mut self, id: Option<Uuid>) -> Self {
        self.account_id = id;
        self
    }

    /// Sets what changed.
    pub fn summary(mut self, v: Value) -> Self {
        self.summary = v.to_string();
        self
    }

    /// Sets where the request came from (and, for a JWT, through which issuer: the actor
    /// then reads `ops@acme.example via issuer:corp`).
    pub fn origin(mut self, o: &Origin) -> Self {
        self.source_ip.clone_from(&o.ip);
        self.request_id.clone_from(&o.request_id);
        if let Some(via) = &o.via
            && !self.actor.label.ends_with(via.as_str())
        {
            self.actor.label = format!("{} via {via}", self.actor.label);
        }
        self
    }

    /// Hides the entry from the account's own export.
    pub fn internal(mut self) -> Self {
        self.customer_visible = false;
        self
    }
}
