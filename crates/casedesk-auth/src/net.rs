//! The one address guard of outbound requests. Every request casedesk sends (webhook
//! deliveries, the JWT explainer's discovery documents and keys, a trusted issuer's documents
//! and token endpoint) is built by an [`Outbound`], which checks each URL against its
//! [`UrlPolicy`] before anything is sent: IP literals in every written form, names resolved
//! only to allowed addresses (at connect time, which also defeats DNS rebinding between a
//! check and the request), no redirects, no proxy, bounded time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use casedesk_core::outbound::{UrlPolicy, check_url, is_public};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves names like the system does, then keeps only the addresses the policy allows.
struct Guarded {
    policy: Arc<UrlPolicy>,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let any = self.policy.allow_private || self.policy.private_name_listed(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| any || is_public(a.ip()))
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

/// How long an outbound request may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connecting, TLS included.
    pub connect: Duration,
    /// The whole request.
    pub total: Duration,
}

/// An HTTP client that sends only where its policy allows.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<UrlPolicy>,
}

impl Outbound {
    /// A guarded client: `agent` is its User-Agent, `idle_per_host` its pool size.
    pub fn new(
        policy: UrlPolicy,
        limits: Limits,
        agent: &str,
        idle_per_host: usize,
    ) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(limits.total)
            .connect_timeout(limits.connect)
            .user_agent(agent)
            .pool_max_idle_per_host(idle_per_host)
            .no_proxy()
            .dns_resolver(Guarded {
                policy: policy.clone(),
            })
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }

    /// The policy requests follow.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    /// Checks a URL before a request to it; the message says why it is refused. Nothing is
    /// sent to a refused URL, so the answer tells nothing about what listens there.
    pub fn check(&self, url: &str) -> Result<url::Url, String> {
        check_url(url, &self.policy).map_err(|why| format!("{url} {why}"))
    }

    /// A GET to a checked URL.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let u = self.check(url)?;
        Ok(self.client.get(u))
    }

    /// A POST to a checked URL.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let u = self.check(url)?;
        Ok(self.client.post(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(policy: UrlPolicy) -> Outbound {
        let limits = Limits {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(2),
        };
        Outbound::new(policy, limits, "test", 1).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused_at_connect_time() {
        // `localhost` resolves to loopback on every machine; the resolver itself refuses it,
        // which is what protects a public-looking name that points inside.
        let r = Guarded {
            policy: Arc::new(UrlPolicy::default()),
        };
        let name: Name = "localhost".parse().unwrap_or_else(|_| panic!("name"));
        let err = r.resolve(name).await.err().map(|e| e.to_string());
        assert!(
            err.as_deref().unwrap_or("").contains("no public address"),
            "{err:?}"
        );
        let open = Guarded {
            policy: Arc::new(UrlPolicy::operator()),
        };
        let name: Name = "localhost".parse().unwrap_or_else(|_| panic!("name"));
        assert!(open.resolve(name).await.is_ok());
    }

    #[tokio::test]
    async fn literals_are_refused_before_anything_is_sent() {
        let g = guard(UrlPolicy::default());
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:169.254.169.254]/",
            "https://[2002:a9fe:a9fe::]/",
            "https://0251.0376.0251.0376/",
        ] {
            let err = g.get(url).err().unwrap_or_default();
            assert!(err.contains("must not point"), "{url}: {err}");
        }
        // The same refusal whether or not anything listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let open = g.get(&format!("https://127.0.0.1:{port}/")).err();
        drop(listener);
        let closed = g.get(&format!("https://127.0.0.1:{port}/")).err();
        assert_eq!(
            open.map(|e| e.replace(&port.to_string(), "")),
            closed.map(|e| e.replace(&port.to_string(), ""))
        );
    }
}
