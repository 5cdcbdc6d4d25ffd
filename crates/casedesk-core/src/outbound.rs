//! Where casedesk may send a request: the rules of the one address guard. A webhook endpoint,
//! an issuer typed into the JWT explainer and every URL such an issuer's documents name are
//! chosen by someone outside casedesk, so none may lead into casedesk's own network. The
//! guard that applies these rules to every request (names resolved at connect time, no
//! redirects) is `casedesk_auth::net::Outbound`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where outbound URLs may point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Allow loopback, private, link-local and other non-public addresses (tests, on-premise).
    pub allow_private: bool,
    /// Require `https://`.
    pub require_https: bool,
    /// Hosts allowed although private, each `host` or `host:port` (an on-premise receiver or
    /// identity provider), when private addresses are otherwise refused.
    pub private_exceptions: Vec<String>,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self {
            allow_private: false,
            require_https: true,
            private_exceptions: Vec::new(),
        }
    }
}

impl UrlPolicy {
    /// A policy that allows private addresses: URLs an operator configured.
    pub fn operator() -> Self {
        Self {
            allow_private: true,
            require_https: false,
            private_exceptions: Vec::new(),
        }
    }

    /// Whether a name is among the exceptions, whatever its port (the resolver does not see
    /// the port; [`check_url`] has checked it before).
    pub fn private_name_listed(&self, host: &str) -> bool {
        self.private_exceptions.iter().any(|e| {
            let e = e.trim().to_ascii_lowercase();
            e == host
                || e.strip_prefix(host)
                    .is_some_and(|rest| rest.starts_with(':'))
        })
    }

    /// Whether a host (as a URL writes it, lower case) and port may be private.
    pub fn private_allowed(&self, host: &str, port: Option<u16>) -> bool {
        self.allow_private
            || self.private_exceptions.iter().any(|e| {
                let e = e.trim().to_ascii_lowercase();
                match port {
                    Some(p) => e == host || e == format!("{host}:{p}"),
                    None => e == host,
                }
            })
    }
}

/// The IPv4 address an IPv6 address carries in one of the ways the networks in between can
/// turn into a packet to it: IPv4-mapped, IPv4-compatible, NAT64 (RFC 6052), 6to4 (RFC 3056)
/// and Teredo (RFC 4380, the client's address, stored inverted).
fn embedded_v4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let mut out = Vec::new();
    if let Some(m) = v6.to_ipv4_mapped() {
        out.push(m);
    }
    // IPv4-translated (RFC 6145, `::ffff:0:a.b.c.d`).
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        out.push(v4(s[6], s[7]));
    }
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        out.push(v4(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        out.push(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        out.push(v4(s[1], s[2]));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        out.push(v4(s[2], s[3]));
        out.push(v4(!s[6], !s[7]));
    }
    out
}

/// Whether an IPv4 address is on the public internet.
fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 192 && o[1] == 88 && o[2] == 99)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240)
}

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// documentation, benchmarking, multicast or unspecified, nor an IPv6 form of such an IPv4
/// address), so a request to it cannot reach casedesk's own network.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let embedded = embedded_v4(v6);
            if !embedded.is_empty() {
                return embedded.into_iter().all(is_public_v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0)
                || (s[0] & 0xfff0) == 0x3ff0
                || (s[0] == 0x100 && s[1..4] == [0; 3])
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// Checks an outbound URL against the policy; the message names what is wrong.
pub fn check_url(raw: &str, policy: &UrlPolicy) -> std::result::Result<url::Url, String> {
    if raw.len() > 2000 {
        return Err("must be at most 2000 characters".into());
    }
    let u = url::Url::parse(raw).map_err(|_| {
        "must be an absolute URL such as https://hooks.example.com/casedesk".to_owned()
    })?;
    match u.scheme() {
        "https" => {}
        "http" if !policy.require_https => {}
        "http" => return Err("must use https://".into()),
        _ => return Err("must be an https:// URL".into()),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if u.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    let host = match u.host() {
        Some(h) => h,
        None => return Err("must name a host".into()),
    };
    let host_text = u.host_str().unwrap_or_default().to_ascii_lowercase();
    if policy.private_allowed(&host_text, u.port_or_known_default()) {
        return Ok(u);
    }
    let ip = match host {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.');
            if d == "localhost"
                || d.ends_with(".localhost")
                || d.ends_with(".internal")
                || d.ends_with(".local")
                || d.ends_with(".home.arpa")
                || !d.contains('.')
            {
                return Err("must not point to a local or internal host".into());
            }
            None
        }
    };
    if ip.is_some_and(|ip| !is_public(ip)) {
        return Err("must not point to a loopback, private or link-local address".into());
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_refused_by_default() {
        let p = UrlPolicy::default();
        for bad in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost:8080/",
            "https://intranet/",
            "https://printer.home.arpa/",
            "https://[::ffff:192.168.1.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:0:127.0.0.1]/",
            "https://[::ffff:0:a9fe:a9fe]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[64:ff9b:1::1]/",
            "https://[2002:7f00:1::]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
            "https://[2001:0:7f00:1::1]/",
            "https://[fec0::1]/",
            "https://[100::1]/",
            "https://0x7f.1/",
            "https://2130706433/",
            "https://017700000001/",
            "https://100.64.0.1/",
            "https://192.88.99.1/",
            "https://[fd00::1]/",
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
        ] {
            assert!(check_url(bad, &p).is_err(), "{bad} should be refused");
        }
        for good in [
            "https://hooks.example.com/casedesk",
            "https://8.8.8.8/",
            "https://[2606:4700::1111]/",
            "https://[64:ff9b::808:808]/",
            "https://[2002:808:808::1]/",
        ] {
            assert!(check_url(good, &p).is_ok(), "{good} should be allowed");
        }
        assert!(
            check_url("https://203.0.113.1/", &p).is_err(),
            "documentation range"
        );
        let open = UrlPolicy::operator();
        assert!(check_url("http://127.0.0.1:9000/hook", &open).is_ok());
        let one = UrlPolicy {
            private_exceptions: vec!["127.0.0.1:9000".into(), "idp.corp.internal".into()],
            ..UrlPolicy::default()
        };
        assert!(check_url("https://127.0.0.1:9000/hook", &one).is_ok());
        assert!(check_url("https://127.0.0.1:9001/hook", &one).is_err());
        assert!(check_url("https://idp.corp.internal/x", &one).is_ok());
    }
}
