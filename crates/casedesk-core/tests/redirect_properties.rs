//! The redirect-URI explainer answers any input without panicking, and an exact string
//! matches unless the URI is one no authorization server accepts (a fragment, a bad port).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_core::diagnostics::redirect::explain;
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_input_gets_an_answer(
        registered in proptest::collection::vec(".{0,60}", 1..5),
        used in ".{0,80}",
    ) {
        let e = explain(&registered, &used);
        prop_assert!(["match", "match_loopback_port", "mismatch", "invalid"].contains(&e.verdict));
    }

    #[test]
    fn uri_like_input_gets_an_answer_and_exact_strings_match(
        scheme in "(https?|com\\.app|HTTP)",
        host in "([a-z]{1,8}\\.)?[a-zA-Z]{1,8}\\.example|127\\.0\\.0\\.1|\\[::1\\]|localhost",
        port in "(:[0-9]{0,5})?",
        path in "(/([a-zA-Z0-9~._-]|%[0-9A-F]{2}){0,6}){0,3}/?",
        query in "(\\?[a-z]=[0-9](&[a-z]=[0-9])?)?",
        fragment in "(#[a-z]{0,3})?",
        other in "https://[a-z]{1,6}\\.example/[a-z]{0,5}",
    ) {
        let uri = format!("{scheme}://{host}{port}{path}{query}{fragment}");
        let e = explain(&[other.clone(), uri.clone()], &uri);
        let digits = port.trim_start_matches(':');
        let port_ok = digits.is_empty()
            || (!digits.starts_with('0') && digits.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n)));
        let acceptable = fragment.is_empty() && port_ok;
        prop_assert_eq!(e.verdict, if acceptable { "match" } else { "invalid" }, "{:?}", e);
        let e = explain(&[other], &uri);
        prop_assert!(e.verdict != "match" || e.closest.as_deref() == Some(uri.as_str()));
    }
}
