//! The audit trail: who did what from where, the customer's own export, and `audit verify`
//! finding edited, inserted, deleted and reordered entries.

use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_testkit::{Backend, TestApp, acme_case, both, globex_case, spawn_app};
use serde_json::{Value, json};

use crate::signin::{browser, csrf_of, set_password, sign_in};

/// An export as parsed JSON Lines (asserting the status and content type).
pub async fn export_lines(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app
        .client
        .get(format!("{}/api/v1/audit{query}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{query}");
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    r.text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn find<'a>(trail: &'a [Value], action: &str) -> Vec<&'a Value> {
    trail.iter().filter(|e| e["action"] == action).collect()
}

async fn the_trail_records_who_did_what_from_where(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let acme = app
        .store
        .find_account("Acme")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let r = app
        .client
        .post(format!("{}/api/v1/cases", app.base))
        .bearer_auth(&w.ops)
        .header("x-request-id", "audit-test-1")
        .json(&acme_case("Audited"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let n = r.json::<Value>().await.unwrap()["number"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/cases/{n}/replies"),
        &w.agent,
        json!({"body": "On it"}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{n}/notes"),
        &w.agent,
        json!({"body": "PRIVATE NOTE TEXT"}),
    )
    .await;
    let t = app
        .post(
            "/api/v1/tokens",
            &w.ops,
            json!({"label": "ci", "scopes": ["cases:read"]}),
        )
        .await;
    let secret = t.json["token"].as_str().unwrap().to_owned();
    app.open_case(&w.globex, globex_case("Globex issue")).await;
    // Sign-ins: a wrong password, an unknown email, then a success.
    set_password(&app, "ops@acme.example", "a long enough password").await;
    let c = browser();
    let csrf = csrf_of(&c, &app).await;
    sign_in(&c, &app, &csrf, "ops@acme.example", "not the password").await;
    sign_in(&c, &app, &csrf, "nobody@acme.example", "whatever it is").await;
    let ok = sign_in(
        &c,
        &app,
        &csrf,
        "ops@acme.example",
        "a long enough password",
    )
    .await;
    assert_eq!(ok.status(), 303);

    let all = export_lines(&app, &w.manager, "").await;
    let created = find(&all, "case.create");
    let mine = created
        .iter()
        .find(|e| e["target"] == format!("case:{n}"))
        .unwrap();
    assert_eq!(mine["actor"], "ops@acme.example");
    assert_eq!(mine["account_id"], acme.as_str());
    assert_eq!(mine["request_id"], "audit-test-1");
    assert_eq!(mine["source_ip"], "127.0.0.1");
    assert_eq!(mine["summary"]["priority"], "P2");
    let note = find(&all, "case.note");
    assert_eq!(note.len(), 1);
    assert!(
        !note[0].to_string().contains("PRIVATE NOTE TEXT"),
        "the note's text is not in the trail"
    );
    let token = find(&all, "token.create");
    let token = token
        .iter()
        .find(|e| e["summary"]["label"] == "ci")
        .unwrap();
    assert_eq!(token["summary"]["scopes"], json!(["cases:read"]));
    assert!(
        !all.iter().any(|e| e.to_string().contains(&secret)),
        "a token never enters the trail"
    );
    let failures = find(&all, "signin.failure");
    assert!(
        failures
            .iter()
            .any(|e| e["target"] == "user:ops@acme.example"
                && e["summary"]["reason"] == "wrong password"),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|e| e["target"] == "user:nobody@acme.example"
                && e["summary"]["reason"] == "no user has this email"),
        "{failures:?}"
    );
    let success = find(&all, "signin.success");
    assert!(
        success
            .iter()
            .any(|e| e["actor"] == "ops@acme.example" && e["summary"]["method"] == "password")
    );
    assert!(find(&all, "user.create").len() >= 9, "the world's users");
    let last = all.last().unwrap();
    assert_eq!(last["action"], "audit.export", "an export records itself");
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|p| p[1] == p[0] + 1),
        "no gaps: {seqs:?}"
    );

    // A super admin exports only their account's trail, without internal entries.
    let own = export_lines(&app, &w.super_admin, "").await;
    assert!(!own.is_empty());
    assert!(
        own.iter().all(|e| e["account_id"] == acme.as_str()),
        "only Acme: {own:#?}"
    );
    assert!(
        find(&own, "case.note").is_empty(),
        "internal notes stay internal"
    );
    assert!(
        find(&own, "case.create")
            .iter()
            .any(|e| e["target"] == format!("case:{n}"))
    );
    assert!(!own.iter().any(|e| e.to_string().contains("Globex issue")));
    let globex_owner = app
        .user_with_token(
            Some("Globex"),
            "owner@globex.example",
            casedesk_core::users::Role::SuperAdmin,
            false,
            false,
            &[],
        )
        .await;
    let theirs = export_lines(&app, &globex_owner, "").await;
    assert!(!theirs.is_empty());
    assert!(
        theirs.iter().all(|e| e["account_id"] != acme.as_str()),
        "Globex never sees Acme: {theirs:#?}"
    );
    // Managers may narrow to one account; filters by time work.
    let only = export_lines(&app, &w.manager, "?account=Globex").await;
    assert!(only.iter().all(|e| e["account_id"] != acme.as_str()));
    let none = export_lines(&app, &w.manager, "?since=2100-01-01T00:00:00Z").await;
    assert!(none.is_empty());
    // Refusals.
    assert_eq!(app.get("/api/v1/audit", &w.ops).await.status, 403);
    assert_eq!(app.get("/api/v1/audit", &w.agent).await.status, 403);
    let bad = app.get("/api/v1/audit?since=yesterday", &w.manager).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), vec!["since"]);
    let cross = app
        .get("/api/v1/audit?account=Globex", &w.super_admin)
        .await;
    assert_eq!(cross.status, 422);
    assert_eq!(cross.error_fields(), vec!["account"]);
}
both!(the_trail_records_who_did_what_from_where);

