//! Why authentication failed: a refused credential (with its reason in words that never
//! quote it) or a provider that cannot be reached.

use casedesk_core::DomainError;

/// Why a credential was refused. The description names the reason and never contains the
/// credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The API token is not one casedesk issued, or was revoked.
    Unknown,
    /// Not a well-formed JWT.
    Malformed(&'static str),
    /// The algorithm is refused.
    Algorithm(&'static str),
    /// Not an access token.
    Type(&'static str),
    /// No configured issuer has the token's `iss`.
    UntrustedIssuer,
    /// `iss` is not exactly the issuer.
    Issuer,
    /// No accepted audience in `aud`.
    Audience,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// The issuer publishes no key with this `kid`.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// The ID token's nonce differs from the one sent.
    Nonce,
    /// A required claim is absent.
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type.
    ClaimType(&'static str),
}

impl Refusal {
    /// A sentence for the `error_description` (ASCII, no quotes).
    pub fn description(&self) -> String {
        match self {
            Refusal::Unknown => "the token is unknown or was revoked".into(),
            Refusal::Malformed(m) | Refusal::Algorithm(m) | Refusal::Type(m) => (*m).into(),
            Refusal::UntrustedIssuer => {
                "the token comes from an issuer casedesk does not trust".into()
            }
            Refusal::Issuer => "the token's issuer does not match the trusted issuer".into(),
            Refusal::Audience => "the token is not meant for this API (audience)".into(),
            Refusal::Expired => "the token has expired".into(),
            Refusal::NotYetValid => "the token is not valid yet (nbf)".into(),
            Refusal::IssuedInFuture => {
                "the token was issued in the future (iat); check clocks".into()
            }
            Refusal::UnknownKey => {
                "the token is signed with a key the issuer does not publish (unknown kid)".into()
            }
            Refusal::Signature => "the token's signature does not verify".into(),
            Refusal::Nonce => "the ID token's nonce does not match this sign-in".into(),
            Refusal::MissingClaim(c) => format!("the token lacks the {c} claim"),
            Refusal::ClaimType(c) => format!("the token's {c} claim has the wrong type"),
        }
    }

    /// A short stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown_token",
            Refusal::Malformed(_) => "malformed",
            Refusal::Algorithm(_) => "algorithm",
            Refusal::Type(_) => "type",
            Refusal::UntrustedIssuer | Refusal::Issuer => "issuer",
            Refusal::Audience => "audience",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::IssuedInFuture => "iat_in_future",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Nonce => "nonce",
            Refusal::MissingClaim(_) => "claim_missing",
            Refusal::ClaimType(_) => "claim_type",
        }
    }
}

/// What went wrong while authenticating.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credential was refused (401).
    #[error("refused: {}", .0.description())]
    Refused(Refusal),
    /// The provider's keys cannot be had (503).
    #[error("the identity provider {issuer} cannot be reached")]
    Unavailable {
        /// Issuer name.
        issuer: String,
    },
    /// The credential is valid but maps to no usable user (403), or the store failed.
    #[error(transparent)]
    Domain(#[from] DomainError),
}
