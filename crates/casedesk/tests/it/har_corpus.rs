//! HAR captures written for the tests, each with secrets planted in every place a browser
//! puts them, and the list of what was planted. Every planted value is unique, so finding
//! any of its bytes after an upload means it was stored.

use base64::Engine;
use serde_json::{Value, json};

fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A signed-looking JWT whose payload and signature are unique to `label`.
pub fn jwt(label: &str, claims: Value) -> String {
    let header = b64url(&json!({"alg": "RS256", "kid": "key-1", "typ": "JWT"}));
    let mut c = claims;
    c["sub"] = json!(format!("subject-{label}"));
    c["email"] = json!(format!("{label}@people.example"));
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("signature-bytes-of-{label}-0123456789"));
    format!("{header}.{}.{sig}", b64url(&c))
}

fn header(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn entry(
    at: &str,
    method: &str,
    url: &str,
    req_headers: Vec<Value>,
    status: i64,
    res_headers: Vec<Value>,
) -> Value {
    json!({
        "startedDateTime": at, "time": 42,
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1",
                    "cookies": [], "headers": req_headers, "queryString": [],
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                     "cookies": [], "headers": res_headers,
                     "content": {"size": 0, "mimeType": "text/html", "text": ""},
                     "redirectURL": "", "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 1, "wait": 40, "receive": 1}
    })
}

fn har(entries: Vec<Value>, extra: Value) -> Value {
    let mut log = json!({
        "version": "1.2",
        "creator": {"name": "casedesk test corpus", "version": "1"},
        "pages": [], "entries": entries
    });
    if let (Some(l), Some(e)) = (log.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            l.insert(k.clone(), v.clone());
        }
    }
    json!({"log": log})
}

/// A capture, its planted secrets and what its summary must say.
pub struct Capture {
    /// File name.
    pub name: &'static str,
    /// The file.
    pub bytes: Vec<u8>,
    /// Values that must never be stored.
    pub secrets: Vec<String>,
}

