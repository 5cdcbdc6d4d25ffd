//! The redirect-URI explainer: whether the URI an application sent matches one it
//! registered, and, when not, which part of the closest registered URI differs and why.
//!
//! The identity platform compares redirect URIs as exact strings (RFC 6749 §3.1.2.3, RFC
//! 9700 §2.1); the only exception is the port of a loopback IP literal for native apps (RFC
//! 8252 §7.3). The explainer is at least as strict as the strictest authorization server: a
//! URI with a fragment, user information, an invalid port or host never matches, and the
//! advice never tells anyone to register a URI that is itself unsafe (a look-alike host,
//! plain http on the internet, invisible characters).
//!
//! URIs are split here by hand, keeping every part as written: URL parsers normalise case,
//! default ports and encodings, which are exactly the differences to show.

use serde::Serialize;
use unicode_security::MixedScript;

/// The parts of a URI, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    scheme: String,
    /// `scheme://authority…`; a private-use scheme (`com.example.app:/cb`) has none.
    authority: bool,
    userinfo: Option<String>,
    host: String,
    port: Option<String>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

/// Splits an absolute URI (RFC 3986 appendix B); `None` when it has no valid scheme.
fn split(raw: &str) -> Option<Parts> {
    let (scheme, rest) = raw.split_once(':')?;
    let mut chars = scheme.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
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
    let Some(rest) = rest.strip_prefix("//") else {
        return Some(Parts {
            scheme: scheme.to_owned(),
            authority: false,
            userinfo: None,
            host: String::new(),
            port: None,
            path: rest.to_owned(),
            query,
            fragment,
        });
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
        let after = &hostport[end + 2..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.to_owned()),
            // Anything else after `]` is not a port: kept so the port check names it.
            None if !after.is_empty() => Some(after.to_owned()),
            None => None,
        };
        (host.to_owned(), port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
            None => (hostport.to_owned(), None),
        }
    };
    Some(Parts {
        scheme: scheme.to_owned(),
        authority: true,
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

/// A port as written is valid: empty (the default) or 1 to 65535 in decimal digits without
/// a leading zero (browsers read `05555` as 5555: not the string compared).
fn valid_port(port: Option<&str>) -> bool {
    match port {
        None | Some("") => true,
        Some(p) => explicit_port(p),
    }
}

/// A port written out: 1 to 65535, decimal, no leading zero.
fn explicit_port(p: &str) -> bool {
    p.len() <= 5
        && !p.starts_with('0')
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
}

/// Schemes that run code or read local files where a browser lands: never a redirect URI.
const UNSAFE_SCHEMES: [&str; 9] = [
    "javascript",
    "vbscript",
    "data",
    "file",
    "about",
    "blob",
    "filesystem",
    "view-source",
    "jar",
];

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

// ---------------------------------------------------------------------------------------------
// What is wrong with one URI on its own

/// How much a problem of a URI weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    /// Worth knowing; the URI can be registered.
    Note,
    /// The URI may match if registered, but no one should register it.
    Unsafe,
    /// No authorization server accepts it: it never matches.
    Invalid,
}

/// One problem of the used URI, by a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `not_absolute`, `fragment`, `userinfo`, `invalid_port`, `invalid_host`,
    /// `invalid_character`, `look_alike_host`, `internationalized_host`, `plain_http`,
    /// `white_space`, `invisible_character`, `double_encoded`, `private_use_scheme`.
    pub code: &'static str,
    /// In words.
    pub message: String,
    #[serde(skip)]
    weight: Weight,
}

fn problem(code: &'static str, weight: Weight, message: impl Into<String>) -> Problem {
    Problem {
        code,
        message: message.into(),
        weight,
    }
}

