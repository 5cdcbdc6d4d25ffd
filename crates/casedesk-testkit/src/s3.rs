//! A real S3-compatible server on loopback for the attachment tests: moto's server (from
//! PyPI, pinned; `scripts/test` installs it in a virtual environment and names the program in
//! `CASEDESK_TEST_MOTO`). A test without it fails loudly; it never skips.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Environment variable naming moto's `moto_server` program.
pub const MOTO_ENV: &str = "CASEDESK_TEST_MOTO";

/// A running S3-compatible server with one bucket; killed when dropped.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub endpoint: String,
    /// The bucket made for the test.
    pub bucket: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl S3Server {
    /// Starts the server and makes a bucket.
    pub async fn start() -> S3Server {
        let program = std::env::var(MOTO_ENV).unwrap_or_else(|_| {
            panic!("{MOTO_ENV} is not set. Run the tests with scripts/test, which installs moto's server and sets it.")
        });
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let endpoint = format!("http://127.0.0.1:{port}");
        let bucket = format!("casedesk-{}", uuid::Uuid::new_v4().simple());
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.put(format!("{endpoint}/{bucket}")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto's server did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        S3Server {
            child,
            endpoint,
            bucket,
        }
    }

    /// Settings for casedesk to store attachments here.
    pub fn settings(&self) -> casedesk_core::attachments::S3Settings {
        casedesk_core::attachments::S3Settings {
            bucket: self.bucket.clone(),
            region: "us-east-1".into(),
            endpoint: Some(self.endpoint.clone()),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            allow_http: true,
            prefix: "attachments".into(),
        }
    }

    /// The keys of every object in the bucket (moto's list, read as text).
    pub async fn keys(&self) -> Vec<String> {
        let text = reqwest::get(format!("{}/{}?list-type=2", self.endpoint, self.bucket))
            .await
            .expect("list")
            .text()
            .await
            .expect("list text");
        text.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next().map(str::to_owned))
            .collect()
    }

    /// An object's content.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        reqwest::get(format!("{}/{}/{key}", self.endpoint, self.bucket))
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes")
            .to_vec()
    }
}
