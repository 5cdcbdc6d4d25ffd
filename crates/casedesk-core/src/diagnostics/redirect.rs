//! The redirect-URI explainer: whether the URI an application sent matches one it
//! registered, and, when not, which part of the closest registered URI differs and why.
//!
//! The identity platform compares redirect URIs as exact strings (RFC 6749 §3.1.2.3, RFC
//! 9700 §2.1); the only exception is the port of a loopback IP literal for native apps (RFC
//! 8252 §7.3). URIs are split here by hand, keeping every part as written: URL parsers
//! normalise case, default ports and encodings, which are exactly the differences to show.

use serde::Serialize;

/// The parts of a URI, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    scheme: String,
    userinfo: Option<String>,
    host: String,
    port: Option<String>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

/// Splits an absolute URI (RFC 3986 appendix B); `None` when it has no scheme or authority.
fn split(raw: &str) -> Option<Parts> {
    let (scheme, rest) = raw.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f.to_owned())),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q.to_owned())),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_owned()), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(end) = hostport.strip_prefix('[').and_then(|h| h.find(']')) {
        let host = &hostport[..end + 2];
        let port = hostport[end + 2..].strip_prefix(':').map(str::to_owned);
        (host.to_owned(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
            None => (hostport.to_owned(), None),
        }
    };
    Some(Parts {
        scheme: scheme.to_owned(),
        userinfo,
        host,
        port,
        path: path.to_owned(),
        query,
        fragment,
    })
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    }
}

fn effective_port(p: &Parts) -> Option<String> {
    p.port
        .clone()
        .filter(|x| !x.is_empty())
        .or_else(|| default_port(&p.scheme).map(str::to_owned))
}

fn is_loopback_literal(host: &str) -> bool {
    host == "127.0.0.1" || host == "[::1]"
}

/// Decodes `%XX` escapes of unreserved characters and uppercases the others, the
/// normalisation under which two paths mean the same (RFC 3986 §6.2.2).
fn normalise_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(v);
            } else {
                out.extend(format!("%{v:02X}").bytes());
            }
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How one part compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Identical.
    Same,
    /// Different.
    Differs,
    /// The same letters in another case.
    DiffersOnlyByCase,
    /// The same after normalisation, but not the same string, so it does not match.
    EquivalentNotIdentical,
}

/// One part of the URI, compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartDiff {
    /// `scheme`, `userinfo`, `host`, `port`, `path`, `query` or `fragment`.
    pub part: &'static str,
    /// As registered.
    pub registered: Option<String>,
    /// As used.
    pub used: Option<String>,
    /// How they compare.
    pub verdict: Verdict,
    /// What to do about it.
    pub hint: Option<String>,
}

/// The explainer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// `match`, `match_loopback_port` or `mismatch`.
    pub verdict: &'static str,
    /// The registered URI that matched, or the closest one.
    pub closest: Option<String>,
    /// Part by part, used against the closest registered URI.
    pub parts: Vec<PartDiff>,
    /// What is wrong with the used URI on its own.
    pub problems: Vec<String>,
    /// What to do.
    pub advice: String,
}

fn compare(
    part: &'static str,
    r: Option<String>,
    u: Option<String>,
    hint: impl FnOnce(&Option<String>, &Option<String>, Verdict) -> Option<String>,
) -> PartDiff {
    let verdict = match (&r, &u) {
        (a, b) if a == b => Verdict::Same,
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => Verdict::DiffersOnlyByCase,
        _ => Verdict::Differs,
    };
    let hint = if verdict == Verdict::Same {
        None
    } else {
        hint(&r, &u, verdict)
    };
    PartDiff {
        part,
        registered: r,
        used: u,
        verdict,
        hint,
    }
}

