//! Scrubs and summarises a generated HAR capture of a given size and prints the time and the
//! peak heap, counted by this binary's allocator (its own binary, so no other benchmark pays
//! for the counting).
//!
//! `cargo run --release -p casedesk-bench --bin har-scrub -- --mb 25 --rounds 5`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use base64::Engine;
use casedesk_core::diagnostics::har;
use casedesk_core::diagnostics::secrets::Tag;
use serde_json::{Value, json};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = NOW.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                NOW.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One entry of a sign-in capture: headers, cookies, a query with a code, a JSON body with
/// tokens, and an HTML, script or image response.
fn entry(i: usize) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwt = format!(
        "{}.{}.{}",
        b64.encode(r#"{"alg":"RS256","kid":"k1"}"#),
        b64.encode(format!(
            r#"{{"iss":"https://idp.example","sub":"user-{i}","aud":"app","exp":1795000000}}"#
        )),
        b64.encode(format!("signature-{i:08}-0123456789abcdef0123456789abcdef"))
    );
    let (mime, text) = match i % 4 {
        0 => ("application/json", json!({"access_token": jwt, "refresh_token": format!("rt-{i:012}"), "expires_in": 3600, "scope": "openid profile"}).to_string()),
        1 => ("text/html", format!("<html><body><form method=post><input type=hidden name=code value=\"code-{i}\"><input type=hidden name=state value=s{i}></form>{}</body></html>", "<p>Sign in to continue to the application.</p>".repeat(40))),
        2 => ("application/javascript", "function f(a){return a*2}\n".repeat(120)),
        _ => ("application/json", json!({"items": (0..30).map(|k| json!({"id": k, "name": format!("item {k}"), "updated": "2026-11-20T09:00:00Z"})).collect::<Vec<_>>()}).to_string()),
    };
    json!({
        "startedDateTime": "2026-11-20T09:00:00.000Z", "time": 12.5,
        "request": {"method": if i.is_multiple_of(5) { "POST" } else { "GET" },
            "url": format!("https://idp.example/oauth2/v1/authorize?client_id=app&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=st{i}&code_challenge=c{i}"),
            "httpVersion": "HTTP/2",
            "cookies": [{"name": "sid", "value": format!("sid-{i:016}")}, {"name": "idx", "value": format!("idx-{i:016}")}],
            "headers": [
                {"name": "Cookie", "value": format!("sid=sid-{i:016}; idx=idx-{i:016}")},
                {"name": "Authorization", "value": format!("Bearer {jwt}")},
                {"name": "User-Agent", "value": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"},
                {"name": "Accept", "value": "text/html,application/json"},
                {"name": "X-Request-Id", "value": format!("req-{i}")}],
            "queryString": [{"name": "client_id", "value": "app"}, {"name": "state", "value": format!("st{i}")}],
            "postData": {"mimeType": "application/x-www-form-urlencoded",
                "text": format!("grant_type=authorization_code&code=code-{i}&client_secret=secret-{i}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb")},
            "headersSize": -1, "bodySize": -1},
        "response": {"status": if i % 50 == 7 { 400 } else { 200 }, "statusText": "OK", "httpVersion": "HTTP/2",
            "cookies": [{"name": "sid", "value": format!("new-{i:016}")}],
            "headers": [{"name": "Set-Cookie", "value": format!("sid=new-{i:016}; Path=/; Secure; HttpOnly")},
                        {"name": "Date", "value": "Fri, 20 Nov 2026 09:00:00 GMT"},
                        {"name": "Content-Type", "value": mime}],
            "content": {"size": text.len(), "mimeType": mime, "text": text},
            "redirectURL": "", "headersSize": -1, "bodySize": -1},
        "cache": {}, "timings": {"send": 0.1, "wait": 10.0, "receive": 2.4}
    })
}

fn capture(bytes: usize) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < bytes {
        let e = entry(i);
        size += e.to_string().len() + 1;
        entries.push(e);
        i += 1;
    }
    serde_json::to_vec(
        &json!({"log": {"version": "1.2", "creator": {"name": "bench", "version": "1"},
        "pages": [], "entries": entries}}),
    )
    .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|p| args.get(p + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mb = arg("--mb", 25);
    let rounds = arg("--rounds", 5);
    let file = capture(mb * 1024 * 1024);
    let Ok(tag) = Tag::keyed(&[9; 32]) else {
        eprintln!("no tag key");
        std::process::exit(1);
    };
    println!(
        "capture: {} bytes, {} MiB",
        file.len(),
        file.len() as f64 / 1048576.0
    );
    for round in 1..=rounds {
        let input = file.clone();
        // The peak counts the input itself: the upload buffer handed to the scrubber.
        let base = NOW.load(Ordering::Relaxed) - input.len();
        PEAK.store(NOW.load(Ordering::Relaxed), Ordering::Relaxed);
        let t = Instant::now();
        let out = har::scrub(input, &tag);
        let took = t.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - base;
        match out {
            Ok(s) => println!(
                "round {round}: {:.0} ms, peak heap {:.1} MiB = {:.2}× the file; scrubbed {} bytes, {} entries, removed {:?}",
                took.as_secs_f64() * 1000.0,
                peak as f64 / 1048576.0,
                peak as f64 / file.len() as f64,
                s.bytes.len(),
                s.summary["entries"],
                s.found.counts
            ),
            Err(e) => {
                eprintln!("refused: {e}");
                std::process::exit(1);
            }
        }
    }
}
