//! `/openapi.json` is the API: a valid OpenAPI 3.1 document (openapi-spec-validator),
//! conformant under schemathesis for a customer, an agent and a manager, and a client
//! generated from it (openapi-python-client) opens a case, pages through cases and uploads an
//! attachment. The tools are pinned and installed from PyPI by scripts/test
//! (`CASEDESK_TEST_API_TOOLS`); one run on SQLite, the API being the same on both backends.

use std::path::PathBuf;
use std::time::Duration;

use casedesk_testkit::{Backend, acme_case, spawn_app};

fn tools() -> PathBuf {
    let dir = std::env::var("CASEDESK_TEST_API_TOOLS").unwrap_or_else(|_| {
        panic!("CASEDESK_TEST_API_TOOLS is not set. Run the tests with scripts/test, which installs schemathesis, openapi-spec-validator and openapi-python-client.")
    });
    PathBuf::from(dir)
}

/// Runs a tool to its end (at most `limit`), panicking with its output when it fails.
async fn run(cmd: &mut tokio::process::Command, limit: Duration, what: &str) -> String {
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_conformant_and_generates_a_working_client() {
    let bin = tools();
    let app = spawn_app(Backend::Sqlite).await;
    let w = app.world().await;
    for i in 0..5 {
        app.open_case(&w.ops, acme_case(&format!("Redirect fails {i}")))
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let doc = reqwest::get(format!("{}/openapi.json", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, &doc).unwrap();

    run(
        tokio::process::Command::new(bin.join("openapi-spec-validator")).arg(&doc_path),
        Duration::from_secs(60),
        "openapi-spec-validator",
    )
    .await;

    // A client generated from the document does the everyday things.
    run(
        tokio::process::Command::new(bin.join("openapi-python-client"))
            .args(["generate", "--meta", "none", "--output-path"])
            .arg(dir.path().join("casedesk_client"))
            .arg("--path")
            .arg(&doc_path),
        Duration::from_secs(120),
        "openapi-python-client",
    )
    .await;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/generated_client.py");
    let out = run(
        tokio::process::Command::new(bin.join("python"))
            .arg(script)
            .arg(&app.base)
            .arg(&w.ops)
            .arg(acme_case("Opened by a generated client").to_string())
            .env("PYTHONPATH", dir.path()),
        Duration::from_secs(120),
        "the generated client",
    )
    .await;
    assert!(out.contains("ok"), "{out}");

    // Conformance for each kind of caller: no 5xx, every status, content type, header and
    // body as documented.
    for (who, token) in [
        ("customer", &w.ops),
        ("agent", &w.agent),
        ("manager", &w.manager),
    ] {
        let out = run(
            tokio::process::Command::new(bin.join("schemathesis"))
                .args(["run", &format!("{}/openapi.json", app.base)])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
                ])
                .args(["--phases", "examples,fuzzing", "--max-examples", "8"])
                // Revoking tokens it found would end the run's own credential halfway.
                .args(["--exclude-operation-id", "revoke"])
                .args(["--seed", "20261206", "--workers", "2", "--request-timeout", "20"])
                .arg("--no-color")
                .current_dir(dir.path()),
            Duration::from_secs(420),
            &format!("schemathesis as the {who}"),
        )
        .await;
        assert!(out.contains("passed"), "{who}: {out}");
    }
}
