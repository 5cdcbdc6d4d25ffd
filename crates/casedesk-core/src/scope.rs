//! The permissions a credential carries. Kept apart from `users` so that an error can name
//! the scope it lacks without the error module depending on the people.

use serde::{Deserialize, Serialize};

/// A permission an API token (or a provider's access token) carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Scope {
    /// Read cases and their timelines.
    #[serde(rename = "cases:read")]
    CasesRead,
    /// Open cases and act on them.
    #[serde(rename = "cases:write")]
    CasesWrite,
    /// List, create and revoke the caller's own API tokens.
    #[serde(rename = "tokens")]
    Tokens,
    /// Administration: only managers and super admins may hold it.
    #[serde(rename = "admin")]
    Admin,
    /// Hand received email to the mail gate (the MTA's credential; managers only).
    #[serde(rename = "mail:ingest")]
    MailIngest,
    /// Read which support access grants are in force (the identity platform's credential;
    /// managers only).
    #[serde(rename = "grants:read")]
    GrantsRead,
    /// Read the Trust Center's documents (every customer administrator and manager).
    #[serde(rename = "trust:read")]
    TrustRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 7] = [
        Scope::CasesRead,
        Scope::CasesWrite,
        Scope::Tokens,
        Scope::Admin,
        Scope::MailIngest,
        Scope::GrantsRead,
        Scope::TrustRead,
    ];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Scope::CasesRead => "cases:read",
            Scope::CasesWrite => "cases:write",
            Scope::Tokens => "tokens",
            Scope::Admin => "admin",
            Scope::MailIngest => "mail:ingest",
            Scope::GrantsRead => "grants:read",
            Scope::TrustRead => "trust:read",
        }
    }

    /// Parses a space-separated scope string (the OAuth `scope` claim), ignoring scopes that
    /// are not casedesk's (a provider's token often carries `openid`, `email` and others).
    pub fn parse_list<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<Scope> {
        let mut v: Vec<Scope> = words.into_iter().filter_map(|w| w.parse().ok()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
