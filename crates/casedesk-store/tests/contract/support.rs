//! The support center around the case: an account's CSM and mail preference (DirectoryStore),
//! the case contact, support access grants (GrantStore), ratings (SatisfactionStore) and the
//! Trust Center (TrustStore). Grants, contact and ratings are written with their case change.

use casedesk_core::grants::{AccessGrant, EndReason, GrantChange, GrantScope};
use casedesk_core::satisfaction::Rating;
use casedesk_core::trust::{NdaAcceptance, TrustDocument};

use super::*;

fn grant(f: &Fixture, number: i64, hours: i64) -> AccessGrant {
    let now = casedesk_core::now();
    AccessGrant {
        id: Uuid::now_v7(),
        case_number: number,
        account_id: f.account.id,
        tenant: f.tenant.slug.clone(),
        scope: GrantScope::ReadWrite,
        note: "look at the JWKS — ünïcode".into(),
        granted_by: f.requester.email.clone(),
        granted_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(hours),
        ended_at: None,
        ended_by: None,
        end_reason: None,
    }
}

async fn change(
    s: &dyn Store,
    number: i64,
    patch: CasePatch,
    kind: EventKind,
) -> Result<Option<Case>, DomainError> {
    let c = s.get_case(number).await.unwrap().unwrap();
    s.update_case(
        number,
        c.version,
        &patch,
        &event(c.requester_id, kind, true),
        &a(),
    )
    .await
}

async fn account_csm_and_mail_preference(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let ana = user(None, "ana@support.example", Role::Agent);
    s.create_user(&ana, None, &a()).await.unwrap();
    let fresh = s.find_account("Acme").await.unwrap().unwrap();
    assert_eq!(
        (fresh.csm, fresh.copy_requester),
        (None, false),
        "nothing named at first"
    );
    s.set_account_profile(f.account.id, Some(ana.id), true, &a())
        .await
        .unwrap();
    let read = s
        .find_account(&f.account.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.csm.as_deref(), Some("ana@support.example"));
    assert!(read.copy_requester);
    let listed = s.list_accounts().await.unwrap();
    assert_eq!(listed[0].csm.as_deref(), Some("ana@support.example"));
    let managed = s.accounts_of_csm(ana.id).await.unwrap();
    assert_eq!(
        managed.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![f.account.id]
    );
    assert!(s.accounts_of_csm(f.requester.id).await.unwrap().is_empty());
    s.set_account_profile(f.account.id, None, false, &a())
        .await
        .unwrap();
    let read = s.find_account("Acme").await.unwrap().unwrap();
    assert_eq!((read.csm, read.copy_requester), (None, false));
}
both!(account_csm_and_mail_preference);

async fn the_case_contact_changes_with_its_event(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let n = created(s.as_ref(), &f, "contact").await;
    let contact = Contact {
        email: "desk@acme.example".into(),
        phone: "+49 30 1".into(),
        timezone: "Europe/Berlin".into(),
    };
    let patch = CasePatch {
        contact: Some(contact.clone()),
        ..CasePatch::default()
    };
    let c = change(s.as_ref(), n, patch, EventKind::ContactChanged)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.fields.contact, contact);
    let events = s.list_events(n, true).await.unwrap();
    assert_eq!(events.last().unwrap().kind, EventKind::ContactChanged);
}
both!(the_case_contact_changes_with_its_event);

