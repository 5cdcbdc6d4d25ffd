//! No secret at rest: secrets planted the ways a hostile tester planted them (AWS secret keys
//! in every common form, well-known token formats, tokens inside encoded parameters, custom
//! session headers, WebSocket messages, hidden password inputs, passphrase fields, captures
//! with a byte-order mark or gzipped) leave none of them, raw, base64, base64url or
//! URL-encoded, in the database or anywhere under the data folder. Every value is made up for
//! this test and unique, so finding its bytes means it was stored.

use base64::Engine;
use casedesk_core::users::Scope;
use casedesk_testkit::{Backend, acme_case, both, spawn_app};
use serde_json::{Value, json};

/// Each planted value in the forms it must not be found in.
fn spellings(v: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    vec![
        v.to_owned(),
        STANDARD.encode(v),
        URL_SAFE_NO_PAD.encode(v),
        url::form_urlencoded::byte_serialize(v.as_bytes()).collect(),
    ]
}

fn assert_none_stored(stored: &[u8], planted: &[String]) {
    let mut kept = Vec::new();
    for p in planted {
        for form in spellings(p) {
            if stored.windows(form.len()).any(|w| w == form.as_bytes()) {
                kept.push(form);
            }
        }
    }
    assert!(kept.is_empty(), "stored: {kept:#?}");
}

fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A capture with secrets where the evidence reader looks, and where it does not.
fn capture(planted: &mut Vec<String>) -> Value {
    let mut p = |v: &str| {
        planted.push(v.to_owned());
        v.to_owned()
    };
    let session = p("7c1e9d2a-5b4f-4e3a-9c8d-PLANTEDsess01");
    let in_redirect = p("ENCODEDtokenPLANTED0123456789ab");
    let in_error = p("ErrorDescSecretPLANTED42xyz");
    let ws = p("WebSocketTokenPLANTED9f8e7d6c5b");
    let hidden = p("HiddenInputPasswordPLANTED77");
    let phrase = p("passphrase PLANTED words 93");
    let state_token = p("StateEmbeddedTokenPLANTED5566aa");
    let cookie = p("CookieValuePLANTED0011223344");
    let state = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"return_to": "/home", "access_token": state_token}).to_string());
    let redirect = format!("https://app.acme.example/cb?token={in_redirect}&x=1");
    json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [
        {"startedDateTime": "2026-11-20T14:03:00Z", "time": 10,
         "request": {"method": "GET",
            "url": format!("https://idp.example/oauth2/v1/authorize?client_id=app&response_type=code&redirect_uri={}&state={state}", enc(&redirect)),
            "headers": [{"name": "X-Session-Id", "value": session},
                        {"name": "Cookie", "value": format!("idx={cookie}")}],
            "cookies": [{"name": "idx", "value": cookie}], "queryString": []},
         "response": {"status": 302, "headers": [{"name": "Location",
            "value": format!("https://app.acme.example/cb?error=invalid_client&error_description={}", enc(&format!("client_secret={in_error} was refused")))}],
            "content": {"mimeType": "text/html",
                "text": format!("<form><input type=\"hidden\" name=\"password\" value=\"{hidden}\"></form>")}},
         "_webSocketMessages": [{"type": "send", "time": 1.0,
            "data": json!({"op": "auth", "token": ws}).to_string()}]},
        {"startedDateTime": "2026-11-20T14:03:01Z", "time": 10,
         "request": {"method": "POST", "url": "https://idp.example/api/v1/authn",
            "headers": [], "cookies": [],
            "postData": {"mimeType": "application/json",
                "text": json!({"username": "olivia", "passphrase": phrase}).to_string()}},
         "response": {"status": 401, "headers": [], "content": {"mimeType": "application/json",
            "text": "{\"errorCode\":\"E0000004\",\"errorSummary\":\"Authentication failed\"}"}}}
    ]}})
}

