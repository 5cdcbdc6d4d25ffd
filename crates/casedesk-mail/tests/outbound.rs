//! Outbound mail: every template renders, threading headers bring replies back to their case,
//! our own messages are recognised if they come back, and the outbox holds readable files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_mail::inbound::{Automatic, Marks, read};
use casedesk_mail::outbound::{
    Facts, MailKind, Thread, compose, compose_notice, render, write_outbox,
};

const ALL: [MailKind; 11] = [
    MailKind::Acknowledged,
    MailKind::Reply,
    MailKind::InfoRequested,
    MailKind::ResolutionProposed,
    MailKind::Closed,
    MailKind::Reopened,
    MailKind::Escalated,
    MailKind::SlaWarning,
    MailKind::SlaBreached,
    MailKind::InfoProvided,
    MailKind::IncidentUpdate,
];

fn facts() -> Facts {
    Facts {
        case: 1042,
        subject: "Sign-in fails after redirect".into(),
        body: Some("Check the <trailing> slash & retry.".into()),
        actor: Some("Ana (support)".into()),
        link: "https://support.example/cases/1042".into(),
        sla: Some("First response (due 15:30 Berlin)".into()),
    }
}

fn marks() -> Marks {
    Marks {
        message_id_domain: "casedesk.example".into(),
        tag_prefix: "casedesk".into(),
        max_bytes: 1 << 20,
        authserv_id: String::new(),
    }
}

fn thread() -> Thread {
    Thread {
        domain: "casedesk.example".into(),
        case: 1042,
        part: "7".into(),
    }
}

#[test]
fn every_event_renders_tagged_plain_and_escaped_html() {
    for kind in ALL {
        let r = render(kind, &facts(), "casedesk");
        assert!(
            r.subject.starts_with("[casedesk #1042] "),
            "{kind:?}: {}",
            r.subject
        );
        assert!(
            r.text.contains("https://support.example/cases/1042"),
            "{kind:?}"
        );
        assert!(
            r.html.contains("&lt;trailing&gt; slash &amp; retry"),
            "{kind:?}"
        );
        assert!(
            !r.html.contains("<trailing>"),
            "{kind:?}: body text is escaped"
        );
    }
    // One subject for every message of the case, so clients that group by subject keep
    // the case in one conversation; what happened is the first line of the message.
    let subjects: std::collections::BTreeSet<String> = ALL
        .iter()
        .map(|k| render(*k, &facts(), "casedesk").subject)
        .collect();
    assert_eq!(
        subjects.into_iter().collect::<Vec<_>>(),
        vec!["[casedesk #1042] Sign-in fails after redirect".to_owned()]
    );
    let answered = render(MailKind::InfoProvided, &facts(), "casedesk");
    assert!(
        answered.text.starts_with("The customer answered"),
        "{}",
        answered.text
    );
    assert!(!answered.text.contains("reopened"));
    let ack = render(MailKind::Acknowledged, &facts(), "casedesk");
    assert!(ack.text.contains("number 1042"));
    let proposed = render(MailKind::ResolutionProposed, &facts(), "casedesk");
    assert!(proposed.text.contains("confirm the resolution") && proposed.text.contains("reopens"));
}

#[test]
fn a_reply_to_our_message_threads_back_and_our_message_is_never_answered() {
    let r = render(MailKind::Reply, &facts(), "casedesk");
    let m = compose(
        &r,
        "casedesk <support@casedesk.example>",
        &["ops@acme.example".into(), "teammate@acme.example".into()],
        &thread(),
        "reply",
    )
    .unwrap();
    let raw = m.formatted();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("Message-ID: <case-1042.7@casedesk.example>"),
        "{text}"
    );
    assert!(text.contains("In-Reply-To: <case-1042@casedesk.example>"));
    assert!(text.contains("References: <case-1042@casedesk.example>"));
    assert!(text.contains("Auto-Submitted: auto-generated"));
    assert!(text.contains("ops@acme.example") && text.contains("teammate@acme.example"));

    // Our own message coming back is recognised, so nothing answers it.
    let back = read(&raw, &marks()).unwrap();
    assert_eq!(back.automatic, Some(Automatic::OwnMessage));
    assert_eq!(back.tagged_case, Some(1042));

    // A customer's reply names our message, and so threads onto the case.
    let reply = format!(
        "From: ops@acme.example\r\nSubject: Re: {}\r\nMessage-ID: <r1@acme.example>\r\nIn-Reply-To: <case-1042.7@casedesk.example>\r\n\r\nThanks, fixed.\r\n",
        r.subject
    );
    let m = read(reply.as_bytes(), &marks()).unwrap();
    assert_eq!(m.threaded_case(&marks()), Some(1042));
    assert_eq!(m.automatic, None);
    assert_eq!(m.reply, "Thanks, fixed.");
}