fn diff(r: &Parts, u: &Parts) -> Vec<PartDiff> {
    let mut out = Vec::new();
    out.push(compare("scheme", Some(r.scheme.clone()), Some(u.scheme.clone()), |a, b, v| {
        if v == Verdict::DiffersOnlyByCase {
            return Some("The scheme is compared as written; use the registered letters.".into());
        }
        match (a.as_deref(), b.as_deref()) {
            (Some("https"), Some("http")) => Some("The application sent http where https is registered; web applications must use https (plain http is only for native apps on a loopback address, RFC 9700 §2.6).".into()),
            (Some("http"), Some("https")) => Some("The application sent https where http is registered; register the https URI.".into()),
            _ => Some("A different scheme; for a mobile app's custom scheme, the letters must match exactly.".into()),
        }
    }));
    out.push(compare(
        "userinfo",
        r.userinfo.clone(),
        u.userinfo.clone(),
        |_, _, _| {
            Some(
                "A redirect URI carries no user name or password; remove the part before @.".into(),
            )
        },
    ));
    out.push(compare("host", Some(r.host.clone()), Some(u.host.clone()), |a, b, v| {
        let (a, b) = (a.clone().unwrap_or_default(), b.clone().unwrap_or_default());
        if v == Verdict::DiffersOnlyByCase {
            return Some("The host differs only in letter case; redirect URIs are compared as exact strings, so register the host as the application sends it.".into());
        }
        let loop_names = ["localhost", "127.0.0.1", "[::1]"];
        if loop_names.contains(&a.as_str()) && loop_names.contains(&b.as_str()) {
            return Some("localhost, 127.0.0.1 and [::1] are different strings; prefer 127.0.0.1 (RFC 8252 §8.3) and register exactly what the app sends.".into());
        }
        if a.trim_end_matches('.') == b.trim_end_matches('.') {
            return Some("One host ends with a dot; remove it.".into());
        }
        if a.strip_prefix("www.") == Some(&b) || b.strip_prefix("www.") == Some(&a) {
            return Some("One host has www. and the other not; they are different hosts.".into());
        }
        if a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")) || a.split_once('.').map(|x| x.1) == b.split_once('.').map(|x| x.1) {
            return Some("Another subdomain (often another environment, such as staging against production).".into());
        }
        Some("A different host: is the application deployed where you think, or registered for another environment?".into())
    }));
    // Ports: compared as written, but an explicit default port means the same place.
    let (rp, up) = (r.port.clone(), u.port.clone());
    let mut port = compare("port", rp.clone(), up.clone(), |a, b, _| {
        Some(format!(
            "The application uses port {} but port {} is registered (a dev server on another port?).",
            b.clone().unwrap_or_else(|| "(default)".into()),
            a.clone().unwrap_or_else(|| "(default)".into())
        ))
    });
    if port.verdict != Verdict::Same && effective_port(r) == effective_port(u) {
        port.verdict = Verdict::EquivalentNotIdentical;
        port.hint = Some("One URI names the default port and the other leaves it out: the same place, but not the same string, so it does not match.".into());
    }
    out.push(port);
    let mut path = compare(
        "path",
        Some(r.path.clone()),
        Some(u.path.clone()),
        |a, b, v| {
            let (a, b) = (a.clone().unwrap_or_default(), b.clone().unwrap_or_default());
            if a.trim_end_matches('/') == b.trim_end_matches('/') {
                return Some(if b.ends_with('/') {
                    format!("The application adds a trailing slash: registered {a}, used {b}.")
                } else {
                    format!(
                        "The application leaves out the trailing slash: registered {a}, used {b}."
                    )
                });
            }
            if v == Verdict::DiffersOnlyByCase {
                return Some(
                    "The path differs only in letter case; paths are case-sensitive.".into(),
                );
            }
            Some("A different path: check the callback route the application sends.".into())
        },
    );
    if path.verdict != Verdict::Same && normalise_escapes(&r.path) == normalise_escapes(&u.path) {
        path.verdict = Verdict::EquivalentNotIdentical;
        path.hint = Some("The paths differ only in percent-encoding (for example %7E against ~): the same resource, but not the same string.".into());
    }
    out.push(path);
    let mut query = compare("query", r.query.clone(), u.query.clone(), |a, b, _| {
        match (a, b) {
        (None, Some(_)) => Some("The application adds a query; do not put per-request data in the redirect URI, carry it in state.".into()),
        (Some(_), None) => Some("The registered URI has a query the application leaves out.".into()),
        _ => Some("The query differs; per-request values belong in state, not in the redirect URI.".into()),
    }
    });
    if let (Some(a), Some(b)) = (&r.query, &u.query)
        && query.verdict != Verdict::Same
    {
        let mut x: Vec<&str> = a.split('&').collect();
        let mut y: Vec<&str> = b.split('&').collect();
        x.sort_unstable();
        y.sort_unstable();
        if x == y {
            query.verdict = Verdict::EquivalentNotIdentical;
            query.hint = Some("The same parameters in another order: not the same string.".into());
        }
    }
    out.push(query);
    out.push(compare("fragment", r.fragment.clone(), u.fragment.clone(), |_, _, _| {
        Some("A redirect URI must not have a fragment (RFC 6749 §3.1.2); remove the part after #.".into())
    }));
    out
}

