//! IdentityStore: tokens, passwords, linked identities, sessions and sign-in flows.

use super::*;

async fn identity_records_round_trip(b: Backend) {
    use casedesk_core::identity::TokenRecord;
    use casedesk_core::identity::{LoginFlow, Session};
    use casedesk_core::users::Scope;
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let now = casedesk_core::now();
    let later = |secs: i64| {
        now.checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap()
    };

    // Tokens: list newest first, per user; touch; revoke only one's own.
    let other = user(Some(f.account.id), "other@x.example", Role::Admin);
    s.create_user(&other, None, &a()).await.unwrap();
    let tok = |user_id, hash: &str, label: Option<&str>| TokenRecord {
        id: Uuid::now_v7(),
        user_id,
        hash: hash.into(),
        scopes: vec![Scope::CasesRead, Scope::Tokens],
        label: label.map(str::to_owned),
        created_at: casedesk_core::now(),
        last_used_at: None,
    };
    let mine = tok(f.requester.id, "h1", Some("ci"));
    s.create_token(&mine, &a()).await.unwrap();
    s.create_token(&tok(other.id, "h2", None), &a())
        .await
        .unwrap();
    let listed = s.list_tokens(Some(f.requester.id)).await.unwrap();
    assert_eq!(listed, vec![mine.clone()]);
    assert_eq!(s.list_tokens(None).await.unwrap().len(), 2);
    s.touch_token(mine.id, now).await.unwrap();
    let (u, found) = s.find_token("h1").await.unwrap().unwrap();
    assert_eq!(
        (u.id, found.last_used_at, found.label.as_deref()),
        (f.requester.id, Some(now), Some("ci"))
    );
    assert!(
        !s.revoke_token(mine.id, Some(other.id), &a()).await.unwrap(),
        "not another user's"
    );
    assert!(
        s.revoke_token(mine.id, Some(f.requester.id), &a())
            .await
            .unwrap()
    );
    assert!(s.find_token("h1").await.unwrap().is_none());

    // Roles and local credentials.
    let mut changed = other.clone();
    changed.case_admin = true;
    changed.elevated = true;
    s.update_user_access(&other, &changed, &Default::default(), &a())
        .await
        .unwrap();
    let back = s.get_user(other.id).await.unwrap().unwrap();
    assert!(back.case_admin && back.elevated);
    assert_eq!(s.count_users_with_role(Role::Manager).await.unwrap(), 0);
    s.set_password(other.id, Some("$argon2id$fake"), &a())
        .await
        .unwrap();
    let (_, c) = s
        .local_credentials("other@x.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.password_hash.as_deref(), Some("$argon2id$fake"));
    s.set_password(other.id, None, &a()).await.unwrap();
    let (_, c) = s
        .local_credentials("other@x.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.password_hash, None);

    // Throttle keys count failures, are forgotten at zero and pruned by age.
    assert_eq!(s.throttle("k1").await.unwrap(), None);
    s.set_throttle("k1", 3, now).await.unwrap();
    s.set_throttle("k1", 4, later(1)).await.unwrap();
    s.set_throttle("k2", 1, now).await.unwrap();
    assert_eq!(s.throttle("k1").await.unwrap(), Some((4, later(1))));
    s.set_throttle("k2", 0, now).await.unwrap();
    assert_eq!(s.throttle("k2").await.unwrap(), None);
    assert_eq!(s.prune_throttle(later(2)).await.unwrap(), 1);
    assert_eq!(s.throttle("k1").await.unwrap(), None);

    // Identities: one user per issuer and subject, never rebound by a second link.
    let id = casedesk_core::identity::Identity {
        issuer: "https://idp.example".into(),
        subject: "00u1".into(),
        user_id: other.id,
        issuer_name: "corp".into(),
        created_at: now,
    };
    assert!(s.link_identity(&id, &a()).await.unwrap());
    let stolen = casedesk_core::identity::Identity {
        user_id: f.requester.id,
        ..id.clone()
    };
    assert!(!s.link_identity(&stolen, &a()).await.unwrap());
    assert_eq!(
        s.find_identity("https://idp.example", "00u1")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(other.id)
    );
    assert_eq!(s.identities_of(other.id).await.unwrap(), vec![id.clone()]);
    assert!(s.identities_of(f.requester.id).await.unwrap().is_empty());
    assert!(
        s.unlink_identity("https://idp.example", "00u1", &a())
            .await
            .unwrap()
    );
    assert!(
        !s.unlink_identity("https://idp.example", "00u1", &a())
            .await
            .unwrap()
    );
    assert!(
        s.find_identity("https://idp.example", "00u1")
            .await
            .unwrap()
            .is_none()
    );

    // Sessions end at their expiry; login flows are taken once.
    let session = Session {
        hash: "sess".into(),
        user_id: other.id,
        csrf: "c".into(),
        issuer: Some("idp".into()),
        created_at: now,
        expires_at: later(60),
    };
    s.create_session(&session, &a()).await.unwrap();
    let (su, ss) = s.find_session("sess", now).await.unwrap().unwrap();
    assert_eq!((su.id, ss), (other.id, session.clone()));
    assert!(
        s.find_session("sess", later(61)).await.unwrap().is_none(),
        "expired"
    );
    s.delete_session("sess", &a()).await.unwrap();
    assert!(s.find_session("sess", now).await.unwrap().is_none());
    let flow = LoginFlow {
        state_hash: "st".into(),
        issuer: "idp".into(),
        nonce: "n".into(),
        verifier: "v".into(),
        return_to: "/".into(),
        created_at: now,
    };
    s.create_login_flow(&flow).await.unwrap();
    assert_eq!(s.take_login_flow("st").await.unwrap(), Some(flow));
    assert_eq!(s.take_login_flow("st").await.unwrap(), None);
}
both!(identity_records_round_trip);

/// Deactivation is kept with the user and ends their sessions and tokens in the same write;
/// a deactivated user counts neither as a manager nor against the plan's elevated cap; an
/// invitation is written with its user.
async fn deactivation_and_invitation(b: Backend) {
    use casedesk_core::identity::{Session, TokenRecord};
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let now = casedesk_core::now();
    let elevated = User {
        elevated: true,
        ..user(Some(f.account.id), "el@x.example", Role::Admin)
    };
    s.create_user(&elevated, Some(1), &a()).await.unwrap();
    let token = TokenRecord {
        id: Uuid::now_v7(),
        user_id: elevated.id,
        hash: "el-token".into(),
        scopes: vec![],
        label: None,
        created_at: now,
        last_used_at: None,
    };
    s.create_token(&token, &a()).await.unwrap();
    s.create_session(
        &Session {
            hash: "el-session".into(),
            user_id: elevated.id,
            csrf: "c".into(),
            issuer: None,
            created_at: now,
            expires_at: now + jiff::SignedDuration::from_hours(1),
        },
        &a(),
    )
    .await
    .unwrap();
    let second = User {
        elevated: true,
        ..user(Some(f.account.id), "el2@x.example", Role::Admin)
    };
    assert!(
        s.create_user(&second, Some(1), &a()).await.is_err(),
        "the cap is full"
    );

    let off = User {
        deactivated_at: Some(now),
        ..elevated.clone()
    };
    s.update_user_access(&elevated, &off, &Default::default(), &a())
        .await
        .unwrap();
    assert!(
        matches!(
            s.update_user_access(&elevated, &off, &Default::default(), &a())
                .await,
            Err(DomainError::Conflict(_))
        ),
        "a change from a state the user is no longer in"
    );
    let back = s.get_user(elevated.id).await.unwrap().unwrap();
    assert_eq!(back.deactivated_at, Some(now));
    assert!(!back.active());
    assert!(s.find_token("el-token").await.unwrap().is_none());
    assert!(s.find_session("el-session", now).await.unwrap().is_none());
    assert_eq!(
        s.find_user_by_email("el@x.example")
            .await
            .unwrap()
            .unwrap()
            .deactivated_at,
        Some(now),
        "every read of a user carries it"
    );
    s.create_user(&second, Some(1), &a()).await.unwrap();

    let managers = s.count_users_with_role(Role::Manager).await.unwrap();
    let mgr = user(None, "boss@support.example", Role::Manager);
    s.create_user(&mgr, None, &a()).await.unwrap();
    assert_eq!(
        s.count_users_with_role(Role::Manager).await.unwrap(),
        managers + 1
    );
    let mgr_off = User {
        deactivated_at: Some(now),
        ..mgr.clone()
    };
    s.update_user_access(&mgr, &mgr_off, &Default::default(), &a())
        .await
        .unwrap();
    assert_eq!(
        s.count_users_with_role(Role::Manager).await.unwrap(),
        managers
    );
    s.update_user_access(&mgr_off, &mgr, &Default::default(), &a())
        .await
        .unwrap();
    assert!(s.get_user(mgr.id).await.unwrap().unwrap().active());

    // `keep` is checked inside the change: the last active manager stays, and the account's
    // active elevated contacts stay within the cap.
    let keep_all = casedesk_core::directory::Keep {
        super_admin: true,
        manager: true,
        elevated_cap: Some(1),
    };
    let others = s.support_users().await.unwrap();
    for m in others
        .iter()
        .filter(|m| m.role == Role::Manager && m.id != mgr.id && m.active())
    {
        let off = User {
            deactivated_at: Some(now),
            ..m.clone()
        };
        s.update_user_access(m, &off, &Default::default(), &a())
            .await
            .unwrap();
    }
    assert!(matches!(
        s.update_user_access(&mgr, &mgr_off, &keep_all, &a()).await,
        Err(DomainError::Validation(_))
    ));
    assert!(
        s.get_user(mgr.id).await.unwrap().unwrap().active(),
        "unchanged"
    );
    let second_now = s.get_user(second.id).await.unwrap().unwrap();
    let back_on = User {
        deactivated_at: None,
        ..back.clone()
    };
    assert!(second_now.elevated && second_now.active());
    assert!(
        matches!(
            s.update_user_access(&back, &back_on, &keep_all, &a()).await,
            Err(DomainError::Validation(_))
        ),
        "a second active elevated contact over a cap of one"
    );

    // An invitation is written with its user, or not at all.
    let invited = user(Some(f.account.id), "new@x.example", Role::Admin);
    let mail = casedesk_core::mail::NewMail {
        id: Uuid::now_v7(),
        case_number: None,
        kind: casedesk_core::mail::INVITATION_KIND.into(),
        recipient: invited.email.clone(),
        subject: "Welcome".into(),
        message_id: "<invite.contract@x.example>".into(),
        message: "Subject: Welcome\r\n\r\nhello\r\n".into(),
        created_at: now,
    };
    s.invite_user(&invited, None, &a(), &mail).await.unwrap();
    assert!(s.get_user(invited.id).await.unwrap().is_some());
    assert_eq!(
        s.mail_by_message_id("<invite.contract@x.example>")
            .await
            .unwrap()
            .map(|m| m.recipient),
        Some("new@x.example".to_owned())
    );
    let twice = casedesk_core::mail::NewMail {
        id: Uuid::now_v7(),
        message_id: "<invite.twice@x.example>".into(),
        ..mail.clone()
    };
    assert!(
        s.invite_user(&invited, None, &a(), &twice).await.is_err(),
        "the same email again"
    );
    assert!(
        s.mail_by_message_id("<invite.twice@x.example>")
            .await
            .unwrap()
            .is_none(),
        "no invitation without its user"
    );
}
both!(deactivation_and_invitation);