#[test]
fn bad_addresses_are_named_and_the_outbox_holds_whole_files() {
    let r = render(MailKind::Acknowledged, &facts(), "casedesk");
    let e = compose(
        &r,
        "support@casedesk.example",
        &["not an address".into()],
        &thread(),
        "reply",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("to:"), "{e}");
    assert!(compose(&r, "support@casedesk.example", &[], &thread(), "reply").is_err());

    let dir = tempfile::tempdir().unwrap();
    let m = compose(
        &r,
        "support@casedesk.example",
        &["ops@acme.example".into()],
        &thread(),
        "reply",
    )
    .unwrap();
    let path = write_outbox(
        &dir.path().join("outbox"),
        "case-1042-7.eml",
        &m.formatted(),
    )
    .unwrap();
    assert_eq!(path.file_name().unwrap(), "case-1042-7.eml");
    let names: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    let back = read(&std::fs::read(&path).unwrap(), &marks()).unwrap();
    assert_eq!(back.subject, r.subject);
    assert!(back.text.contains("number 1042"));
    // A second message into the folder that now exists; the same name again replaces it.
    let other = write_outbox(&dir.path().join("outbox"), "case-1042-8.eml", b"second").unwrap();
    write_outbox(&dir.path().join("outbox"), "case-1042-8.eml", b"again").unwrap();
    assert_eq!(std::fs::read(&other).unwrap(), b"again");
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn notices_and_case_messages_are_mime_with_a_charset_and_name_their_kind() {
    let n = compose_notice(
        "casedesk <support@casedesk.example>",
        "ops@acme.example",
        "Wie Sie einen Fall eröffnen",
        "Grüße aus Zürich — 東京 ✓\n",
        "<notice.1@casedesk.example>",
        Some("<x@acme.example>"),
    )
    .unwrap();
    let text = String::from_utf8_lossy(&n.formatted()).into_owned();
    assert!(text.contains("MIME-Version: 1.0"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/plain; charset=utf-8"),
        "{text}"
    );
    // It reads back as written.
    let back = read(&n.formatted(), &marks()).unwrap();
    assert_eq!(back.text.trim(), "Grüße aus Zürich — 東京 ✓");
    assert_eq!(back.subject, "Wie Sie einen Fall eröffnen");

    let r = render(MailKind::Acknowledged, &facts(), "casedesk");
    let m = compose(
        &r,
        "support@casedesk.example",
        &["ops@acme.example".into()],
        &thread(),
        "acknowledged",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&m.formatted()).into_owned();
    assert!(text.contains("X-Casedesk-Kind: acknowledged"), "{text}");
    assert!(text.contains("MIME-Version: 1.0"));
    assert!(text.to_ascii_lowercase().contains("charset=utf-8"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Every address casedesk accepts (a case email, a user's) can be written to: a message
    /// to it composes. Addresses the composer refused used to pass the intake, and their
    /// case got no acknowledgement at all.
    #[test]
    fn every_accepted_address_can_be_mailed(
        local in r#"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~(),;:<>\[\]\\" -]{0,12}|[a-zé.ö]{1,8}"#,
        domain in r"[a-z0-9.-]{0,14}|[a-z]{1,6}\.[a-z]{2,4}",
    ) {
        let raw = format!("{local}@{domain}");
        if let Ok(address) = casedesk_core::users::normalize_email(&raw) {
            let r = render(MailKind::Acknowledged, &facts(), "casedesk");
            let composed = compose(&r, "support@casedesk.example", std::slice::from_ref(&address), &thread(), "acknowledged");
            proptest::prop_assert!(composed.is_ok(), "{address} was accepted but cannot be mailed: {:?}", composed.err());
        }
    }
}