/// A code flow that the IdP refuses at authorize time: the user is not assigned.
pub fn authorize_refused() -> Capture {
    let idp = "https://login.acme-idp.example";
    let bearer = "opaque-bearer-PLANTED-a1-0123456789abcdef";
    let mut e1 = entry(
        "2026-11-20T14:03:00.100Z",
        "GET",
        &format!(
            "{idp}/oauth2/v1/authorize?client_id=app_abc&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fapp.acme.example%2Fcallback&state=STATE-PLANTED-a2&nonce=NONCE-PLANTED-a3&login_hint=PLANTED-a4%40acme.example"
        ),
        vec![
            header(
                "Cookie",
                "sid=SESSION-PLANTED-a5; JSESSIONID=JSESSION-PLANTED-a6",
            ),
            header(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0",
            ),
        ],
        302,
        vec![
            header(
                "Location",
                &format!("{idp}/login?stateToken=STATETOKEN-PLANTED-a7"),
            ),
            header("X-Okta-Request-Id", "req-okta-a1"),
            header(
                "Set-Cookie",
                "idx=IDX-PLANTED-a8; Path=/; Secure; HttpOnly; SameSite=None",
            ),
            header("Date", "Fri, 20 Nov 2026 14:02:30 GMT"),
        ],
    );
    e1["request"]["cookies"] = json!([{"name": "sid", "value": "SESSION-PLANTED-a5"}]);
    let mut e2 = entry(
        "2026-11-20T14:03:05.000Z",
        "POST",
        &format!("{idp}/api/v1/authn"),
        vec![
            header("Authorization", &format!("Bearer {bearer}")),
            header("X-Api-Key", "APIKEY-PLANTED-a9"),
            header("Content-Type", "application/json"),
        ],
        200,
        vec![header("X-Okta-Request-Id", "req-okta-a2")],
    );
    e2["request"]["postData"] = json!({"mimeType": "application/json",
        "text": json!({"username": "PLANTED-a10@acme.example", "password": "PASSWORD-PLANTED-a11",
                       "options": {"warnBeforePasswordExpired": true}}).to_string()});
    e2["response"]["content"] = json!({"size": 80, "mimeType": "application/json",
        "text": json!({"status": "SUCCESS", "sessionToken": "SESSIONTOKEN-PLANTED-a12"}).to_string()});
    let e3 = entry(
        "2026-11-20T14:03:06.000Z",
        "GET",
        "https://app.acme.example/callback?error=access_denied&error_description=User+is+not+assigned+to+the+client+application.&state=STATE-PLANTED-a2",
        vec![header(
            "Referer",
            &format!("{idp}/login?stateToken=STATETOKEN-PLANTED-a7"),
        )],
        400,
        vec![header("X-Request-Id", "app-req-a3")],
    );
    let doc = har(
        vec![e1, e2, e3],
        json!({"comment": "captured by support with Authorization: Bearer opaque-comment-PLANTED-a13-0123456789"}),
    );
    Capture {
        name: "authorize-refused.har",
        bytes: serde_json::to_vec_pretty(&doc).unwrap_or_default(),
        secrets: [
            bearer,
            "STATE-PLANTED-a2",
            "NONCE-PLANTED-a3",
            "PLANTED-a4",
            "SESSION-PLANTED-a5",
            "JSESSION-PLANTED-a6",
            "STATETOKEN-PLANTED-a7",
            "IDX-PLANTED-a8",
            "APIKEY-PLANTED-a9",
            "PLANTED-a10",
            "PASSWORD-PLANTED-a11",
            "SESSIONTOKEN-PLANTED-a12",
            "opaque-comment-PLANTED-a13-0123456789",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    }
}

/// A code flow that reaches the application, whose token request is refused with
/// `invalid_grant`; tokens of an earlier session travel in every other place.
pub fn token_refused() -> Capture {
    let idp = "https://acme.eu.idp.example";
    let id_token = jwt(
        "b1",
        json!({"iss": idp, "aud": "app_abc", "exp": 1_795_000_000, "nonce": "n"}),
    );
    let access = jwt(
        "b2",
        json!({"iss": idp, "aud": "api://default", "scope": "openid profile", "exp": 1_795_000_000}),
    );
    let refresh = "REFRESH-PLANTED-b3-0123456789";
    let assertion = jwt(
        "b4",
        json!({"iss": "app_abc", "aud": format!("{idp}/oauth2/token")}),
    );
    let ws = jwt("b5", json!({"iss": idp}));
    let b64_body = base64::engine::general_purpose::STANDARD.encode(
        json!({"access_token": "BASE64BODY-PLANTED-b6", "token_type": "Bearer"}).to_string(),
    );
    let saml = base64::engine::general_purpose::STANDARD.encode(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"PLANTED-b7\"><saml:Assertion>PLANTED-b8</saml:Assertion></samlp:Response>",
    );
    let e1 = entry(
        "2026-11-20T09:00:00.000Z",
        "GET",
        &format!(
            "{idp}/authorize?response_type=code&client_id=app_abc&redirect_uri=https%3A%2F%2Fapp.acme.example%2Fcb&state=STATE-PLANTED-b9&code_challenge=CHALLENGE-b10&code_challenge_method=S256"
        ),
        vec![header("Cookie", "auth0=COOKIE-PLANTED-b11")],
        302,
        vec![header(
            "Location",
            "https://app.acme.example/cb?code=CODE-PLANTED-b12&state=STATE-PLANTED-b9",
        )],
    );
    let mut e2 = entry(
        "2026-11-20T09:00:01.000Z",
        "GET",
        "https://app.acme.example/cb?code=CODE-PLANTED-b12&state=STATE-PLANTED-b9",
        vec![],
        200,
        vec![],
    );
    e2["request"]["queryString"] = json!([{"name": "code", "value": "CODE-PLANTED-b12"},
                                          {"name": "state", "value": "STATE-PLANTED-b9"}]);
    e2["response"]["content"] = json!({"size": 300, "mimeType": "text/html",
        "text": format!("<form method=post action=\"/x\"><input type=\"hidden\" name=\"id_token\" value=\"{id_token}\"><input name='code' type='hidden' value='FORMPOST-PLANTED-b13'></form>")});
    let mut e3 = entry(
        "2026-11-20T09:00:02.000Z",
        "POST",
        &format!("{idp}/oauth2/token"),
        vec![
            header(
                "Authorization",
                "Basic YXBwX2FiYzpDTElFTlRTRUNSRVQtUExBTlRFRC1iMTQ=",
            ),
            header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
        400,
        vec![
            header("X-Auth0-RequestId", "auth0-req-b1"),
            header("Content-Type", "application/json"),
        ],
    );
    e3["request"]["postData"] = json!({"mimeType": "application/x-www-form-urlencoded",
        "text": format!("grant_type=authorization_code&code=CODE-PLANTED-b12&redirect_uri=https%3A%2F%2Fapp.acme.example%2Fcb&code_verifier=VERIFIER-PLANTED-b15&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}&client_secret=CLIENTSECRET-PLANTED-b16"),
        "params": [{"name": "client_secret", "value": "CLIENTSECRET-PLANTED-b16"},
                   {"name": "code_verifier", "value": "VERIFIER-PLANTED-b15"}]});
    e3["response"]["content"] = json!({"size": 90, "mimeType": "application/json",
        "text": json!({"error": "invalid_grant", "error_description": "The authorization code is invalid or has expired."}).to_string()});
    let mut e4 = entry(
        "2026-11-20T09:00:03.000Z",
        "POST",
        &format!("{idp}/oauth2/token"),
        vec![],
        200,
        vec![],
    );
    e4["request"]["postData"] = json!({"mimeType": "application/x-www-form-urlencoded",
        "text": format!("grant_type=refresh_token&refresh_token={refresh}")});
    e4["response"]["content"] = json!({"size": 90, "mimeType": "application/json",
        "text": json!({"access_token": access, "id_token": id_token, "refresh_token": refresh,
                       "device_code": "DEVICECODE-PLANTED-b17"}).to_string()});
    let mut e5 = entry(
        "2026-11-20T09:00:04.000Z",
        "GET",
        &format!(
            "https://app.acme.example/spa#access_token={access}&id_token={id_token}&token_type=Bearer"
        ),
        vec![
            header("Authorization", &format!("Bearer {access}")),
            header(
                "Proxy-Authorization",
                "Basic cHJveHk6UFJPWFktUExBTlRFRC1iMTg=",
            ),
            header("X-CSRF-Token", "CSRF-PLANTED-b19"),
        ],
        200,
        vec![],
    );
    e5["response"]["content"] = json!({"size": 60, "mimeType": "application/json",
        "encoding": "base64", "text": b64_body});
    e5["_webSocketMessages"] = json!([{"type": "send", "time": 1.0, "opcode": 1,
        "data": format!("{{\"auth\": \"{ws}\"}}")}]);
    e5["_initiator"] = json!({"type": "script", "url": format!("https://app.acme.example/app.js?token={refresh}")});
    let mut e6 = entry(
        "2026-11-20T09:00:05.000Z",
        "POST",
        "https://app.acme.example/saml/acs",
        vec![],
        500,
        vec![header("X-Request-Id", "app-req-b2")],
    );
    e6["request"]["postData"] = json!({"mimeType": "application/x-www-form-urlencoded",
        "params": [{"name": "SAMLResponse", "value": saml}, {"name": "RelayState", "value": "RELAY-PLANTED-b20"}],
        "text": format!("SAMLResponse={}&RelayState=RELAY-PLANTED-b20", saml.replace('+', "%2B").replace('=', "%3D"))});
    e6["response"]["content"] = json!({"size": 20, "mimeType": "application/javascript",
        "text": "var key = 'SCRIPT-PLANTED-b21';"});
    let doc = har(
        vec![e1, e2, e3, e4, e5, e6],
        json!({"pages": [{"startedDateTime": "2026-11-20T09:00:00.000Z", "id": "page_1",
                          "title": format!("https://app.acme.example/spa#id_token={id_token}"),
                          "pageTimings": {}}]}),
    );
    let mut secrets: Vec<String> = [
        refresh,
        "STATE-PLANTED-b9",
        "COOKIE-PLANTED-b11",
        "CODE-PLANTED-b12",
        "FORMPOST-PLANTED-b13",
        "YXBwX2FiYzpDTElFTlRTRUNSRVQtUExBTlRFRC1iMTQ=",
        "VERIFIER-PLANTED-b15",
        "CLIENTSECRET-PLANTED-b16",
        "DEVICECODE-PLANTED-b17",
        "cHJveHk6UFJPWFktUExBTlRFRC1iMTg=",
        "CSRF-PLANTED-b19",
        "RELAY-PLANTED-b20",
        "SCRIPT-PLANTED-b21",
        b64_body.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    secrets.push(saml[..40].to_owned());
    for t in [&id_token, &access, &assertion, &ws] {
        // The payload and the signature, each alone: neither may be kept.
        let mut parts = t.split('.');
        parts.next();
        secrets.extend(parts.map(str::to_owned));
    }
    Capture {
        name: "token-refused.har",
        bytes: serde_json::to_vec(&doc).unwrap_or_default(),
        secrets,
    }
}
