//! The email channel end to end: messages out through a real SMTP server (aiosmtpd) and
//! to the outbox, replies in through the mail gate, threaded onto their case or refused.

use casedesk_core::users::{Role, Scope};
use casedesk_testkit::smtp::{Accepted, SmtpSink};
use casedesk_testkit::{
    Backend, Options, TestApp, World, acme_case, both, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../casedesk-mail/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    // The fixtures are ASCII on the wire (their bodies are encoded), so text edits are safe.
    String::from_utf8(std::fs::read(&path).unwrap()).unwrap()
}

/// A fixture aimed at case `n` of this server (the corpus is written for case 1042 and the
/// domain casedesk.example), with its own Message-ID so each test run is a new message.
fn aimed(name: &str, n: i64, message_id: &str) -> String {
    let mut s = fixture(name)
        .replace("1042", &n.to_string())
        .replace("2001", &n.to_string())
        .replace("casedesk.example", "casedesk.test");
    if let Some(start) = s.find("Message-ID:") {
        let end = start
            + s[start..]
                .find("\r\n")
                .or_else(|| s[start..].find('\n'))
                .unwrap();
        s.replace_range(start..end, &format!("Message-ID: <{message_id}>"));
    }
    s
}

/// A message's subject and decoded plain text (bodies travel encoded).
fn decoded(raw: &str) -> String {
    let marks = casedesk_mail::inbound::Marks {
        message_id_domain: "casedesk.test".into(),
        tag_prefix: "casedesk".into(),
        max_bytes: 10_000_000,
        authserv_id: String::new(),
    };
    let m = casedesk_mail::inbound::read(raw.as_bytes(), &marks).unwrap();
    format!("{}\n{}", m.subject, m.text)
}

async fn events(app: &TestApp, token: &str, n: i64) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/cases/{n}/events"), token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

fn to(m: &Accepted) -> String {
    m.rcpt_tos.join(",")
}

/// The messages of case `n` of one kind (`X-Casedesk-Kind`).
fn case_messages(all: &[Accepted], n: i64, kind: &str) -> Vec<Accepted> {
    all.iter()
        .filter(|m| {
            let d = decoded(&m.data);
            let s = d.lines().next().unwrap_or("");
            s.starts_with(&format!("[casedesk #{n}] "))
                && m.header("X-Casedesk-Kind").as_deref() == Some(kind)
        })
        .cloned()
        .collect()
}

/// `raw` as our border hands it on: its verdict on top, `dmarc=pass` for the From address's
/// domain (the tests' server trusts the authserv-id `mx.casedesk.test`).
fn bordered(raw: &str) -> String {
    let from = raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("from:"))
        .unwrap_or("");
    let domain = from
        .rsplit('@')
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('>')
        .to_owned();
    format!(
        "Authentication-Results: mx.casedesk.test; spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}\r\n{raw}"
    )
}

async fn with_contact(app: &TestApp, w: &World, subject: &str) -> i64 {
    let mut body = acme_case(subject);
    body["team_contacts"] = json!(["teammate@acme.example"]);
    app.open_case(&w.ops, body).await
}

