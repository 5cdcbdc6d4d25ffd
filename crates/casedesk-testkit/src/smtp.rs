//! A real SMTP server on loopback for the email tests: aiosmtpd (Debian's `python3-aiosmtpd`,
//! which `scripts/test` installs) running `smtp/sink.py`, which keeps every accepted message
//! with its envelope, refuses recipients named `refuse…` for good and `later…` for now.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One message as the server accepted it.
#[derive(Debug, Clone, Deserialize)]
pub struct Accepted {
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// The message.
    pub data: String,
    /// Whether it came over TLS.
    #[serde(default)]
    pub tls: bool,
    /// Who authenticated, if anyone.
    #[serde(default)]
    pub login: Option<String>,
}

impl Accepted {
    /// The value of header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A running SMTP server.
pub struct SmtpSink {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

fn python() -> &'static str {
    // Debian's interpreter holds the packaged aiosmtpd, whatever else is first on PATH.
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

impl SmtpSink {
    /// Starts the server; fails loudly when aiosmtpd is missing (run the tests with scripts/test).
    pub async fn start() -> SmtpSink {
        Self::spawn(false, None).await
    }

    /// Starts a server on `port` (a relay coming back where casedesk has been retrying).
    pub async fn start_on(port: u16) -> SmtpSink {
        Self::spawn(false, Some(port)).await
    }

    /// Starts a server that requires STARTTLS (a certificate for 127.0.0.1 from the test CA in
    /// `smtp/tls`) and then authentication as `casedesk` / `relay-secret`.
    pub async fn start_tls() -> SmtpSink {
        Self::spawn(true, None).await
    }

    /// The test CA's certificate.
    pub fn ca_file() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/tls/ca.pem")
    }

    async fn spawn(tls: bool, port: Option<u16>) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py");
        let mut cmd = Command::new(python());
        cmd.arg(&script).arg(dir.path().join("accepted"));
        if tls {
            cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/tls"));
        }
        if let Some(p) = port {
            cmd.env("SINK_PORT", p.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP test server (python3 with aiosmtpd; scripts/test installs it)");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP test server did not start in time")
            .expect("read")
            .expect("the SMTP test server ended before it was ready (is aiosmtpd installed?)");
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the SMTP server: {line}"));
        SmtpSink { child, port, dir }
    }

    /// The mail settings that send through this server.
    pub fn mail_config(&self) -> casedesk_mail::MailConfig {
        casedesk_mail::MailConfig {
            transport: casedesk_mail::TransportKind::Smtp,
            smtp: casedesk_mail::SmtpConfig {
                host: "127.0.0.1".into(),
                port: Some(self.port),
                security: casedesk_mail::Security::None,
                timeout_seconds: 5,
                ..Default::default()
            },
            ..test_mail_config()
        }
    }

    /// Every message accepted so far, in no particular order.
    pub fn accepted(&self) -> Vec<Accepted> {
        let Ok(rd) = std::fs::read_dir(self.dir.path().join("accepted")) else {
            return vec![];
        };
        rd.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// Waits until `pred` holds for the accepted messages (up to 20 s), and answers them.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Accepted]) -> bool) -> Vec<Accepted> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let all = self.accepted();
            if pred(&all) {
                return all;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; accepted so far: {all:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The mail settings of test servers: messages written to the outbox in the database's
/// folder, `Message-ID`s at `casedesk.test`, the subject tag `[casedesk #N]`.
pub fn test_mail_config() -> casedesk_mail::MailConfig {
    casedesk_mail::MailConfig {
        from: "casedesk support <support@casedesk.test>".into(),
        tag_prefix: "casedesk".into(),
        base_url: "http://casedesk.test".into(),
        // Our test border: mail the tests hand to the gate carries its verdicts under
        // this name (see `border` in the email tests), as a production MTA's would.
        authserv_id: "mx.casedesk.test".into(),
        // Short retries, so a test sees a deferred message tried again in seconds.
        retry: casedesk_mail::config::RetryConfig {
            first_seconds: 1,
            max_interval_seconds: 2,
            give_up_after_hours: 120,
            result_window_seconds: 10,
        },
        ..Default::default()
    }
}
