//! AttachmentStore: attachments written with a case change, read, and deleted by retention.

use casedesk_core::attachments::NewAttachment;

use super::*;

async fn attachments_are_kept_with_their_change_and_deleted_once(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let number = created(s.as_ref(), &f, "with a file").await;
    let file = NewAttachment {
        id: Uuid::now_v7(),
        file_name: "trace ✓.har".into(),
        content_type: "application/json".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        kind: "har".into(),
        public: true,
        uploaded_by: Some(f.requester.id),
    };
    let case = s.get_case(number).await.unwrap().unwrap();
    let patch = CasePatch {
        attachments: vec![file.clone()],
        ..CasePatch::default()
    };
    s.update_case(
        number,
        case.version,
        &patch,
        &event(f.requester.id, EventKind::AttachmentsAdded, true),
        &a(),
    )
    .await
    .unwrap()
    .unwrap();
    let listed = s.list_attachments(number).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].file_name, "trace ✓.har");
    assert_eq!(listed[0].size, 1234);
    assert_eq!(listed[0].uploaded_by.as_deref(), Some("req@acme.example"));
    let one = s.get_attachment(number, file.id).await.unwrap().unwrap();
    assert_eq!(one.sha256, file.sha256);
    assert_eq!(s.get_attachment(number + 1, file.id).await.unwrap(), None);
    // Only closed cases are retention's business.
    assert!(
        !s.closed_cases_with_attachments(10)
            .await
            .unwrap()
            .iter()
            .any(|(n, _, _)| *n == number)
    );

    let gone = s
        .delete_attachments(
            number,
            &event(f.requester.id, EventKind::AttachmentsDeleted, false),
        )
        .await
        .unwrap();
    assert_eq!(
        gone,
        vec![file.sha256.clone()],
        "no live attachment uses it"
    );
    let after = s.get_attachment(number, file.id).await.unwrap().unwrap();
    assert!(after.deleted_at.is_some());
}
both!(attachments_are_kept_with_their_change_and_deleted_once);
