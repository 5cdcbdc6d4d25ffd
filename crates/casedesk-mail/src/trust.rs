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
    /// A quoted string or comment was left open.
    unreadable: bool,
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

/// The header's value split into clauses at `;` and each clause into words at white space,
/// never inside a quoted string (whose quotes are removed) and with comments (parenthesised,
/// possibly nested) dropped. A sender controls some quoted values our border copies into the
/// header (the envelope sender, the HELO name, a signature's identity): a `;` or a space inside
/// them must not start a clause or a word of its own.
fn clauses(v: &str) -> Option<Vec<Vec<String>>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    let mut word = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    let end_word = |out: &mut Vec<Vec<String>>, word: &mut String| {
        if !word.is_empty()
            && let Some(last) = out.last_mut()
        {
            last.push(std::mem::take(word));
        }
    };
    for c in v.chars() {
        if escaped {
            if depth == 0 {
                word.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            _ if quoted => word.push(c),
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            ';' => {
                end_word(&mut out, &mut word);
                out.push(Vec::new());
            }
            c if c.is_whitespace() => end_word(&mut out, &mut word),
            c => word.push(c),
        }
    }
    end_word(&mut out, &mut word);
    // A quoted string or comment left open swallows the rest of the header, our border's
    // own verdicts with it: such a header is not read at all.
    (!quoted && depth == 0 && !escaped).then_some(out)
}

fn parse_results(raw: &str) -> Option<Results> {
    let Some(all) = clauses(raw) else {
        // The authserv-id is still known (it comes first), so the header is ours but unread.
        let id = raw
            .split([';', ' ', '\t', '(', '"'])
            .find(|w| !w.trim().is_empty())?;
        return Some(Results {
            authserv_id: id.trim().to_ascii_lowercase(),
            methods: Vec::new(),
            unreadable: true,
        });
    };
    let mut clauses = all.into_iter();
    // `authserv-id [version]`
    let authserv_id = clauses.next()?.into_iter().next()?.to_ascii_lowercase();
    let mut methods = Vec::new();
    for words in clauses {
        let mut words = words.into_iter();
        let Some(first) = words.next() else { continue };
        let Some((name, result)) = first.split_once('=') else {
            continue;
        };
        let name = name.split('/').next().unwrap_or(name).to_ascii_lowercase();
        let result = result.to_ascii_lowercase();
        let props = words
            .filter_map(|w| {
                w.split_once('=')
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_ascii_lowercase()))
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
        unreadable: false,
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

/// Whether a domain that passed (`signer`) speaks for the From address's domain: the same
/// domain, or a subdomain of it (which only the From domain's owner can delegate). A parent
/// domain is not enough: without the public-suffix list `co.uk` would speak for every
/// `….co.uk`.
fn aligned(signer: &str, from: &str) -> bool {
    !signer.is_empty()
        && !from.is_empty()
        && (signer == from || signer.ends_with(&format!(".{from}")))
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
                .is_some_and(|d| aligned(&domain_of(d), &from_domain))
    });
    let dmarcs = r.methods.iter().filter(|m| m.name == "dmarc").count();
    let header_froms = dmarc.map_or(0, |m| {
        m.props.iter().filter(|(k, _)| k == "header.from").count()
    });
    let (trust, reason) = match dmarc.map(|m| m.result.as_str()) {
        _ if r.unreadable => (
            Trust::Failed,
            "our border's header leaves a quoted string or comment open, so it cannot be read"
                .to_owned(),
        ),
        _ if header_froms > 1 => (
            Trust::Failed,
            "our border's DMARC result names more than one header.from".to_owned(),
        ),
        // One border writes one DMARC verdict; more than one means something was copied in.
        _ if dmarcs > 1 => (
            Trust::Failed,
            "our border's header carries more than one DMARC result".to_owned(),
        ),
        // DMARC judges the From domain itself, so its header.from must be exactly it.
        Some("pass") => match dmarc.and_then(|m| m.prop("header.from")).map(domain_of) {
            Some(d) if d == from_domain => (Trust::Verified, "DMARC passed".to_owned()),
            Some(d) => (
                Trust::Failed,
                format!("DMARC passed for {d}, not for the From address's domain {from_domain}"),
            ),
            None => (
                Trust::Unverified,
                "DMARC passed without naming the domain it judged (header.from)".to_owned(),
            ),
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

    /// Values our border copies from the sender (the envelope sender, HELO, a signature's
    /// identity) are quoted: a `;` inside them starts no clause of its own.
    #[test]
    fn a_clause_smuggled_in_a_quoted_value_is_not_a_verdict() {
        for h in [
            "mx; spf=none smtp.mailfrom=\"x;dmarc=pass header.from=acme.example\"@evil.example; dmarc=fail header.from=acme.example",
            "mx; dkim=fail header.i=\"@evil.example;dmarc=pass header.from=acme.example\"; dmarc=fail header.from=acme.example",
            "mx; spf=pass smtp.helo=\"evil;dkim=pass header.d=acme.example\"; dmarc=none",
        ] {
            let v = verdict(h, "acme.example");
            assert_ne!(v.trust, Trust::Verified, "{h}: {v:?}");
        }
        // Unquoted, a second DMARC clause is a sign of the same trick: never a pass.
        let v = verdict(
            "mx; spf=none smtp.mailfrom=x;dmarc=pass header.from=acme.example; dmarc=fail header.from=acme.example",
            "acme.example",
        );
        assert_eq!(v.trust, Trust::Failed);
        // A quote or comment left open would swallow the border's own verdict after it.
        for h in [
            "mx; spf=none smtp.helo=x;dmarc=pass header.from=acme.example;z=\"; dkim=none; dmarc=fail header.from=acme.example",
            "mx; spf=none smtp.helo=x;dkim=pass header.d=acme.example;z=(; dmarc=fail header.from=acme.example",
        ] {
            let v = verdict(h, "acme.example");
            assert_eq!(v.trust, Trust::Failed, "{h}: {v:?}");
        }
        let v = verdict(
            "mx; dmarc=pass header.from=acme.example header.from=evil.example",
            "acme.example",
        );
        assert_eq!(v.trust, Trust::Failed, "two header.from values");
        let r = parse_results("mx; auth=pass smtp.auth=\"a b;c\" (x; y)").unwrap();
        assert_eq!(r.methods.len(), 1);
        assert_eq!(r.methods[0].prop("smtp.auth"), Some("a b;c"));
    }

    #[test]
    fn dmarc_decides_and_must_be_for_the_from_domain() {
        let v = verdict("mx; dmarc=pass header.from=acme.example", "acme.example");
        assert_eq!(v.trust, Trust::Verified);
        let v = verdict("mx; dmarc=pass", "acme.example");
        assert_eq!(v.trust, Trust::Unverified, "a pass that names no domain");
        let v = verdict(
            "mx; dmarc=pass header.from=mail.acme.example",
            "acme.example",
        );
        assert_eq!(
            v.trust,
            Trust::Failed,
            "DMARC is for the From domain exactly"
        );
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
        assert!(
            !aligned("co.uk", "acme.co.uk"),
            "a parent does not speak for its children"
        );
        assert!(aligned("mail.acme.example", "acme.example"));
        let v = verdict("mx; spf=pass smtp.helo=acme.example", "acme.example");
        assert_eq!(
            v.trust,
            Trust::Unverified,
            "the HELO name is not the sender"
        );
        assert!(!aligned("", ""));
    }
}
