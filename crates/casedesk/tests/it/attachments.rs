//! Attachments and HAR captures over HTTP: scrubbing before storage (searched for in every
//! stored byte), evidence, limits, types and names, downloads, isolation, retention.

use casedesk_testkit::{
    Backend, Options, TestApp, acme_case, both, globex_case, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

use crate::har_corpus;

fn find(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn events(app: &TestApp, n: i64, token: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/cases/{n}/events"), token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().cloned().unwrap_or_default()
}

async fn har_captures_keep_no_secret_and_explain_the_flow(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Sign-in refused")).await;
    let captures = [har_corpus::authorize_refused(), har_corpus::token_refused()];
    for c in &captures {
        // The capture really holds its secrets before upload.
        for s in &c.secrets {
            assert!(find(&c.bytes, s), "{} does not contain {s}", c.name);
        }
        let r = app
            .upload(
                &format!("/api/v1/cases/{n}/attachments"),
                &w.ops,
                &[(c.name, c.bytes.clone())],
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        let a = &r.json["attachments"][0];
        assert_eq!(a["kind"], "har", "{a}");
        assert!(
            a["secrets_removed"]["removed"]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            "{a}"
        );
        assert!(
            a.get("evidence").is_none(),
            "the customer is not shown the evidence: {a}"
        );
    }
    // No planted secret is anywhere casedesk keeps bytes: files, database, outbox.
    let stored = app.everything_stored().await;
    for c in &captures {
        for s in &c.secrets {
            assert!(!find(&stored, s), "{s} of {} was stored", c.name);
        }
    }
    // The search does find what was meant to be kept.
    for kept in [
        "req-okta-a1",
        "auth0-req-b1",
        "SameSite=None",
        "invalid_grant",
    ] {
        assert!(find(&stored, kept), "{kept} should have been kept");
    }
    // The token inside a base64-encoded response body, decoded.
    assert!(!find(&stored, "BASE64BODY-PLANTED-b6"));

    // The evidence is on the timeline, for agents only.
    let agent_view = events(&app, n, &w.agent).await;
    let evidence: Vec<&Value> = agent_view
        .iter()
        .filter(|e| e["kind"] == "har_evidence")
        .collect();
    assert_eq!(evidence.len(), 2);
    let first = &evidence[0]["data"]["summary"];
    assert_eq!(first["broke_at"]["step"], "callback", "{first}");
    assert_eq!(first["oauth_errors"][0]["error"], "access_denied");
    assert_eq!(
        first["oauth_errors"][0]["error_description"],
        "User is not assigned to the client application."
    );
    assert_eq!(
        first["redirect_uris"][0],
        "https://app.acme.example/callback"
    );
    assert_eq!(
        first["steps_reached"],
        json!(["authorize", "login", "callback"])
    );
    assert_eq!(
        first["clock_skew_seconds"], 30,
        "the client clock is 30 s ahead of the IdP's"
    );
    let ids: Vec<&str> = first["correlation_ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["value"].as_str())
        .collect();
    assert!(
        ids.contains(&"req-okta-a1") && ids.contains(&"app-req-a3"),
        "{ids:?}"
    );
    let second = &evidence[1]["data"]["summary"];
    assert_eq!(second["broke_at"]["step"], "token", "{second}");
    assert_eq!(second["oauth_errors"][0]["error"], "invalid_grant");
    assert_eq!(second["token_flow"], "authorization_code");
    let tokens = second["tokens"].as_array().unwrap();
    assert!(
        tokens
            .iter()
            .any(|t| t["claims"]["aud"] == "api://default"
                && t["claims"]["scope"] == "openid profile"),
        "the access token's claims are kept as evidence: {tokens:?}"
    );
    assert!(
        tokens
            .iter()
            .all(|t| t["claims"].get("sub").is_none() && t["claims"].get("email").is_none())
    );
    let failing: Vec<i64> = second["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["status"].as_i64())
        .collect();
    assert_eq!(failing, vec![400, 500]);
    let customer_view = events(&app, n, &w.ops).await;
    assert!(customer_view.iter().all(|e| e["kind"] != "har_evidence"));
    assert_eq!(
        customer_view
            .iter()
            .filter(|e| e["kind"] == "attachments_added")
            .count(),
        2
    );

    // Empty context fields were filled; what the requester wrote stayed.
    let case = app.get(&format!("/api/v1/cases/{n}"), &w.agent).await.json;
    let ctx = &case["context"];
    assert_eq!(ctx["correlation_id"], "corr-1", "{ctx}");
    assert_eq!(ctx["har_file"], "authorize-refused.har");
    assert_eq!(ctx["started_at"], "2026-11-20T14:03:00.1Z");
    assert!(
        ctx["sign_in_progress"]
            .as_str()
            .unwrap()
            .contains("access_denied"),
        "{ctx}"
    );
    assert!(
        ctx["browser"].as_str().unwrap().contains("Firefox"),
        "{ctx}"
    );

    // The scrubbed capture downloads as an attachment, still a HAR, and never rendered.
    let list = app
        .get(&format!("/api/v1/cases/{n}/attachments"), &w.ops)
        .await;
    let url = list.json["items"][1]["url"].as_str().unwrap().to_owned();
    let (status, headers, body) = app.download(&url, &w.ops).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"token-refused.har\"")
    );
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["log"]["entries"].as_array().unwrap().len(), 6);
    assert_eq!(
        doc["log"]["entries"][0]["response"]["headers"][0]["name"],
        "Location"
    );
}
both!(har_captures_keep_no_secret_and_explain_the_flow);

async fn files_are_limited_typed_and_named_safely(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            attachments: casedesk_core::attachments::AttachmentConfig {
                max_file_bytes: 64 * 1024,
                max_har_bytes: 256 * 1024,
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Files")).await;
    let path = format!("/api/v1/cases/{n}/attachments");

    // Over the limit: 413 naming the file, counted while it arrived; nothing stored.
    let r = app
        .upload(
            &path,
            &w.ops,
            &[("big.log", vec![b'a'; 64 * 1024 + 1])],
            None,
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.json);
    assert_eq!(r.content_type(), "application/problem+json");
    assert_eq!(r.error_fields(), vec!["files[0]"]);
    assert!(
        r.json["detail"].as_str().unwrap().contains("big.log"),
        "{}",
        r.json
    );
    // A HAR has its own limit.
    let mut big_har = br#"{"log": {"entries": [], "comment": ""#.to_vec();
    big_har.extend(vec![b'x'; 256 * 1024]);
    big_har.extend(br#""}}"#);
    let r = app
        .upload(&path, &w.ops, &[("big.har", big_har)], None)
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (413, vec!["files[0]".to_owned()]),
        "{}",
        r.json
    );

    // Hostile and broken captures are refused with the reason; nothing of them is kept.
    let deep = format!(
        "{{\"log\": {{\"entries\": {}{}}}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    for (bytes, says) in [
        (b"this is not json".to_vec(), "not valid JSON"),
        (
            br#"{"log": {"entries": [{"request": {"url": "https://x"#.to_vec(),
            "cut short",
        ),
        (br#"{"log": {"pages": []}}"#.to_vec(), "log.entries"),
        (
            br#"{"log": {"entries": [{"response": {}}]}}"#.to_vec(),
            "request.url",
        ),
        (deep.into_bytes(), "recursion"),
    ] {
        let r = app
            .upload(&path, &w.ops, &[("capture.har", bytes)], None)
            .await;
        assert_eq!(r.status, 422, "{}", r.json);
        assert_eq!(r.error_fields(), vec!["files[0]"]);
        assert!(
            r.json["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{}",
            r.json
        );
    }
    // An empty file, an unknown part, no file.
    let r = app
        .upload(&path, &w.ops, &[("empty.txt", vec![])], None)
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["files[0]".to_owned()])
    );
    let r = app.upload(&path, &w.ops, &[], Some(&json!({}))).await;
    assert_eq!((r.status, r.error_fields()), (422, vec!["case".to_owned()]));
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert_eq!(app.get(&path, &w.ops).await.json["items"], json!([]));

    // The type comes from the bytes; names are made safe; text loses its secrets.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    let r = app
        .upload(
            &path,
            &w.ops,
            &[
                ("../../evil.html", png.clone()),
                (
                    "photo.png",
                    b"<html><script>alert(1)</script></html>".to_vec(),
                ),
                (
                    "notes.txt",
                    b"client_secret=hunter2-PLANTED-c1 and Bearer abcdef0123456789xyz".to_vec(),
                ),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let files = r.json["attachments"].as_array().unwrap();
    assert_eq!(files[0]["file_name"], "evil.html");
    assert_eq!(files[0]["content_type"], "image/png");
    assert_eq!(files[1]["content_type"], "text/plain; charset=utf-8");
    assert_eq!(
        files[2]["secrets_removed"]["removed"][0]["kind"], "authorization",
        "{}",
        files[2]
    );
    let (_, headers, body) = app
        .download(files[1]["url"].as_str().unwrap(), &w.ops)
        .await;
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(find(&body, "alert(1)"), "other files are kept as they came");
    let (_, _, body) = app
        .download(files[2]["url"].as_str().unwrap(), &w.ops)
        .await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("abcdef0123456789xyz"),
        "{text}"
    );
    let (_, _, body) = app
        .download(files[0]["url"].as_str().unwrap(), &w.ops)
        .await;
    assert_eq!(body, png);
    // Equal content is stored once.
    let r = app.upload(&path, &w.ops, &[("again.png", png)], None).await;
    assert_eq!(r.status, 201);
    assert_eq!(app.stored_files().len(), 3);
    // A program is refused, by its content or by a name Windows runs, with what to send.
    let mut pe = b"MZ".to_vec();
    pe.resize(0x40, 0);
    pe[0x3c] = 0x40;
    pe.extend_from_slice(b"PE\0\0");
    pe.resize(0x200, 0);
    for (name, bytes) in [
        ("tool.bin", pe),
        ("setup.exe", b"plain text really".to_vec()),
    ] {
        let r = app.upload(&path, &w.ops, &[(name, bytes)], None).await;
        assert_eq!(r.status, 422, "{name}: {}", r.json);
        assert_eq!(r.error_fields(), vec!["files[0]"]);
        assert!(
            r.json.to_string().contains("does not keep programs"),
            "{}",
            r.json
        );
    }
    assert_eq!(app.stored_files().len(), 3, "nothing of a program was kept");
}
both!(files_are_limited_typed_and_named_safely);

async fn only_those_who_see_the_case_see_its_files(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Private files")).await;
    let g = app.open_case(&w.globex, globex_case("Globex files")).await;
    let path = format!("/api/v1/cases/{n}/attachments");
    let r = app
        .upload(&path, &w.ops, &[("a.txt", b"acme only".to_vec())], None)
        .await;
    assert_eq!(r.status, 201);
    let url = r.json["attachments"][0]["url"].as_str().unwrap().to_owned();

    // Another account, and a teammate not on the case, learn nothing and store nothing.
    for token in [&w.globex, &w.teammate] {
        assert_eq!(app.get(&path, token).await.status, 404);
        assert_eq!(app.download(&url, token).await.0, 404);
        let r = app
            .upload(&path, token, &[("x.txt", b"x".to_vec())], None)
            .await;
        assert_eq!(r.status, 404, "{}", r.json);
    }
    // An attachment id of one case is not found through another case.
    let other = url.replace(&format!("/cases/{n}/"), &format!("/cases/{g}/"));
    assert_eq!(app.download(&other, &w.globex).await.0, 404);

    // Support attaches internally: customers never see it.
    let r = app
        .upload(
            &format!("{path}?internal=true"),
            &w.agent,
            &[("internal.txt", b"agent notes".to_vec())],
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let internal_url = r.json["attachments"][0]["url"].as_str().unwrap().to_owned();
    assert_eq!(app.download(&internal_url, &w.ops).await.0, 404);
    assert_eq!(app.download(&internal_url, &w.agent).await.0, 200);
    assert_eq!(
        app.get(&path, &w.ops).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get(&path, &w.agent).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = app
        .upload(
            &format!("{path}?internal=true"),
            &w.ops,
            &[("x.txt", b"x".to_vec())],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["internal".to_owned()])
    );
    assert!(
        events(&app, n, &w.ops)
            .await
            .iter()
            .filter(|e| e["kind"] == "attachments_added")
            .count()
            == 1
    );
}
both!(only_those_who_see_the_case_see_its_files);

async fn a_case_opens_with_its_files_or_not_at_all(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let mut case = acme_case("Opened with a capture");
    case["context"] = json!({});
    let capture = har_corpus::authorize_refused();
    let r = app
        .upload(
            "/api/v1/cases",
            &w.ops,
            &[
                (capture.name, capture.bytes.clone()),
                ("screen.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
            ],
            Some(&case),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["attachments"].as_array().unwrap().len(), 2);
    // The sign-in broke when the IdP sent the error back to the application's callback.
    assert_eq!(
        r.json["context"]["correlation_id"], "app-req-a3",
        "filled from the failing step: {}",
        r.json
    );
    assert_eq!(r.json["context"]["endpoint_path"], "/callback");
    assert_eq!(r.json["context"]["token_flow"], "authorization_code");
    let n = r.json["number"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/attachments"), &w.ops)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A refused capture opens nothing.
    let before = app.get("/api/v1/cases?view=all", &w.ops).await.json["items"]
        .as_array()
        .unwrap()
        .len();
    let mut bad = case.clone();
    bad["priority"] = json!("P9");
    for (file, body, field) in [
        (
            ("broken.har", b"{\"log\":".to_vec()),
            Some(&case),
            "files[0]",
        ),
        (("a.txt", b"x".to_vec()), None, "case"),
        (("a.txt", b"x".to_vec()), Some(&bad), "priority"),
    ] {
        let r = app.upload("/api/v1/cases", &w.ops, &[file], body).await;
        assert_eq!(
            (r.status, r.error_fields()),
            (422, vec![field.to_owned()]),
            "{}",
            r.json
        );
    }
    let after = app.get("/api/v1/cases?view=all", &w.ops).await.json["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
    // Plain JSON creates still work and keep their limit.
    let r = app.post("/api/v1/cases", &w.ops, acme_case("plain")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert!(r.json.get("attachments").is_none());
}
both!(a_case_opens_with_its_files_or_not_at_all);

async fn attachments_are_deleted_after_the_case_closes(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Retention")).await;
    let keep = app.open_case(&w.ops, acme_case("Still open")).await;
    let same = b"the same bytes on two cases".to_vec();
    for case in [n, keep] {
        let r = app
            .upload(
                &format!("/api/v1/cases/{case}/attachments"),
                &w.ops,
                &[("shared.txt", same.clone())],
                None,
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let r = app
        .upload(
            &format!("/api/v1/cases/{n}/attachments"),
            &w.ops,
            &[("own.txt", b"only here".to_vec())],
            None,
        )
        .await;
    let own_url = r.json["attachments"][0]["url"].as_str().unwrap().to_owned();
    assert_eq!(app.stored_files().len(), 2);
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/propose-resolution"),
            &w.agent,
            json!({"body": "Fixed."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/confirm-resolution"),
            &w.ops,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // A closed case takes no more files.
    let r = app
        .upload(
            &format!("/api/v1/cases/{n}/attachments"),
            &w.ops,
            &[("late.txt", b"late".to_vec())],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.json);

    let cfg = app.attachments.clone();
    let now = casedesk_core::now();
    let swept =
        casedesk_core::attachments::sweep(app.store.as_ref(), app.blobs.as_ref(), &cfg, now)
            .await
            .unwrap();
    assert_eq!(swept, 0, "not before the retention period");
    let later = now
        .checked_add(jiff::SignedDuration::from_hours(24 * 7 + 1))
        .unwrap();
    let swept =
        casedesk_core::attachments::sweep(app.store.as_ref(), app.blobs.as_ref(), &cfg, later)
            .await
            .unwrap();
    assert_eq!(swept, 1);
    let (status, _, _) = app.download(&own_url, &w.ops).await;
    assert_eq!(status, 410);
    let items = app
        .get(&format!("/api/v1/cases/{n}/attachments"), &w.ops)
        .await
        .json["items"]
        .clone();
    assert!(
        items
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["deleted_at"].is_string()),
        "{items}"
    );
    let deleted = events(&app, n, &w.ops)
        .await
        .into_iter()
        .find(|e| e["kind"] == "attachments_deleted")
        .unwrap();
    assert_eq!(deleted["data"]["retention_days"], 7);
    assert_eq!(deleted["data"]["files"], json!(["shared.txt", "own.txt"]));
    // The shared content stays for the open case; the other is gone from disk.
    assert_eq!(app.stored_files().len(), 1);
    let r = app
        .get(&format!("/api/v1/cases/{keep}/attachments"), &w.ops)
        .await;
    let (status, _, body) = app
        .download(r.json["items"][0]["url"].as_str().unwrap(), &w.ops)
        .await;
    assert_eq!((status, body), (200, same));
    let again =
        casedesk_core::attachments::sweep(app.store.as_ref(), app.blobs.as_ref(), &cfg, later)
            .await
            .unwrap();
    assert_eq!(again, 0);
}
both!(attachments_are_deleted_after_the_case_closes);

async fn secrets_in_case_texts_are_replaced_and_the_author_told(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let token = har_corpus::jwt("d1", json!({"iss": "https://idp.example"}));
    let mut case = acme_case("Token fails");
    case["description"] = json!(format!(
        "Our API rejects {token} with 401. Config: client_secret=PLANTED-d2-secret"
    ));
    let r = app.post("/api/v1/cases", &w.ops, case).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let n = r.json["number"].as_i64().unwrap();
    let d = r.json["description"].as_str().unwrap();
    assert!(
        d.contains("[REDACTED:jwt]") && d.contains("client_secret=[REDACTED:secret_parameter]"),
        "{d}"
    );
    let kinds: Vec<&str> = r.json["secrets_removed"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["jwt", "secret_parameter"]);
    assert_eq!(r.json["secrets_removed"]["fields"], json!(["description"]));
    assert!(
        r.json["secrets_removed"]["advice"]
            .as_str()
            .unwrap()
            .contains("rotate")
    );

    // A reply and an internal note are scrubbed too; the notice is on their timeline events.
    let r = app
        .post(&format!("/api/v1/cases/{n}/replies"), &w.ops, json!({"body": "Here is our key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqPLANTED-d3\n-----END PRIVATE KEY-----"}))
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.json);
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/notes"),
            &w.agent,
            json!({"body": "customer pasted Bearer PLANTED-d4-0123456789abcdef"}),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.json);
    let timeline = events(&app, n, &w.agent).await;
    let reply = timeline.iter().find(|e| e["kind"] == "reply").unwrap();
    assert_eq!(
        reply["data"]["secrets_removed"]["removed"][0]["kind"], "private_key",
        "{reply}"
    );
    assert!(
        reply["data"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Here is our key:\n[REDACTED:private_key]")
    );
    let note = timeline.iter().find(|e| e["kind"] == "note").unwrap();
    assert_eq!(
        note["data"]["secrets_removed"]["removed"][0]["kind"], "authorization",
        "{note}"
    );
    let stored = app.everything_stored().await;
    for s in [
        token.split('.').nth(2).unwrap(),
        "PLANTED-d2-secret",
        "PLANTED-d3",
        "PLANTED-d4",
    ] {
        assert!(!find(&stored, s), "{s} was stored");
    }
}
both!(secrets_in_case_texts_are_replaced_and_the_author_told);

/// A reply by email with a HAR capture, a log and a secret in its text, as a mail client
/// writes it (multipart/mixed, base64 parts).
fn email_with_files(n: i64, har: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    format!(
        "Authentication-Results: mx.casedesk.test; dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example\r\n\
         From: Olivia Park <ops@acme.example>\r\nTo: support@casedesk.test\r\n\
         Subject: Re: [casedesk #{n}] Sign-in refused\r\nMessage-ID: <files-1@acme.example>\r\n\
         In-Reply-To: <case-{n}@casedesk.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Here is the capture. Our client_secret=PLANTED-e1-secret if you need it.\r\n\r\n\
         --b1\r\nContent-Type: application/json; name=\"capture.har\"\r\n\
         Content-Disposition: attachment; filename=\"capture.har\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --b1\r\nContent-Type: text/plain; name=\"app.log\"\r\n\
         Content-Disposition: attachment; filename=\"app.log\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --b1--\r\n",
        b64(har),
        b64(b"10:00 GET /userinfo 401 Authorization: Bearer PLANTED-e2-0123456789abcdef\n")
    )
    .into_bytes()
}

async fn email_attachments_take_the_same_path(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let gate = app
        .token(
            "mia@support.example",
            &[casedesk_core::users::Scope::MailIngest],
        )
        .await;
    let n = app.open_case(&w.ops, acme_case("Sign-in refused")).await;
    let capture = har_corpus::authorize_refused();
    let r = app
        .mailgate(&gate, &email_with_files(n, &capture.bytes))
        .await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);

    let items = app
        .get(&format!("/api/v1/cases/{n}/attachments"), &w.ops)
        .await
        .json["items"]
        .clone();
    let kinds: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["har", "file"], "{items}");
    let timeline = events(&app, n, &w.agent).await;
    let reply = timeline.iter().find(|e| e["kind"] == "reply").unwrap();
    assert!(
        reply["data"]["body"]
            .as_str()
            .unwrap()
            .contains("client_secret=[REDACTED:secret_parameter]"),
        "{reply}"
    );
    let listed = &reply["data"]["email"]["attachments"];
    assert_eq!(listed[0]["stored_as"], "capture.har", "{listed}");
    assert!(listed[1]["secrets_removed"].is_object(), "{listed}");
    let evidence = timeline
        .iter()
        .find(|e| e["kind"] == "har_evidence")
        .unwrap();
    assert_eq!(
        evidence["data"]["summary"]["oauth_errors"][0]["error"],
        "access_denied"
    );

    // Nothing planted is kept: not in the case files, not in the kept message.
    let stored = app.everything_stored().await;
    let mut planted = capture.secrets.clone();
    planted.extend([
        "PLANTED-e1-secret".to_owned(),
        "PLANTED-e2-0123456789abcdef".to_owned(),
    ]);
    for s in &planted {
        assert!(!find(&stored, s), "{s} was stored");
    }
    let log = app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
    let id = log.json["received"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, original) = app
        .download(&format!("/api/v1/inbound/email/{id}"), &w.agent)
        .await;
    assert_eq!(status, 200);
    let original = String::from_utf8(original).unwrap();
    assert!(
        original.contains("X-Casedesk-Kept: text with secrets removed")
            && original.contains("capture.har"),
        "{original}"
    );
    // The kept message is well-formed MIME: it reads back, its text part decodes.
    let marks = casedesk_mail::inbound::Marks {
        message_id_domain: "casedesk.test".into(),
        tag_prefix: "casedesk".into(),
        max_bytes: 1 << 24,
        authserv_id: "mx.casedesk.test".into(),
    };
    let back = casedesk_mail::inbound::read(original.as_bytes(), &marks).unwrap();
    assert!(back.text.contains("Here is the capture"), "{}", back.text);
    assert!(
        back.text.contains("[REDACTED:secret_parameter]"),
        "{}",
        back.text
    );

    // A capture that cannot be read is refused on its own; the message still counts.
    let broken = email_with_files(n, b"{\"log\": {\"entries\": [")
        .into_iter()
        .collect::<Vec<u8>>();
    let broken = String::from_utf8(broken)
        .unwrap()
        .replace("files-1@", "files-2@");
    let r = app.mailgate(&gate, broken.as_bytes()).await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);
    let timeline = events(&app, n, &w.agent).await;
    let last = timeline
        .iter()
        .rev()
        .find(|e| e["kind"] == "reply")
        .unwrap();
    assert_eq!(
        last["data"]["email"]["attachments"][0]["accepted"], false,
        "{last}"
    );
    assert!(
        last["data"]["email"]["attachments"][0]["refused"]
            .as_str()
            .unwrap()
            .contains("cut short"),
        "{last}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/attachments"), &w.ops)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A message with files that our border did not vouch for is held: its files are kept,
    // scrubbed, inside its stored original (nothing planted anywhere), and releasing it
    // posts them with the reply.
    let unverified = String::from_utf8(email_with_files(n, &capture.bytes))
        .unwrap()
        .replace("files-1@", "files-3@")
        .replace("dmarc=pass", "dmarc=fail");
    let r = app.mailgate(&gate, unverified.as_bytes()).await;
    assert_eq!(r.json["outcome"], "held", "{}", r.json);
    let held_id = r.json["id"].as_str().unwrap().to_owned();
    let stored = app.everything_stored().await;
    for s in &planted {
        assert!(!find(&stored, s), "{s} was stored while held");
    }
    let (_, _, kept) = app
        .download(&format!("/api/v1/inbound/email/{held_id}"), &w.agent)
        .await;
    let back = casedesk_mail::inbound::read(&kept, &marks).unwrap();
    assert_eq!(
        back.attachments
            .iter()
            .map(|a| a.name.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["capture.har", "app.log"],
        "the held files travel with the kept message"
    );
    let r = app
        .post(
            &format!("/api/v1/inbound/email/{held_id}/release"),
            &w.agent,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.json["outcome"], "posted", "{}", r.json);
    let files = app
        .get(&format!("/api/v1/cases/{n}/attachments"), &w.ops)
        .await
        .json["items"]
        .clone();
    assert_eq!(files.as_array().unwrap().len(), 5, "{files}");
    let stored = app.everything_stored().await;
    for s in &planted {
        assert!(!find(&stored, s), "{s} was stored after the release");
    }
}
both!(email_attachments_take_the_same_path);

async fn content_goes_to_s3_compatible_storage_when_configured(b: Backend) {
    let s3 = casedesk_testkit::s3::S3Server::start().await;
    let app = spawn_app_with(
        b,
        Options {
            attachments: casedesk_core::attachments::AttachmentConfig {
                s3: Some(s3.settings()),
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("On S3")).await;
    let capture = har_corpus::token_refused();
    let r = app
        .upload(
            &format!("/api/v1/cases/{n}/attachments"),
            &w.ops,
            &[
                (capture.name, capture.bytes.clone()),
                ("diagram.pdf", b"%PDF-1.7\nbinary".to_vec()),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let keys = s3.keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with("attachments/")),
        "{keys:?}"
    );
    assert!(app.stored_files().is_empty(), "nothing in the data folder");
    for k in &keys {
        let body = s3.object(k).await;
        for s in &capture.secrets {
            assert!(!find(&body, s), "{s} reached the bucket");
        }
    }
    let pdf = r.json["attachments"][1]["url"].as_str().unwrap().to_owned();
    let (status, _, body) = app.download(&pdf, &w.ops).await;
    assert_eq!((status, body), (200, b"%PDF-1.7\nbinary".to_vec()));

    // Retention removes the objects.
    app.post(
        &format!("/api/v1/cases/{n}/propose-resolution"),
        &w.agent,
        json!({"body": "Done."}),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/confirm-resolution"),
            &w.ops,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let later = casedesk_core::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 8))
        .unwrap();
    let swept = casedesk_core::attachments::sweep(
        app.store.as_ref(),
        app.blobs.as_ref(),
        &app.attachments,
        later,
    )
    .await
    .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(s3.keys().await, Vec::<String>::new());
    assert_eq!(app.download(&pdf, &w.ops).await.0, 410);
}
both!(content_goes_to_s3_compatible_storage_when_configured);