/// What a host spells: `xn--` labels decoded, for the look-alike checks. Letter case is kept
/// otherwise, since a capital I passes for an l before the browser lowercases it.
fn unicode_host(host: &str) -> String {
    if host
        .split('.')
        .any(|l| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
    {
        idna::domain_to_unicode(host).0
    } else {
        host.to_owned()
    }
}

/// The UTS #39 skeleton of a host: two hosts with the same skeleton look alike.
fn skeleton(host: &str) -> String {
    unicode_security::skeleton(&unicode_host(host)).collect()
}

/// Whether a host uses non-ASCII letters (written or as punycode), and whether any of its
/// labels mixes scripts or spells an ASCII name with letters of another script.
fn host_script(host: &str) -> Option<Problem> {
    let u = unicode_host(host);
    if u.is_ascii() {
        return None;
    }
    let sk = skeleton(host);
    let mixed = u.split('.').any(|label| !label.is_single_script());
    if mixed || (sk.is_ascii() && sk != u) {
        return Some(problem(
            "look_alike_host",
            Weight::Unsafe,
            format!(
                "The host {u} is a look-alike: it uses letters of another script that resemble {sk}. Phishing pages use such hosts; do not register it."
            ),
        ));
    }
    Some(problem(
        "internationalized_host",
        Weight::Note,
        format!(
            "The host {u} is an internationalized name; it travels as {}. Register it exactly as the application sends it.",
            url::Host::parse(host)
                .map(|h| h.to_string())
                .unwrap_or_else(|_| host.to_owned())
        ),
    ))
}

/// Whether a host as written is one a browser and an authorization server agree on.
fn host_problem(host: &str) -> Option<Problem> {
    let bad = |why: &str| Some(problem("invalid_host", Weight::Invalid, why.to_owned()));
    if host.is_empty() {
        return bad("The used URI names no host.");
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']') {
            Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => None,
            _ => bad(&format!("The host {host} is not a valid IPv6 address.")),
        };
    }
    if host.contains('%') {
        return bad(&format!(
            "The host {host} is percent-encoded; browsers decode it to another name than the one compared."
        ));
    }
    let labels: Vec<&str> = host.strip_suffix('.').unwrap_or(host).split('.').collect();
    // WHATWG URL parsing reads a host whose last label is a number as an IPv4 address, in
    // decimal, octal or hex: only the plain dotted quad means one thing to everyone.
    let last = labels.last().copied().unwrap_or("");
    let numeric = |s: &str| {
        !s.is_empty()
            && (s.bytes().all(|b| b.is_ascii_digit())
                || s.strip_prefix("0x")
                    .or_else(|| s.strip_prefix("0X"))
                    .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())))
    };
    if numeric(last) {
        let dotted = labels.len() == 4
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 3
                    && l.bytes().all(|b| b.is_ascii_digit())
                    && (l.len() == 1 || !l.starts_with('0'))
                    && l.parse::<u16>().is_ok_and(|n| n <= 255)
            });
        if !dotted || host.ends_with('.') {
            return bad(&format!(
                "The host {host} is not a plain IPv4 address (four decimal numbers 0 to 255 without leading zeros); browsers read it as another address."
            ));
        }
        return None;
    }
    if host.is_ascii() {
        let ok = host.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !ok {
            return bad(&format!("The host {host} is not a valid host name."));
        }
        let bad_punycode = labels
            .iter()
            .any(|l| l.to_ascii_lowercase().starts_with("xn--"))
            && idna::domain_to_ascii_strict(host).is_err();
        if bad_punycode {
            return bad(&format!(
                "The host {host} holds a punycode (xn--) label that does not decode."
            ));
        }
        return None;
    }
    match url::Host::parse(host) {
        Err(_) => bad(&format!("The host {host} is not a valid host name.")),
        // Full-width digits and the like: browsers read an IP address the string hides.
        Ok(url::Host::Ipv4(a)) => bad(&format!(
            "The host {host} is written with characters that browsers read as the address {a}."
        )),
        Ok(url::Host::Ipv6(a)) => bad(&format!(
            "The host {host} is written with characters that browsers read as the address {a}."
        )),
        Ok(url::Host::Domain(d)) if host.contains(['\u{3002}', '\u{FF0E}', '\u{FF61}']) => {
            Some(problem(
                "look_alike_host",
                Weight::Unsafe,
                format!(
                    "The host {host} uses a full stop that browsers read as a dot: it is really {d}."
                ),
            ))
        }
        Ok(_) => None,
    }
}

