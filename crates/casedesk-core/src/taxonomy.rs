//! Issue areas: the configurable taxonomy a case is filed under, each routed to a queue.

use serde::Serialize;

/// One issue area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueArea {
    /// Stable key, used by the API and tools.
    pub key: String,
    /// Short name.
    pub name: String,
    /// What belongs here, shown at intake.
    pub description: String,
    /// Queue its cases go to.
    pub queue: String,
}

/// The default taxonomy: (key, name, description, queue). Migrations seed the same rows.
pub const DEFAULT_ISSUE_AREAS: [(&str, &str, &str, &str); 10] = [
    (
        "sign-in-and-redirects",
        "Sign-in and redirects",
        "Users cannot finish signing in: redirect URI mismatches, login loops, consent or session problems.",
        "identity",
    ),
    (
        "applications-and-clients",
        "Applications and clients",
        "Registering applications and OAuth clients, client purposes, credentials and scopes.",
        "identity",
    ),
    (
        "tokens-and-jwks",
        "Tokens and JWKS",
        "Issued tokens are rejected or look wrong: signatures, key rotation, claims, lifetimes, discovery metadata.",
        "identity",
    ),
    (
        "webhooks",
        "Webhooks",
        "Platform webhooks are not delivered, arrive late, or fail signature checks.",
        "integrations",
    ),
    (
        "scim-and-provisioning",
        "SCIM and provisioning",
        "Users or groups are not created, updated or removed as the SCIM connection should do.",
        "integrations",
    ),
    (
        "enterprise-identity-providers",
        "Enterprise identity providers",
        "Federation with a customer's own OIDC or SAML provider: setup, claims mapping, failures.",
        "integrations",
    ),
    (
        "marketplace-and-licensing",
        "Marketplace and licensing",
        "Add-on products: installation, editions, entitlements, activation, seats and offline leases.",
        "commerce",
    ),
    (
        "device-trust",
        "Device trust",
        "Device registration and posture checks that block or allow sign-in.",
        "commerce",
    ),
    (
        "security-review",
        "Security review",
        "Launch readiness and security questions: JWKS validation, tenant isolation, audit retention, evidence.",
        "security",
    ),
    (
        "other",
        "Other",
        "Anything that fits no other area; a person will route it.",
        "general",
    ),
];
