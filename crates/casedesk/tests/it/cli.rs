//! The administration commands and `serve`, run as the real binary.

use std::process::Output;

use casedesk_testkit::{Backend, both, test_db};
use serde_json::Value;

use crate::crash::start_binary;

pub(crate) fn casedesk(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk"));
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .env_remove("CASEDESK_DATABASE_URL")
        .env_remove("CASEDESK_DATA");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run casedesk")
}

pub(crate) fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

async fn admin_commands_print_json_and_the_token_works(b: Backend) {
    let db = test_db(b).await;
    let url = db.url.as_str();
    let acct = json_of(&casedesk(
        &[
            "--database-url",
            url,
            "account",
            "create",
            "--name",
            "Initech",
            "--plan",
            "home-grown",
            "--json",
        ],
        &[],
    ));
    let account_id = acct["id"].as_str().unwrap().to_owned();
    assert_eq!(acct["plan"], "home-grown");

    // By name and by id; the env variable selects the database as well as the flag.
    let t = json_of(&casedesk(
        &[
            "tenant",
            "create",
            "--account",
            "Initech",
            "--slug",
            "initech-prod",
            "--region",
            "eu",
            "--environment",
            "production",
            "--json",
        ],
        &[("CASEDESK_DATABASE_URL", url)],
    ));
    assert!(t["id"].is_string());
    json_of(&casedesk(
        &[
            "--database-url",
            url,
            "tenant",
            "create",
            "--account",
            &account_id,
            "--slug",
            "initech-dev",
            "--region",
            "apac",
            "--environment",
            "development",
            "--json",
        ],
        &[],
    ));
    let u = json_of(&casedesk(
        &[
            "--database-url",
            url,
            "user",
            "create",
            "--account",
            &account_id,
            "--email",
            "Ops@Initech.example",
            "--role",
            "admin",
            "--case-admin",
            "--elevated",
            "--json",
        ],
        &[],
    ));
    assert_eq!(u["email"], "ops@initech.example");
    assert_eq!(u["case_admin"], true);
    assert_eq!(u["elevated"], true);
    let a = json_of(&casedesk(
        &[
            "--database-url",
            url,
            "user",
            "create",
            "--email",
            "agent@support.example",
            "--role",
            "agent",
            "--queue",
            "identity",
            "--queue",
            "security",
            "--json",
        ],
        &[],
    ));
    assert_eq!(a["queues"], serde_json::json!(["identity", "security"]));
    let tok = json_of(&casedesk(
        &[
            "--database-url",
            url,
            "token",
            "create",
            "--user",
            "ops@initech.example",
            "--scope",
            "cases:read",
            "--json",
        ],
        &[],
    ));
    let token = tok["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cdk_"));
    assert!(tok["id"].is_string());
    assert_eq!(tok["scopes"], serde_json::json!(["cases:read"]));

    // Mistakes exit non-zero with a message naming the problem.
    for (args, needle) in [
        (
            vec!["account", "create", "--name", "X", "--plan", "diamond"],
            "plan",
        ),
        (
            vec!["account", "create", "--name", "Initech", "--plan", "gold"],
            "already exists",
        ),
        (
            vec![
                "tenant",
                "create",
                "--account",
                "Nope",
                "--slug",
                "nope-1",
                "--region",
                "eu",
                "--environment",
                "production",
            ],
            "Nope",
        ),
        (
            vec![
                "tenant",
                "create",
                "--account",
                "Initech",
                "--slug",
                "initech-prod",
                "--region",
                "eu",
                "--environment",
                "production",
            ],
            "already exists",
        ),
        (
            vec![
                "tenant",
                "create",
                "--account",
                "Initech",
                "--slug",
                "x",
                "--region",
                "mars",
                "--environment",
                "production",
            ],
            "region",
        ),
        (
            vec![
                "user",
                "create",
                "--email",
                "a@b.example",
                "--role",
                "admin",
            ],
            "account",
        ),
        (
            vec![
                "user",
                "create",
                "--email",
                "a@b.example",
                "--role",
                "agent",
                "--queue",
                "nowhere",
            ],
            "queue",
        ),
        (
            vec!["token", "create", "--user", "ghost@initech.example"],
            "ghost@initech.example",
        ),
        (
            vec![
                "token",
                "create",
                "--user",
                "ops@initech.example",
                "--scope",
                "everything",
            ],
            "scope",
        ),
    ] {
        let mut full = vec!["--database-url", url];
        full.extend(args.iter());
        let out = casedesk(&full, &[]);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }

    // The server started by the binary accepts the token, with its scopes.
    let server = start_binary(url, &db.dir.path().join("data")).await;
    let client = reqwest::Client::new();
    let me: Value = client
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ops@initech.example");
    let create = client
        .post(format!("{}/api/v1/cases", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        create.status().as_u16(),
        403,
        "a read-only token cannot open cases"
    );
}
both!(admin_commands_print_json_and_the_token_works);

