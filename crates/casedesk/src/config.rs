//! Configuration: one typed struct from defaults, an optional TOML file, `CASEDESK_*`
//! environment variables and command-line flags (later sources win), validated at start.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use casedesk_auth::AuthConfig;
use casedesk_core::permissions::ElevatedLimits;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything casedesk can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Data folder (SQLite database, later attachments and the outbox).
    pub data: PathBuf,
    /// Database URL; empty means SQLite inside the data folder.
    pub database_url: Option<String>,
    /// How long requests wait on the database, and PostgreSQL's session limits.
    #[serde(default)]
    pub database: casedesk_store::DbConfig,
    /// Elevated support contacts allowed per account, by plan tier.
    pub elevated_limits: ElevatedLimits,
    /// Sign-in: trusted OpenID Connect issuers, local passwords, sessions.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The key (32 bytes, base64) that seals webhook signing secrets in the database. Empty:
    /// a key kept in `secret.key` in the data folder, created on first start. Nodes sharing
    /// a database must share the key.
    #[serde(default)]
    pub secret_key: Option<String>,
    /// Background jobs and housekeeping.
    #[serde(default)]
    pub jobs: casedesk_jobs::JobsConfig,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: casedesk_jobs::WebhookConfig,
    /// The email channel: outbox or SMTP relay, sender, subject tag, mail gate limits.
    #[serde(default)]
    pub mail: casedesk_mail::MailConfig,
    /// The status page: regions shown and the components in each (with the issue areas a
    /// matching case is filed under).
    #[serde(default)]
    pub status: casedesk_core::status::StatusConfig,
    /// Attachments: per-file and HAR limits, retention after a case closes (per plan).
    /// Content is stored in `attachments/` inside the data folder.
    #[serde(default)]
    pub attachments: casedesk_core::attachments::AttachmentConfig,
    /// The API's request budgets per credential and per client address.
    #[serde(default)]
    pub rate_limits: casedesk_web::limits::RateLimits,
    /// Listener timeouts and connection caps.
    #[serde(default)]
    pub http: casedesk_web::server::HttpLimits,
    /// Who may read `/metrics`, and where.
    #[serde(default)]
    pub metrics: casedesk_web::metrics::MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data: PathBuf::from("./casedesk-data"),
            database_url: None,
            database: Default::default(),
            elevated_limits: ElevatedLimits::default(),
            auth: AuthConfig::default(),
            secret_key: None,
            jobs: Default::default(),
            webhooks: Default::default(),
            mail: Default::default(),
            status: Default::default(),
            attachments: Default::default(),
            rate_limits: Default::default(),
            http: Default::default(),
            metrics: Default::default(),
        }
    }
}

/// Values given on the command line (or through their documented env variables by clap).
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

