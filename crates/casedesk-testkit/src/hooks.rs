//! A real webhook receiver on loopback (`op/receiver.mjs`, run by Node.js) that verifies
//! every delivery with the `standardwebhooks` npm package, fails or stalls on request, and
//! can be stopped and started again on the same port.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One delivery as the receiver saw it.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    /// Path it was posted to.
    pub path: String,
    /// `webhook-id`.
    pub id: String,
    /// Which attempt of this id (1 = first).
    pub attempt: u32,
    /// `webhook-timestamp`.
    pub timestamp: Option<String>,
    /// `webhook-signature`.
    pub signature: Option<String>,
    /// Whether `standardwebhooks` accepted the signature with one of the path's secrets.
    pub verified: bool,
    /// Which secret verified it (index into the path's secrets).
    pub verified_with: Option<usize>,
    /// What the receiver answered.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

/// How a path of the receiver behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Secrets to verify with.
    pub secrets: Vec<String>,
    /// The first N attempts of each webhook-id answer 503.
    pub fail_first: u32,
    /// The first N attempts of each webhook-id wait `delay_ms` first.
    pub slow_first: u32,
    /// How long slow answers take.
    pub delay_ms: u64,
    /// Status of the other answers (default 204).
    pub status: Option<u16>,
}

/// A running receiver.
pub struct Receiver {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    http: reqwest::Client,
}

impl Receiver {
    /// Starts a receiver on `port` (0: any free port).
    pub async fn start(port: u16) -> Receiver {
        let dir = crate::op::dir();
        assert!(
            dir.join("node_modules/standardwebhooks").exists(),
            "the webhook verifier is not installed; run the tests with scripts/test, which runs `npm ci` in {}",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("receiver.mjs"))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (scripts/test installs it)");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("receiver did not start within 30 s")
            .expect("read receiver output")
            .expect("receiver exited");
        let v: Value = serde_json::from_str(&line).expect("receiver ready line");
        Receiver {
            child: Some(child),
            port: v["port"].as_u64().expect("port") as u16,
            http: reqwest::Client::new(),
        }
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sets how a path behaves.
    pub async fn configure(&self, path: &str, b: &Behaviour) {
        let r = self
            .http
            .post(self.url("/control"))
            .json(&json!({
                "path": path, "secrets": b.secrets, "fail_first": b.fail_first,
                "slow_first": b.slow_first, "delay_ms": b.delay_ms, "status": b.status.unwrap_or(204),
            }))
            .send()
            .await
            .expect("configure receiver");
        assert!(r.status().is_success());
    }

    /// Every delivery seen, and how often one webhook-id was in flight twice at once.
    pub async fn log(&self) -> (Vec<Received>, u64) {
        let v: Value = self
            .http
            .get(self.url("/log"))
            .send()
            .await
            .expect("receiver log")
            .json()
            .await
            .expect("log json");
        let items = serde_json::from_value(v["received"].clone()).expect("received");
        (items, v["overlaps"].as_u64().unwrap_or(0))
    }

    /// Waits until `pred` holds for the log (polling), or panics after `secs`.
    pub async fn wait_for(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let end = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let (log, _) = self.log().await;
            if pred(&log) {
                return log;
            }
            if std::time::Instant::now() > end {
                panic!("timed out waiting for {what}; the receiver saw {log:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops it (the port then refuses connections).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
            let _ = c.wait().await;
        }
    }
}