#[tokio::test]
async fn serve_defaults_to_sqlite_in_the_data_folder_and_demo_fills_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh-data");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_casedesk"))
        .args(["serve", "--demo"])
        .env("CASEDESK_LISTEN", "127.0.0.1:0")
        .env("CASEDESK_DATA", &data)
        .env_remove("CASEDESK_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut tokens = std::collections::BTreeMap::new();
    let mut passwords = std::collections::BTreeMap::new();
    let mut last_email = String::new();
    let mut sign_in = String::new();
    let base = loop {
        let l = lines
            .next_line()
            .await
            .unwrap()
            .expect("output ended before listening");
        let t = l.trim();
        if let Some(at) = l.strip_prefix("Sign in:") {
            sign_in = at.trim().to_owned();
        } else if let Some(rest) = l.strip_prefix("casedesk listening on ") {
            break rest.split(' ').next().unwrap().to_owned();
        } else if let Some(tok) = t
            .strip_prefix("token")
            .map(str::trim)
            .filter(|x| x.starts_with("cdk_"))
        {
            tokens.insert(last_email.clone(), tok.to_owned());
        } else if let Some(pw) = t.strip_prefix("password ") {
            passwords.insert(last_email.clone(), pw.trim().to_owned());
        } else if let Some(e) = t.split_whitespace().next().filter(|e| e.contains('@')) {
            last_email = e.to_owned();
        }
    };
    assert!(
        data.join("casedesk.db").exists(),
        "SQLite file in the data folder"
    );
    // The demo names the address it really answers on, not a placeholder.
    assert_eq!(sign_in, format!("{base}/auth/login"));
    // The printed demo password signs in through the sign-in form.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(format!("{base}/auth/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::signin::csrf_in(&page);
    let email = "mia.manager@casedesk.example";
    let signed_in = browser
        .post(format!("{base}/auth/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", passwords[email].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "demo password signs in");
    let client = reqwest::Client::new();
    let get = |who: &str, path: &str| {
        let req = client
            .get(format!("{base}{path}"))
            .bearer_auth(tokens.get(who).cloned().unwrap_or_default());
        async move { req.send().await.unwrap() }
    };
    let all: Value = get("mia.manager@casedesk.example", "/api/v1/cases?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let statuses: std::collections::BTreeSet<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["closed", "new", "on_hold", "open", "pending", "solved"]
            .into_iter()
            .collect()
    );
    // A super admin of an account is among the printed credentials, and the token is theirs.
    let owner: Value = get("owner@eastwind.example", "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(owner["role"], "super-admin", "{owner}");
    assert_eq!(owner["case_admin"], true, "{owner}");
    assert_eq!(
        get("viewer@eastwind.example", "/api/v1/cases")
            .await
            .status()
            .as_u16(),
        403
    );
    let mine: Value = get("ops@eastwind.example", "/api/v1/cases")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["tenant"].as_str().unwrap().starts_with("eastwind"))
    );
    let first = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "open")
        .unwrap()["number"]
        .as_i64()
        .unwrap();
    let events: Value = get(
        "mia.manager@casedesk.example",
        &format!("/api/v1/cases/{first}/events"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        events["items"].as_array().unwrap().len() >= 4,
        "demo cases have timelines"
    );
    // Ninety days of history behind today's cases, so every report shows something true:
    // each week has cases, answers take different times, some clocks breached, cases were
    // rated, and questions were answered by the knowledge base.
    let since = casedesk_core::utc_date_after(casedesk_core::now(), -89);
    let csv = browser
        .get(format!("{base}/manage/reports.csv?since={since}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let weeks: Vec<Vec<&str>> = csv
        .lines()
        .filter(|l| l.starts_with("week,"))
        .map(|l| l.split(',').collect())
        .collect();
    assert!(weeks.len() >= 13, "{csv}");
    assert!(
        weeks.iter().all(|w| w[2].parse::<u64>().unwrap() > 0),
        "every week has cases: {csv}"
    );
    let medians: std::collections::BTreeSet<&str> = weeks.iter().map(|w| w[3]).collect();
    assert!(medians.len() > 5, "answers take different times: {csv}");
    assert!(
        weeks.iter().any(|w| w[5].parse::<f64>().unwrap() < 1.0),
        "some clocks breached: {csv}"
    );
    let page = browser
        .get(format!("{base}/manage/reports?since={since}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Deflection rate"),
        "questions answered by articles"
    );
    assert!(!page.contains("No case was rated"), "cases were rated");
    // The API's request budgets are on by default: guessed tokens are cut off with a 429.
    let mut cut = None;
    for i in 0..100 {
        let r = client
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(format!("cdk_guess{i:08}xxxxxxxxxxxx"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            cut = Some(r);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let cut = cut.expect("guessed tokens are cut off by default");
    assert!(cut.headers().get("retry-after").is_some());
    child.kill().await.unwrap();
}

/// The database's waits are set from the environment and checked at start: a value out of
/// range stops `serve` with a message naming the setting.
#[test]
fn database_waits_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = casedesk(
        &["serve", "--data", data, "--listen", "127.0.0.1:0"],
        &[("CASEDESK_DATABASE__ACQUIRE_TIMEOUT_MS", "0")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database.acquire_timeout_ms: must be 50 to 60000"),
        "{err}"
    );
}