async fn outbound_goes_through_smtp_threaded_and_never_carries_a_note(b: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(
        b,
        Options {
            mail: sink.mail_config(),
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = with_contact(&app, &w, "Tokens rejected after key rotation").await;

    // Acknowledged within seconds, to the requester and the team contact, one message each.
    let all = sink
        .wait_for("the acknowledgements", |a| {
            case_messages(a, n, "acknowledged").len() == 2
        })
        .await;
    let acks = case_messages(&all, n, "acknowledged");
    let mut rcpts: Vec<String> = acks.iter().map(to).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["ops@acme.example", "teammate@acme.example"]);
    for m in &acks {
        assert_eq!(m.mail_from, "support@casedesk.test");
        let id = m.header("Message-ID").unwrap();
        assert!(
            id.starts_with(&format!("<case-{n}.")) && id.ends_with("@casedesk.test>"),
            "{id}"
        );
        let root = format!("<case-{n}@casedesk.test>");
        assert_eq!(m.header("In-Reply-To").as_deref(), Some(root.as_str()));
        assert_eq!(m.header("References").as_deref(), Some(root.as_str()));
        assert_eq!(
            m.header("Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        assert!(
            decoded(&m.data).contains(&format!("number {n}")),
            "the number is in it"
        );
        assert!(m.data.contains("text/html") && m.data.contains("text/plain"));
    }
    assert_ne!(
        acks[0].header("Message-ID"),
        acks[1].header("Message-ID"),
        "each message has its own id"
    );

    // An internal note sends nothing; the public reply that follows goes to the customers.
    let secret = "INTERNAL-ONLY-7f3a: the customer's key is pinned";
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/notes"),
            &w.agent,
            json!({"body": secret}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    app.post(
        &format!("/api/v1/cases/{n}/replies"),
        &w.agent,
        json!({"body": "Please fetch the JWKS again; the key rotated at 09:00 UTC."}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{n}/request-info"),
        &w.agent,
        json!({"body": "Which kid does the failing token carry?"}),
    )
    .await;
    let all = sink
        .wait_for("the reply and the question", |a| {
            case_messages(a, n, "reply").len() == 2
                && case_messages(a, n, "info_requested").len() == 2
        })
        .await;
    for m in case_messages(&all, n, "reply") {
        assert!(
            decoded(&m.data).contains("fetch the JWKS again"),
            "{}",
            m.data
        );
        assert!(["ops@acme.example", "teammate@acme.example"].contains(&to(&m).as_str()));
    }
    // The customer answers through the API: the assignee would hear of it; with nobody
    // assigned, the other customer (not the author) does.
    app.post(
        &format!("/api/v1/cases/{n}/replies"),
        &w.ops,
        json!({"body": "It carries kid 2026-11."}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{n}/escalate"),
        &w.ops,
        json!({"reason": "Production sign-ins fail for every user."}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{n}/propose-resolution"),
        &w.agent,
        json!({"body": "Your verifier now reads the JWKS by kid; fixed."}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{n}/confirm-resolution"),
        &w.ops,
        json!({}),
    )
    .await;
    let all = sink
        .wait_for("the rest of the lifecycle", |a| {
            case_messages(a, n, "resolution_proposed").len() == 2
                && case_messages(a, n, "closed").len() == 1
                && case_messages(a, n, "escalated").len() == 1
                && case_messages(a, n, "info_provided").len() == 1
        })
        .await;
    // The customer's answer to the question took the case out of pending: told as the
    // answer it is (not as a reopening), to the other customer, not back to its author.
    let customer_reply = case_messages(&all, n, "info_provided");
    assert!(decoded(&customer_reply[0].data).contains("kid 2026-11"));
    assert_eq!(to(&customer_reply[0]), "teammate@acme.example");
    assert!(
        decoded(&customer_reply[0].data).contains("The customer answered your question"),
        "{}",
        customer_reply[0].data
    );
    // Every message of the case carries the one subject, so clients group them together.
    for m in sink
        .accepted()
        .iter()
        .filter(|m| m.header("X-Casedesk-Case").as_deref() == Some(&n.to_string()))
    {
        assert_eq!(
            decoded(&m.data).lines().next().unwrap(),
            format!("[casedesk #{n}] Tokens rejected after key rotation")
        );
    }
    let escalation = &case_messages(&all, n, "escalated")[0];
    assert_eq!(to(escalation), "mia@support.example", "to the duty manager");
    assert!(decoded(&escalation.data).contains("Production sign-ins fail"));
    let proposed = decoded(&case_messages(&all, n, "resolution_proposed")[0].data);
    assert!(proposed.contains("confirm the resolution") && proposed.contains("reopens"));
    // Closing was the requester's own act: the team contact hears of it.
    assert_eq!(
        to(&case_messages(&all, n, "closed")[0]),
        "teammate@acme.example"
    );

    // No message ever carried the internal note.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for m in sink.accepted() {
        let text = decoded(&m.data);
        assert!(
            !text.contains("INTERNAL-ONLY-7f3a") && !m.data.contains("INTERNAL-ONLY"),
            "a note leaked: {text}"
        );
        assert!(!text.contains("is pinned"), "a note leaked: {text}");
    }

    // Every send is on the case's mail log: to whom, when, the result.
    let log = app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
    assert_eq!(log.status, 200, "{}", log.json);
    let sent = log.json["sent"].as_array().unwrap();
    assert_eq!(
        sent.len(),
        sink.accepted()
            .iter()
            .filter(|m| m.data.contains(&format!("#{n}]")))
            .count()
    );
    assert!(
        sent.iter()
            .all(|m| m["state"] == "sent" && m["sent_at"].is_string()),
        "{log:?}"
    );
    assert!(
        sent.iter()
            .all(|m| m["detail"].as_str().unwrap().starts_with("relay 250"))
    );
    assert!(
        sent.iter()
            .any(|m| m["kind"] == "acknowledged" && m["recipient"] == "teammate@acme.example")
    );
    // The mail log is for support staff: the customer is told so, an agent of another queue
    // and another account see no case at all.
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/mail"), &w.ops)
            .await
            .status,
        403
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/mail"), &w.other_agent)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/mail"), &w.globex)
            .await
            .status,
        404
    );
}
both!(outbound_goes_through_smtp_threaded_and_never_carries_a_note);

/// A new case's acknowledgement is written with the case: with no webhook endpoint nothing
/// else is queued, and with one the event is still delivered to it, while the
/// acknowledgement is written once, not a second time by the event's dispatch.
async fn a_new_case_is_acknowledged_once_whether_or_not_an_endpoint_listens(b: Backend) {
    use casedesk_testkit::hooks::{Behaviour, Receiver};
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(
        b,
        Options {
            mail: sink.mail_config(),
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let quiet = with_contact(&app, &w, "Acknowledged without an endpoint").await;
    sink.wait_for("the first acknowledgements", |a| {
        case_messages(a, quiet, "acknowledged").len() == 2
    })
    .await;

    let rx = Receiver::start(0).await;
    let made = app
        .post(
            "/api/v1/webhooks",
            &w.super_admin,
            json!({"url": rx.url("/acme"), "event_types": ["case.created"], "description": "acks"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.json);
    let secret = made.json["secret"].as_str().unwrap().to_owned();
    rx.configure(
        "/acme",
        &Behaviour {
            secrets: vec![secret],
            ..Default::default()
        },
    )
    .await;
    let heard = with_contact(&app, &w, "Acknowledged with an endpoint").await;
    // The endpoint hears of the case: its event was dispatched (and, had the dispatch
    // written the acknowledgement again, that was committed with it).
    rx.wait_for(20, "case.created", |log| {
        log.iter()
            .any(|r| r.body["type"] == "case.created" && r.body["data"]["case"]["number"] == heard)
    })
    .await;
    for n in [quiet, heard] {
        let log = app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
        assert_eq!(log.status, 200, "{}", log.json);
        let acks: Vec<String> = log.json["sent"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "acknowledged")
            .map(|m| m["recipient"].as_str().unwrap().to_owned())
            .collect();
        let mut sorted = acks.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["ops@acme.example", "teammate@acme.example"],
            "case {n}: one acknowledgement each"
        );
    }
    let all = sink
        .wait_for("the second acknowledgements", |a| {
            case_messages(a, heard, "acknowledged").len() >= 2
        })
        .await;
    assert_eq!(case_messages(&all, heard, "acknowledged").len(), 2);
}
both!(a_new_case_is_acknowledged_once_whether_or_not_an_endpoint_listens);

async fn a_refused_recipient_fails_alone_and_a_deferred_one_is_retried(b: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(
        b,
        Options {
            mail: sink.mail_config(),
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    for email in ["refuse-me@acme.example", "later-me@acme.example"] {
        app.user_with_token(Some("Acme"), email, Role::Admin, true, false, &[])
            .await;
    }
    let mut body = acme_case("Two odd mailboxes");
    body["team_contacts"] = json!(["refuse-me@acme.example", "later-me@acme.example"]);
    let n = app.open_case(&w.ops, body).await;
    sink.wait_for("the requester's acknowledgement", |a| {
        a.iter().any(|m| to(m) == "ops@acme.example")
    })
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let states = loop {
        let log = app
            .get(&format!("/api/v1/cases/{n}/mail"), &w.manager)
            .await;
        let states: Vec<(String, String, u64, String)> = log.json["sent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["recipient"].as_str().unwrap().to_owned(),
                    m["state"].as_str().unwrap().to_owned(),
                    m["attempts"].as_u64().unwrap(),
                    m["last_error"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let later_retried = states
            .iter()
            .any(|s| s.0.starts_with("later") && s.1 == "retrying" && s.2 >= 2);
        let refused_failed = states
            .iter()
            .any(|s| s.0.starts_with("refuse") && s.1 == "failed");
        if (later_retried && refused_failed) || tokio::time::Instant::now() > deadline {
            break states;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let of = |who: &str| {
        states
            .iter()
            .find(|s| s.0.starts_with(who))
            .unwrap()
            .clone()
    };
    let refused = of("refuse");
    assert_eq!(
        (refused.1.as_str(), refused.2),
        ("failed", 1),
        "a permanent refusal is not retried: {states:?}"
    );
    assert!(refused.3.contains("550"), "{refused:?}");
    let later = of("later");
    assert_eq!(later.1, "retrying", "{states:?}");
    assert!(later.2 >= 2 && later.3.contains("451"), "{later:?}");
    assert_eq!(of("ops").1, "sent");
}
both!(a_refused_recipient_fails_alone_and_a_deferred_one_is_retried);

/// A token for the mail gate: a manager's, with nothing but `mail:ingest`.
async fn gate_token(app: &TestApp) -> String {
    app.token("mia@support.example", &[Scope::MailIngest]).await
}

async fn replies_by_email_thread_onto_their_case(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    let n = with_contact(&app, &w, "Sign-in fails after redirect").await;

    // A Gmail reply of the requester: threaded by In-Reply-To, posted trimmed, verified.
    let raw = aimed("gmail_reply.eml", n, "gmail-1@mail.gmail.example");
    let r = app.mailgate(&gate, raw.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["outcome"], "posted");
    assert_eq!(r.json["case"], n);
    let ev = events(&app, &w.ops, n).await;
    let posted = ev.last().unwrap();
    assert_eq!(posted["kind"], "reply");
    assert_eq!(posted["actor"], "ops@acme.example");
    assert_eq!(posted["visibility"], "public");
    let body = posted["data"]["body"].as_str().unwrap();
    assert!(
        !body.contains("wrote:") && !body.contains("> "),
        "quoted history trimmed: {body}"
    );
    assert_eq!(posted["data"]["email"]["sender_verified"], true);
    assert_eq!(posted["data"]["email"]["authentication"]["dmarc"], "pass");

    // The MTA delivers the same message again: recognised, nothing posted twice.
    let again = app.mailgate(&gate, raw.as_bytes()).await;
    assert_eq!(
        (again.status, &again.json["duplicate"]),
        (200, &json!(true))
    );
    assert_eq!(events(&app, &w.ops, n).await.len(), ev.len());

    // An Outlook reply of the team contact (ISO-8859-1, quoted-printable) threads by its
    // In-Reply-To, but our border says its DMARC failed: it is held, not posted, until an
    // agent who sees the case releases it.
    let raw = aimed("outlook_reply.eml", n, "outlook-1@acme.example");
    let r = app.mailgate(&gate, raw.as_bytes()).await;
    assert_eq!(r.json["outcome"], "held", "{}", r.json);
    assert_eq!(
        events(&app, &w.ops, n).await.len(),
        ev.len(),
        "nothing posted"
    );
    let held = app.get("/api/v1/inbound/email?state=held", &w.agent).await;
    assert_eq!(held.status, 200, "{}", held.json);
    let item = &held.json["items"][0];
    assert_eq!(item["sender"], "teammate@acme.example");
    assert_eq!(item["case_number"], n);
    assert_eq!(item["detail"]["authentication"]["dmarc"], "fail");
    assert_eq!(item["detail"]["authentication"]["trust"], "failed");
    assert_eq!(item["detail"]["hold"]["kind"], "sender_unverified");
    assert_eq!(item["detail"]["hold"]["action"], "reply");
    let held_id = item["id"].as_str().unwrap().to_owned();
    // Nobody who may not see the case sees the held message, or may decide on it.
    for t in [&w.other_agent, &w.globex] {
        let r = app.get("/api/v1/inbound/email?state=held", t).await;
        assert!(
            r.status == 403 || r.json["items"].as_array().is_some_and(Vec::is_empty),
            "{}",
            r.json
        );
        let r = app
            .post(
                &format!("/api/v1/inbound/email/{held_id}/release"),
                t,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.json);
    }
    let r = app
        .post(
            &format!("/api/v1/inbound/email/{held_id}/release"),
            &w.ops,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "a customer decides nothing: {}", r.json);
    let bad = app.get("/api/v1/inbound/email?state=lost", &w.agent).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), vec!["state".to_owned()]);
    let r = app
        .post(
            &format!("/api/v1/inbound/email/{held_id}/release"),
            &w.agent,
            json!({"note": "Tom confirmed by phone that he sent it."}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["outcome"].as_str()),
        (200, Some("posted")),
        "{}",
        r.json
    );
    let r = app
        .post(
            &format!("/api/v1/inbound/email/{held_id}/release"),
            &w.agent,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "decided once: {}", r.json);
    let audit = crate::audit::export_lines(&app, &w.manager, "").await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "mail.held.released" && e.to_string().contains(&held_id)),
        "the release is in the audit trail"
    );
    let last = events(&app, &w.ops, n).await.pop().unwrap();
    assert_eq!(last["data"]["email"]["released_by"], "ana@support.example");
    assert_eq!(last["actor"], "teammate@acme.example");
    assert_eq!(last["data"]["email"]["sender_verified"], false);
    let text = last["data"]["body"].as_str().unwrap();
    assert!(
        text.contains('é') || text.contains('ü') || text.contains('ö'),
        "decoded: {text}"
    );
    assert!(
        !text.contains("-----Original Message-----") && !text.contains("From:"),
        "{text}"
    );

    // The full original is kept and support can fetch it.
    let log = app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
    let received = log.json["received"].as_array().unwrap();
    assert_eq!(received.len(), 2, "{}", log.json);
    let id = received[0]["id"].as_str().unwrap();
    let orig = app
        .client
        .get(format!("{}/api/v1/inbound/email/{id}", app.base))
        .bearer_auth(&w.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(orig.status(), 200);
    assert_eq!(orig.headers()["content-type"], "message/rfc822");
    assert_eq!(
        orig.bytes().await.unwrap(),
        aimed("gmail_reply.eml", n, "gmail-1@mail.gmail.example").as_bytes()
    );
    // A customer may not fetch originals; neither may an agent of another queue.
    for t in [&w.ops, &w.other_agent, &w.globex] {
        let r = app
            .client
            .get(format!("{}/api/v1/inbound/email/{id}", app.base))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }

    // An agent answers by email (subject tag only): a public reply by the agent, which the
    // customers then receive by email.
    let agent_mail = bordered(&format!(
        "From: Ana <ana@support.example>\r\nTo: support@casedesk.test\r\nSubject: Re: [casedesk #{n}] Sign-in fails after redirect\r\nMessage-ID: <agent-1@support.example>\r\n\r\nThe redirect URI registered ends with a slash; remove it and retry.\r\n\r\nAna\r\n"
    ));
    let r = app.mailgate(&gate, agent_mail.as_bytes()).await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);
    let last = events(&app, &w.agent, n).await.pop().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["actor"].as_str()),
        (Some("reply"), Some("ana@support.example"))
    );
    app.wait_outbox("the agent's emailed reply sent on", |all| {
        all.iter()
            .filter(|m| decoded(m).contains("ends with a slash"))
            .count()
            == 2
    })
    .await;
}
both!(replies_by_email_thread_onto_their_case);

async fn machine_mail_is_recorded_never_answered_and_outsiders_are_refused(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    let n = with_contact(&app, &w, "Sign-in fails after redirect").await;
    app.wait_outbox("the acknowledgements", |a| a.len() == 2)
        .await;
    let before = events(&app, &w.agent, n).await.len();

    for (file, kind) in [
        ("out_of_office.eml", "auto_reply"),
        ("bounce.eml", "delivery_report"),
        ("loop_own_message.eml", "own_message"),
    ] {
        // Our own message keeps an id at our domain (that is how it is recognised).
        let id = if file.starts_with("loop") {
            format!("case-{n}.loop1@casedesk.test")
        } else {
            format!("{file}@machine.example")
        };
        let raw = aimed(file, n, &id);
        let r = app.mailgate(&gate, raw.as_bytes()).await;
        assert_eq!(r.status, 200, "{file}: {}", r.json);
        assert_eq!(r.json["outcome"], "automatic", "{file}");
        assert_eq!(r.json["notice"], false, "{file}: never answered");
        assert_eq!(r.json["automatic"], kind, "{file}");
    }
    // Our own message coming back, with our own Message-ID: still nothing answered.
    let own = app.outbox().pop().unwrap();
    let r = app.mailgate(&gate, own.as_bytes()).await;
    assert_eq!(r.json["outcome"], "automatic");
    assert_eq!(
        events(&app, &w.agent, n).await.len(),
        before,
        "nothing posted"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.outbox().len(),
        2,
        "no answer to machine mail, so no loop"
    );

    // An outsider names the case: treated exactly as a message naming no case (nothing
    // tells them the case exists). Unverified outsiders get no notice (a forged sender must
    // not make casedesk send mail)…
    let raw = aimed(
        "outsider_with_inline_image.eml",
        n,
        "outsider-1@elsewhere.example",
    );
    let r = app.mailgate(&gate, raw.as_bytes()).await;
    assert_eq!(
        (r.json["outcome"].as_str(), r.json["notice"].as_bool()),
        (Some("no_case"), Some(false)),
        "{}",
        r.json
    );
    // …a verified one is told how to open a case, briefly.
    let verified = aimed(
        "outsider_with_inline_image.eml",
        n,
        "outsider-2@elsewhere.example",
    )
    .replacen(
        "From:",
        "Authentication-Results: mx.casedesk.test; spf=pass; dkim=pass; dmarc=pass header.from=elsewhere.example\r\nFrom:",
        1,
    );
    let r = app.mailgate(&gate, verified.as_bytes()).await;
    assert_eq!(
        (r.json["outcome"].as_str(), r.json["notice"].as_bool()),
        (Some("no_case"), Some(true)),
        "{}",
        r.json
    );
    let all = app
        .wait_outbox("the outsider's notice", |a| {
            a.iter().any(|m| m.contains("stranger@elsewhere.example"))
        })
        .await;
    let notice = all
        .iter()
        .find(|m| m.contains("stranger@elsewhere.example"))
        .unwrap();
    assert!(notice.contains("Auto-Submitted: auto-replied"), "{notice}");
    assert!(
        notice.contains("In-Reply-To: <outsider-2@elsewhere.example>"),
        "{notice}"
    );
    assert!(
        !decoded(notice).contains("Sign-in fails after redirect"),
        "no case content: {notice}"
    );
    assert_eq!(events(&app, &w.agent, n).await.len(), before);
    // The outsider's message is not on the case's record.
    let log = app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
    assert!(
        log.json["received"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["sender"] != "stranger@elsewhere.example")
    );

    // Another account's admin names this case (a Shift_JIS Apple Mail reply), and a colleague
    // of theirs names a case that does not exist: both are answered alike, so the answer does
    // not tell which numbers exist.
    for who in ["kenji@globex.example", "yuki@globex.example"] {
        app.user_with_token(Some("Globex"), who, Role::Admin, true, true, &[])
            .await;
    }
    let raw = aimed("apple_shift_jis.eml", n, "kenji-1@globex.example");
    let other = app.mailgate(&gate, raw.as_bytes()).await;
    let missing_raw = aimed("apple_shift_jis.eml", n + 1000, "yuki-2@globex.example")
        .replace("kenji@globex.example", "yuki@globex.example");
    let missing = app.mailgate(&gate, missing_raw.as_bytes()).await;
    for r in [&other, &missing] {
        assert_eq!(
            (
                r.json["outcome"].as_str(),
                r.json["notice"].as_bool(),
                r.json["case"].as_i64()
            ),
            (Some("no_case"), Some(true), None),
            "a known user is told how to open a case: {}",
            r.json
        );
    }
    let all = app
        .wait_outbox("the Globex notices", |a| {
            a.iter().filter(|m| m.contains("@globex.example")).count() == 2
        })
        .await;
    let notices: Vec<String> = all
        .iter()
        .filter(|m| m.contains("@globex.example"))
        .map(|m| {
            let d = decoded(m);
            assert!(
                !d.contains("Sign-in fails after redirect"),
                "nothing of Acme's case: {d}"
            );
            d
        })
        .collect();
    assert_eq!(notices[0], notices[1], "one answer for both");
    assert_eq!(events(&app, &w.agent, n).await.len(), before);

    // A closed case takes no more mail; its requester is told how to follow up.
    app.post(
        &format!("/api/v1/cases/{n}/propose-resolution"),
        &w.agent,
        json!({"body": "Fixed."}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{n}/confirm-resolution"),
        &w.ops,
        json!({}),
    )
    .await;
    let raw = aimed("gmail_reply.eml", n, "gmail-late@mail.gmail.example");
    let r = app.mailgate(&gate, raw.as_bytes()).await;
    assert_eq!(
        (r.json["outcome"].as_str(), r.json["notice"].as_bool()),
        (Some("refused_closed"), Some(true)),
        "{}",
        r.json
    );
    app.wait_outbox("the closed-case notice", |a| {
        a.iter()
            .any(|m| decoded(m).contains(&format!("Case {n} is closed")))
    })
    .await;
}
both!(machine_mail_is_recorded_never_answered_and_outsiders_are_refused);

async fn new_mail_opens_a_case_only_where_the_account_allows_it(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = gate_token(&app).await;

    // No thread, email intake off: the sender learns how to open a case.
    let raw = bordered(&aimed("forwarded_new_case.eml", 0, "fwd-1@acme.example"));
    let r = app.mailgate(&gate, raw.as_bytes()).await;
    assert_eq!(
        (r.json["outcome"].as_str(), r.json["notice"].as_bool()),
        (Some("no_case"), Some(true)),
        "{}",
        r.json
    );
    let all = app
        .wait_outbox("how to open a case", |a| {
            a.iter()
                .any(|m| decoded(m).contains("How to open a support case"))
        })
        .await;
    assert!(
        all.iter()
            .any(|m| decoded(m).contains("http://casedesk.test/cases/new"))
    );

    // Managers turn email intake on for Acme; defaults that would not pass the intake are
    // refused by field.
    let path = "/api/v1/accounts/Acme/email-intake";
    assert_eq!(app.get(path, &w.manager).await.json["enabled"], false);
    let bad = app
        .put(
            path,
            &w.manager,
            json!({"enabled": true, "defaults": {"priority": "P9"}}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.json);
    assert!(
        bad.error_fields()
            .iter()
            .all(|f| f.starts_with("defaults.")),
        "{:?}",
        bad.error_fields()
    );
    assert!(bad.error_fields().contains(&"defaults.priority".to_owned()));
    assert_eq!(
        app.put(path, &w.ops, json!({"enabled": true})).await.status,
        403
    );
    let mut defaults = acme_case("ignored");
    for k in ["subject", "description"] {
        defaults.as_object_mut().unwrap().remove(k);
    }
    defaults["priority"] = json!("P3");
    let ok = app
        .put(
            path,
            &w.manager,
            json!({"enabled": true, "defaults": defaults}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);

    // The same kind of message now opens a case for its sender, once.
    let raw = bordered(&aimed("forwarded_new_case.eml", 0, "fwd-2@acme.example"));
    let r = app.mailgate(&gate, raw.as_bytes()).await;
    assert_eq!(r.json["outcome"], "opened", "{}", r.json);
    let n = r.json["case"].as_i64().unwrap();
    let c = app.get(&format!("/api/v1/cases/{n}"), &w.ops).await;
    assert_eq!(c.json["requester"], "ops@acme.example");
    assert_eq!(c.json["priority"], "P3");
    assert!(
        c.json["subject"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("fw"),
        "{}",
        c.json["subject"]
    );
    assert_eq!(
        app.mailgate(&gate, raw.as_bytes()).await.json["case"],
        n,
        "a second delivery opens nothing"
    );
    // The case is acknowledged like any other.
    app.wait_outbox("the acknowledgement", |a| {
        a.iter().any(|m| {
            decoded(m).contains(&format!("[casedesk #{n}]"))
                && decoded(m).contains("We received your case")
        })
    })
    .await;
    // Another account's admin writing in opens nothing in Acme's account.
    let globex = raw
        .replace("ops@acme.example", "ops@globex.example")
        .replace("fwd-2@acme.example", "fwd-3@globex.example");
    let r = app.mailgate(&gate, globex.as_bytes()).await;
    assert_eq!(r.json["outcome"], "no_case", "{}", r.json);
}
both!(new_mail_opens_a_case_only_where_the_account_allows_it);

async fn the_gate_refuses_what_it_cannot_read_and_needs_its_scope(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            mail: casedesk_mail::MailConfig {
                max_inbound_bytes: 100_000,
                ..casedesk_testkit::test_mail_config()
            },
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    let big = format!(
        "From: ops@acme.example\r\nSubject: big\r\nMessage-ID: <big@acme.example>\r\n\r\n{}",
        "x".repeat(150_000)
    );
    let r = app.mailgate(&gate, big.as_bytes()).await;
    assert_eq!(r.status, 413, "{}", r.json);
    assert_eq!(r.content_type(), "application/problem+json");
    assert_eq!(r.error_fields(), ["message"]);
    let r = app.mailgate(&gate, b"\x00\x01\x02 this is not mail").await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.error_fields(), ["message"]);
    // Nothing was recorded for either.
    assert!(
        app.store
            .find_inbound("big@acme.example")
            .await
            .unwrap()
            .is_none()
    );
    // Only a credential with mail:ingest may hand mail in: not a customer, not an agent, not
    // a manager's token without the scope.
    let plain = app.token("mia@support.example", &[Scope::Admin]).await;
    for t in [&w.ops, &w.agent, &plain] {
        let r = app
            .mailgate(t, b"From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n")
            .await;
        assert_eq!(r.status, 403, "{}", r.json);
    }
    // And it is a manager's scope: an agent cannot mint it.
    let r = app
        .post(
            "/api/v1/tokens",
            &w.agent,
            json!({"label": "gate", "scopes": ["mail:ingest"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
}
both!(the_gate_refuses_what_it_cannot_read_and_needs_its_scope);

/// Runs the real `casedesk mailgate` with `raw` on stdin; answers (status, stdout, stderr).
async fn pipe(args: &[&str], env: &[(&str, &str)], raw: &[u8]) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_casedesk"));
    cmd.arg("mailgate")
        .args(args)
        .env_remove("CASEDESK_MAILGATE_TOKEN")
        .env_remove("CASEDESK_MAILGATE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(raw).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn casedesk_mailgate_pipes_a_message_and_answers_in_exit_statuses(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    let n = with_contact(&app, &w, "Sign-in fails after redirect").await;
    let raw = aimed("gmail_reply.eml", n, "piped-1@mail.gmail.example");

    // As an MTA's pipe runs it: the token from the environment, the message on stdin.
    let (code, out, err) = pipe(
        &["--url", &app.base],
        &[("CASEDESK_MAILGATE_TOKEN", gate.as_str())],
        raw.as_bytes(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("posted case {n}"));
    assert_eq!(
        events(&app, &w.ops, n).await.last().unwrap()["actor"],
        "ops@acme.example"
    );
    // Delivered twice: still one post, still success (the MTA must not retry forever).
    let (code, out, _) = pipe(
        &["--url", &app.base],
        &[("CASEDESK_MAILGATE_TOKEN", gate.as_str())],
        raw.as_bytes(),
    )
    .await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("posted case {n} (received before)").as_str())
    );

    // The token may come from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{gate}\n")).unwrap();
    let raw2 = aimed("out_of_office.eml", n, "piped-oof@acme.example");
    let (code, out, err) = pipe(
        &["--url", &app.base, "--token-file", file.to_str().unwrap()],
        &[],
        raw2.as_bytes(),
    )
    .await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("automatic case {n}").as_str()),
        "{err}"
    );

    // Not mail: refused for good (65), so the MTA bounces it with our words.
    let (code, _, err) = pipe(
        &["--url", &app.base],
        &[("CASEDESK_MAILGATE_TOKEN", gate.as_str())],
        b"\x00\x01 garbage",
    )
    .await;
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("not an email message"), "{err}");
    // A credential without mail:ingest: 77. No credential: 64 (usage).
    let (code, _, err) = pipe(
        &["--url", &app.base],
        &[("CASEDESK_MAILGATE_TOKEN", w.agent.as_str())],
        raw.as_bytes(),
    )
    .await;
    assert_eq!(code, 77, "{err}");
    let (code, _, _) = pipe(&["--url", &app.base], &[], raw.as_bytes()).await;
    assert_eq!(code, 64);
    // The server is down: try again later (75), and nothing is lost by the gate.
    let (code, _, err) = pipe(
        &["--url", "http://127.0.0.1:9"],
        &[("CASEDESK_MAILGATE_TOKEN", gate.as_str())],
        raw.as_bytes(),
    )
    .await;
    assert_eq!(code, 75, "{err}");
}
both!(casedesk_mailgate_pipes_a_message_and_answers_in_exit_statuses);

async fn a_relay_over_starttls_with_authentication(b: Backend) {
    let sink = SmtpSink::start_tls().await;
    let tls = |password: &str| casedesk_mail::MailConfig {
        transport: casedesk_mail::TransportKind::Smtp,
        smtp: casedesk_mail::SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(sink.port),
            security: casedesk_mail::Security::Starttls,
            username: Some("casedesk".into()),
            password: Some(password.into()),
            ca_file: Some(SmtpSink::ca_file()),
            timeout_seconds: 5,
            data_timeout_seconds: 20,
        },
        ..casedesk_testkit::test_mail_config()
    };
    let app = spawn_app_with(
        b,
        Options {
            mail: tls("relay-secret"),
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Over TLS")).await;
    let all = sink
        .wait_for("the acknowledgement over TLS", |a| !a.is_empty())
        .await;
    assert!(all[0].tls, "sent after STARTTLS");
    assert_eq!(all[0].login.as_deref(), Some("casedesk"));
    assert_eq!(to(&all[0]), "ops@acme.example");
    assert!(decoded(&all[0].data).contains(&format!("[casedesk #{n}]")));

    // A wrong password: the relay refuses for good, the message is marked failed with the
    // relay's words, and the password appears nowhere in the record.
    let app2 = spawn_app_with(
        b,
        Options {
            mail: tls("not-the-secret"),
            ..Options::default()
        },
    )
    .await;
    let w2 = app2.world().await;
    let n2 = app2.open_case(&w2.ops, acme_case("Bad password")).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let rec = loop {
        let log = app2
            .get(&format!("/api/v1/cases/{n2}/mail"), &w2.manager)
            .await;
        let rec = log.json["sent"][0].clone();
        if rec["state"] == "failed" || tokio::time::Instant::now() > deadline {
            break rec;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(rec["state"], "failed", "{rec}");
    let err = rec["last_error"].as_str().unwrap();
    assert!(err.contains("535"), "{err}");
    assert!(!rec.to_string().contains("not-the-secret"));
    assert_eq!(sink.accepted().len(), 1, "nothing more was accepted");
}
both!(a_relay_over_starttls_with_authentication);

#[test]
fn mail_settings_come_from_the_environment_and_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = crate::cli::casedesk(
        &["--data", data, "serve", "--listen", "127.0.0.1:0"],
        &[("CASEDESK_MAIL__TRANSPORT", "smtp")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mail.smtp.host: is required"), "{err}");
    let out = crate::cli::casedesk(
        &["--data", data, "serve", "--listen", "127.0.0.1:0"],
        &[
            ("CASEDESK_MAIL__TRANSPORT", "smtp"),
            ("CASEDESK_MAIL__SMTP__HOST", "relay.example"),
            ("CASEDESK_MAIL__SMTP__TIMEOUT_SECONDS", "40"),
            ("CASEDESK_MAIL__SMTP__PASSWORD", "pw-only"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("mail.smtp"), "{err}");
    assert!(
        !err.contains("pw-only"),
        "the password is never printed: {err}"
    );
}