/// Edit distance, for breaking ties between equally close candidates.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j + 1] + 1)
                .min(cur[j] + 1)
                .min(prev[j] + usize::from(ca != *cb));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn invisible(s: &str) -> Option<String> {
    if s.trim() != s {
        return Some("The used URI starts or ends with white space (often copied from a console); remove it.".into());
    }
    if s.chars().any(|c| {
        matches!(
            c,
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' | '\u{00A0}'
        )
    }) {
        return Some(
            "The used URI holds an invisible character (a zero-width or non-breaking space)."
                .into(),
        );
    }
    if s.to_ascii_lowercase().starts_with("http%3a")
        || s.to_ascii_lowercase().starts_with("https%3a")
    {
        return Some("The used URI is still percent-encoded: it was encoded twice in the authorize request, or copied without decoding.".into());
    }
    None
}

/// Explains whether `used` matches one of `registered`.
pub fn explain(registered: &[String], used: &str) -> Explanation {
    let mut problems = Vec::new();
    if let Some(p) = invisible(used) {
        problems.push(p);
    }
    let u = split(used.trim());
    if u.is_none() {
        problems.push("The used URI is not absolute (scheme://host/path); a redirect URI must be (RFC 6749 §3.1.2).".into());
    }
    if let Some(u) = &u {
        if u.fragment.is_some() {
            problems.push(
                "The used URI has a fragment (#…); a redirect URI must not (RFC 6749 §3.1.2)."
                    .into(),
            );
        }
        if u.userinfo.is_some() {
            problems.push("The used URI carries a user name or password before @.".into());
        }
        if u.scheme.eq_ignore_ascii_case("http")
            && !is_loopback_literal(&u.host)
            && u.host != "localhost"
        {
            problems.push(
                "Plain http is allowed only for native apps on a loopback address (RFC 9700 §2.6)."
                    .into(),
            );
        }
    }
    if let Some(exact) = registered.iter().find(|r| r.as_str() == used) {
        return Explanation {
            verdict: "match",
            closest: Some(exact.clone()),
            parts: Vec::new(),
            problems,
            advice: "The URI is registered exactly as the application sends it.".into(),
        };
    }
    let parsed: Vec<(&String, Option<Parts>)> = registered.iter().map(|r| (r, split(r))).collect();
    if let Some(u) = &u
        && u.scheme == "http"
        && is_loopback_literal(&u.host)
        && let Some((r, _)) = parsed.iter().find(|(_, p)| {
            p.as_ref().is_some_and(|p| {
                p.scheme == u.scheme
                    && p.host == u.host
                    && p.path == u.path
                    && p.query == u.query
                    && p.fragment == u.fragment
                    && p.userinfo == u.userinfo
            })
        })
    {
        let parts = split(r).map(|p| diff(&p, u)).unwrap_or_default();
        return Explanation {
            verdict: "match_loopback_port",
            closest: Some((*r).clone()),
            parts,
            problems,
            advice: "Only the port differs, on a loopback IP address: native apps may use any port there (RFC 8252 §7.3), and the identity platform accepts it. Another provider may not; check its rules.".into(),
        };
    }
    let Some(u) = u else {
        return Explanation {
            verdict: "mismatch",
            closest: None,
            parts: Vec::new(),
            problems,
            advice: "Send an absolute redirect URI that is registered exactly.".into(),
        };
    };
    let closest = parsed
        .iter()
        .filter_map(|(r, p)| p.as_ref().map(|p| (*r, diff(p, &u))))
        .map(|(r, parts)| {
            let same = parts.iter().filter(|d| d.verdict == Verdict::Same).count();
            (same, std::cmp::Reverse(distance(r, used)), r, parts)
        })
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    match closest {
        Some((_, _, r, parts)) => Explanation {
            verdict: "mismatch",
            closest: Some(r.clone()),
            parts,
            problems,
            advice: format!(
                "The identity platform compares exact strings. Register {used} exactly, or change the application to send {r}."
            ),
        },
        None => Explanation {
            verdict: "mismatch",
            closest: None,
            parts: Vec::new(),
            problems,
            advice: format!("No registered URI is absolute. Register {used} exactly."),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn part<'a>(e: &'a Explanation, name: &str) -> &'a PartDiff {
        e.parts.iter().find(|p| p.part == name).expect("part")
    }

    #[test]
    fn an_exact_string_matches_and_nothing_else_does() {
        let r = reg(&["https://app.example.com/callback"]);
        assert_eq!(
            explain(&r, "https://app.example.com/callback").verdict,
            "match"
        );
        let e = explain(&r, "https://app.example.com/callback/");
        assert_eq!(e.verdict, "mismatch");
        assert_eq!(part(&e, "path").verdict, Verdict::Differs);
        assert!(
            part(&e, "path")
                .hint
                .as_deref()
                .unwrap_or("")
                .contains("trailing slash")
        );
        assert!(
            e.advice
                .contains("Register https://app.example.com/callback/ exactly")
        );
    }

    #[test]
    fn each_part_is_named_with_its_reason() {
        let r = reg(&["https://app.example.com/callback"]);
        let e = explain(&r, "http://app.example.com/callback");
        assert_eq!(part(&e, "scheme").verdict, Verdict::Differs);
        assert!(e.problems.iter().any(|p| p.contains("RFC 9700")));
        let e = explain(&r, "https://App.Example.com/callback");
        assert_eq!(part(&e, "host").verdict, Verdict::DiffersOnlyByCase);
        let e = explain(&r, "https://app.example.com:443/callback");
        assert_eq!(part(&e, "port").verdict, Verdict::EquivalentNotIdentical);
        let e = explain(&r, "https://app.example.com/Callback");
        assert_eq!(part(&e, "path").verdict, Verdict::DiffersOnlyByCase);
        let e = explain(
            &reg(&["https://app.example.com/~cb"]),
            "https://app.example.com/%7Ecb",
        );
        assert_eq!(part(&e, "path").verdict, Verdict::EquivalentNotIdentical);
        let e = explain(&r, "https://app.example.com/callback?tab=2");
        assert_eq!(part(&e, "query").verdict, Verdict::Differs);
        let e = explain(
            &reg(&["https://a.example/cb?a=1&b=2"]),
            "https://a.example/cb?b=2&a=1",
        );
        assert_eq!(part(&e, "query").verdict, Verdict::EquivalentNotIdentical);
        let e = explain(&r, "https://app.example.com/callback#x");
        assert_eq!(part(&e, "fragment").verdict, Verdict::Differs);
        assert!(e.problems.iter().any(|p| p.contains("fragment")));
        let e = explain(&r, "https://staging.example.com/callback");
        assert!(
            part(&e, "host")
                .hint
                .as_deref()
                .unwrap_or("")
                .contains("subdomain")
        );
        let e = explain(&r, " https://app.example.com/callback");
        assert!(e.problems.iter().any(|p| p.contains("white space")));
        let e = explain(&r, "https%3A%2F%2Fapp.example.com%2Fcallback");
        assert!(e.problems.iter().any(|p| p.contains("percent-encoded")));
    }

    #[test]
    fn the_loopback_port_rule_applies_only_to_ip_literals_over_http() {
        let r = reg(&[
            "http://127.0.0.1:8400/cb",
            "http://[::1]:8400/cb",
            "http://localhost:8400/cb",
        ]);
        assert_eq!(
            explain(&r, "http://127.0.0.1:51234/cb").verdict,
            "match_loopback_port"
        );
        assert_eq!(
            explain(&r, "http://[::1]:1/cb").verdict,
            "match_loopback_port"
        );
        assert_eq!(explain(&r, "http://localhost:51234/cb").verdict, "mismatch");
        assert_eq!(
            explain(&r, "http://127.0.0.1:51234/other").verdict,
            "mismatch"
        );
        let e = explain(
            &reg(&["http://127.0.0.1:8400/cb"]),
            "http://localhost:8400/cb",
        );
        assert!(
            part(&e, "host")
                .hint
                .as_deref()
                .unwrap_or("")
                .contains("RFC 8252")
        );
    }

    #[test]
    fn the_closest_candidate_is_the_one_with_most_equal_parts() {
        let r = reg(&[
            "https://other.example.org/x",
            "https://app.example.com/callback",
            "https://app.example.com/cb",
        ]);
        let e = explain(&r, "https://app.example.com/callback/");
        assert_eq!(
            e.closest.as_deref(),
            Some("https://app.example.com/callback")
        );
        assert_eq!(explain(&r, "not a uri").verdict, "mismatch");
    }
}
