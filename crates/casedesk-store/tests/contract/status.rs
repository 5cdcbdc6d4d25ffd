//! StatusStore: incidents with their updates, their links to cases, subscriptions.

use casedesk_core::status::{
    ComponentState, Incident, IncidentState, IncidentUpdate, Subscription,
};

use super::*;

fn update(state: IncidentState, body: &str) -> IncidentUpdate {
    IncidentUpdate {
        id: Uuid::now_v7(),
        at: casedesk_core::now(),
        state,
        impact: ComponentState::Degraded,
        body: body.into(),
    }
}

async fn incidents_updates_links_and_subscriptions(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let number = created(s.as_ref(), &f, "login fails").await;
    let first = update(IncidentState::Investigating, "looking — ünïcode");
    let mut incident = Incident {
        id: Uuid::now_v7(),
        title: "Sign-in errors in eu".into(),
        state: IncidentState::Investigating,
        impact: ComponentState::Degraded,
        regions: vec!["eu".into()],
        components: vec!["login".into()],
        issue_areas: vec!["webhooks".into()],
        started_at: first.at,
        resolved_at: None,
        updates: vec![first.clone()],
    };
    s.create_incident(&incident, &[], &a()).await.unwrap();
    let read = s.get_incident(incident.id).await.unwrap().unwrap();
    assert_eq!(read.title, incident.title);
    assert_eq!(read.updates.len(), 1);
    assert_eq!(read.updates[0].body, "looking — ünïcode");
    assert_eq!(s.list_incidents(true, 10).await.unwrap().len(), 1);

    s.link_incident(incident.id, number, f.requester.id, &a())
        .await
        .unwrap();
    assert_eq!(
        s.case_incident_ids(number).await.unwrap(),
        vec![incident.id]
    );
    assert_eq!(
        s.incident_case_numbers(incident.id).await.unwrap(),
        vec![number]
    );

    let fixed = update(IncidentState::Resolved, "fixed");
    incident.state = IncidentState::Resolved;
    incident.resolved_at = Some(fixed.at);
    assert!(
        s.add_incident_update(&incident, &fixed, &[], &a())
            .await
            .unwrap()
    );
    let read = s.get_incident(incident.id).await.unwrap().unwrap();
    assert_eq!(read.state, IncidentState::Resolved);
    assert_eq!(read.updates.len(), 2);
    assert!(s.list_incidents(true, 10).await.unwrap().is_empty());
    assert_eq!(s.list_incidents(false, 10).await.unwrap().len(), 1);

    assert!(s.unlink_incident(incident.id, number, &a()).await.unwrap());
    assert!(!s.unlink_incident(incident.id, number, &a()).await.unwrap());
    assert!(s.case_incident_ids(number).await.unwrap().is_empty());

    let sub = Subscription {
        id: Uuid::now_v7(),
        user_id: f.requester.id,
        email: f.requester.email.clone(),
        regions: vec!["eu".into()],
        created_at: casedesk_core::now(),
    };
    s.put_subscription(&sub).await.unwrap();
    let mine = s.subscriptions(Some(f.requester.id)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].regions, vec!["eu".to_owned()]);
    assert!(
        s.subscriptions(Some(f.contact.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.delete_subscription(f.requester.id).await.unwrap());
    assert!(!s.delete_subscription(f.requester.id).await.unwrap());
}
both!(incidents_updates_links_and_subscriptions);

/// Subscribers without an account: written with their confirmation in one transaction,
/// one per address, listed only once confirmed, confirmed once, removed.
async fn subscribers_without_an_account(b: Backend) {
    let (s, _db) = store(b).await;
    let now = casedesk_core::now();
    let sub = casedesk_core::status::EmailSubscriber {
        id: Uuid::now_v7(),
        email: "watcher@outside.example".into(),
        regions: vec!["eu".into()],
        confirmed_at: None,
        asked_at: now,
        created_at: now,
    };
    let mail_id = Uuid::now_v7();
    let mail = casedesk_core::mail::NewMail {
        id: mail_id,
        case_number: None,
        kind: "status_confirm".into(),
        recipient: sub.email.clone(),
        subject: "Confirm your service status emails".into(),
        message_id: format!("<status-confirm.{}@casedesk.test>", mail_id.simple()),
        message: "Subject: x\r\n\r\nbody\r\n".into(),
        created_at: now,
    };
    s.put_email_subscriber(&sub, Some(&mail)).await.unwrap();
    let (sent, _) = s
        .get_mail(mail_id)
        .await
        .unwrap()
        .expect("the confirmation is written");
    assert_eq!(sent.recipient, "watcher@outside.example");
    let jobs = s
        .list_jobs(&casedesk_core::jobs::JobQuery {
            kind: Some(casedesk_core::mail::SEND.into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "its sending job with it");
    assert_eq!(
        s.email_subscriber("watcher@outside.example").await.unwrap(),
        Some(sub.clone())
    );
    assert!(
        s.email_subscribers().await.unwrap().is_empty(),
        "not before confirming"
    );
    // The same address under another id is refused, not a second row.
    let mut twin = sub.clone();
    twin.id = Uuid::now_v7();
    assert!(s.put_email_subscriber(&twin, None).await.is_err());
    // Asked again: the regions and the time change, nothing else.
    let mut again = sub.clone();
    again.regions = vec![];
    again.asked_at = now + jiff::SignedDuration::from_hours(25);
    s.put_email_subscriber(&again, None).await.unwrap();
    let read = s.get_email_subscriber(sub.id).await.unwrap().unwrap();
    assert_eq!((read.regions.len(), read.asked_at), (0, again.asked_at));
    assert!(s.confirm_email_subscriber(sub.id, now).await.unwrap());
    assert!(
        !s.confirm_email_subscriber(sub.id, now).await.unwrap(),
        "once"
    );
    let listed = s.email_subscribers().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].confirmed_at, Some(now));
    assert!(s.delete_email_subscriber(sub.id).await.unwrap());
    assert!(!s.delete_email_subscriber(sub.id).await.unwrap());
    assert!(s.email_subscribers().await.unwrap().is_empty());
}
both!(subscribers_without_an_account);
