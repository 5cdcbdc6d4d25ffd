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

/// The second round: the spellings a hostile tester found after the first (files that do not
/// look like text, captures wrapped or encoded, JSON lists of names and values, command lines,
/// configuration formats, header schemes, hidden characters), and ordinary text that must
/// survive untouched.
async fn hostile_spellings_leave_nothing_at_rest(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let planted: std::cell::RefCell<Vec<String>> = Default::default();
    let n = std::cell::Cell::new(0u32);
    // A unique made-up secret with digits and both letter cases.
    let p = || {
        n.set(n.get() + 1);
        let v = format!("Zq{}Planted{}x9Kw", n.get(), n.get() * 7919);
        planted.borrow_mut().push(v.clone());
        v
    };
    let ghp = || {
        n.set(n.get() + 1);
        let v = format!("ghp_{:0>36}", format!("PLANTEDgh{}", n.get()));
        planted.borrow_mut().push(v.clone());
        v
    };
    let texts = [
        format!(
            "AWS secret access key {}{}",
            "wJalrXUtnFEMIK7MDENGbPxRfiCY",
            p()
        ),
        format!(
            "User name,Access key ID,Secret access key\nbob,AKIAPLANTEDCSV000001,{}{}",
            "wJalrXUtnFEMIK7MDENGb",
            p()
        ),
        format!(
            "Set-AWSCredential -AccessKey AKIAPLANTEDPS0000001 -SecretKey {}",
            p()
        ),
        format!("jdbc:oracle:thin:scott/{}@db.example.com:1521:orcl", p()),
        format!("sqlplus scott/{}@ORCL", p()),
        format!("machine api.example.com login bob password {}", p()),
        format!("mysql -u root -p{}", p()),
        format!("curl --user=admin:{} https://x", p()),
        format!("curl -uadmin:{} https://x", p()),
        format!("redis-cli -h cache -a {} ping", p()),
        format!("sshpass -p '{}' ssh root@host", p()),
        format!("password: |\n    {}", p()),
        format!("password:\n    \"{}\"", p()),
        format!("env:\n  - name: DB_PASSWORD\n    value: {}", p()),
        format!("password = \"\"\"\n{}\"\"\"", p()),
        format!("<add key=\"ClientSecret\" value=\"{}\" />", p()),
        format!("<input type=\"password\" name=\"pwd\" value=\"{}\">", p()),
        format!("Ocp-Apim-Subscription-Key: {}", p()),
        format!("x-functions-key: {}", p()),
        format!("X-Session: {}", p()),
        format!(
            "Authorization: AWS4-HMAC-SHA256 Credential=AKID/1/us/s3/aws4_request, SignedHeaders=host, Signature={}",
            p()
        ),
        format!("Authorization: SharedKey myaccount:{}", p()),
        format!("Cookie: {}", p()),
        format!("https://storage.example/o?X-Goog-Signature={}", p()),
        format!("https://app/cb?oauth_token=abc&oauth_verifier={}", p()),
        format!("https://sso.example/sso?session={}", p()),
        format!("otp={}", p()),
        format!("pass: {}", p()),
        format!("Kennwort: {}", p()),
        format!("SLACK_WEBHOOK_URL=https://hooks.example.com/T0/{}", p()),
        format!("The new password is {} for the admin user", p()),
        format!("{{\"\\u0070assword\": \"{}\"}}", p()),
        format!("ｐａｓｓｗｏｒｄ={}", p()),
        format!("pass\u{200b}word={}", p()),
        format!("DB_PASSWORD=Ab1xyz;{}", p()),
        format!("password=Ab1xyz&{}", p()),
        format!("passphrase: correct horse {}", p()),
        format!("{{\"password\": \"Ab1x\\\"{}\"}}", p()),
        format!(
            "-----begin ec private key-----\n{}\n-----end ec private key-----",
            p()
        ),
        format!("leaked {}", ghp()),
    ];
    let mut body = acme_case("Hostile spellings");
    body["description"] = json!(texts.join("\n"));
    // A secret in one field, repeated in others.
    let repeated = p();
    body["steps_to_reproduce"] = json!(format!("export DB_PASSWORD={repeated}\n"));
    body["context"]["connection_name"] = json!(repeated);
    body["business_impact"] = json!(format!("retry with {repeated}"));
    // A client that puts a secret in its retry key: the key is only ever compared.
    let key = p();
    let created = app
        .call_with(
            "POST",
            "/api/v1/cases",
            Some(&w.ops),
            Some(&body),
            &[("Idempotency-Key", key.as_str())],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let case = created.json["number"].as_i64().unwrap();

    // Files that do not look like text at first sight.
    let pem = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE{}\n-----END OPENSSH PRIVATE KEY-----\n",
        p()
    );
    let utf16 = |t: &str| {
        t.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>()
    };
    let latin1 = |t: &str| t.chars().map(|c| c as u8).collect::<Vec<u8>>();
    let har = |cookie: &str| {
        json!({"log": {"version": "1.2", "entries": [{"startedDateTime": "2026-11-20T14:03:00Z",
            "request": {"method": "GET", "url": "https://idp.example/",
                "headers": [{"name": "Ocp-Apim-Subscription-Key", "value": cookie}],
                "cookies": [{"name": "sid", "value": cookie}]},
            "response": {"status": 200, "headers": [], "content": {"mimeType": "text/html", "text": ""}}}]}})
    };
    let c1 = p();
    let c2 = p();
    let c3 = p();
    let c4 = p();
    let mut nul_text = format!("build log {}\n", ghp()).into_bytes();
    nul_text.insert(3, 0);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("id_rsa".into(), pem.into_bytes()),
        ("deploy.log".into(), utf16(&format!("token {}\r\n", ghp()))),
        (
            "notes.txt".into(),
            latin1(&format!("Benutzer Müller token {}", ghp())),
        ),
        ("null.log".into(), nul_text),
        (
            "mz.log".into(),
            format!("MZ-cluster deploy log\ntoken {}", ghp()).into_bytes(),
        ),
        ("capture.json".into(), utf16(&har(&c1).to_string())),
        (
            "escaped.json".into(),
            har(&c2)
                .to_string()
                .replacen("\"log\"", "\"\\u006cog\"", 1)
                .into_bytes(),
        ),
        (
            "list.json".into(),
            json!([har(&c3)]).to_string().into_bytes(),
        ),
        (
            "commented.txt".into(),
            format!("{}\n// saved from chrome", har(&c4)).into_bytes(),
        ),
        (
            "config.json".into(),
            json!({
                "password": "Xq9!simple", "debug": "login with Xq9!simple failed",
                "client_secrets": [p()], "tokens": {"refresh": p()},
                "env": [{"name": "API_TOKEN", "value": p()}], "authorization_code": p(),
            })
            .to_string()
            .into_bytes(),
        ),
        (
            format!("debug-{}.log", ghp()),
            b"nothing secret here".to_vec(),
        ),
    ];
    planted.borrow_mut().push("Xq9!simple".into());
    let mut kinds: Vec<String> = Vec::new();
    for chunk in files.chunks(6) {
        let refs: Vec<(&str, Vec<u8>)> =
            chunk.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        let r = app
            .upload(
                &format!("/api/v1/cases/{case}/attachments"),
                &w.ops,
                &refs,
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        kinds.extend(
            r.json["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["kind"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(&kinds[5..9], ["har", "har", "har", "har"], "{kinds:?}");

    // A binary file whose readable parts hold a secret is refused, and says why.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(format!("tEXtComment password={}", p()).into_bytes());
    png.extend([0u8, 1, 2, 3, 250, 251]);
    let r = app
        .upload(
            &format!("/api/v1/cases/{case}/attachments"),
            &w.ops,
            &[("shot.png", png)],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert!(
        r.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot remove")
    );

    // A capture's less common places.
    let hv = (p(), p(), p(), p(), p(), p(), p(), p());
    let capture = json!({"log": {"version": "1.2", "entries": [{"startedDateTime": "2026-11-20T14:03:00Z",
        "request": {"method": "POST",
            "url": format!("https://sso.example/cb?X-Goog-Signature={}&session={}", hv.0, hv.1),
            "headers": [{"name": "x-functions-key", "value": hv.2}, {"name": "X-Passcode", "value": hv.3},
                        {"name": "Cookie", "value": hv.4}],
            "postData": {"mimeType": "application/json",
                "text": json!({"variables": {"input": [{"name": "password", "value": hv.5}]},
                               "data": {"login": {"session": hv.6}}}).to_string()}},
        "response": {"status": 200, "headers": [], "content": {"mimeType": "text/html",
            "text": format!("<form><textarea name=\"password\">{}</textarea><input name=\"wresult\" value=\"{}\"></form>", hv.7, p())}},
        "_webSocketMessages": [{"type": "send", "time": 1.0,
            "data": json!({"event": "pusher:subscribe", "data": {"auth": format!("key:{}", p())}}).to_string()}]}]}});
    let r = app
        .upload(
            &format!("/api/v1/cases/{case}/attachments"),
            &w.ops,
            &[("flow.har", serde_json::to_vec(&capture).unwrap())],
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);

    let stored = app.everything_stored().await;
    let planted = planted.into_inner();
    assert_none_stored(&stored, &planted);

    // Ordinary text stays as it was written.
    let plain = "Settings: csrf_protection: enabled, password_policy: strong, token_flow: authorization_code\n\
                 MFA is enabled for all users. We use the authorization_code grant; password_reset: allowed; \
                 token_lifetime=3600; SKU 4711; secretsmanager:GetSecretValue failed for arn:aws:secretsmanager:eu-west-1:123456789012:secret:x";
    let mut body = acme_case("Ordinary words");
    body["description"] = json!(plain);
    let created = app.post("/api/v1/cases", &w.ops, body).await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["description"], plain, "{}", created.json);
}
both!(hostile_spellings_leave_nothing_at_rest);
