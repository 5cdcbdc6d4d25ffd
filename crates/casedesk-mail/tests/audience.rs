//! Who hears of which event: the customer side, the assignee, the duty managers; never the
//! person who acted (except the requester's own acknowledgement), never an internal event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_core::cases::*;
use casedesk_mail::mailer::{Parties, audience, csm_audience};
use casedesk_mail::outbound::MailKind;
use serde_json::{Map, json};
use uuid::Uuid;

fn case(assignee: Option<&str>) -> Case {
    Case {
        number: 7,
        account_id: Uuid::nil(),
        tenant_id: Uuid::nil(),
        tenant: "acme-prod".into(),
        requester_id: Uuid::nil(),
        requester: "ops@acme.example".into(),
        assignee_id: assignee.map(|_| Uuid::nil()),
        assignee: assignee.map(str::to_owned),
        queue: "identity".into(),
        status: Status::Open,
        escalated: false,
        fields: CaseFields {
            priority: Priority::P2,
            subject: "Sign-in fails".into(),
            description: "d".into(),
            steps_to_reproduce: None,
            issue_area: "sign-in-and-redirects".into(),
            scope: ImpactScope::SomeUsers,
            business_impact: None,
            contact: Contact {
                email: "ops@acme.example".into(),
                phone: "+1".into(),
                timezone: "UTC".into(),
            },
            stage: Stage::Onboarding,
            identifiers: Map::new(),
            context: Map::new(),
            checklist: Map::new(),
        },
        team_contacts: vec![TeamContact {
            user_id: Uuid::nil(),
            email: "Mate@Acme.example".into(),
        }],
        follow_up_of: None,
        created_at: casedesk_core::now(),
        updated_at: casedesk_core::now(),
        version: 1,
    }
}

fn ev(kind: EventKind, public: bool, actor: &str, data: serde_json::Value) -> CaseEvent {
    CaseEvent {
        id: 3,
        case_number: 7,
        actor: Some(actor.into()),
        kind,
        public,
        data,
        at: casedesk_core::now(),
    }
}

const DUTY: [&str; 1] = ["mia@support.example"];

fn duty() -> Parties {
    Parties {
        duty_managers: DUTY.iter().map(|s| (*s).to_owned()).collect(),
        ..Parties::default()
    }
}

#[test]
fn the_customer_side_hears_of_supports_messages() {
    let c = case(Some("ana@support.example"));
    let a = audience(
        &c,
        &ev(EventKind::Created, true, "ops@acme.example", json!({})),
        false,
        &duty(),
    )
    .unwrap();
    assert_eq!(a.kind, MailKind::Acknowledged);
    assert_eq!(
        a.to,
        ["ops@acme.example", "mate@acme.example"],
        "the requester too"
    );
    let a = audience(
        &c,
        &ev(
            EventKind::Reply,
            true,
            "ana@support.example",
            json!({"body": "hi"}),
        ),
        true,
        &duty(),
    )
    .unwrap();
    assert_eq!((a.kind, a.body.as_deref()), (MailKind::Reply, Some("hi")));
    assert_eq!(a.to, ["ops@acme.example", "mate@acme.example"]);
    for (kind, mail) in [
        (EventKind::InfoRequested, MailKind::InfoRequested),
        (EventKind::ResolutionProposed, MailKind::ResolutionProposed),
    ] {
        let a = audience(
            &c,
            &ev(kind, true, "ana@support.example", json!({"body": "b"})),
            true,
            &duty(),
        )
        .unwrap();
        assert_eq!(a.kind, mail);
        assert!(!a.to.contains(&"ana@support.example".to_owned()));
    }
    // A resume without a message tells nobody; with one it is a reply.
    assert!(
        audience(
            &c,
            &ev(EventKind::Resumed, true, "ana@support.example", json!({})),
            true,
            &duty()
        )
        .is_none()
    );
    assert_eq!(
        audience(
            &c,
            &ev(
                EventKind::Resumed,
                true,
                "ana@support.example",
                json!({"body": "back"})
            ),
            true,
            &duty()
        )
        .unwrap()
        .kind,
        MailKind::Reply
    );
}