/// Characters that no URI may hold unencoded (RFC 3986 §2), and those browsers rewrite.
fn character_problem(s: &str) -> Option<Problem> {
    if let Some(c) = s.chars().find(|c| {
        c.is_ascii_control() || matches!(c, '\\' | '<' | '>' | '"' | '{' | '}' | '|' | '^' | '`')
    }) {
        let name = match c {
            '\\' => "a backslash, which browsers read as /".to_owned(),
            c if c.is_ascii_control() => format!("the control character U+{:04X}", u32::from(c)),
            c => format!("the character {c}"),
        };
        return Some(problem(
            "invalid_character",
            Weight::Invalid,
            format!("The used URI holds {name}; a URI must not hold it unencoded."),
        ));
    }
    let b = s.as_bytes();
    if b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    }) {
        return Some(problem(
            "invalid_character",
            Weight::Invalid,
            "The used URI holds a % that starts no escape (% and two hex digits); no server reads it the same way.",
        ));
    }
    if s.trim().contains(' ') {
        return Some(problem(
            "invalid_character",
            Weight::Invalid,
            "The used URI holds a space; a URI must not hold it unencoded.",
        ));
    }
    None
}

/// Everything wrong with a URI on its own, worst first.
fn problems_of(raw: &str, parts: Option<&Parts>) -> Vec<Problem> {
    let mut out = Vec::new();
    if raw.trim() != raw {
        out.push(problem("white_space", Weight::Invalid, "The used URI starts or ends with white space (often copied from a console); remove it."));
    }
    if raw.chars().any(|c| {
        matches!(
            c,
            '\u{200B}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
                | '\u{00A0}'
                | '\u{00AD}'
        ) || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    }) {
        out.push(problem(
            "invisible_character",
            Weight::Invalid,
            "The used URI holds an invisible character (a zero-width, non-breaking or direction-changing one).",
        ));
    }
    let lower = raw.trim().to_ascii_lowercase();
    if lower.starts_with("http%3a") || lower.starts_with("https%3a") {
        out.push(problem("double_encoded", Weight::Invalid, "The used URI is still percent-encoded: it was encoded twice in the authorize request, or copied without decoding."));
    }
    if let Some(p) = character_problem(raw.trim()) {
        out.push(p);
    }
    let Some(u) = parts else {
        out.push(problem("not_absolute", Weight::Invalid, "The used URI is not absolute (scheme:… such as https://host/path); a redirect URI must be (RFC 6749 §3.1.2)."));
        return out;
    };
    if u.fragment.is_some() {
        out.push(problem(
            "fragment",
            Weight::Invalid,
            "The used URI has a fragment (#…); a redirect URI must not (RFC 6749 §3.1.2).",
        ));
    }
    if let Some(ui) = &u.userinfo {
        out.push(problem(
            "userinfo",
            Weight::Invalid,
            format!(
                "The used URI carries user information ({ui}@) before its host {}: browsers go to {} whatever comes before @, a classic way to disguise where a link leads. A redirect URI never carries it.",
                u.host, u.host
            ),
        ));
    }
    let scheme = u.scheme.to_ascii_lowercase();
    if UNSAFE_SCHEMES.contains(&scheme.as_str()) {
        out.push(problem(
            "unsafe_scheme",
            Weight::Invalid,
            format!(
                "The scheme {}: runs code or reads local files where the browser lands; it is never a redirect URI.",
                u.scheme
            ),
        ));
        out.sort_by_key(|p| std::cmp::Reverse(p.weight));
        return out;
    }
    if u.authority {
        if !valid_port(u.port.as_deref()) {
            out.push(problem(
                "invalid_port",
                Weight::Invalid,
                format!(
                    "The port {:?} is not a number from 1 to 65535.",
                    u.port.as_deref().unwrap_or_default()
                ),
            ));
        }
        match host_problem(&u.host) {
            Some(p) => out.push(p),
            None => {
                if let Some(p) = host_script(&u.host) {
                    out.push(p);
                }
            }
        }
        if scheme == "http" && u.host.eq_ignore_ascii_case("localhost") {
            out.push(problem(
                "plain_http",
                Weight::Unsafe,
                "Plain http to localhost: the name may resolve elsewhere or be claimed by another program; native apps should use the IP literal 127.0.0.1 (RFC 8252 §8.3).",
            ));
        } else if scheme == "http" && !is_loopback_literal(&u.host) {
            out.push(problem(
                "plain_http",
                Weight::Unsafe,
                "Plain http is allowed only for native apps on a loopback address (RFC 9700 §2.6); a web application must use https.",
            ));
        }
    } else if !["http", "https"].contains(&u.scheme.to_ascii_lowercase().as_str()) {
        if !u.scheme.contains('.') {
            out.push(problem(
                "private_use_scheme",
                Weight::Note,
                format!(
                    "The private-use scheme {} is not a reversed domain name (such as com.example.app); another app on the device may claim it (RFC 8252 §7.1).",
                    u.scheme
                ),
            ));
        }
    } else {
        out.push(problem(
            "not_absolute",
            Weight::Invalid,
            format!("The used URI has no //host after {}:.", u.scheme),
        ));
    }
    if !u.path.is_ascii() || u.query.as_deref().is_some_and(|q| !q.is_ascii()) {
        out.push(problem(
            "invalid_character",
            Weight::Unsafe,
            "The path or query holds characters that are not percent-encoded; browsers encode them, so the string sent differs from the one typed.",
        ));
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.weight));
    out
}

