//! A real headless Chromium (Debian's `chromium`), driven over WebDriver through Debian's
//! `chromedriver`, both installed by `scripts/test`. A test that needs the browser fails
//! with the install command when it is missing; it never skips.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
pub use thirtyfour;
use thirtyfour::prelude::*;

/// A browser session against one casedesk server.
pub struct Browser {
    /// The WebDriver session.
    pub driver: WebDriver,
    /// The server's base URL.
    pub base: String,
    _chromedriver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn tool(env: &str, default: &str) -> String {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: run `bash scripts/test`, which installs Debian's chromium and chromium-driver (or set {env})"
    );
    path
}

/// Where screenshots and other artifacts of the browser tests are written.
pub fn artifacts() -> PathBuf {
    let dir = std::env::var("CASEDESK_TEST_ARTIFACTS").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

/// The vendored axe-core (`crates/casedesk-testkit/browser`, installed by `scripts/test`).
fn axe_source() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run `bash scripts/test`, which installs axe-core from the npm registry",
            p.display()
        )
    })
}

/// Starts chromedriver on a free port and opens a headless Chromium session.
pub async fn browser(base: &str) -> Browser {
    let chromium = tool("CASEDESK_TEST_CHROMIUM", "/usr/bin/chromium");
    let chromedriver = tool("CASEDESK_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = tokio::process::Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let status = format!("http://127.0.0.1:{port}/status");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if client
            .get(&status)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "chromedriver did not start on port {port}");
    let profile = tempfile::tempdir().expect("profile folder");
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(&chromium).expect("binary");
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1280,1000",
        &format!("--user-data-dir={}", profile.path().display()),
    ] {
        caps.add_arg(arg).expect("argument");
    }
    let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
        .await
        .expect("open a Chromium session");
    Browser {
        driver,
        base: base.to_owned(),
        _chromedriver: child,
        _profile: profile,
    }
}

impl Browser {
    /// Opens a path of the server.
    pub async fn open(&self, path: &str) {
        self.driver
            .goto(format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    /// The element with this CSS selector, waiting up to 10 s for it.
    pub async fn el(&self, css: &str) -> WebElement {
        match self
            .driver
            .query(By::Css(css))
            .wait(Duration::from_secs(10), Duration::from_millis(50))
            .first()
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let url = self.driver.current_url().await.map(|u| u.to_string());
                let text = self.driver.source().await.unwrap_or_default();
                panic!("no element {css} on {url:?}: {e}\n{text}")
            }
        }
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.el("body").await.text().await.expect("text")
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        self.driver
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    /// Sets a form field's value by its name (selects, dates and text alike), as a person
    /// choosing it would.
    pub async fn set(&self, name: &str, value: &str) {
        let r = self
            .driver
            .execute(
                "const el = document.querySelector(`[name=\"${arguments[0]}\"]`); if (!el) return false; \
                 el.value = arguments[1]; el.dispatchEvent(new Event('change', {bubbles: true})); return true;",
                vec![json!(name), json!(value)],
            )
            .await
            .expect("script");
        assert_eq!(r.json(), &json!(true), "no field named {name}");
    }

    /// Types into a field, firing the events a person's typing fires; a field in a folded
    /// section is unfolded first, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.el(css).await;
        self.driver
            .execute(
                "let d = arguments[0].closest('details'); while (d) { d.open = true; d = d.parentElement.closest('details'); }",
                vec![el.to_json().expect("element")],
            )
            .await
            .expect("unfold");
        el.send_keys(text).await.expect("type");
    }

    /// Submits a form as its submit button would, and waits for the next page.
    pub async fn submit(&self, form: &str) {
        let r = self
            .driver
            .execute(
                "const f = document.querySelector(arguments[0]); if (!f) return false; \
                 document.body.dataset.leaving = '1'; f.requestSubmit(); return true;",
                vec![json!(form)],
            )
            .await
            .expect("submit");
        assert_eq!(r.json(), &json!(true), "no form {form}");
        self.wait_for_next_page().await;
    }

    async fn wait_for_next_page(&self) {
        for _ in 0..200 {
            let r = self
                .driver
                .execute(
                    "return document.readyState === 'complete' && !!document.body && document.body.dataset.leaving === undefined",
                    Vec::<Value>::new(),
                )
                .await;
            if r.is_ok_and(|r| r.json() == &json!(true)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the next page did not load");
    }

    /// Signs in with a local password through the sign-in page.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.open("/auth/login").await;
        self.type_into("#email", email).await;
        self.type_into("#password", password).await;
        self.submit("form[action='/auth/login']").await;
        self.driver
            .query(By::Css("header.top .who form"))
            .wait(Duration::from_secs(10), Duration::from_millis(50))
            .first()
            .await
            .expect("signed in");
    }

    /// Signs out with the button of the page header.
    pub async fn sign_out(&self) {
        self.submit("header.top .who form").await;
        self.el("#email").await;
    }

    /// Saves a screenshot of the page as `<name>.png` among the test artifacts.
    pub async fn screenshot(&self, name: &str) {
        let path = artifacts().join(format!("{name}.png"));
        self.driver.screenshot(&path).await.expect("screenshot");
    }

    /// Runs axe-core on the page; answers its serious and critical violations.
    pub async fn accessibility_problems(&self) -> Vec<Value> {
        let loaded = self
            .driver
            .execute(
                format!("{}\n;return typeof axe;", axe_source()),
                Vec::<Value>::new(),
            )
            .await
            .expect("inject axe-core");
        assert_eq!(loaded.json(), &json!("object"), "axe-core did not load");
        let r = self
            .driver
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => \
                   ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))\
                 .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));",
                Vec::<Value>::new(),
            )
            .await
            .expect("run axe-core");
        r.json()
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect()
    }

    /// Ends the session.
    pub async fn quit(self) {
        let _ = self.driver.quit().await;
    }
}
