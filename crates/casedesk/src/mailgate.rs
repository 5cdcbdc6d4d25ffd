//! `casedesk mailgate`: reads one received message on stdin and hands it to a casedesk server,
//! so any MTA can deliver to casedesk with a pipe (Postfix `pipe`, Exim `pipe` transport,
//! a `.forward` or aliases line). The exit status follows `sysexits.h`, which MTAs understand:
//! 0 done, 65 the message is refused for good (the MTA bounces it with our words on stderr),
//! 75 try again later, 77 the credential is refused, 64 bad usage.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// The gate's settings.
#[derive(Debug, Args)]
pub struct MailgateArgs {
    /// Base address of the casedesk server, e.g. https://support.example.com.
    #[arg(long, env = "CASEDESK_MAILGATE_URL")]
    pub url: String,
    /// An API token with the mail:ingest scope (better: the environment variable, or a file).
    #[arg(long, env = "CASEDESK_MAILGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the token.
    #[arg(long, env = "CASEDESK_MAILGATE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Seconds to wait for the server.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// Exit statuses of `sysexits.h`.
const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_TEMPFAIL: u8 = 75;
const EX_NOPERM: u8 = 77;

/// Refuses to read more than this from stdin; the server's own limit is usually lower.
const MAX_READ: u64 = 64 * 1024 * 1024;

/// Runs the gate; the result is the exit status.
pub async fn run(args: MailgateArgs) -> u8 {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) if !t.trim().is_empty() => t.trim().to_owned(),
        (_, Some(f)) => match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
            Ok(_) => {
                return fail(
                    EX_USAGE,
                    &format!("the token file {} is empty", f.display()),
                );
            }
            Err(e) => {
                return fail(
                    EX_TEMPFAIL,
                    &format!("cannot read the token file {}: {e}", f.display()),
                );
            }
        },
        _ => {
            return fail(
                EX_USAGE,
                "no token: set CASEDESK_MAILGATE_TOKEN or --token-file (a token with the mail:ingest scope)",
            );
        }
    };
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_READ + 1).read_to_end(&mut raw) {
        return fail(
            EX_TEMPFAIL,
            &format!("cannot read the message from stdin: {e}"),
        );
    }
    if raw.len() as u64 > MAX_READ {
        return fail(
            EX_DATAERR,
            &format!("the message is larger than {MAX_READ} bytes and was not delivered"),
        );
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .build()
    {
        Ok(c) => c,
        Err(e) => return fail(EX_TEMPFAIL, &format!("cannot start the HTTP client: {e}")),
    };
    let url = format!("{}/api/v1/inbound/email", args.url.trim_end_matches('/'));
    let answer = client
        .post(&url)
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await;
    let res = match answer {
        Ok(r) => r,
        Err(e) => return fail(EX_TEMPFAIL, &format!("cannot reach {url}: {e}")),
    };
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
    match status {
        200 => {
            println!(
                "{} {}{}",
                body["outcome"].as_str().unwrap_or("done"),
                body["case"]
                    .as_i64()
                    .map(|n| format!("case {n}"))
                    .unwrap_or_else(|| "no case".into()),
                if body["duplicate"] == serde_json::Value::Bool(true) {
                    " (received before)"
                } else {
                    ""
                }
            );
            0
        }
        413 | 422 | 400 => fail(EX_DATAERR, &detail(&body, status)),
        401 | 403 => fail(EX_NOPERM, &detail(&body, status)),
        _ => fail(EX_TEMPFAIL, &detail(&body, status)),
    }
}

/// The server's words: the problem's detail and each field's reason (an MTA puts them into
/// the bounce, so the sender learns why).
fn detail(body: &serde_json::Value, status: u16) -> String {
    let mut s = body["detail"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the server answered {status}"));
    for e in body["errors"].as_array().into_iter().flatten() {
        if let (Some(f), Some(m)) = (e["field"].as_str(), e["message"].as_str()) {
            s.push_str(&format!(" {f}: {m}."));
        }
    }
    s
}

fn fail(code: u8, msg: &str) -> u8 {
    eprintln!("casedesk mailgate: {msg}");
    code
}
