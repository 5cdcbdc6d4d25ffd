//! Reading inbound mail, over a corpus of message shapes written for these tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_mail::inbound::{Automatic, Marks, Refusal, Trust, read, trim_reply};

fn marks() -> Marks {
    Marks {
        message_id_domain: "casedesk.example".into(),
        tag_prefix: "casedesk".into(),
        max_bytes: 1 << 20,
        authserv_id: "mx.casedesk.example".into(),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_gmail_reply_threads_by_our_message_id_and_loses_its_quote() {
    let m = read(&fixture("gmail_reply.eml"), &marks()).unwrap();
    assert_eq!(m.from.as_deref(), Some("ops@acme.example"));
    assert_eq!(m.threaded_case(&marks()), Some(1042));
    assert_eq!(m.tagged_case, Some(1042));
    assert_eq!(
        m.thread[0], "case-1042.7@casedesk.example",
        "In-Reply-To first"
    );
    assert_eq!(m.automatic, None);
    assert!(m.authentication.verified());
    assert_eq!(
        m.reply,
        "The redirect URI is now fixed in our pipeline, thanks!\n\nOlivia"
    );
    assert!(
        m.text.contains("trailing slash"),
        "the original is kept whole"
    );
}

#[test]
fn an_outlook_reply_in_latin_1_is_decoded_and_its_history_cut() {
    let m = read(&fixture("outlook_reply.eml"), &marks()).unwrap();
    assert_eq!(
        m.from.as_deref(),
        Some("teammate@acme.example"),
        "lower case"
    );
    assert_eq!(m.reply, "Grüße, the error is back since this morning.");
    assert_eq!(m.threaded_case(&marks()), Some(1042));
    assert_eq!(m.authentication.dmarc.as_deref(), Some("fail"));
    assert!(!m.authentication.verified());
}

#[test]
fn a_shift_jis_body_from_apple_mail_is_decoded_and_the_signature_dropped() {
    let m = read(&fixture("apple_shift_jis.eml"), &marks()).unwrap();
    assert_eq!(m.reply, "トークンの更新が失敗します。");
    assert_eq!(m.tagged_case, Some(2001));
    assert_eq!(m.threaded_case(&marks()), None, "no thread headers");
    assert!(!m.authentication.verified(), "no verdict is not verified");
}

#[test]
fn machines_are_recognised_so_nothing_answers_them() {
    let cases = [
        ("out_of_office.eml", Automatic::AutoReply),
        ("bounce.eml", Automatic::DeliveryReport),
        ("loop_own_message.eml", Automatic::OwnMessage),
    ];
    for (f, want) in cases {
        assert_eq!(
            read(&fixture(f), &marks()).unwrap().automatic,
            Some(want),
            "{f}"
        );
    }
    for f in [
        "gmail_reply.eml",
        "forwarded_new_case.eml",
        "outsider_with_inline_image.eml",
    ] {
        assert_eq!(read(&fixture(f), &marks()).unwrap().automatic, None, "{f}");
    }
}

#[test]
fn attachments_and_inline_images_are_listed_with_their_decoded_size() {
    let m = read(&fixture("outsider_with_inline_image.eml"), &marks()).unwrap();
    assert_eq!(m.from.as_deref(), Some("stranger@elsewhere.example"));
    assert_eq!(m.attachments.len(), 2);
    let img = &m.attachments[0];
    assert_eq!(img.name.as_deref(), Some("shot.png"));
    assert_eq!(img.content_type, "image/png");
    assert!(img.inline);
    assert_eq!(img.size, 70, "decoded bytes, not base64 text");
    assert!(!m.attachments[1].inline);
    assert_eq!(m.reply, "Here is a screenshot.");
}

#[test]
fn a_forward_without_thread_is_a_new_message() {
    let m = read(&fixture("forwarded_new_case.eml"), &marks()).unwrap();
    assert_eq!(m.threaded_case(&marks()), None);
    assert_eq!(m.tagged_case, None);
    assert!(
        m.reply.contains("Forwarded message"),
        "a forward keeps what it forwards"
    );
}

#[test]
fn oversized_and_broken_input_is_refused_clearly() {
    let small = Marks {
        max_bytes: 100,
        ..marks()
    };
    assert!(matches!(
        read(&fixture("gmail_reply.eml"), &small),
        Err(Refusal::TooLarge { limit: 100, .. })
    ));
    let e = read(b"\x00\x01\x02 not a message", &marks()).unwrap_err();
    assert!(e.to_string().contains("not an email message"), "{e}");
    // Nothing here may panic, whatever the bytes.
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"Subject: x\r\n\r\n--",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--",
    ] {
        let _ = read(junk, &marks());
    }
}

#[test]
fn trimming_keeps_replies_written_below_nothing() {
    assert_eq!(trim_reply("Thanks!\n-- \nOlivia Park\nAcme"), "Thanks!");
    assert_eq!(
        trim_reply("Fixed.\n\nAm 23.11.2026 um 10:15 schrieb Support:\n> alt"),
        "Fixed."
    );
    assert_eq!(trim_reply("Line one\n> quoted tail\n>"), "Line one");
    assert_eq!(trim_reply("Only text"), "Only text");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Whatever arrives — random bytes, or a real message with bytes flipped — reading it
    /// answers or refuses; it never panics.
    #[test]
    fn no_input_makes_the_reader_panic(
        junk in proptest::collection::vec(proptest::num::u8::ANY, 0..2000),
        flips in proptest::collection::vec((0usize..4000, proptest::num::u8::ANY), 0..40),
    ) {
        let _ = read(&junk, &marks());
        let mut m = fixture("gmail_reply.eml");
        for (at, b) in flips {
            let i = at % m.len();
            m[i] = b;
        }
        let _ = read(&m, &marks());
    }
}

#[test]
fn broken_mime_and_unknown_charsets_keep_what_is_readable() {
    // A charset nobody knows: the bytes still arrive as text (ASCII survives whole).
    let unknown = b"From: ops@acme.example\r\nSubject: Re: [casedesk #1042] x\r\nMessage-ID: <u1@acme.example>\r\n\
Content-Type: text/plain; charset=\"x-unknown-42\"\r\n\r\nThe token endpoint answers invalid_grant.\r\n";
    let m = read(unknown, &marks()).unwrap();
    assert_eq!(m.tagged_case, Some(1042));
    assert!(m.reply.contains("invalid_grant"), "{:?}", m.reply);
    // A multipart message cut off before its closing boundary, with an unterminated
    // base64 part: the readable first part is kept, nothing panics.
    let broken = b"From: ops@acme.example\r\nSubject: Re: [casedesk #1042] y\r\nMessage-ID: <b1@acme.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Logs attached; the failure starts at 10:02 UTC.\r\n--zz\r\nContent-Type: application/octet-stream; name=\"log.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAEC%%%not-base64";
    let m = read(broken, &marks()).unwrap();
    assert!(m.reply.contains("failure starts at 10:02"), "{:?}", m.reply);
}

fn forged(headers: &str) -> Vec<u8> {
    format!(
        "{headers}From: Olivia Ops <ops@acme.example>\r\nTo: support@casedesk.example\r\n\
Subject: Re: [casedesk #1042] Sign-in fails\r\nMessage-ID: <f1@elsewhere.example>\r\n\
In-Reply-To: <case-1042.7@casedesk.example>\r\n\r\nPlease send the case files to me at evil@elsewhere.example.\r\n"
    )
    .into_bytes()
}

#[test]
fn only_our_border_s_topmost_verdict_counts() {
    // Our border's verdict is on top; the sender wrote a "pass" of their own lower down.
    let m = read(
        &forged(
            "Authentication-Results: mx.casedesk.example; spf=fail smtp.mailfrom=elsewhere.example; dkim=none; dmarc=fail header.from=acme.example\r\n\
Authentication-Results: mx.casedesk.example; spf=pass; dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example\r\n",
        ),
        &marks(),
    )
    .unwrap();
    assert_eq!(
        m.authentication.trust,
        Trust::Failed,
        "{:?}",
        m.authentication
    );
    assert_eq!(m.authentication.dmarc.as_deref(), Some("fail"));

    // A verdict under another server's name is not ours, whatever it says.
    let m = read(
        &forged(
            "Authentication-Results: mx.elsewhere.example; dmarc=pass header.from=acme.example\r\n",
        ),
        &marks(),
    )
    .unwrap();
    assert_eq!(m.authentication.trust, Trust::Unverified);
    assert!(!m.authentication.verified());

    // A pass for another domain than the From address's is not a pass for the sender.
    let m = read(
        &forged("Authentication-Results: mx.casedesk.example; spf=pass smtp.mailfrom=elsewhere.example; dkim=pass header.d=elsewhere.example; dmarc=none\r\n"),
        &marks(),
    )
    .unwrap();
    assert_eq!(
        m.authentication.trust,
        Trust::Unverified,
        "{}",
        m.authentication.reason
    );

    // Without an authserv-id nothing is believed: the verdict is "unchecked".
    let open = Marks {
        authserv_id: String::new(),
        ..marks()
    };
    let m = read(
        &forged(
            "Authentication-Results: mx.casedesk.example; dmarc=pass header.from=acme.example\r\n",
        ),
        &open,
    )
    .unwrap();
    assert_eq!(m.authentication.trust, Trust::Unchecked);
    assert!(!m.authentication.verified());
}

#[test]
fn a_delivery_report_names_the_message_it_bounces() {
    let raw = b"From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\n\
To: support@casedesk.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <dsn-9@mx.acme.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\n\
Final-Recipient: rfc822; gone@acme.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <gone@acme.example>: mailbox unknown\r\n\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@casedesk.example\r\n\
References: <case-1042@casedesk.example>\r\n\
Message-ID: <case-1042.0190aa0b7c3d7e4f8a9b0c1d2e3f4a5b@casedesk.example>\r\n\
Subject: [casedesk #1042] Sign-in fails\r\n\r\n--b--\r\n";
    let m = read(raw, &marks()).unwrap();
    assert_eq!(m.automatic, Some(Automatic::DeliveryReport));
    let b = m.bounce.expect("a bounce");
    assert_eq!(
        b.original, "<case-1042.0190aa0b7c3d7e4f8a9b0c1d2e3f4a5b@casedesk.example>",
        "the message's own id, not the case's root id in References"
    );
    assert!(b.failed());
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(b.recipient.as_deref(), Some("gone@acme.example"));
    assert!(b.reason().contains("mailbox unknown"), "{}", b.reason());
    // A report that names nothing of ours ties to nothing.
    assert_eq!(read(&fixture("bounce.eml"), &marks()).unwrap().bounce, None);
}

#[test]
fn acknowledgements_of_ticket_tools_look_machine_written_and_people_do_not() {
    let ack = |from: &str, subject: &str, body: &str| {
        let raw = format!(
            "From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{}@x.example>\r\n\r\n{body}\r\n",
            subject.len()
        );
        read(raw.as_bytes(), &marks()).unwrap()
    };
    for (from, subject, body) in [
        (
            "it-desk@acme.example",
            "[Ticket #48213] Re: [casedesk #1042] x",
            "Thank you. We have received your request and a ticket has been created.\nTicket: 48213",
        ),
        (
            "servicedesk@globex.example",
            "Request REQ0012 logged",
            "This is an automated message: your request has been logged with reference REQ0012.",
        ),
        (
            "noreply@initech.example",
            "Re: [casedesk #1042] x",
            "Update on your item.",
        ),
        (
            "No.Reply+abc@initech.example",
            "Re: x",
            "Update on your item.",
        ),
        (
            "bounces-123@lists.initech.example",
            "Re: x",
            "Update on your item.",
        ),
        (
            "helpdesk@acme.example",
            "Ihre Anfrage",
            "Wir haben Ihre Anfrage erhalten. Bitte antworten Sie nicht auf diese E-Mail.",
        ),
        (
            "support@acme.example",
            "Re: x",
            "Nous avons bien reçu votre message. Message automatique.",
        ),
    ] {
        assert!(
            ack(from, subject, body).machine_like().is_some(),
            "{from}: {body}"
        );
    }
    let person = ack(
        "ops@acme.example",
        "Re: [casedesk #1042] Sign-in fails",
        "We received your suggestion and tried it; the ticket in our tool is closed now.",
    );
    assert_eq!(person.machine_like(), None);
}

#[test]
fn a_tagged_address_is_its_mailbox() {
    use casedesk_mail::inbound::mailbox_of;
    assert_eq!(
        mailbox_of("HelpDesk+1@Vendor.example"),
        "helpdesk@vendor.example"
    );
    assert_eq!(mailbox_of("ops@acme.example"), "ops@acme.example");
}