#[test]
fn support_hears_of_the_customers_messages_through_the_assignee() {
    let c = case(Some("ana@support.example"));
    let a = audience(
        &c,
        &ev(
            EventKind::Reply,
            true,
            "ops@acme.example",
            json!({"body": "more"}),
        ),
        false,
        &duty(),
    )
    .unwrap();
    assert_eq!(
        a.to,
        ["mate@acme.example", "ana@support.example"],
        "not back to its author"
    );
    let a = audience(
        &c,
        &ev(
            EventKind::Reopened,
            true,
            "mate@acme.example",
            json!({"body": "again"}),
        ),
        false,
        &duty(),
    )
    .unwrap();
    assert_eq!(
        (a.kind, a.to.clone()),
        (
            MailKind::Reopened,
            vec![
                "ops@acme.example".to_owned(),
                "ana@support.example".to_owned()
            ]
        )
    );
    let a = audience(
        &c,
        &ev(
            EventKind::ResolutionConfirmed,
            true,
            "ops@acme.example",
            json!({}),
        ),
        false,
        &duty(),
    )
    .unwrap();
    assert_eq!(
        (a.kind, a.to.clone()),
        (
            MailKind::Closed,
            vec![
                "mate@acme.example".to_owned(),
                "ana@support.example".to_owned()
            ]
        )
    );
    // Unassigned: the customers hear of each other; no agent is mailed.
    let a = audience(
        &case(None),
        &ev(
            EventKind::Reply,
            true,
            "ops@acme.example",
            json!({"body": "x"}),
        ),
        false,
        &duty(),
    )
    .unwrap();
    assert_eq!(a.to, ["mate@acme.example"]);
}

#[test]
fn escalations_go_to_the_duty_managers_and_internal_events_nowhere() {
    let c = case(None);
    let a = audience(
        &c,
        &ev(
            EventKind::Escalated,
            true,
            "ops@acme.example",
            json!({"reason": "urgent"}),
        ),
        false,
        &duty(),
    )
    .unwrap();
    assert_eq!(
        (a.kind, a.to.clone(), a.body.as_deref()),
        (MailKind::Escalated, duty().duty_managers, Some("urgent"))
    );
    for kind in [
        EventKind::Note,
        EventKind::Summary,
        EventKind::Assigned,
        EventKind::SlaWarning,
    ] {
        assert!(
            audience(
                &c,
                &ev(
                    kind,
                    false,
                    "ana@support.example",
                    json!({"body": "secret"})
                ),
                true,
                &duty()
            )
            .is_none(),
            "{kind:?}"
        );
    }
    // A public event of no interest by mail (a contact added) sends nothing either.
    assert!(
        audience(
            &c,
            &ev(EventKind::ContactAdded, true, "ops@acme.example", json!({})),
            false,
            &duty()
        )
        .is_none()
    );
}

#[test]
fn every_message_goes_to_the_case_email_and_the_requester_only_when_asked() {
    let mut c = case(Some("ana@support.example"));
    c.fields.contact.email = "support-desk@acme.example".into();
    let created = ev(EventKind::Created, true, "ops@acme.example", json!({}));
    let a = audience(&c, &created, false, &duty()).unwrap();
    assert_eq!(
        a.to,
        ["support-desk@acme.example", "mate@acme.example"],
        "the case email, not the requester's own address"
    );
    let copy = Parties {
        copy_requester: true,
        ..duty()
    };
    let a = audience(&c, &created, false, &copy).unwrap();
    assert_eq!(
        a.to,
        [
            "support-desk@acme.example",
            "ops@acme.example",
            "mate@acme.example"
        ]
    );
    let reply = ev(
        EventKind::Reply,
        true,
        "ana@support.example",
        json!({"body": "hi"}),
    );
    let a = audience(&c, &reply, true, &duty()).unwrap();
    assert_eq!(a.to, ["support-desk@acme.example", "mate@acme.example"]);
    // The same address twice is one message.
    c.fields.contact.email = "OPS@acme.example".into();
    let a = audience(&c, &created, false, &copy).unwrap();
    assert_eq!(a.to, ["ops@acme.example", "mate@acme.example"]);
}

#[test]
fn the_csm_hears_of_p1_cases_and_escalations_only() {
    let mut c = case(None);
    let with_csm = Parties {
        csm: Some("lea@support.example".into()),
        ..duty()
    };
    let created = ev(EventKind::Created, true, "ops@acme.example", json!({}));
    assert!(
        csm_audience(&c, &created, &with_csm).is_none(),
        "a P2 is not news"
    );
    c.fields.priority = Priority::P1;
    let a = csm_audience(&c, &created, &with_csm).unwrap();
    assert_eq!(
        (a.kind, a.to.clone()),
        (MailKind::CsmAlert, vec!["lea@support.example".to_owned()])
    );
    assert!(a.body.unwrap().contains("P1"));
    assert!(
        csm_audience(&c, &created, &duty()).is_none(),
        "no CSM, nobody"
    );
    c.fields.priority = Priority::P2;
    let raised = ev(
        EventKind::PriorityChanged,
        false,
        "ana@support.example",
        json!({"from": "P2", "to": "P1", "reason": "outage"}),
    );
    assert!(csm_audience(&c, &raised, &with_csm).is_some());
    let esc = ev(
        EventKind::Escalated,
        true,
        "ops@acme.example",
        json!({"reason": "no answer for two days"}),
    );
    let a = csm_audience(&c, &esc, &with_csm).unwrap();
    assert!(a.body.unwrap().contains("no answer for two days"));
    let reply = ev(
        EventKind::Reply,
        true,
        "ops@acme.example",
        json!({"body": "x"}),
    );
    assert!(csm_audience(&c, &reply, &with_csm).is_none());
}
