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
