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
    /// Elevated support contacts allowed per account, by plan tier.
    pub elevated_limits: ElevatedLimits,
    /// Sign-in: trusted OpenID Connect issuers, local passwords, sessions.
    #[serde(default)]
    pub auth: AuthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data: PathBuf::from("./casedesk-data"),
            database_url: None,
            elevated_limits: ElevatedLimits::default(),
            auth: AuthConfig::default(),
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
            .merge(Env::prefixed("CASEDESK_").only(&["listen", "data", "database_url"]))
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
        Ok(())
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
