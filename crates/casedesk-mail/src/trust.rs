//! Whom a received message is from, as far as our own receiving server could tell: its
//! `Authentication-Results` (RFC 8601), only those our border wrote (by its authserv-id), the
//! topmost first, and whether the domain that passed is the one in the From address.

use mail_parser::Message;

/// How far the sender of a message can be believed, from our own border's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The From domain vouched for the message: DMARC passed, or (without a DMARC policy) an
    /// SPF or DKIM pass for a domain aligned with the From address.
    Verified,
    /// The From domain's checks failed, or passed for a domain other than the From address.
    Failed,
    /// Our border recorded no verdict that vouches for the sender.
    Unverified,
    /// No `authserv_id` is configured: casedesk cannot tell our border's verdicts from the
    /// sender's, so it believes none and checks nothing.
    Unchecked,
}

impl Trust {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Trust::Verified => "verified",
            Trust::Failed => "failed",
            Trust::Unverified => "unverified",
            Trust::Unchecked => "unchecked",
        }
    }
}

/// What our receiving server said about the sender (its `Authentication-Results`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// `spf=` result.
    pub spf: Option<String>,
    /// `dkim=` result (a pass for an aligned domain wins over other signatures).
    pub dkim: Option<String>,
    /// `dmarc=` result.
    pub dmarc: Option<String>,
    /// The verdict on the sender.
    pub trust: Trust,
    /// Why, in words.
    pub reason: String,
}

impl Default for Authentication {
    fn default() -> Self {
        Authentication {
            spf: None,
            dkim: None,
            dmarc: None,
            trust: Trust::Unchecked,
            reason: "mail.authserv_id is not set, so no sender is checked".into(),
        }
    }
}

impl Authentication {
    /// Whether the sender's domain vouched for the message (see [`Trust::Verified`]).
    pub fn verified(&self) -> bool {
        self.trust == Trust::Verified
    }
}

/// One `Authentication-Results` header, read: its authserv-id and each method's result with
/// its properties (`header.from`, `smtp.mailfrom`, `header.d`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Results {
    authserv_id: String,
    methods: Vec<Method>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Method {
    name: String,
    result: String,
    props: Vec<(String, String)>,
}