async fn grants_open_end_once_and_list_by_tenant(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let n = created(s.as_ref(), &f, "grants").await;
    let other = created(s.as_ref(), &f, "other").await;
    let g = grant(&f, n, 4);
    let past = AccessGrant {
        expires_at: casedesk_core::now() - jiff::SignedDuration::from_hours(1),
        ..grant(&f, other, 1)
    };
    for (number, gr) in [(n, &g), (other, &past)] {
        let patch = CasePatch {
            grants: vec![GrantChange::Open(gr.clone())],
            ..CasePatch::default()
        };
        change(s.as_ref(), number, patch, EventKind::AccessGranted)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(s.grant(g.id).await.unwrap().unwrap(), g);
    assert_eq!(s.case_grants(n).await.unwrap(), vec![g.clone()]);
    let now = casedesk_core::now();
    let active = s.active_grants(Some("acme-prod"), now, 100).await.unwrap();
    assert_eq!(
        active.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![g.id],
        "an expired grant is not in force"
    );
    assert!(
        s.active_grants(Some("globex-prod"), now, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.active_grants(None, now, 100).await.unwrap().len(), 1);
    let end = |reason| GrantChange::End {
        id: g.id,
        at: casedesk_core::now(),
        by: Some("req@acme.example".into()),
        reason,
    };
    let patch = CasePatch {
        grants: vec![end(EndReason::Revoked)],
        ..CasePatch::default()
    };
    change(s.as_ref(), n, patch, EventKind::AccessRevoked)
        .await
        .unwrap()
        .unwrap();
    let ended = s.grant(g.id).await.unwrap().unwrap();
    assert_eq!(ended.end_reason, Some(EndReason::Revoked));
    assert_eq!(ended.ended_by.as_deref(), Some("req@acme.example"));
    assert!(
        s.active_grants(None, casedesk_core::now(), 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Ending it again writes nothing, its event included.
    let before = s.list_events(n, true).await.unwrap().len();
    let patch = CasePatch {
        grants: vec![end(EndReason::Expired)],
        ..CasePatch::default()
    };
    assert!(matches!(
        change(s.as_ref(), n, patch, EventKind::AccessExpired).await,
        Err(DomainError::Conflict(_))
    ));
    assert_eq!(s.list_events(n, true).await.unwrap().len(), before);
    assert_eq!(
        s.grant(g.id).await.unwrap().unwrap().end_reason,
        Some(EndReason::Revoked)
    );
}
both!(grants_open_end_once_and_list_by_tenant);

async fn a_case_is_rated_once(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let n = created(s.as_ref(), &f, "rated").await;
    assert_eq!(s.rating(n).await.unwrap(), None);
    let r = Rating {
        case_number: n,
        rating: 4,
        comment: Some("quick — ünïcode".into()),
        rated_by: f.requester.email.clone(),
        rated_at: casedesk_core::now(),
    };
    let patch = CasePatch {
        rating: Some(r.clone()),
        ..CasePatch::default()
    };
    change(s.as_ref(), n, patch.clone(), EventKind::SatisfactionRated)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.rating(n).await.unwrap(), Some(r.clone()));
    assert!(matches!(
        change(s.as_ref(), n, patch, EventKind::SatisfactionRated).await,
        Err(DomainError::Conflict(_))
    ));
    let since = casedesk_core::now() - jiff::SignedDuration::from_hours(1);
    let until = casedesk_core::now() + jiff::SignedDuration::from_hours(1);
    let rows = s.rated_cases(since, until, 100).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].rating,
            rows[0].plan.as_str(),
            rows[0].priority.as_str()
        ),
        (4, "gold", "P2")
    );
    assert_eq!(rows[0].assignee, None);
    assert!(
        s.rated_cases(until, until + jiff::SignedDuration::from_hours(1), 100)
            .await
            .unwrap()
            .is_empty()
    );
}
both!(a_case_is_rated_once);

async fn trust_documents_and_nda_acceptances(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let content = b"%PDF-1.4 evidence \x00\xff bytes".to_vec();
    let doc = TrustDocument {
        id: Uuid::now_v7(),
        title: "Penetration test summary — 2026".into(),
        summary: "What was tested".into(),
        requires_nda: true,
        topics: vec!["security-review".into(), "tokens-and-jwks".into()],
        file_name: "pentest.pdf".into(),
        content_type: "application/pdf".into(),
        size: content.len() as u64,
        sha256: "ab".repeat(32),
        published_at: casedesk_core::now(),
        published_by: "mia@support.example".into(),
    };
    s.put_document(&doc, &content, &a()).await.unwrap();
    assert_eq!(s.documents().await.unwrap(), vec![doc.clone()]);
    assert_eq!(s.document_content(doc.id).await.unwrap(), Some(content));
    assert_eq!(s.document_content(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        s.nda_acceptance(f.account.id, "2026-1").await.unwrap(),
        None
    );
    let acc = NdaAcceptance {
        account_id: f.account.id,
        version: "2026-1".into(),
        user_id: f.requester.id,
        name: "Ren Ito".into(),
        title: "CISO".into(),
        accepted_at: casedesk_core::now(),
    };
    assert!(s.accept_nda(&acc, &a()).await.unwrap());
    let second = NdaAcceptance {
        name: "Someone else".into(),
        ..acc.clone()
    };
    assert!(
        !s.accept_nda(&second, &a()).await.unwrap(),
        "the first acceptance stands"
    );
    assert_eq!(
        s.nda_acceptance(f.account.id, "2026-1").await.unwrap(),
        Some(acc)
    );
    assert_eq!(
        s.nda_acceptance(f.account.id, "2027-1").await.unwrap(),
        None,
        "a new version needs a new acceptance"
    );
    assert_eq!(
        s.nda_acceptance(Uuid::now_v7(), "2026-1").await.unwrap(),
        None
    );
}
both!(trust_documents_and_nda_acceptances);
