//! Reading inbound mail, over a corpus of message shapes written for these tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_mail::inbound::{Automatic, Marks, Refusal, read, trim_reply};

fn marks() -> Marks {
    Marks {
        message_id_domain: "casedesk.example".into(),
        tag_prefix: "casedesk".into(),
        max_bytes: 1 << 20,
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