impl Config {
    /// Loads and validates the configuration.
    pub fn load(file: Option<&PathBuf>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                bail!("the configuration file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        let fig = fig
            .merge(Env::prefixed("CASEDESK_").only(&[
                "listen",
                "data",
                "database_url",
                "secret_key",
            ]))
            // `CASEDESK_MAIL__SMTP__PASSWORD` and the like: the relay's secret stays out of files.
            .merge(
                Env::prefixed("CASEDESK_MAIL__")
                    .map(|k| format!("mail.{}", k.as_str().replace("__", ".")).into()),
            )
            // `CASEDESK_RATE_LIMITS__ENABLED=false` and the like (load tests from one address).
            .merge(
                Env::prefixed("CASEDESK_RATE_LIMITS__")
                    .map(|k| format!("rate_limits.{}", k.as_str()).into()),
            )
            // `CASEDESK_DATABASE__LOCK_TIMEOUT_MS=…` and the like.
            .merge(
                Env::prefixed("CASEDESK_DATABASE__")
                    .map(|k| format!("database.{}", k.as_str()).into()),
            )
            // `CASEDESK_HTTP__MAX_CONNECTIONS=…` and the like.
            .merge(Env::prefixed("CASEDESK_HTTP__").map(|k| format!("http.{}", k.as_str()).into()))
            // `CASEDESK_METRICS__TOKEN`: the scraper's credential stays out of files.
            .merge(
                Env::prefixed("CASEDESK_METRICS__")
                    .map(|k| format!("metrics.{}", k.as_str()).into()),
            )
            // `CASEDESK_ATTACHMENTS__S3__SECRET_ACCESS_KEY` and the like, for the same reason.
            .merge(
                Env::prefixed("CASEDESK_ATTACHMENTS__")
                    .map(|k| format!("attachments.{}", k.as_str().replace("__", ".")).into()),
            )
            .merge(Serialized::defaults(overrides));
        let cfg: Config = fig.extract().context("invalid configuration")?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen.parse::<SocketAddr>().with_context(|| {
            format!(
                "listen: {:?} is not an address such as 127.0.0.1:8080",
                self.listen
            )
        })?;
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            bail!("database-url: must start with sqlite:, postgres:// or postgresql://");
        }
        if let Err(e) = self.database.validate() {
            bail!("{e}");
        }
        self.rate_limits.validate().map_err(anyhow::Error::msg)?;
        self.http.validate().map_err(anyhow::Error::msg)?;
        self.metrics.validate().map_err(anyhow::Error::msg)?;
        for i in &self.auth.issuers {
            i.validate()?;
            if i.client_id.is_some() && self.auth.public_url.is_none() {
                bail!(
                    "auth.public_url: must be set when issuer {} offers web sign-in (the redirect URI is built from it)",
                    i.name
                );
            }
        }
        if let Some(u) = &self.auth.public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            bail!("auth.public_url: must be an http:// or https:// URL");
        }
        if self.auth.session_hours == 0 || self.auth.session_hours > 24 * 30 {
            bail!("auth.session_hours: must be 1 to 720");
        }
        self.jobs.validate().map_err(anyhow::Error::msg)?;
        self.webhooks.validate().map_err(anyhow::Error::msg)?;
        self.mail.validate().map_err(anyhow::Error::msg)?;
        self.status.validate(None).map_err(anyhow::Error::msg)?;
        if let Err(casedesk_core::DomainError::Validation(errors)) = self.attachments.validate() {
            let text: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            bail!("{}", text.join("; "));
        }
        // A send is a few commands, each with this timeout; it must end well inside the job's
        // lease, or another node could send the same message again.
        if self.mail.transport == casedesk_mail::TransportKind::Smtp
            && self.mail.smtp.timeout_seconds * 3 >= self.jobs.lease_seconds
        {
            bail!(
                "mail.smtp.timeout_seconds: must be less than a third of jobs.lease_seconds ({})",
                self.jobs.lease_seconds
            );
        }
        if let Some(k) = self.secret_key.as_deref().filter(|k| !k.is_empty()) {
            casedesk_auth::sealing::ServerKey::from_base64(k)
                .map_err(|_| anyhow::anyhow!("secret_key: must be 32 bytes in base64 (make one with: head -c32 /dev/urandom | base64)"))?;
        }
        Ok(())
    }

    /// The key sealing stored secrets: configured, or kept in the data folder (created with
    /// owner-only permissions on first use).
    pub fn server_key(&self) -> anyhow::Result<casedesk_auth::sealing::ServerKey> {
        use casedesk_auth::sealing::ServerKey;
        if let Some(k) = self.secret_key.as_deref().filter(|k| !k.is_empty()) {
            return ServerKey::from_base64(k).map_err(|e| anyhow::anyhow!("secret_key: {e}"));
        }
        let path = self.data.join("secret.key");
        if !path.exists() {
            std::fs::create_dir_all(&self.data).with_context(|| {
                format!("cannot create the data folder {}", self.data.display())
            })?;
            let text = ServerKey::generate_base64().map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(&path) {
                Ok(mut f) => std::io::Write::write_all(&mut f, text.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?,
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        ServerKey::from_base64(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The database URL to use, creating the data folder for the embedded default.
    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(u) if !u.is_empty() => Ok(u.clone()),
            _ => {
                std::fs::create_dir_all(&self.data).with_context(|| {
                    format!("cannot create the data folder {}", self.data.display())
                })?;
                let path = self.data.join("casedesk.db");
                Ok(format!("sqlite://{}", path.display()))
            }
        }
    }
}
