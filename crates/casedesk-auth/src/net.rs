//! Outbound requests to addresses a customer chose (webhook endpoints, an issuer typed into
//! the JWT explainer) resolve only to public addresses.

use std::net::SocketAddr;

use casedesk_core::webhooks::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves names like the system does, then keeps only public addresses, so a host name
/// that points inside casedesk's network cannot be used to reach it (checked at connect
/// time, which also defeats DNS rebinding between a check and the request).
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} has no public address; requests to private networks are not allowed"
                )
                .into());
            }
            let it: Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}
