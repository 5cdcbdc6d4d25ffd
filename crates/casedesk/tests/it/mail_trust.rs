//! Email you can trust: senders believed only on our own border's word (forged mail is held
//! for support, never posted as the person it names), loops and floods held, everyone on a
//! case able to answer by email, and outbound mail that waits out a relay's trouble like a
//! mail server, its bounces tied to the message they report.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use casedesk_core::users::{Role, Scope};
use casedesk_testkit::smtp::SmtpSink;
use casedesk_testkit::{
    Backend, Options, TestApp, World, acme_case, both, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

const BORDER: &str = "mx.casedesk.test";

/// A reply on case `n` from `from`, as our border hands it on with `verdict` (its
/// Authentication-Results clauses), or with no verdict of ours when `verdict` is empty.
fn reply(n: i64, from: &str, id: &str, verdict: &str, body: &str) -> String {
    let border = if verdict.is_empty() {
        String::new()
    } else {
        format!("Authentication-Results: {BORDER}; {verdict}\r\n")
    };
    format!(
        "{border}From: {from}\r\nTo: support@casedesk.test\r\nSubject: Re: [casedesk #{n}] Sign-in fails\r\n\
Message-ID: <{id}>\r\nIn-Reply-To: <case-{n}@casedesk.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

fn pass(domain: &str) -> String {
    format!(
        "spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
    )
}

async fn gate_token(app: &TestApp) -> String {
    app.token("mia@support.example", &[Scope::MailIngest]).await
}

async fn events(app: &TestApp, token: &str, n: i64) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/cases/{n}/events"), token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

async fn sent_kinds(app: &TestApp, w: &World, n: i64) -> Vec<String> {
    let log = app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
    log.json["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn held(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/v1/inbound/email?state=held", token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

async fn forged_mail_is_held_never_posted_and_only_our_border_counts(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    let mut body = acme_case("Sign-in fails");
    body["team_contacts"] = json!(["teammate@acme.example"]);
    let n = app.open_case(&w.ops, body).await;
    app.post(
        &format!("/api/v1/cases/{n}/assignee"),
        &w.agent,
        json!({"assignee": "ana@support.example"}),
    )
    .await;
    let before = events(&app, &w.agent, n).await.len();
    wait_log(&app, &w, n, "the acknowledgements", |l| l.len() == 2).await;
    let mails_before = sent_kinds(&app, &w, n).await.len();

    // The forger writes a "pass" of their own under our border's name; our border's verdict
    // on top says DMARC failed. The topmost of ours counts.
    let forged = format!(
        "Authentication-Results: {BORDER}; spf=fail smtp.mailfrom=elsewhere.example; dkim=none; dmarc=fail header.from=acme.example\r\n{}",
        reply(
            n,
            "Olivia Park <ops@acme.example>",
            "forged-1@elsewhere.example",
            &pass("acme.example"),
            "Please send all the case files to backup@elsewhere.example."
        )
    );
    let r = app.mailgate(&gate, forged.as_bytes()).await;
    assert_eq!(
        (r.json["outcome"].as_str(), r.json["notice"].as_bool()),
        (Some("held"), Some(false)),
        "{}",
        r.json
    );
    // A verdict under another server's name is the sender's own writing: not believed.
    let foreign = reply(
        n,
        "ops@acme.example",
        "forged-2@elsewhere.example",
        "",
        "Forward everything to backup@elsewhere.example.",
    )
    .replacen(
        "From:",
        "Authentication-Results: mx.elsewhere.example; dmarc=pass header.from=acme.example\r\nFrom:",
        1,
    );
    assert_eq!(
        app.mailgate(&gate, foreign.as_bytes()).await.json["outcome"],
        "held"
    );
    // A pass for a domain that is not the From address's is not a pass for the sender.
    let unaligned = reply(
        n,
        "ops@acme.example",
        "forged-3@elsewhere.example",
        &pass("elsewhere.example")
            .replace("dmarc=pass header.from=elsewhere.example", "dmarc=none"),
        "And the tokens too.",
    );
    assert_eq!(
        app.mailgate(&gate, unaligned.as_bytes()).await.json["outcome"],
        "held"
    );

    // Nothing was posted as Olivia and nobody was mailed on her behalf.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(events(&app, &w.agent, n).await.len(), before);
    assert_eq!(
        sent_kinds(&app, &w, n).await.len(),
        mails_before,
        "no mail went out"
    );

    // Support sees all three with the verdicts and why; the customer sees none of it.
    let list = held(&app, &w.agent).await;
    assert_eq!(list.len(), 3, "{list:?}");
    for m in &list {
        assert_eq!(m["detail"]["hold"]["kind"], "sender_unverified", "{m}");
        assert_eq!(m["detail"]["hold"]["as"], "ops@acme.example");
        assert!(
            m["detail"]["authentication"]["reason"]
                .as_str()
                .unwrap()
                .len()
                > 10
        );
    }
    let r = app.get("/api/v1/inbound/email?state=held", &w.ops).await;
    assert_eq!(r.status, 403, "{}", r.json);

    // Discarded: kept as discarded with who decided, never posted, not decided again.
    let id = list[0]["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/inbound/email/{id}/discard"),
            &w.agent,
            json!({"note": "Forged; Olivia confirmed she did not send it."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["outcome"], "discarded");
    assert_eq!(r.json["detail"]["review"]["by"], "ana@support.example");
    let again = app
        .post(
            &format!("/api/v1/inbound/email/{id}/release"),
            &w.agent,
            json!({}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.json);
    let bad = app
        .post(
            &format!("/api/v1/inbound/email/{id}/discard"),
            &w.agent,
            json!({"why": 1}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.json);
    let listed = app
        .get("/api/v1/inbound/email?state=discarded", &w.agent)
        .await;
    assert_eq!(listed.json["items"][0]["id"], id);
    assert_eq!(held(&app, &w.agent).await.len(), 2);
    assert_eq!(events(&app, &w.agent, n).await.len(), before);

    // Mail that would open a case is held the same way: a forged message in the name of a
    // case admin of an account that opens cases by email opens nothing until released.
    let mut defaults = acme_case("ignored");
    for k in ["subject", "description"] {
        defaults.as_object_mut().unwrap().remove(k);
    }
    let on = app
        .put(
            "/api/v1/accounts/Acme/email-intake",
            &w.manager,
            json!({"enabled": true, "defaults": defaults}),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.json);
    let cases_before = app.get("/api/v1/cases?limit=100", &w.manager).await.json["items"]
        .as_array()
        .unwrap()
        .len();
    let new = format!(
        "Authentication-Results: {BORDER}; spf=fail smtp.mailfrom=elsewhere.example; dmarc=fail header.from=acme.example\r\n\
From: ops@acme.example\r\nTo: support@casedesk.test\r\nSubject: Urgent: reset every admin password\r\n\
Message-ID: <forged-new@elsewhere.example>\r\n\r\nReset the passwords and mail them to me.\r\n"
    );
    let r = app.mailgate(&gate, new.as_bytes()).await;
    assert_eq!(r.json["outcome"], "held", "{}", r.json);
    let hid = r.json["id"].as_str().unwrap().to_owned();
    let cases_now = app.get("/api/v1/cases?limit=100", &w.manager).await.json["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(cases_now, cases_before, "no case opened");
    let h = held(&app, &w.agent).await;
    let item = h.iter().find(|m| m["id"] == hid.as_str()).unwrap();
    assert_eq!(item["detail"]["hold"]["action"], "open_case");
    // Released by an agent who judged it genuine: the case opens, once.
    let r = app
        .post(
            &format!("/api/v1/inbound/email/{hid}/release"),
            &w.agent,
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["outcome"].as_str()),
        (200, Some("opened")),
        "{}",
        r.json
    );
    let opened = r.json["case"].as_i64().unwrap();
    let c = app.get(&format!("/api/v1/cases/{opened}"), &w.ops).await;
    assert_eq!(c.json["subject"], "Urgent: reset every admin password");
    // The MTA delivering it again does nothing more.
    let dup = app.mailgate(&gate, new.as_bytes()).await;
    assert_eq!(dup.json["duplicate"], true, "{}", dup.json);

    // A stranger forging a "verified" verdict under another name gets no notice: casedesk
    // is nobody's source of backscatter.
    let stranger = reply(
        n + 5000,
        "victim@elsewhere.example",
        "bs-1@elsewhere.example",
        "",
        "Hello",
    )
    .replacen(
        "From:",
        "Authentication-Results: mx.elsewhere.example; dmarc=pass\r\nFrom:",
        1,
    );
    let r = app.mailgate(&gate, stranger.as_bytes()).await;
    assert_eq!(r.json["notice"], false, "{}", r.json);
}
both!(forged_mail_is_held_never_posted_and_only_our_border_counts);

async fn everyone_on_the_case_answers_by_email(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    // A team contact without case-admin, and a case email that is nobody's sign-in.
    let mut body = acme_case("Sign-in fails");
    body["team_contacts"] = json!(["viewer@acme.example"]);
    body["contact"]["email"] = json!("iam-oncall@acme.example");
    let n = app.open_case(&w.ops, body).await;

    let r = app
        .mailgate(
            &gate,
            reply(
                n,
                "viewer@acme.example",
                "tc-1@acme.example",
                &pass("acme.example"),
                "Seen on our side too, since 09:10.",
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);
    let last = events(&app, &w.agent, n).await.pop().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["actor"].as_str()),
        (Some("reply"), Some("viewer@acme.example"))
    );

    let r = app
        .mailgate(
            &gate,
            reply(
                n,
                "IAM on-call <iam-oncall@acme.example>",
                "ce-1@acme.example",
                &pass("acme.example"),
                "The on-call rota confirms: every user is affected.",
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);
    let last = events(&app, &w.agent, n).await.pop().unwrap();
    assert_eq!(
        last["data"]["email"]["sender"], "iam-oncall@acme.example",
        "{last}"
    );
    assert_eq!(last["data"]["email"]["as_case_email"], true);
    assert_eq!(
        last["actor"], "ops@acme.example",
        "posted on the requester's case as theirs"
    );

    // The team contact still cannot open cases by email.
    let mut defaults = acme_case("ignored");
    for k in ["subject", "description"] {
        defaults.as_object_mut().unwrap().remove(k);
    }
    app.put(
        "/api/v1/accounts/Acme/email-intake",
        &w.manager,
        json!({"enabled": true, "defaults": defaults}),
    )
    .await;
    let new = format!(
        "Authentication-Results: {BORDER}; {}\r\nFrom: viewer@acme.example\r\nTo: support@casedesk.test\r\n\
Subject: A new problem\r\nMessage-ID: <tc-new@acme.example>\r\n\r\nSomething else broke.\r\n",
        pass("acme.example")
    );
    assert_eq!(
        app.mailgate(&gate, new.as_bytes()).await.json["outcome"],
        "no_case"
    );
}
both!(everyone_on_the_case_answers_by_email);

async fn loops_and_floods_are_held_not_posted(b: Backend) {
    let mut mail = casedesk_testkit::test_mail_config();
    mail.flood = casedesk_mail::config::FloodConfig {
        per_sender: 4,
        per_case: 6,
        window_minutes: 10,
        ..Default::default()
    };
    let app = spawn_app_with(
        b,
        Options {
            mail,
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    for (email, name) in [
        ("it-desk@acme.example", "it"),
        ("noc-tool@acme.example", "noc"),
    ] {
        app.user_with_token(Some("Acme"), email, Role::Admin, false, false, &[])
            .await;
        let _ = name;
    }
    let mut body = acme_case("Sign-in fails");
    body["team_contacts"] = json!(["it-desk@acme.example", "noc-tool@acme.example"]);
    let n = app.open_case(&w.ops, body).await;
    let ok = pass("acme.example");

    // Two customers' ticket tools answer every message they get, without any automatic-mail
    // header. Each answer that were posted would be mailed to the other tool, which would
    // answer again. Their acknowledgements are held at once.
    let ack = "Thank you for contacting the IT service desk. We have received your request and a ticket has been created: INC-{i}.";
    let mut posted = 0;
    for i in 0..6 {
        for tool in ["it-desk@acme.example", "noc-tool@acme.example"] {
            let r = app
                .mailgate(
                    &gate,
                    reply(
                        n,
                        tool,
                        &format!("{tool}-{i}@acme.example"),
                        &ok,
                        &ack.replace("{i}", &i.to_string()),
                    )
                    .as_bytes(),
                )
                .await;
            if r.json["outcome"] == "posted" {
                posted += 1;
            } else {
                assert_eq!(r.json["outcome"], "held", "{}", r.json);
            }
        }
    }
    assert_eq!(posted, 0, "no acknowledgement of a ticket tool is posted");
    let h = held(&app, &w.agent).await;
    assert!(
        h.iter()
            .all(|m| m["detail"]["hold"]["kind"] == "machine_like"
                || m["detail"]["hold"]["kind"] == "flood"),
        "{h:?}"
    );

    // A tool whose answers read like a person's: the same text again is held…
    let m1 = reply(
        n,
        "it-desk@acme.example",
        "same-1@acme.example",
        &ok,
        "Noted, we will look into it. Regards, IT",
    );
    let m2 = reply(
        n,
        "noc-tool@acme.example",
        "same-2@acme.example",
        &ok,
        "Noted, we will look into it. Regards, IT",
    );
    let r1 = app.mailgate(&gate, m1.as_bytes()).await;
    let r2 = app.mailgate(&gate, m2.as_bytes()).await;
    assert_eq!(r2.json["outcome"], "held", "{} then {}", r1.json, r2.json);
    // …and a person writing many different messages (on a quiet case) is held past the
    // sender's limit.
    let n = app.open_case(&w.ops, acme_case("Another problem")).await;
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let r = app
            .mailgate(
                &gate,
                reply(
                    n,
                    "ops@acme.example",
                    &format!("many-{i}@acme.example"),
                    &ok,
                    &format!(
                        "Another detail, number {i}: the error shows at step {}.",
                        i + 2
                    ),
                )
                .as_bytes(),
            )
            .await;
        outcomes.push(r.json["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        outcomes,
        ["posted", "posted", "posted", "posted", "held", "held"],
        "four in ten minutes, then held"
    );
    assert!(outcomes.last().is_some_and(|o| o == "held"), "{outcomes:?}");
    let h = held(&app, &w.agent).await;
    assert!(
        h.iter().any(|m| m["detail"]["hold"]["kind"] == "flood"),
        "{h:?}"
    );
    // Support can still let one through.
    let flood = h
        .iter()
        .find(|m| m["detail"]["hold"]["kind"] == "flood")
        .unwrap();
    let r = app
        .post(
            &format!(
                "/api/v1/inbound/email/{}/release",
                flood["id"].as_str().unwrap()
            ),
            &w.agent,
            json!({}),
        )
        .await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);
}
both!(loops_and_floods_are_held_not_posted);

/// A free loopback port nobody listens on (yet).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn relay_config(port: u16) -> casedesk_mail::MailConfig {
    casedesk_mail::MailConfig {
        transport: casedesk_mail::TransportKind::Smtp,
        smtp: casedesk_mail::SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: casedesk_mail::Security::None,
            timeout_seconds: 1,
            ..Default::default()
        },
        ..casedesk_testkit::test_mail_config()
    }
}

async fn mail_log(app: &TestApp, w: &World, n: i64) -> Vec<Value> {
    app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent)
        .await
        .json["sent"]
        .as_array()
        .unwrap()
        .clone()
}

async fn wait_log(
    app: &TestApp,
    w: &World,
    n: i64,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = mail_log(app, w, n).await;
        if pred(&log) {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_relay_outage_delays_mail_and_loses_none(b: Backend) {
    // The relay is down: nothing listens where casedesk sends.
    let port = free_port();
    let app = spawn_app_with(
        b,
        Options {
            mail: relay_config(port),
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Relay outage")).await;
    // Attempt after attempt fails; the message waits, its next attempt shown.
    let log = wait_log(&app, &w, n, "several failed attempts", |l| {
        l.iter().any(|m| m["attempts"].as_u64().unwrap_or(0) >= 3)
    })
    .await;
    let m = &log[0];
    assert_eq!(m["state"], "retrying", "{m}");
    assert!(
        m["next_attempt_at"].is_string(),
        "the next attempt is shown: {m}"
    );
    assert!(m["last_error"].as_str().unwrap().len() > 5);
    // The relay comes back: the message is delivered, once.
    let sink = SmtpSink::start_on(port).await;
    let all = sink
        .wait_for("the acknowledgement after the outage", |a| {
            a.iter()
                .any(|m| m.rcpt_tos.contains(&"ops@acme.example".to_owned()))
        })
        .await;
    wait_log(&app, &w, n, "sent", |l| {
        l.iter().all(|m| m["state"] == "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.accepted().len(), all.len(), "no message sent twice");
}
both!(a_relay_outage_delays_mail_and_loses_none);

async fn a_silent_relay_ends_each_attempt_on_one_connection(b: Backend) {
    // A relay that accepts connections and never greets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    {
        let (open, most, total) = (open.clone(), most.clone(), total.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                total.fetch_add(1, Ordering::SeqCst);
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let open = open.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 64];
                    // Say nothing; wait until the client hangs up.
                    while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    }
    let app = spawn_app_with(
        b,
        Options {
            mail: relay_config(port),
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Silent relay")).await;
    let log = wait_log(&app, &w, n, "a timed-out attempt", |l| {
        l.iter().any(|m| m["state"] == "retrying")
    })
    .await;
    let err = log.iter().find(|m| m["state"] == "retrying").unwrap()["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        err.contains("within"),
        "the attempt ended on its deadline: {err}"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(total.load(Ordering::SeqCst) >= 2, "it was tried again");
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "never a second connection for the message while one is open"
    );
}
both!(a_silent_relay_ends_each_attempt_on_one_connection);

async fn a_bounce_fails_the_message_it_reports(b: Backend) {
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
    let gate = gate_token(&app).await;
    let n = app.open_case(&w.ops, acme_case("Bounces")).await;
    let all = sink
        .wait_for("the acknowledgement", |a| !a.is_empty())
        .await;
    let sent_id = all[0].header("Message-ID").unwrap();
    wait_log(&app, &w, n, "sent", |l| {
        l.iter().all(|m| m["state"] == "sent")
    })
    .await;
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\nTo: support@casedesk.test\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}@mx.acme.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/plain\r\n\r\nThe mailbox does not exist.\r\n\
--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\n\
Final-Recipient: rfc822; ops@acme.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 mailbox unknown\r\n\r\n\
--r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@casedesk.test\r\nReferences: <case-{n}@casedesk.test>\r\n\
Message-ID: {sent_id}\r\nSubject: [casedesk #{n}] Bounces\r\n\r\n--r--\r\n"
    );
    let r = app.mailgate(&gate, dsn.as_bytes()).await;
    assert_eq!(
        (
            r.json["outcome"].as_str(),
            r.json["automatic"].as_str(),
            r.json["notice"].as_bool()
        ),
        (Some("automatic"), Some("delivery_report"), Some(false)),
        "{}",
        r.json
    );
    assert_eq!(
        r.json["case"], n,
        "recorded on the case of the message it reports"
    );
    let log = mail_log(&app, &w, n).await;
    let bounced = log
        .iter()
        .find(|m| m["message_id"] == sent_id.as_str())
        .unwrap();
    assert_eq!(bounced["state"], "failed", "{bounced}");
    assert!(
        bounced["last_error"]
            .as_str()
            .unwrap()
            .contains("mailbox unknown"),
        "{bounced}"
    );
}
both!(a_bounce_fails_the_message_it_reports);

async fn notices_never_feed_a_loop(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    let _ = &w;
    let vendor = |id: &str, extra: &str, body: &str| {
        format!(
            "Authentication-Results: {BORDER}; {}\r\nFrom: helpdesk@vendor.example\r\nTo: support@casedesk.test\r\n\
Subject: Question\r\nMessage-ID: <{id}>\r\n{extra}\r\n{body}\r\n",
            pass("vendor.example")
        )
    };
    let notices = |app: &TestApp| {
        app.outbox()
            .into_iter()
            .filter(|m| m.contains("helpdesk@vendor.example"))
            .collect::<Vec<_>>()
    };
    // A verified stranger is told once how to open a case…
    let r = app
        .mailgate(
            &gate,
            vendor("v1@vendor.example", "", "How do we open a case?").as_bytes(),
        )
        .await;
    assert_eq!(
        (r.json["outcome"].as_str(), r.json["notice"].as_bool()),
        (Some("no_case"), Some(true)),
        "{}",
        r.json
    );
    let all = app
        .wait_outbox("the notice", |a| {
            a.iter().any(|m| m.contains("helpdesk@vendor.example"))
        })
        .await;
    let notice = all
        .iter()
        .find(|m| m.contains("helpdesk@vendor.example"))
        .unwrap();
    let notice_id = notice
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim()
        .to_owned();
    // …their tool answering that notice gets nothing back…
    let r = app
        .mailgate(
            &gate,
            vendor(
                "v2@vendor.example",
                &format!("In-Reply-To: {notice_id}\r\n"),
                "Your request was received.",
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.json["notice"], false, "{}", r.json);
    // …and within the hour a different message gets no second notice either.
    let r = app
        .mailgate(
            &gate,
            vendor("v3@vendor.example", "", "Another question entirely.").as_bytes(),
        )
        .await;
    assert_eq!(r.json["notice"], false, "{}", r.json);
    // A no-reply sender is never answered.
    let noreply =
        vendor("v4@vendor.example", "", "Status update.").replace("helpdesk@", "noreply@");
    let r = app.mailgate(&gate, noreply.as_bytes()).await;
    assert_eq!(r.json["notice"], false, "{}", r.json);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(notices(&app).len(), 1, "one notice in all");
}
both!(notices_never_feed_a_loop);

async fn quick_answers_and_forgeries_do_not_pass_or_block(b: Backend) {
    let mut mail = casedesk_testkit::test_mail_config();
    mail.flood.per_sender = 4;
    let app = spawn_app_with(
        b,
        Options {
            mail,
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let gate = gate_token(&app).await;
    let mut body = acme_case("Sign-in fails");
    body["team_contacts"] = json!(["teammate@acme.example"]);
    let n = app.open_case(&w.ops, body).await;
    // Our acknowledgement to the team contact, answered within seconds with an ordinary
    // text: a machine (people read first).
    let all = app
        .wait_outbox("the acknowledgements", |a| {
            a.iter()
                .filter(|m| m.contains(&format!("[casedesk #{n}]")))
                .count()
                == 2
        })
        .await;
    let to_mate = all
        .iter()
        .find(|m| m.contains("To: teammate@acme.example"))
        .unwrap();
    let ours = to_mate
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim()
        .to_owned();
    let quick = reply(
        n,
        "teammate@acme.example",
        "quick-1@acme.example",
        &pass("acme.example"),
        "Noted, thank you.",
    )
    .replace(
        &format!("In-Reply-To: <case-{n}@casedesk.test>"),
        &format!("In-Reply-To: {ours}"),
    );
    let r = app.mailgate(&gate, quick.as_bytes()).await;
    assert_eq!(r.json["outcome"], "held", "{}", r.json);
    let h = held(&app, &w.agent).await;
    assert!(
        h.iter()
            .any(|m| m["detail"]["hold"]["kind"] == "machine_like"
                && m["detail"]["hold"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("after it was sent")),
        "{h:?}"
    );
    // Forged mail in the requester's name, held, does not use up her allowance: her own
    // verified reply still posts.
    for i in 0..6 {
        let r = app
            .mailgate(
                &gate,
                reply(
                    n,
                    "ops@acme.example",
                    &format!("forged-{i}@elsewhere.example"),
                    "dmarc=fail header.from=acme.example",
                    &format!("Forged {i}"),
                )
                .as_bytes(),
            )
            .await;
        assert_eq!(r.json["outcome"], "held", "{}", r.json);
    }
    let r = app
        .mailgate(
            &gate,
            reply(
                n,
                "ops@acme.example",
                "genuine-1@acme.example",
                &pass("acme.example"),
                "The real update: it works again.",
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);
}
both!(quick_answers_and_forgeries_do_not_pass_or_block);

async fn a_relay_slow_to_accept_gets_the_message_once(b: Backend) {
    // A relay that greets at once but answers the end of DATA only after 5 s: longer than
    // the opening may take (3 s here), well within the wait for the message.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let delivered = Arc::new(AtomicUsize::new(0));
    {
        let delivered = delivered.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let delivered = delivered.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
                    let (rd, mut wr) = sock.into_split();
                    let mut lines = BufReader::new(rd).lines();
                    let _ = wr.write_all(b"220 slow.test ESMTP\r\n").await;
                    let mut in_data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                tokio::time::sleep(Duration::from_secs(5)).await;
                                delivered.fetch_add(1, Ordering::SeqCst);
                                let _ = wr.write_all(b"250 2.0.0 queued\r\n").await;
                            }
                            continue;
                        }
                        let cmd = line.to_ascii_uppercase();
                        let answer: &[u8] = if cmd.starts_with("EHLO") {
                            b"250-slow.test\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("DATA") {
                            in_data = true;
                            b"354 go on\r\n"
                        } else if cmd.starts_with("QUIT") {
                            let _ = wr.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = wr.write_all(answer).await;
                    }
                });
            }
        });
    }
    let app = spawn_app_with(
        b,
        Options {
            mail: relay_config(port),
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Slow relay")).await;
    wait_log(&app, &w, n, "sent", |l| {
        !l.is_empty() && l.iter().all(|m| m["state"] == "sent")
    })
    .await;
    // The job's lease (5 s in tests) ran out while the relay thought; no second attempt.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(delivered.load(Ordering::SeqCst), 1, "delivered once");
    let log = mail_log(&app, &w, n).await;
    assert_eq!(log[0]["attempts"], 1, "{log:?}");
}
both!(a_relay_slow_to_accept_gets_the_message_once);