impl Method {
    fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The header's value without comments (parenthesised, possibly nested) and with quoted
/// strings kept as they are.
fn uncomment(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in v.chars() {
        if escaped {
            if depth == 0 {
                out.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn parse_results(raw: &str) -> Option<Results> {
    let clean = uncomment(raw);
    let mut clauses = clean.split(';');
    // `authserv-id [version]`
    let authserv_id = clauses
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let mut methods = Vec::new();
    for clause in clauses {
        let mut words = clause.split_whitespace();
        let Some(first) = words.next() else { continue };
        let Some((name, result)) = first.split_once('=') else {
            continue;
        };
        let name = name.split('/').next().unwrap_or(name).to_ascii_lowercase();
        let result = result.trim_matches('"').to_ascii_lowercase();
        let props = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.trim_matches('"').to_ascii_lowercase(),
                )
            })
            .collect();
        methods.push(Method {
            name,
            result,
            props,
        });
    }
    Some(Results {
        authserv_id,
        methods,
    })
}

/// The domain part of an address or domain property (`user@acme.example`, `@acme.example`,
/// `acme.example`).
fn domain_of(v: &str) -> String {
    v.rsplit('@')
        .next()
        .unwrap_or(v)
        .trim_matches(|c: char| c == '.' || c == '<' || c == '>')
        .to_ascii_lowercase()
}

/// Relaxed alignment (RFC 7489 §3.1): the same domain, or one a subdomain of the other.
/// Without the public-suffix list a shared parent is not enough; a subdomain relation is.
fn aligned(a: &str, b: &str) -> bool {
    !a.is_empty()
        && !b.is_empty()
        && (a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")))
}

/// The verdicts of the topmost `Authentication-Results` our own border (`authserv_id`) wrote,
/// judged against the From address; none are believed without an `authserv_id`.
pub(crate) fn authentication(
    msg: &Message<'_>,
    authserv_id: &str,
    from: Option<&str>,
) -> Authentication {
    let ours = authserv_id.trim().to_ascii_lowercase();
    if ours.is_empty() {
        return Authentication::default();
    }
    let found = msg
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
        .filter_map(|(_, v)| parse_results(v))
        .find(|r| r.authserv_id == ours);
    let Some(results) = found else {
        return Authentication {
            spf: None,
            dkim: None,
            dmarc: None,
            trust: Trust::Unverified,
            reason: format!("our border ({ours}) recorded no verdict on this message"),
        };
    };
    judge(&results, from.map(domain_of).unwrap_or_default())
}

fn judge(r: &Results, from_domain: String) -> Authentication {
    let first = |name: &str| r.methods.iter().find(|m| m.name == name);
    let spf = first("spf");
    // Of several signatures, the one for the From domain speaks for the sender.
    let dkims: Vec<&Method> = r.methods.iter().filter(|m| m.name == "dkim").collect();
    let dkim_aligned_pass = dkims.iter().find(|m| {
        m.result == "pass"
            && m.prop("header.d")
                .or_else(|| m.prop("header.i"))
                .is_some_and(|d| aligned(&domain_of(d), &from_domain))
    });
    let dkim = dkim_aligned_pass.or_else(|| dkims.first()).copied();
    let dmarc = first("dmarc");
    let spf_aligned_pass = spf.is_some_and(|m| {
        m.result == "pass"
            && m.prop("smtp.mailfrom")
                .or_else(|| m.prop("smtp.helo"))
                .is_some_and(|d| aligned(&domain_of(d), &from_domain))
    });
    let (trust, reason) = match dmarc.map(|m| m.result.as_str()) {
        Some("pass") => match dmarc.and_then(|m| m.prop("header.from")).map(domain_of) {
            Some(d) if !aligned(&d, &from_domain) => (
                Trust::Failed,
                format!("DMARC passed for {d}, not for the From address's domain {from_domain}"),
            ),
            _ => (Trust::Verified, "DMARC passed".to_owned()),
        },
        Some(v @ ("fail" | "quarantine" | "reject")) => (
            Trust::Failed,
            format!("DMARC {v}: the From domain {from_domain} did not vouch for this message"),
        ),
        _ if dkim_aligned_pass.is_some() => (
            Trust::Verified,
            "DKIM passed for the From address's domain".to_owned(),
        ),
        _ if spf_aligned_pass => (
            Trust::Verified,
            "SPF passed for the From address's domain".to_owned(),
        ),
        _ if spf.is_some_and(|m| m.result == "fail")
            && dkims.iter().all(|m| m.result != "pass") =>
        {
            (
                Trust::Failed,
                "SPF failed and no DKIM signature passed".to_owned(),
            )
        }
        _ => (
            Trust::Unverified,
            format!("no SPF or DKIM pass for the From address's domain {from_domain}"),
        ),
    };
    Authentication {
        spf: spf.map(|m| m.result.clone()),
        dkim: dkim.map(|m| m.result.clone()),
        dmarc: dmarc.map(|m| m.result.clone()),
        trust,
        reason,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn verdict(header: &str, from: &str) -> Authentication {
        judge(&parse_results(header).unwrap(), from.into())
    }

    #[test]
    fn comments_versions_and_quoted_values_are_read() {
        let r = parse_results(
            "mx.casedesk.example 1 (our border); spf=pass (sender ok) smtp.mailfrom=\"ops@acme.example\"; dkim/1=pass header.d=acme.example",
        )
        .unwrap();
        assert_eq!(r.authserv_id, "mx.casedesk.example");
        assert_eq!(r.methods.len(), 2);
        assert_eq!(r.methods[0].prop("smtp.mailfrom"), Some("ops@acme.example"));
        assert_eq!(r.methods[1].name, "dkim");
    }

    #[test]
    fn dmarc_decides_and_must_be_for_the_from_domain() {
        let v = verdict("mx; dmarc=pass header.from=acme.example", "acme.example");
        assert_eq!(v.trust, Trust::Verified);
        let v = verdict("mx; dmarc=pass header.from=evil.example", "acme.example");
        assert_eq!(v.trust, Trust::Failed, "{}", v.reason);
        let v = verdict(
            "mx; spf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; dmarc=fail",
            "acme.example",
        );
        assert_eq!(v.trust, Trust::Failed);
    }

    #[test]
    fn without_dmarc_an_aligned_pass_verifies_and_an_unaligned_one_does_not() {
        let v = verdict("mx; dkim=pass header.d=mail.acme.example", "acme.example");
        assert_eq!(v.trust, Trust::Verified);
        let v = verdict(
            "mx; dkim=pass header.d=mailer.example; spf=pass smtp.mailfrom=bounces@mailer.example",
            "acme.example",
        );
        assert_eq!(v.trust, Trust::Unverified);
        let v = verdict(
            "mx; spf=fail smtp.mailfrom=acme.example; dkim=none",
            "acme.example",
        );
        assert_eq!(v.trust, Trust::Failed);
        let v = verdict("mx; none", "acme.example");
        assert_eq!(v.trust, Trust::Unverified);
        assert!(!aligned("acme.example", "notacme.example"));
        assert!(!aligned("", ""));
    }
}
