//! Command-line interface. The command and flag names are a stable interface.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use casedesk_core::accounts::{Environment, Plan, Region};
use casedesk_core::admin::{self, NewUser};
use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_core::users::{Role, Scope};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::config::{Config, Overrides};
use crate::demo;
use crate::shell::{explain, open_store, print};

/// casedesk: support cases for customers of an identity platform.
#[derive(Debug, Parser)]
#[command(name = "casedesk", version)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Selects the database (shared by every command).
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Data folder (SQLite database and files).
    #[arg(long, env = "CASEDESK_DATA", global = true)]
    pub data: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://…; default SQLite inside the data folder.
    #[arg(long, env = "CASEDESK_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Optional TOML configuration file.
    #[arg(long, env = "CASEDESK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CASEDESK_LISTEN")]
        listen: Option<String>,
        /// Fill an empty database with demo data and print how to use it.
        #[arg(long)]
        demo: bool,
    },
    /// Customer accounts.
    Account {
        #[command(subcommand)]
        cmd: AccountCmd,
    },
    /// Tenants of an account.
    Tenant {
        #[command(subcommand)]
        cmd: TenantCmd,
    },
    /// Users: account admins, agents and managers.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Create the first support manager with a generated password (only once).
    Bootstrap {
        /// The manager's email.
        #[arg(long)]
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Background jobs: list, retry a dead one, cancel.
    Jobs {
        #[command(subcommand)]
        cmd: crate::ops::JobsCmd,
    },
    /// The audit trail: verify its hash chain, export it.
    Audit {
        #[command(subcommand)]
        cmd: crate::ops::AuditCmd,
    },
    /// SLA calendars: when a target falls due, business time between two instants.
    Sla {
        #[command(subcommand)]
        cmd: crate::sla::SlaCmd,
    },
    /// The knowledge base: import entries.
    Kb {
        #[command(subcommand)]
        cmd: crate::kb::KbCmd,
    },
    /// Read one email message on stdin and hand it to a casedesk server (for an MTA's pipe).
    Mailgate(crate::mailgate::MailgateArgs),
}

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Create an account.
    Create {
        #[arg(long)]
        name: String,
        /// self-service, silver, gold, home-grown, enterprise or platinum.
        #[arg(long)]
        plan: String,
        #[arg(long)]
        json: bool,
    },
    /// Change an account: its customer success manager, and whether the requester is copied
    /// on mail sent to another case email.
    Set {
        /// The account's name or id.
        #[arg(long)]
        name: String,
        /// Email of the support engineer or manager who is the account's CSM.
        #[arg(long, conflicts_with = "no_csm")]
        csm: Option<String>,
        /// Remove the account's CSM.
        #[arg(long)]
        no_csm: bool,
        /// Copy the requester's own address on the case's mail when the case email differs.
        #[arg(long)]
        copy_requester: Option<bool>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Create a tenant.
    Create {
        /// Account id or name.
        #[arg(long)]
        account: String,
        #[arg(long)]
        slug: String,
        /// americas, eu or apac.
        #[arg(long)]
        region: String,
        /// production, staging or development.
        #[arg(long)]
        environment: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Create {
        /// Account id or name (for super-admin and admin).
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        email: String,
        /// super-admin, admin, agent or manager.
        #[arg(long)]
        role: String,
        /// Grant the case-admin permission (super admins always hold it).
        #[arg(long)]
        case_admin: bool,
        /// Make an elevated support contact (sees all cases of the account).
        #[arg(long)]
        elevated: bool,
        /// Queue an agent works (repeatable).
        #[arg(long = "queue")]
        queues: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's local password: read from stdin with --password-stdin, or generated
    /// and shown once.
    SetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an API token for a user; it is shown once.
    Create {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// Scope (repeatable): cases:read, cases:write, tokens, admin, mail:ingest, grants:read, trust:read. Default: every
        /// scope the user may hold.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A name for the token, e.g. "nightly export".
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id, as listed.
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing();
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let cfg = Config::load(
        cli.db.config.as_ref(),
        Overrides {
            listen,
            data: cli.db.data.clone(),
            database_url: cli.db.database_url.clone(),
        },
    )?;
    match cli.command {
        Command::Serve { demo, .. } => serve(cfg, demo).await,
        Command::Jobs { cmd } => crate::ops::jobs(&cfg, cmd).await,
        Command::Audit { cmd } => crate::ops::audit(&cfg, cmd).await,
        Command::Sla { cmd } => crate::sla::run(&cfg, cmd).await,
        Command::Kb { cmd } => crate::kb::run(&cfg, cmd).await,
        Command::Mailgate(gate) => match crate::mailgate::run(gate).await {
            0 => Ok(()),
            code => Err(anyhow!("the mail gate ended with status {code}")),
        },
        Command::Account {
            cmd: AccountCmd::Create { name, plan, json },
        } => {
            let plan: Plan = plan.parse().map_err(explain)?;
            let store = open_store(&cfg).await?;
            let a = admin::create_account(store.as_ref(), &name, plan, &Actor::cli())
                .await
                .map_err(explain)?;
            print(
                json,
                json!({"id": a.id, "name": a.name, "plan": a.plan.key()}),
                format!(
                    "created account {} ({}) with id {}",
                    a.name,
                    a.plan.key(),
                    a.id
                ),
            );
            Ok(())
        }
        Command::Account {
            cmd:
                AccountCmd::Set {
                    name,
                    csm,
                    no_csm,
                    copy_requester,
                    json,
                },
        } => {
            let change = admin::AccountChange {
                csm: if no_csm { Some(None) } else { csm.map(Some) },
                copy_requester,
            };
            if change == admin::AccountChange::default() {
                return Err(explain(casedesk_core::DomainError::field(
                    "csm",
                    "say what to change: --csm EMAIL, --no-csm or --copy-requester true|false",
                )));
            }
            let store = open_store(&cfg).await?;
            let a = admin::set_account(store.as_ref(), &name, &change, &Actor::cli())
                .await
                .map_err(explain)?;
            print(
                json,
                json!({"id": a.id, "name": a.name, "plan": a.plan.key(), "csm": a.csm, "copy_requester": a.copy_requester}),
                format!(
                    "account {}: customer success manager {}, requester copied on mail to another case email: {}",
                    a.name,
                    a.csm.as_deref().unwrap_or("none"),
                    if a.copy_requester { "yes" } else { "no" }
                ),
            );
            Ok(())
        }
        Command::Tenant {
            cmd:
                TenantCmd::Create {
                    account,
                    slug,
                    region,
                    environment,
                    json,
                },
        } => {
            let region: Region = region.parse().map_err(explain)?;
            let env: Environment = environment.parse().map_err(explain)?;
            let store = open_store(&cfg).await?;
            let t =
                admin::create_tenant(store.as_ref(), &account, &slug, region, env, &Actor::cli())
                    .await
                    .map_err(explain)?;
            print(
                json,
                json!({"id": t.id, "account_id": t.account_id, "slug": t.slug, "region": t.region.key(), "environment": t.environment.key()}),
                format!(
                    "created tenant {} ({}, {}) with id {}",
                    t.slug,
                    t.region.key(),
                    t.environment.key(),
                    t.id
                ),
            );
            Ok(())
        }
        Command::User {
            cmd:
                UserCmd::Create {
                    account,
                    email,
                    role,
                    case_admin,
                    elevated,
                    queues,
                    json,
                },
        } => {
            let role: Role = role.parse().map_err(explain)?;
            let store = open_store(&cfg).await?;
            let u = admin::create_user(
                store.as_ref(),
                &cfg.elevated_limits,
                NewUser {
                    account,
                    email,
                    role,
                    case_admin,
                    elevated,
                    queues,
                },
                &Actor::cli(),
            )
            .await
            .map_err(explain)?;
            print(
                json,
                json!({"id": u.id, "email": u.email, "role": u.role.key(), "account_id": u.account_id,
                       "case_admin": u.case_admin, "elevated": u.elevated, "queues": u.queues}),
                format!("created {} {} with id {}", u.role.key(), u.email, u.id),
            );
            Ok(())
        }
        Command::User {
            cmd:
                UserCmd::SetPassword {
                    email,
                    password_stdin,
                    json,
                },
        } => {
            let store = open_store(&cfg).await?;
            let user = casedesk_core::directory::resolve_user(store.as_ref(), &email, "email")
                .await
                .map_err(explain)?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from stdin")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (
                    casedesk_auth::password::generate_password().map_err(explain)?,
                    true,
                )
            };
            let hash = casedesk_auth::password::hash_password(password.clone())
                .await
                .map_err(explain)?;
            let audit = AuditRecord::new(
                Actor::cli(),
                "user.set_password",
                format!("user:{}", user.email),
            )
            .account(user.account_id);
            store
                .set_password(user.id, Some(&hash), &audit)
                .await
                .map_err(explain)?;
            let shown = generated.then_some(password);
            print(
                json,
                json!({"id": user.id, "email": user.email, "password": shown}),
                match shown {
                    Some(p) => {
                        format!("password of {} set; shown only this once:\n{p}", user.email)
                    }
                    None => format!("password of {} set", user.email),
                },
            );
            Ok(())
        }
        Command::Bootstrap { email, json } => {
            let store = open_store(&cfg).await?;
            let user = admin::bootstrap_manager(store.as_ref(), &email, &Actor::cli())
                .await
                .map_err(explain)?;
            let password = casedesk_auth::password::generate_password().map_err(explain)?;
            let hash = casedesk_auth::password::hash_password(password.clone())
                .await
                .map_err(explain)?;
            let audit = AuditRecord::new(
                Actor::cli(),
                "user.set_password",
                format!("user:{}", user.email),
            )
            .account(user.account_id);
            store
                .set_password(user.id, Some(&hash), &audit)
                .await
                .map_err(explain)?;
            print(
                json,
                json!({"id": user.id, "email": user.email, "role": "manager", "password": password}),
                format!(
                    "created the first manager {} with id {}; password, shown only this once:\n{password}",
                    user.email, user.id
                ),
            );
            Ok(())
        }
        Command::Token {
            cmd:
                TokenCmd::Create {
                    user,
                    scopes,
                    label,
                    json,
                },
        } => {
            let scopes = scopes
                .iter()
                .map(|s| s.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(explain)?;
            let store = open_store(&cfg).await?;
            let t = casedesk_auth::generate_token().map_err(explain)?;
            let (u, rec) =
                admin::create_token(store.as_ref(), &user, &scopes, label, t.hash, &Actor::cli())
                    .await
                    .map_err(explain)?;
            let scopes: Vec<&str> = rec.scopes.iter().map(|s| s.key()).collect();
            print(
                json,
                json!({"id": rec.id, "user": u.email, "scopes": scopes, "label": rec.label, "token": t.secret}),
                format!(
                    "token {} for {} ({}), shown only this once:\n{}",
                    rec.id,
                    u.email,
                    scopes.join(" "),
                    t.secret
                ),
            );
            Ok(())
        }
        Command::Token {
            cmd: TokenCmd::List { user, json },
        } => {
            let store = open_store(&cfg).await?;
            let owner = match user {
                Some(email) => Some(
                    casedesk_core::directory::resolve_user(store.as_ref(), &email, "user")
                        .await
                        .map_err(explain)?,
                ),
                None => None,
            };
            let tokens = store
                .list_tokens(owner.as_ref().map(|u| u.id))
                .await
                .map_err(explain)?;
            let items: Vec<serde_json::Value> = tokens
                .iter()
                .map(|t| {
                    json!({"id": t.id, "user_id": t.user_id, "label": t.label,
                           "scopes": t.scopes.iter().map(|s| s.key()).collect::<Vec<_>>(),
                           "created_at": t.created_at.to_string(),
                           "last_used_at": t.last_used_at.map(|l| l.to_string())})
                })
                .collect();
            let text = tokens
                .iter()
                .map(|t| {
                    format!(
                        "{}  {}  {}  last used {}",
                        t.id,
                        t.label.as_deref().unwrap_or("-"),
                        t.scopes
                            .iter()
                            .map(|s| s.key())
                            .collect::<Vec<_>>()
                            .join(" "),
                        t.last_used_at
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "never".into())
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(json, json!({ "items": items }), text);
            Ok(())
        }
        Command::Token {
            cmd: TokenCmd::Revoke { id, json },
        } => {
            let store = open_store(&cfg).await?;
            let uuid = uuid::Uuid::parse_str(id.trim())
                .map_err(|_| anyhow!("id: {id:?} is not a token id"))?;
            let audit = AuditRecord::new(Actor::cli(), "token.revoke", format!("token:{uuid}"));
            if !store
                .revoke_token(uuid, None, &audit)
                .await
                .map_err(explain)?
            {
                return Err(anyhow!("id: no token has the id {id}"));
            }
            print(
                json,
                json!({"id": uuid, "revoked": true}),
                format!("revoked token {uuid}"),
            );
            Ok(())
        }
    }
}

async fn serve(cfg: Config, with_demo: bool) -> anyhow::Result<()> {
    // Install the metrics recorder before the job runner records anything.
    let _ = casedesk_web::metrics::handle();
    let wake = Arc::new(tokio::sync::Notify::new());
    let url = cfg.database_url()?;
    let store = casedesk_store::connect_with(&url, wake.clone(), &cfg.database)
        .await
        .map_err(explain)
        .context("cannot open the database")?;
    let key: Arc<dyn casedesk_core::webhooks::SecretBox> = Arc::new(cfg.server_key()?);
    // Bound before the demo loads, so the demo prints the address it can really be reached at
    // (the port is known even when listening on :0).
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    if with_demo {
        demo::load(store.as_ref(), &cfg, &browser_base(&cfg, addr))
            .await
            .map_err(explain)
            .context("cannot load the demo data")?;
    }
    // One line on stdout, so scripts and tests can learn the port when listening on :0.
    println!(
        "casedesk listening on http://{addr} ({} database)",
        store.backend()
    );
    tracing::info!(%addr, backend = store.backend(), "listening");
    let auth =
        casedesk_auth::Authenticator::new(store.clone(), cfg.auth.clone(), cfg.elevated_limits)
            .context("invalid auth configuration")?;
    let mailer = Arc::new(
        casedesk_mail::Mailer::new(cfg.mail.clone(), &cfg.data).map_err(anyhow::Error::msg)?,
    );
    let blobs: Arc<dyn casedesk_core::attachments::Blobs> =
        Arc::new(casedesk_store::LocalBlobs::new(cfg.data.join("attachments")).map_err(explain)?);
    let runner = casedesk_jobs::standard_runner(
        store.clone(),
        key.clone(),
        wake,
        &cfg.jobs,
        &cfg.webhooks,
        mailer.clone(),
    )
    .map_err(explain)?
    .handle(
        casedesk_core::jobs::MAINTENANCE,
        Arc::new(
            casedesk_jobs::Maintenance::new(store.clone(), cfg.jobs.clone())
                .with_attachments(blobs.clone(), cfg.attachments.clone()),
        ),
    )
    .start();
    // The components' issue areas are checked against the taxonomy in the database.
    let areas: Vec<String> = store
        .issue_areas()
        .await
        .map_err(explain)?
        .into_iter()
        .map(|a| a.key)
        .collect();
    cfg.status
        .validate(Some(&areas))
        .map_err(anyhow::Error::msg)?;
    let mut state = casedesk_web::AppState::new(
        store,
        Arc::new(auth),
        key,
        cfg.webhooks.url_policy(),
        mailer,
    );
    state.status = Arc::new(cfg.status.clone());
    let state = state
        .with_attachments(blobs, cfg.attachments.clone())
        .with_rate_limits(cfg.rate_limits)
        .with_http(cfg.http)
        .with_metrics(&cfg.metrics);
    // `/metrics` on an address of its own, when configured: the same listener limits.
    let metrics_server = match &cfg.metrics.listen {
        Some(at) => {
            let l = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} (metrics.listen)"))?;
            tracing::info!(address = %l.local_addr()?, "metrics listening");
            let app = casedesk_web::metrics::router(&cfg.metrics);
            Some(tokio::spawn(casedesk_web::server::serve_with(
                l,
                app,
                cfg.http,
                std::future::pending(),
            )))
        }
        None => None,
    };
    let served = casedesk_web::serve(listener, state, shutdown_signal()).await;
    if let Some(m) = metrics_server {
        m.abort();
    }
    // Requests have drained; running jobs get their grace period, the rest are released.
    runner.shutdown().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The address a person on this machine opens: the configured public URL, or the bound
/// address with a wildcard (`0.0.0.0`, `::`) replaced by loopback.
fn browser_base(cfg: &Config, addr: std::net::SocketAddr) -> String {
    if let Some(url) = &cfg.auth.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_address_is_one_a_browser_can_open() {
        let mut cfg = Config::default();
        let at = |s: &str| {
            s.parse::<std::net::SocketAddr>()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(
            browser_base(&cfg, at("0.0.0.0:8080")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(browser_base(&cfg, at("[::]:9000")), "http://[::1]:9000");
        assert_eq!(
            browser_base(&cfg, at("10.1.2.3:8080")),
            "http://10.1.2.3:8080"
        );
        cfg.auth.public_url = Some("https://support.example.com/".into());
        assert_eq!(
            browser_base(&cfg, at("0.0.0.0:8080")),
            "https://support.example.com"
        );
    }
}
