//! The reply corpus (`fixtures/replies/`): replies written the way Gmail, Outlook (desktop,
//! web, new, iOS, Android), Apple Mail, iPhone, Android mail apps, Thunderbird, Yahoo and
//! two ticket tools write them, in English, German, French, Spanish and Japanese, plain,
//! HTML-only and format=flowed. Each must come out as exactly the text its writer typed (its
//! `.expected`, compared with runs of whitespace made one space).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_mail::inbound::{Marks, read};

fn marks() -> Marks {
    Marks {
        message_id_domain: "casedesk.example".into(),
        tag_prefix: "casedesk".into(),
        max_bytes: 1 << 22,
        authserv_id: "mx.casedesk.example".into(),
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_client_s_reply_is_trimmed_to_what_its_writer_typed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replies");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 36, "the corpus is whole: {}", names.len());
    let mut wrong = Vec::new();
    for path in &names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let m = read(&std::fs::read(path).unwrap(), &marks()).unwrap();
        assert_eq!(m.threaded_case(&marks()), Some(1042), "{name} threads");
        assert_eq!(m.automatic, None, "{name} is a person's reply");
        if collapse(&m.reply) != collapse(&expected) {
            wrong.push(format!(
                "{name}\n  kept:     {:?}\n  expected: {:?}",
                collapse(&m.reply),
                collapse(&expected)
            ));
        }
        // format=flowed: each paragraph the writer typed comes back as one line.
        if name.contains("flowed") {
            for para in expected.lines().filter(|l| l.chars().count() > 78) {
                assert!(
                    m.reply.lines().any(|l| l.trim() == para.trim()),
                    "{name}: not unwrapped: {para:?} in {:?}",
                    m.reply
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} trimmed wrongly:\n{}",
        wrong.len(),
        names.len(),
        wrong.join("\n")
    );
}
