//! KbStore: entries with their versions, the generation counter, deflections.

use casedesk_core::kb::search::{Deflection, Question};
use casedesk_core::kb::{EntryKind, EntryState, EntryText, EntryVisibility, StoredEntry};

use super::*;

fn entry(id: &str, title: &str, version: i64) -> StoredEntry {
    StoredEntry {
        entry: EntryText {
            id: id.into(),
            kind: EntryKind::Article,
            title: title.into(),
            summary: "s".into(),
            body: "b — ünïcode".into(),
            url: None,
            issue_areas: vec!["webhooks".into()],
            tags: vec!["t".into()],
            visibility: EntryVisibility::Customers,
            state: EntryState::Published,
        },
        version,
        updated_at: casedesk_core::now(),
        updated_by: "m@support.example".into(),
    }
}

async fn entries_keep_versions_and_move_the_generation(b: Backend) {
    let (s, _db) = store(b).await;
    let g0 = s.kb_generation().await.unwrap();
    s.put_kb_entry(&entry("rotate-keys", "Rotate keys", 1), &a())
        .await
        .unwrap();
    let g1 = s.kb_generation().await.unwrap();
    assert!(g1 > g0, "an edit moves the generation ({g0} → {g1})");
    s.put_kb_entry(&entry("rotate-keys", "Rotate signing keys", 2), &a())
        .await
        .unwrap();
    let now = s.kb_entry("rotate-keys").await.unwrap().unwrap();
    assert_eq!(now.version, 2);
    assert_eq!(now.entry.title, "Rotate signing keys");
    assert_eq!(now.entry.body, "b — ünïcode");
    let versions = s.kb_versions("rotate-keys").await.unwrap();
    let titles: Vec<&str> = versions.iter().map(|v| v.entry.title.as_str()).collect();
    assert!(titles.contains(&"Rotate keys") && titles.contains(&"Rotate signing keys"));
    assert!(
        s.kb_entries()
            .await
            .unwrap()
            .iter()
            .any(|e| e.entry.id == "rotate-keys")
    );
    assert_eq!(s.kb_entry("no-such-entry").await.unwrap(), None);
    assert!(s.kb_generation().await.unwrap() > g1);
}
both!(entries_keep_versions_and_move_the_generation);

async fn deflections_are_counted_by_issue_area(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let at = casedesk_core::now();
    for _ in 0..2 {
        s.record_deflection(&Deflection {
            id: Uuid::now_v7(),
            at,
            account_id: Some(f.account.id),
            user_id: f.requester.id,
            entry_id: "rotate-keys".into(),
            question: Question {
                subject: "keys".into(),
                description: String::new(),
                issue_area: Some("webhooks".into()),
            },
        })
        .await
        .unwrap();
    }
    let since = at.checked_sub(jiff::SignedDuration::from_hours(1)).unwrap();
    let until = at.checked_add(jiff::SignedDuration::from_hours(1)).unwrap();
    let counts = s.deflection_counts(since, until).await.unwrap();
    let webhooks = counts.iter().find(|(area, _, _)| area == "webhooks");
    assert_eq!(webhooks.map(|(_, d, _)| *d), Some(2), "{counts:?}");
    let later = until
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let none = s.deflection_counts(until, later).await.unwrap();
    assert!(none.iter().all(|(_, d, _)| *d == 0), "{none:?}");
}
both!(deflections_are_counted_by_issue_area);

/// Saved replies: written with their audit entry, a new text replaces the old, removed once.
async fn saved_replies_are_written_replaced_and_removed(b: Backend) {
    use casedesk_core::kb::replies::SavedReply;
    let (s, _db) = store(b).await;
    let r = SavedReply {
        id: Uuid::now_v7(),
        title: "Ask for a HAR".into(),
        body: "Please attach a HAR capture.".into(),
        updated_by: "mia@support.example".into(),
        updated_at: casedesk_core::now(),
    };
    s.put_saved_reply(&r, &a()).await.unwrap();
    let mut newer = r.clone();
    newer.body = "Please attach a HAR capture of the failing sign-in.".into();
    s.put_saved_reply(&newer, &a()).await.unwrap();
    assert_eq!(s.saved_replies().await.unwrap(), vec![newer]);
    assert!(s.delete_saved_reply(r.id, &a()).await.unwrap());
    assert!(!s.delete_saved_reply(r.id, &a()).await.unwrap());
    assert!(s.saved_replies().await.unwrap().is_empty());
}
both!(saved_replies_are_written_replaced_and_removed);