async fn planted_secrets_leave_nothing_at_rest(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let planted: std::cell::RefCell<Vec<String>> = Default::default();
    let p = |v: &str| {
        planted.borrow_mut().push(v.to_owned());
        v.to_owned()
    };

    // Case texts: AWS secret keys in every common form and well-known token formats.
    let description = format!(
        "Our deploy logs show:\n\
         aws_secret_access_key = {}\n\
         export AWS_SECRET_ACCESS_KEY={}\n\
         {{\"SecretAccessKey\": \"{}\", \"AccessKeyId\": \"AKIAPLANTEDQWERTY123\"}}\n\
         git remote uses {} and the CI {}\n\
         slack {} stripe {} google {}\n\
         gitlab {} sendgrid {}\n\
         DB_PASSWORD={}\n\
         postgres://svc:{}@db.internal/app and X-Api-Key: {}",
        p("Plnt1SecretAccessKeyAAAAbbbbCCCCdddd0001"),
        p("Plnt2SecretAccessKeyAAAAbbbbCCCCdddd0002"),
        p("Plnt3SecretAccessKeyAAAAbbbbCCCCdddd0003"),
        p("ghp_PLANTEDaaaaBBBBccccDDDDeeeeFFFF1234"),
        p(
            "github_pat_11PLANTED0aaaaBBBBccccDDDD_eeeeFFFFggggHHHHiiiiJJJJkkkkLLLLmmmmNNNNooooPPPPqqqq12"
        ),
        p("xoxb-2222222222-3333333333333-PLANTEDslackTOKENxyz"),
        p("sk_live_51PLANTEDstripeKEYabcdefghij"),
        p("AIzaSyPLANTEDgoogleKEY0123456789abcdefg"),
        p("glpat-PLANTEDgitlab0123456"),
        p("SG.PLANTEDsendgrid0123456.PLANTEDsendgridSECONDpart0123456789abcdefgh"),
        p("Sup3rSecretDbPasswordPLANTED"),
        p("ConnStrPasswordPLANTED99"),
        p("ApiKeyHeaderValuePLANTED12345"),
    );
    p("AKIAPLANTEDQWERTY123");
    let mut body = acme_case("Deploy fails with signature errors");
    body["description"] = json!(description);
    let created = app.post("/api/v1/cases", &w.ops, body).await;
    assert_eq!(created.status, 201, "{}", created.json);
    let n = created.json["number"].as_i64().unwrap();
    assert!(
        created.json["secrets_removed"]["removed"]
            .as_array()
            .is_some_and(|r| r.iter().any(|k| k["kind"] == "aws_secret_key")),
        "the notice names the AWS secret key: {}",
        created.json["secrets_removed"]
    );

    // A reply with more, and a private key.
    let reply = format!(
        "Also tried {} and passphrase: {}\n-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----",
        p("sk-proj-PLANTEDopenaiKEY0123456789abcdefghijklmnopqrstuv"),
        p("correct-horse-PLANTED-battery"),
        p("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABPLANTED"),
    );
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/replies"),
            &w.ops,
            json!({"body": reply}),
        )
        .await;
    assert!(r.status < 300, "{}", r.json);

    // Files: a text log, a capture named .json with a byte-order mark, a gzipped capture.
    let log = format!(
        "2026-11-20T14:03:00Z curl -u deploy:{} https://api.example\nAuthorization: Bearer {}\n",
        p("CurlUserPasswordPLANTED55"),
        p("BearerInLogPLANTED.0123456789abcdef"),
    );
    let mut with_bom = vec![0xEF, 0xBB, 0xBF];
    with_bom.extend(serde_json::to_vec(&capture(&mut planted.borrow_mut())).unwrap());
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&serde_json::to_vec(&capture(&mut planted.borrow_mut())).unwrap())
            .unwrap();
        e.finish().unwrap()
    };
    let r = app
        .upload(
            &format!("/api/v1/cases/{n}/attachments"),
            &w.ops,
            &[
                ("deploy.log", log.into_bytes()),
                ("export.json", with_bom),
                ("capture.har.gz", gz),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let kinds: Vec<&str> = r.json["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["file", "har", "har"], "{}", r.json);
    assert_eq!(r.json["attachments"][2]["file_name"], "capture.har");

    // An archive is refused with what to send instead, and nothing of it is kept.
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00capture.har-PLANTED-in-zip".to_vec();
    let r = app
        .upload(
            &format!("/api/v1/cases/{n}/attachments"),
            &w.ops,
            &[("capture.zip", zip)],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    let why = r.json["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(why.contains("zip archive") && why.contains("gzip"), "{why}");
    p("capture.har-PLANTED-in-zip");

    // An email reply with secrets in its body.
    let gate = app.token("mia@support.example", &[Scope::MailIngest]).await;
    let mail = format!(
        "From: Olivia Park <ops@acme.example>\r\nTo: support@casedesk.test\r\n\
         Subject: Re: [casedesk #{n}] Deploy fails\r\nMessage-ID: <planted-1@acme.example>\r\n\
         Authentication-Results: mx.casedesk.test; spf=pass; dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         The token we use is {} and client_secret={}\r\n",
        p("xoxp-1111111111-2222222222-PLANTEDemailSlack"),
        p("EmailClientSecretPLANTED0099"),
    );
    let r = app.mailgate(&gate, mail.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.json);

    // The agent's view keeps the evidence, drawn from the scrubbed capture.
    let ev = app
        .get(&format!("/api/v1/cases/{n}/events"), &w.agent)
        .await;
    let summary = ev.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "har_evidence")
        .map(|e| e["data"]["summary"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(
        summary["oauth_errors"][0]["error"], "invalid_client",
        "{summary}"
    );

    let stored = app.everything_stored().await;
    let planted = planted.into_inner();
    assert_none_stored(&stored, &planted);
    assert!(planted.len() > 30, "{} planted", planted.len());
}
both!(planted_secrets_leave_nothing_at_rest);