async fn raw_sql(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

fn verify(app: &TestApp) -> (bool, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk"))
        .args([
            "audit",
            "verify",
            "--json",
            "--database-url",
            &app.db.url,
            "--data",
        ])
        .arg(app.db.dir.path().join("data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{stdout}")),
    )
}

async fn tampered(b: Backend, sql: &str, expect: &str) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    app.open_case(&w.ops, acme_case("Before tampering")).await;
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    assert_eq!(report["problems"], json!([]));
    assert!(report["checked"].as_u64().unwrap() >= 10);
    raw_sql(&app.db.url, sql).await;
    let (ok, report) = verify(&app);
    assert!(!ok, "{sql}: {report}");
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains(expect)),
        "{sql}: expected {expect:?} in {report:#}"
    );
}

async fn audit_verify_finds_edits_insertions_deletions_and_reorders(b: Backend) {
    tampered(
        b,
        "UPDATE audit_log SET target = 'case:999' WHERE seq = 3",
        "entry 3 was altered",
    )
    .await;
    tampered(
        b,
        "DELETE FROM audit_log WHERE seq = 4",
        "entry 4 is missing",
    )
    .await;
    tampered(
        b,
        "UPDATE audit_log SET seq = -5 WHERE seq = 5; UPDATE audit_log SET seq = 5 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = -5",
        "entry 5 does not follow",
    )
    .await;
    tampered(
        b,
        "INSERT INTO audit_log (seq, at, actor, action, target, summary, customer_visible, prev_hash, hash) \
         SELECT seq + 1, at, 'intruder', 'case.create', 'case:1', '{}', customer_visible, hash, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
        "was altered",
    )
    .await;
    tampered(
        b,
        "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
        "deleted from the end",
    )
    .await;
}
both!(audit_verify_finds_edits_insertions_deletions_and_reorders);

async fn retention_prunes_behind_a_verifiable_checkpoint(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    app.open_case(&w.ops, acme_case("Old")).await;
    let template = AuditRecord::new(Actor::system("test"), "audit.pruned", "audit").internal();
    let future = casedesk_core::now()
        .checked_add(jiff::SignedDuration::from_secs(1))
        .unwrap();
    let n = app.store.prune_audit(future, &template).await.unwrap();
    assert!(n >= 10, "pruned {n}");
    app.open_case(&w.ops, acme_case("New")).await;
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    let cp = app.store.audit_checkpoint().await.unwrap().unwrap();
    assert_eq!(cp.seq, i64::try_from(n).unwrap());
    let trail = export_lines(&app, &w.manager, "").await;
    assert_eq!(trail[0]["action"], "audit.pruned");
    assert_eq!(trail[0]["summary"]["through_seq"], cp.seq);
    assert!(
        !trail.iter().any(|e| e["action"] == "user.create"),
        "old entries are gone"
    );
    // A forged checkpoint is caught.
    raw_sql(&app.db.url, "UPDATE audit_checkpoints SET hash = 'ab'").await;
    let (ok, report) = verify(&app);
    assert!(!ok);
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("checkpoint")),
        "{report:#}"
    );
}
both!(retention_prunes_behind_a_verifiable_checkpoint);