fn worst(problems: &[Problem]) -> Option<Weight> {
    problems.iter().map(|p| p.weight).max()
}

// ---------------------------------------------------------------------------------------------
// Comparison, part by part

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
    /// `match`, `match_loopback_port`, `mismatch`, or `invalid` (the used URI can never be
    /// accepted, whatever is registered).
    pub verdict: &'static str,
    /// The registered URI that matched, or the closest one.
    pub closest: Option<String>,
    /// Part by part, used against the closest registered URI.
    pub parts: Vec<PartDiff>,
    /// What is wrong with the used URI on its own, worst first.
    pub problems: Vec<Problem>,
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

/// Why two hosts differ, in words.
fn host_hint(a: &str, b: &str, v: Verdict) -> String {
    if v == Verdict::DiffersOnlyByCase {
        return "The host differs only in letter case; redirect URIs are compared as exact strings, so register the host as the application sends it.".into();
    }
    if skeleton(a) == skeleton(b) {
        return format!(
            "A look-alike of the registered host: {} is spelled with other characters that resemble {}. Do not register it; find out where the link came from.",
            unicode_host(b),
            unicode_host(a)
        );
    }
    let loop_names = ["localhost", "127.0.0.1", "[::1]"];
    if loop_names.contains(&a) && loop_names.contains(&b) {
        return "localhost, 127.0.0.1 and [::1] are different strings; prefer 127.0.0.1 (RFC 8252 §8.3) and register exactly what the app sends.".into();
    }
    if a.trim_end_matches('.') == b.trim_end_matches('.') {
        return "One host ends with a dot; remove it.".into();
    }
    if a.strip_prefix("www.") == Some(b) || b.strip_prefix("www.") == Some(a) {
        return "One host has www. and the other not; they are different hosts.".into();
    }
    let parent = |h: &str| h.split_once('.').map(|x| x.1.to_owned());
    let ascii = a.is_ascii() && b.is_ascii() && !a.contains("xn--") && !b.contains("xn--");
    if ascii
        && (a.ends_with(&format!(".{b}"))
            || b.ends_with(&format!(".{a}"))
            || (parent(a).is_some_and(|p| p.contains('.')) && parent(a) == parent(b)))
    {
        return "Another subdomain of the same domain (often another environment, such as staging against production).".into();
    }
    "A different host: is the application deployed where you think, or registered for another environment?".into()
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
            _ => Some("A different scheme; for a mobile app's private-use scheme, the letters must match exactly.".into()),
        }
    }));
    out.push(compare(
        "userinfo",
        r.userinfo.clone(),
        u.userinfo.clone(),
        |_, _, _| {
            Some(format!(
                "A redirect URI carries no user information: what comes before @ is not the host, and this URI leads to {}.",
                u.host
            ))
        },
    ));
    out.push(compare(
        "host",
        Some(r.host.clone()),
        Some(u.host.clone()),
        |a, b, v| {
            Some(host_hint(
                a.as_deref().unwrap_or_default(),
                b.as_deref().unwrap_or_default(),
                v,
            ))
        },
    ));
    // Ports: compared as written, but an explicit default port means the same place.
    let (rp, up) = (r.port.clone(), u.port.clone());
    let mut port = compare("port", rp, up, |a, b, _| {
        Some(format!(
            "The application uses port {} but port {} is registered (a dev server on another port?).",
            b.clone().unwrap_or_else(|| "(default)".into()),
            a.clone().unwrap_or_else(|| "(default)".into())
        ))
    });
    if port.verdict != Verdict::Same
        && valid_port(u.port.as_deref())
        && effective_port(r) == effective_port(u)
    {
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

/// Whether the loopback port rule (RFC 8252 §7.3) lets `u` match the registered `r`: both
/// plain http to the same IP literal, valid ports, and every other part identical.
fn loopback_port_match(r: &Parts, u: &Parts) -> bool {
    u.scheme == "http"
        && is_loopback_literal(&u.host)
        && u.authority
        && r.authority
        && u.userinfo.is_none()
        && u.fragment.is_none()
        && u.port.as_deref().is_some_and(explicit_port)
        && r.port.as_deref().is_none_or(explicit_port)
        && r.scheme == u.scheme
        && r.host == u.host
        && r.path == u.path
        && r.query == u.query
        && r.fragment.is_none()
        && r.userinfo.is_none()
}

/// Explains whether `used` matches one of `registered`.
pub fn explain(registered: &[String], used: &str) -> Explanation {
    let u = split(used.trim());
    let mut problems = problems_of(used, u.as_ref());
    // A host that differs from a registered one yet looks the same is a look-alike, in
    // ASCII too (a capital I for an l).
    if let Some(u) = &u
        && u.authority
        && !problems.iter().any(|p| p.code == "look_alike_host")
        && let Some(r) = registered.iter().filter_map(|r| split(r)).find(|r| {
            r.authority
                && !r.host.eq_ignore_ascii_case(&u.host)
                && skeleton(&r.host) == skeleton(&u.host)
        })
    {
        problems.push(problem(
            "look_alike_host",
            Weight::Unsafe,
            format!(
                "The host {} is a look-alike of the registered {}: different characters that look the same. Phishing pages use such hosts; do not register it.",
                unicode_host(&u.host),
                unicode_host(&r.host)
            ),
        ));
        problems.sort_by_key(|p| std::cmp::Reverse(p.weight));
    }
    let weight = worst(&problems);
    let invalid = weight == Some(Weight::Invalid);
    let parsed: Vec<(&String, Option<Parts>)> = registered.iter().map(|r| (r, split(r))).collect();
    // A registered URI is offered as the one to send only when it is itself sound.
    let sound = |r: &str| worst(&problems_of(r, split(r).as_ref())) < Some(Weight::Unsafe);
    if !invalid && let Some(exact) = registered.iter().find(|r| r.as_str() == used) {
        return Explanation {
            verdict: "match",
            closest: Some(exact.clone()),
            parts: Vec::new(),
            advice: if weight == Some(Weight::Unsafe) {
                "The URI is registered exactly as the application sends it, so it matches; but see the problems: the registration itself should be replaced.".into()
            } else {
                "The URI is registered exactly as the application sends it.".into()
            },
            problems,
        };
    }
    if !invalid
        && let Some(u) = &u
        && let Some((r, p)) = parsed
            .iter()
            .find(|(_, p)| p.as_ref().is_some_and(|p| loopback_port_match(p, u)))
    {
        let parts = p.as_ref().map(|p| diff(p, u)).unwrap_or_default();
        return Explanation {
            verdict: "match_loopback_port",
            closest: Some((*r).clone()),
            parts,
            problems,
            advice: "Only the port differs, on a loopback IP address: native apps may use any port there (RFC 8252 §7.3), and the identity platform accepts it. Another provider may not; check its rules.".into(),
        };
    }
    let verdict = if invalid { "invalid" } else { "mismatch" };
    let closest = u.as_ref().and_then(|u| {
        parsed
            .iter()
            .filter_map(|(r, p)| p.as_ref().map(|p| (*r, diff(p, u))))
            .map(|(r, parts)| {
                let same = parts.iter().filter(|d| d.verdict == Verdict::Same).count();
                (same, std::cmp::Reverse(distance(r, used)), r, parts)
            })
            .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
    });
    let why = problems
        .first()
        .filter(|p| p.weight >= Weight::Unsafe)
        .map(|p| p.message.clone());
    let send = |r: &str| {
        if sound(r) {
            format!("change the application to send {r}")
        } else {
            "change the application to send a sound registered URI (the closest one has problems of its own)".to_owned()
        }
    };
    let advice = match (&closest, &why) {
        (Some((_, _, r, _)), Some(why)) => {
            format!("Do not register {used}: {why} Instead, {}.", send(r))
        }
        (Some((_, _, r, _)), None) => format!(
            "The identity platform compares exact strings. Register {used} exactly, or {}.",
            send(r)
        ),
        (None, Some(why)) => format!("Do not register {used}: {why}"),
        (None, None) => format!("No registered URI could be read. Register {used} exactly."),
    };
    let (closest, parts) = match closest {
        Some((_, _, r, parts)) => (Some(r.clone()), parts),
        None => (None, Vec::new()),
    };
    Explanation {
        verdict,
        closest,
        parts,
        problems,
        advice,
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

    fn codes(e: &Explanation) -> Vec<&'static str> {
        e.problems.iter().map(|p| p.code).collect()
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
        assert!(codes(&e).contains(&"plain_http"));
        assert!(e.advice.starts_with("Do not register"), "{}", e.advice);
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
        let e = explain(&r, "https://staging.example.com/callback");
        assert!(
            part(&e, "host")
                .hint
                .as_deref()
                .unwrap_or("")
                .contains("subdomain")
        );
        let e = explain(&r, " https://app.example.com/callback");
        assert!(codes(&e).contains(&"white_space"));
        let e = explain(&r, "https%3A%2F%2Fapp.example.com%2Fcallback");
        assert!(codes(&e).contains(&"double_encoded"));
    }

    #[test]
    fn fragments_and_user_information_never_match() {
        for uri in [
            "https://app.example.com/callback#x",
            "https://app.example.com/callback#",
            "https://evil@app.example.com/callback",
            "https://good.com@evil.example/callback",
        ] {
            let e = explain(&reg(&[uri, "https://app.example.com/callback"]), uri);
            assert_eq!(e.verdict, "invalid", "{uri}: {e:?}");
            assert!(
                !e.advice.contains(&format!("Register {uri}")),
                "{}",
                e.advice
            );
        }
        let e = explain(
            &reg(&["https://good.com/cb"]),
            "https://good.com@evil.example/cb",
        );
        assert!(codes(&e).contains(&"userinfo"));
        assert!(e.problems[0].message.contains("evil.example"), "{e:?}");
        assert!(
            e.advice.contains("send https://good.com/cb"),
            "{}",
            e.advice
        );
    }

    #[test]
    fn ports_and_hosts_are_checked() {
        let r = reg(&["http://127.0.0.1:8400/cb"]);
        for uri in [
            "http://127.0.0.1:8400.evil.com/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:evil/cb",
            "http://127.0.0.1:-1/cb",
            "http://127.0.0.1:0/cb",
            "http://[::1]x/cb",
        ] {
            let e = explain(&r, uri);
            assert_eq!(e.verdict, "invalid", "{uri}: {e:?}");
            assert!(codes(&e).contains(&"invalid_port"), "{uri}: {e:?}");
        }
        for uri in [
            "https://0x7f.1/cb",
            "https://127.1/cb",
            "https://0177.0.0.1/cb",
            "https://256.1.1.1/cb",
            "https://bad_-host-.example/cb",
            "https://ex%61mple.com/cb",
            "https:///cb",
            "https://[::g]/cb",
            "https://xn--zz.example/cb",
        ] {
            let e = explain(&reg(&[uri]), uri);
            assert_eq!(e.verdict, "invalid", "{uri}: {e:?}");
            assert!(codes(&e).contains(&"invalid_host"), "{uri}: {e:?}");
        }
        let e = explain(
            &reg(&["https://a.example/cb"]),
            "https://evil.example\\@a.example/cb",
        );
        assert_eq!(e.verdict, "invalid");
        assert!(codes(&e).contains(&"invalid_character"));
    }

    #[test]
    fn look_alike_hosts_are_named_and_never_advised() {
        let r = reg(&["https://paypal.com/cb"]);
        for uri in [
            "https://pаypal.com/cb",        // Cyrillic а
            "https://xn--pypal-4ve.com/cb", // the same, as punycode
            "https://paypaI.com/cb",        // capital I for l
        ] {
            let e = explain(&r, uri);
            assert_eq!(e.verdict, "mismatch", "{uri}");
            assert!(
                part(&e, "host")
                    .hint
                    .as_deref()
                    .unwrap_or("")
                    .contains("look-alike"),
                "{uri}: {e:?}"
            );
            assert!(
                !e.advice.contains(&format!("Register {uri}")),
                "{}",
                e.advice
            );
        }
        let e = explain(&r, "https://pаypal.com/cb");
        assert!(codes(&e).contains(&"look_alike_host"));
        // A name in one script is an ordinary internationalized host.
        let e = explain(
            &reg(&["https://bücher.example/cb"]),
            "https://bücher.example/cb",
        );
        assert_eq!(e.verdict, "match");
        assert_eq!(codes(&e), ["internationalized_host"]);
    }

    #[test]
    fn the_second_round_of_hostile_uris() {
        let r = reg(&["https://app.example.com/cb", "http://127.0.0.1:5555/cb"]);
        for uri in [
            "https://café.example/cb",
            "https://ａｐｐ.example.com/cb",
            "https://app.example.com。evil.com/cb",
            "http://１２７.0.0.1:5555/cb",
        ] {
            let e = explain(&r, uri);
            assert_ne!(e.verdict, "match", "{uri}");
            let e = explain(&reg(&[uri]), "https://app.example.com/cb");
            assert_eq!(e.verdict, "mismatch", "{uri} registered");
        }
        assert_eq!(
            explain(&r, "http://１２７.0.0.1:5555/cb").verdict,
            "invalid"
        );
        for uri in [
            "javascript:alert(1)",
            "vbscript:msgbox(1)",
            "javascript://app.example.com/%0aalert(1)",
            "data:text/html,hi",
            "https://app.example.com/%zz",
            "http://127.0.0.1:05555/cb",
        ] {
            let e = explain(&reg(&[uri]), uri);
            assert_eq!(e.verdict, "invalid", "{uri}: {e:?}");
            let e = explain(&r, uri);
            assert!(!e.advice.contains("Register"), "{uri}: {}", e.advice);
        }
        let e = explain(&r, "http://127.0.0.1:/cb");
        assert_ne!(e.verdict, "match_loopback_port");
        let e = explain(&r, "http://localhost:5555/cb");
        assert!(codes(&e).contains(&"plain_http"), "{e:?}");
        assert!(e.advice.starts_with("Do not register"), "{}", e.advice);
    }

    #[test]
    fn private_use_schemes_are_valid() {
        let r = reg(&["com.example.app:/oauth2redirect"]);
        let e = explain(&r, "com.example.app:/oauth2redirect");
        assert_eq!(e.verdict, "match", "{e:?}");
        assert!(e.problems.is_empty(), "{e:?}");
        let e = explain(&r, "com.example.app:/oauth2redirect/");
        assert_eq!(e.verdict, "mismatch");
        assert_eq!(part(&e, "path").verdict, Verdict::Differs);
        let e = explain(&reg(&["myapp:/cb"]), "myapp:/cb");
        assert_eq!(e.verdict, "match");
        assert_eq!(codes(&e), ["private_use_scheme"]);
        assert_eq!(explain(&r, "/oauth2redirect").verdict, "invalid");
        assert_eq!(explain(&r, "https:/app.example.com/cb").verdict, "invalid");
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
        assert_eq!(explain(&r, "http://127.0.0.1:65536/cb").verdict, "invalid");
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
        assert_eq!(explain(&r, "not a uri").verdict, "invalid");
    }
}
