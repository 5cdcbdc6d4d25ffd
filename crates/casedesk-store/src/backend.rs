//! One backend's store, assembled: the SQL of the directory, identity, cases and the SLA
//! written here, and the other features' parts (`ops_impl!`, `mail_impl!`, …) expanded beside
//! them, each trait of `casedesk_core` implemented in a block of its own.

/// Implements every store trait for a backend struct with a `pool` field and a `begin()` method.
#[macro_export]
#[doc(hidden)]
macro_rules! store_impl {
    ($store:ident, $db:ty, $name:literal, $agg:literal, $jarr:literal, $jobj:literal, $head_read:expr, $head_write:literal, $head_anchor:literal, $skip:literal, $audit_insert_many:expr, $case_insert:path) => {
        $crate::ops_impl!($store, $db, $head_read, $head_write, $head_anchor, $skip, $audit_insert_many);
        $crate::mail_impl!($store);
        $crate::kb_impl!($store);
        $crate::status_impl!($store);
        $crate::attachments_impl!($store);
        $crate::reports_impl!($store);
        $crate::support_impl!($store);
        mod shared_impl {
            use super::$store;
            use $crate::common::*;
            use async_trait::async_trait;
            use casedesk_core::accounts::{Account, Tenant};
            use casedesk_core::cases::*;
            use casedesk_core::store::traits::*;
            use casedesk_core::service::{CasePatch, NewCase};
            use casedesk_core::store::Store;
            use casedesk_core::webhooks::AttemptRecord;
            use casedesk_core::audit::AuditFilter;
            use casedesk_core::webhooks::NewDelivery;
            use casedesk_core::identity::TokenRecord;
            use casedesk_core::audit::{AuditEntry, AuditRecord, Checkpoint};
            use casedesk_core::jobs::{Claim, Finish, Job, JobCount, JobQuery, JobState, NewJob};
            use casedesk_core::service::FollowUp;
            use casedesk_core::webhooks::{Attempt, Delivery, Endpoint, Notice, SecretRecord};
            use casedesk_core::taxonomy::IssueArea;
            use casedesk_core::users::{Scope, User};
            use casedesk_core::{DomainError, Result};
            use sqlx::Row;
            use uuid::Uuid;

            type Db = $db;
            type DbRow = <Db as sqlx::Database>::Row;

            fn user_from_row(r: &DbRow, queues: Vec<String>) -> Result<User> {
                Ok(User {
                    id: uuid(&r.try_get::<String, _>("id").map_err(internal)?)?,
                    account_id: opt_uuid(r.try_get("account_id").map_err(internal)?)?,
                    email: r.try_get("email").map_err(internal)?,
                    role: parse("role", &r.try_get::<String, _>("role").map_err(internal)?)?,
                    case_admin: r.try_get("case_admin").map_err(internal)?,
                    elevated: r.try_get("elevated").map_err(internal)?,
                    queues,
                    created_at: ts(r.try_get("created_at").map_err(internal)?),
                    deactivated_at: r.try_get::<Option<i64>, _>("deactivated_at").map_err(internal)?.map(ts),
                })
            }

            fn account_from_row(r: &DbRow) -> Result<Account> {
                Ok(Account {
                    id: uuid(&r.try_get::<String, _>("id").map_err(internal)?)?,
                    name: r.try_get("name").map_err(internal)?,
                    plan: parse("plan", &r.try_get::<String, _>("plan").map_err(internal)?)?,
                    csm: r.try_get("csm").map_err(internal)?,
                    copy_requester: r.try_get("copy_requester").map_err(internal)?,
                    created_at: ts(r.try_get("created_at").map_err(internal)?),
                })
            }

            fn tenant_from_row(r: &DbRow) -> Result<Tenant> {
                Ok(Tenant {
                    id: uuid(&r.try_get::<String, _>("id").map_err(internal)?)?,
                    account_id: uuid(&r.try_get::<String, _>("account_id").map_err(internal)?)?,
                    slug: r.try_get("slug").map_err(internal)?,
                    region: parse("region", &r.try_get::<String, _>("region").map_err(internal)?)?,
                    environment: parse("environment", &r.try_get::<String, _>("environment").map_err(internal)?)?,
                    created_at: ts(r.try_get("created_at").map_err(internal)?),
                })
            }

            fn token_scopes(r: &DbRow) -> Result<Vec<Scope>> {
                let scopes: String = r.try_get("scopes").map_err(internal)?;
                Ok(Scope::parse_list(scopes.split_whitespace()))
            }

            fn case_from_row(r: &DbRow, team_contacts: Vec<TeamContact>) -> Result<Case> {
                let g = |c: &str| r.try_get::<String, _>(c).map_err(internal);
                let contact_json = g("contact")?;
                let contact: Contact = serde_json::from_str(&contact_json)
                    .map_err(|e| DomainError::Internal(format!("bad contact json: {e}")))?;
                Ok(Case {
                    number: r.try_get("number").map_err(internal)?,
                    account_id: uuid(&g("account_id")?)?,
                    tenant_id: uuid(&g("tenant_id")?)?,
                    tenant: g("tenant")?,
                    requester_id: uuid(&g("requester_id")?)?,
                    requester: g("requester")?,
                    assignee_id: opt_uuid(r.try_get("assignee_id").map_err(internal)?)?,
                    assignee: r.try_get("assignee").map_err(internal)?,
                    queue: g("queue")?,
                    status: status(&g("status")?)?,
                    escalated: r.try_get("escalated").map_err(internal)?,
                    fields: CaseFields {
                        priority: priority(&g("priority")?)?,
                        subject: g("subject")?,
                        description: g("description")?,
                        steps_to_reproduce: r.try_get("steps_to_reproduce").map_err(internal)?,
                        issue_area: g("issue_area")?,
                        scope: scope(&g("scope")?)?,
                        business_impact: r.try_get("business_impact").map_err(internal)?,
                        contact,
                        stage: stage(&g("stage")?)?,
                        identifiers: json_map(&g("identifiers")?)?,
                        context: json_map(&g("context")?)?,
                        checklist: json_map(&g("checklist")?)?,
                    },
                    team_contacts,
                    follow_up_of: r.try_get("follow_up_of").map_err(internal)?,
                    created_at: ts(r.try_get("created_at").map_err(internal)?),
                    updated_at: ts(r.try_get("updated_at").map_err(internal)?),
                    version: r.try_get("version").map_err(internal)?,
                })
            }

            impl $store {
                async fn queues_of(&self, user_id: &str) -> Result<Vec<String>> {
                    sqlx::query_scalar("SELECT queue FROM user_queues WHERE user_id = $1 ORDER BY queue")
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)
                }

                async fn user_where(&self, sql: &'static str, arg: &str) -> Result<Option<User>> {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{USER_SELECT} WHERE {sql}")))
                        .bind(arg)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    match row {
                        Some(r) => {
                            let id: String = r.try_get("id").map_err(internal)?;
                            let queues = self.queues_of(&id).await?;
                            Ok(Some(user_from_row(&r, queues)?))
                        }
                        None => Ok(None),
                    }
                }

                /// Records an idempotency key; the raw error lets callers spot a concurrent twin.
                async fn insert_key(
                    tx: &mut sqlx::Transaction<'static, Db>,
                    k: &IdempotencyKey,
                    number: i64,
                    at: casedesk_core::Timestamp,
                ) -> std::result::Result<(), sqlx::Error> {
                    sqlx::query(KEY_INSERT)
                    .bind(k.user_id.to_string())
                    .bind(&k.key)
                    .bind(&k.fingerprint)
                    .bind(number)
                    .bind(micros(at))
                    .execute(&mut **tx)
                    .await
                    .map(|_| ())
                }

                async fn insert_case(
                    tx: &mut sqlx::Transaction<'static, Db>,
                    c: &NewCase,
                    status: Status,
                    event: &NewEvent,
                    mails_planned: bool,
                ) -> Result<i64> {
                    let q = bind_args(sqlx::query($case_insert), case_insert_args(c, status, event, mails_planned)?);
                    // All rows: on SQLite the event's statement runs only when the stream is
                    // read to its end.
                    let rows = q.fetch_all(&mut **tx).await.map_err(internal)?;
                    let rows: Vec<i64> = rows.iter().map(|r| r.try_get(0)).collect::<std::result::Result<_, _>>().map_err(internal)?;
                    let number = rows
                        .first()
                        .copied()
                        .ok_or_else(|| DomainError::Internal("the new case got no number".into()))?;
                    for tc in &c.team_contacts {
                        sqlx::query(CONTACT_INSERT)
                            .bind(number)
                            .bind(tc.user_id.to_string())
                            .execute(&mut **tx)
                            .await
                            .map_err(internal)?;
                    }
                    Ok(number)
                }

                /// Appends the entries one change adds to a case's SLA clock log, as one row.
                async fn insert_sla_events(
                    tx: &mut sqlx::Transaction<'static, Db>,
                    number: i64,
                    events: &[casedesk_core::sla::ClockEvent],
                ) -> Result<()> {
                    if events.is_empty() {
                        return Ok(());
                    }
                    // The case row was updated first in this transaction, so no other append
                    // to this case can pick the same number.
                    sqlx::query(
                        "INSERT INTO sla_events (case_number, seq, events) \
                         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2 FROM sla_events WHERE case_number = $1",
                    )
                        .bind(number)
                        .bind(to_json(&events)?)
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                    Ok(())
                }

                /// Writes a user and their queues, within the plan's cap of elevated contacts.
                async fn insert_user(tx: &mut sqlx::Transaction<'static, Db>, u: &User, elevated_cap: Option<u32>) -> Result<()> {
                    if let (Some(cap), Some(account), true) = (elevated_cap, u.account_id, u.elevated) {
                        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE account_id = $1 AND elevated = $2 AND deactivated_at IS NULL")
                            .bind(account.to_string())
                            .bind(true)
                            .fetch_one(&mut **tx)
                            .await
                            .map_err(internal)?;
                        if n >= i64::from(cap) {
                            return Err(DomainError::Conflict(format!(
                                "the account already has {n} elevated support contacts, the most its plan allows ({cap})"
                            )));
                        }
                    }
                    sqlx::query(
                        "INSERT INTO users (id, account_id, email, role, case_admin, elevated, created_at, deactivated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(u.id.to_string())
                    .bind(u.account_id.map(|a| a.to_string()))
                    .bind(&u.email)
                    .bind(u.role.key())
                    .bind(u.case_admin)
                    .bind(u.elevated)
                    .bind(micros(u.created_at))
                    .bind(u.deactivated_at.map(micros))
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| conflict_or_internal(e, "a user with this email already exists"))?;
                    Self::insert_queues(tx, u).await
                }


                /// Writes the queues of a user (inside the transaction that writes the user).
                async fn insert_queues(tx: &mut sqlx::Transaction<'static, Db>, u: &User) -> Result<()> {
                    for q in &u.queues {
                        sqlx::query("INSERT INTO user_queues (user_id, queue) VALUES ($1, $2)")
                            .bind(u.id.to_string())
                            .bind(q)
                            .execute(&mut **tx)
                            .await
                            .map_err(internal)?;
                    }
                    Ok(())
                }

                /// Appends an event; the database's `case_events_dispatch` trigger adds, in the
                /// same transaction, the job that hands it to webhooks.
                pub(crate) async fn insert_event(tx: &mut sqlx::Transaction<'static, Db>, number: i64, e: &NewEvent) -> Result<()> {
                    sqlx::query(EVENT_INSERT)
                        .bind(number)
                        .bind(e.actor_id.map(|u| u.to_string()))
                        .bind(e.kind.key())
                        .bind(e.public)
                        .bind(to_json(&e.data)?)
                        .bind(micros(e.at))
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                    Ok(())
                }

                async fn replay<'e, E: sqlx::Executor<'e, Database = Db>>(ex: E, key: &IdempotencyKey) -> Result<Option<CreateOutcome>> {
                    let row = sqlx::query(KEY_REPLAY)
                    .bind(key.user_id.to_string())
                    .bind(&key.key)
                    .fetch_optional(ex)
                    .await
                    .map_err(internal)?;
                    Ok(match row {
                        Some(r) => {
                            let fp: String = r.try_get("fingerprint").map_err(internal)?;
                            if fp == key.fingerprint {
                                Some(CreateOutcome::Replayed(r.try_get("case_number").map_err(internal)?))
                            } else {
                                Some(CreateOutcome::KeyReused)
                            }
                        }
                        None => None,
                    })
                }
            }

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    $name
                }

                async fn ping(&self) -> Result<()> {
                    sqlx::query("SELECT 1").execute(&self.pool).await.map_err(internal)?;
                    Ok(())
                }
            }

            #[async_trait]
            impl casedesk_core::directory::DirectoryStore for $store {
                async fn create_account(&self, a: &Account, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query("INSERT INTO accounts (id, name, plan, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(a.id.to_string())
                        .bind(&a.name)
                        .bind(a.plan.key())
                        .bind(micros(a.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_internal(e, "an account with this name already exists"))?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn set_account_profile(&self, id: Uuid, csm: Option<Uuid>, copy_requester: bool, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query("UPDATE accounts SET csm_id = $1, copy_requester = $2 WHERE id = $3")
                        .bind(csm.map(|u| u.to_string()))
                        .bind(copy_requester)
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn find_account(&self, id_or_name: &str) -> Result<Option<Account>> {
                    let row = sqlx::query("SELECT a.id, a.name, a.plan, a.created_at, a.copy_requester, u.email AS csm FROM accounts a LEFT JOIN users u ON u.id = a.csm_id WHERE a.id = $1 OR a.name = $1")
                        .bind(id_or_name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    row.as_ref().map(account_from_row).transpose()
                }

                async fn accounts_of_csm(&self, user_id: Uuid) -> Result<Vec<Account>> {
                    let rows = sqlx::query("SELECT a.id, a.name, a.plan, a.created_at, a.copy_requester, u.email AS csm FROM accounts a LEFT JOIN users u ON u.id = a.csm_id WHERE a.csm_id = $1 ORDER BY a.created_at, a.id")
                        .bind(user_id.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter().map(account_from_row).collect()
                }

                async fn list_accounts(&self) -> Result<Vec<Account>> {
                    let rows = sqlx::query("SELECT a.id, a.name, a.plan, a.created_at, a.copy_requester, u.email AS csm FROM accounts a LEFT JOIN users u ON u.id = a.csm_id ORDER BY a.created_at, a.id")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter().map(account_from_row).collect()
                }

                async fn create_tenant(&self, t: &Tenant, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO tenants (id, account_id, slug, region, environment, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(t.id.to_string())
                    .bind(t.account_id.to_string())
                    .bind(&t.slug)
                    .bind(t.region.key())
                    .bind(t.environment.key())
                    .bind(micros(t.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or_internal(e, "a tenant with this slug already exists"))?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn list_tenants(&self, account_id: Uuid) -> Result<Vec<Tenant>> {
                    let rows = sqlx::query(
                        "SELECT id, account_id, slug, region, environment, created_at FROM tenants \
                         WHERE account_id = $1 ORDER BY slug",
                    )
                    .bind(account_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(tenant_from_row).collect()
                }

                async fn find_tenant(&self, slug: &str) -> Result<Option<Tenant>> {
                    let row = sqlx::query(
                        "SELECT id, account_id, slug, region, environment, created_at FROM tenants WHERE slug = $1",
                    )
                    .bind(slug)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    row.as_ref().map(tenant_from_row).transpose()
                }

                async fn create_user(&self, u: &User, elevated_cap: Option<u32>, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    Self::insert_user(&mut tx, u, elevated_cap).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn get_user(&self, id: Uuid) -> Result<Option<User>> {
                    self.user_where("id = $1", &id.to_string()).await
                }

                async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
                    self.user_where("email = $1", email).await
                }

                async fn list_account_users(&self, account_id: Uuid) -> Result<Vec<User>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{USER_SELECT} WHERE account_id = $1 ORDER BY email")))
                        .bind(account_id.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    // Customer admins have no queues.
                    rows.iter().map(|r| user_from_row(r, vec![])).collect()
                }

                async fn update_user_access(&self, before: &User, u: &User, keep: &casedesk_core::directory::Keep, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    if $store::LOCK_USER_GROUP {
                        // The user's group first (their account's users, or the support team):
                        // two changes in it wait for each other, so the second checks `keep`
                        // against the first. SQLite writes one at a time already.
                        let ids = match u.account_id {
                            Some(a) => sqlx::query("SELECT id FROM users WHERE account_id = $1 ORDER BY id FOR UPDATE").bind(a.to_string()),
                            None => sqlx::query("SELECT id FROM users WHERE account_id IS NULL ORDER BY id FOR UPDATE"),
                        };
                        ids.fetch_all(&mut *tx).await.map_err(internal)?;
                    }
                    let n = sqlx::query(
                        "UPDATE users SET role = $1, case_admin = $2, elevated = $3, deactivated_at = $4 \
                         WHERE id = $5 AND role = $6 AND case_admin = $7 AND elevated = $8 AND COALESCE(deactivated_at, -1) = $9",
                    )
                    .bind(u.role.key())
                    .bind(u.case_admin)
                    .bind(u.elevated)
                    .bind(u.deactivated_at.map(micros))
                    .bind(u.id.to_string())
                    .bind(before.role.key())
                    .bind(before.case_admin)
                    .bind(before.elevated)
                    .bind(before.deactivated_at.map(micros).unwrap_or(-1))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?
                    .rows_affected();
                    if n == 0 {
                        return Err(DomainError::Conflict(format!(
                            "{} was changed by someone else a moment ago; look at the user again and repeat the change",
                            u.email
                        )));
                    }
                    sqlx::query("DELETE FROM user_queues WHERE user_id = $1")
                        .bind(u.id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::insert_queues(&mut tx, u).await?;
                    if !u.active() {
                        // With the deactivation, not after it: no window in which a session or a
                        // token of the user still works.
                        for table in ["sessions", "api_tokens"] {
                            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE user_id = $1")))
                                .bind(u.id.to_string())
                                .execute(&mut *tx)
                                .await
                                .map_err(internal)?;
                        }
                    }
                    let count = |sql: &'static str, account: Option<Uuid>| {
                        let q = sqlx::query_scalar::<Db, i64>(sql);
                        match account {
                            Some(a) => q.bind(a.to_string()),
                            None => q,
                        }
                    };
                    if keep.super_admin && let Some(a) = u.account_id {
                        let n = count("SELECT COUNT(*) FROM users WHERE account_id = $1 AND role = 'super-admin' AND deactivated_at IS NULL", Some(a))
                            .fetch_one(&mut *tx).await.map_err(internal)?;
                        if n == 0 {
                            return Err(DomainError::field("role", format!("{} is the only active super admin of the account; make another user super admin first", before.email)));
                        }
                    }
                    if keep.manager && !u.role.is_customer() {
                        let n = count("SELECT COUNT(*) FROM users WHERE role = 'manager' AND deactivated_at IS NULL", None)
                            .fetch_one(&mut *tx).await.map_err(internal)?;
                        if n == 0 {
                            return Err(DomainError::field("role", format!("{} is the only active support manager; make another user manager first", before.email)));
                        }
                    }
                    if let (Some(cap), Some(a), true) = (keep.elevated_cap, u.account_id, u.elevated && u.active()) {
                        let n = count("SELECT COUNT(*) FROM users WHERE account_id = $1 AND elevated = TRUE AND deactivated_at IS NULL", Some(a))
                            .fetch_one(&mut *tx).await.map_err(internal)?;
                        if n > i64::from(cap) {
                            return Err(DomainError::field("elevated", format!("the plan allows {cap} elevated support contacts, and all are in use")));
                        }
                    }
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn count_users_with_role(&self, role: casedesk_core::users::Role) -> Result<u64> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1 AND deactivated_at IS NULL")
                        .bind(role.key())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(internal)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn issue_areas(&self) -> Result<Vec<IssueArea>> {
                    let rows = sqlx::query("SELECT key, name, description, queue FROM issue_areas ORDER BY position, key")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(IssueArea {
                                key: r.try_get("key").map_err(internal)?,
                                name: r.try_get("name").map_err(internal)?,
                                description: r.try_get("description").map_err(internal)?,
                                queue: r.try_get("queue").map_err(internal)?,
                            })
                        })
                        .collect()
                }

                async fn support_users(&self) -> Result<Vec<User>> {
                    // One query: each user's queues come aggregated with the user.
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT id, account_id, email, role, case_admin, elevated, created_at, deactivated_at, \
                         (SELECT {}(q.queue, '\n' ORDER BY q.queue) FROM user_queues q WHERE q.user_id = users.id) AS queues \
                         FROM users WHERE role IN ('agent', 'manager') ORDER BY role, email",
                        $agg
                    )))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            let queues: Option<String> = r.try_get("queues").map_err(internal)?;
                            let queues = queues
                                .map(|q| q.split('\n').map(str::to_owned).collect())
                                .unwrap_or_default();
                            user_from_row(r, queues)
                        })
                        .collect()
                }
            }

            #[async_trait]
            impl casedesk_core::identity::IdentityStore for $store {
                async fn create_token(&self, t: &TokenRecord, audit: &AuditRecord) -> Result<()> {
                    let scopes: Vec<&str> = t.scopes.iter().map(|s| s.key()).collect();
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query("INSERT INTO api_tokens (id, user_id, hash, scopes, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(t.id.to_string())
                        .bind(t.user_id.to_string())
                        .bind(&t.hash)
                        .bind(scopes.join(" "))
                        .bind(t.label.as_deref())
                        .bind(micros(t.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_internal(e, "token already exists"))?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn find_token(&self, hash: &str) -> Result<Option<(User, TokenRecord)>> {
                    let row = sqlx::query(
                        "SELECT u.id, u.account_id, u.email, u.role, u.case_admin, u.elevated, u.created_at, u.deactivated_at, \
                         t.id AS token_id, t.scopes, t.label, t.created_at AS token_created_at, t.last_used_at \
                         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1",
                    )
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    let id: String = r.try_get("id").map_err(internal)?;
                    let role: String = r.try_get("role").map_err(internal)?;
                    let queues = if role == "agent" || role == "manager" { self.queues_of(&id).await? } else { vec![] };
                    let user = user_from_row(&r, queues)?;
                    let token = TokenRecord {
                        id: uuid(&r.try_get::<String, _>("token_id").map_err(internal)?)?,
                        user_id: user.id,
                        hash: hash.to_owned(),
                        scopes: token_scopes(&r)?,
                        label: r.try_get("label").map_err(internal)?,
                        created_at: ts(r.try_get("token_created_at").map_err(internal)?),
                        last_used_at: r.try_get::<Option<i64>, _>("last_used_at").map_err(internal)?.map(ts),
                    };
                    Ok(Some((user, token)))
                }

                async fn list_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<TokenRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, user_id, hash, scopes, label, created_at, last_used_at FROM api_tokens \
                         WHERE ($1 IS NULL OR user_id = $1) ORDER BY created_at DESC, id DESC",
                    )
                    .bind(user_id.map(|u| u.to_string()))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(TokenRecord {
                                id: uuid(&r.try_get::<String, _>("id").map_err(internal)?)?,
                                user_id: uuid(&r.try_get::<String, _>("user_id").map_err(internal)?)?,
                                hash: r.try_get("hash").map_err(internal)?,
                                scopes: token_scopes(r)?,
                                label: r.try_get("label").map_err(internal)?,
                                created_at: ts(r.try_get("created_at").map_err(internal)?),
                                last_used_at: r.try_get::<Option<i64>, _>("last_used_at").map_err(internal)?.map(ts),
                            })
                        })
                        .collect()
                }

                async fn revoke_token(&self, id: Uuid, user_id: Option<Uuid>, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _writer) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND ($2 IS NULL OR user_id = $2)")
                        .bind(id.to_string())
                        .bind(user_id.map(|u| u.to_string()))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    if n > 0 {
                        Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    }
                    tx.commit().await.map_err(internal)?;
                    Ok(n > 0)
                }

                async fn touch_token(&self, id: Uuid, at: casedesk_core::Timestamp) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                        .bind(micros(at))
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    tx.commit().await.map_err(internal)
                }

                async fn local_credentials(&self, email: &str) -> Result<Option<(User, casedesk_core::identity::LocalCredentials)>> {
                    let row = sqlx::query(
                        "SELECT id, account_id, email, role, case_admin, elevated, created_at, deactivated_at, password_hash \
                         FROM users WHERE email = $1",
                    )
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    let id: String = r.try_get("id").map_err(internal)?;
                    let user = user_from_row(&r, self.queues_of(&id).await?)?;
                    let creds = casedesk_core::identity::LocalCredentials {
                        password_hash: r.try_get("password_hash").map_err(internal)?,
                    };
                    Ok(Some((user, creds)))
                }

                async fn set_password(&self, user_id: Uuid, hash: Option<&str>, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                        .bind(hash)
                        .bind(user_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn replace_password(&self, user_id: Uuid, was: Option<&str>, hash: &str, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _writer) = self.begin().await?;
                    // Compared in the UPDATE itself, so of two uses of one link only one wins.
                    let n = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND COALESCE(password_hash, '') = $3")
                        .bind(hash)
                        .bind(user_id.to_string())
                        .bind(was.unwrap_or(""))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    if n == 0 {
                        return Ok(false);
                    }
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(user_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(true)
                }

                async fn throttle(&self, key: &str) -> Result<Option<(u32, casedesk_core::Timestamp)>> {
                    let row: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT failures, last_failure_at FROM sign_in_throttle WHERE key = $1",
                    )
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    Ok(row.map(|(n, at)| (u32::try_from(n).unwrap_or(u32::MAX), ts(at))))
                }

                async fn set_throttle(&self, key: &str, failures: u32, at: casedesk_core::Timestamp) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    if failures == 0 {
                        sqlx::query("DELETE FROM sign_in_throttle WHERE key = $1")
                            .bind(key)
                            .execute(&mut *tx)
                            .await
                            .map_err(internal)?;
                    } else {
                        sqlx::query(
                            "INSERT INTO sign_in_throttle (key, failures, last_failure_at) VALUES ($1, $2, $3) \
                             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure_at = excluded.last_failure_at",
                        )
                        .bind(key)
                        .bind(i64::from(failures))
                        .bind(micros(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    }
                    tx.commit().await.map_err(internal)
                }

                async fn prune_throttle(&self, before: casedesk_core::Timestamp) -> Result<u64> {
                    let (mut tx, _writer) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM sign_in_throttle WHERE last_failure_at < $1")
                        .bind(micros(before))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    tx.commit().await.map_err(internal)?;
                    Ok(n)
                }

                async fn find_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
                    let id: Option<String> = sqlx::query_scalar(
                        "SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2",
                    )
                    .bind(issuer)
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    match id.map(|i| Uuid::parse_str(&i)) {
                        Some(Ok(uid)) => self.get_user(uid).await,
                        Some(Err(e)) => Err(DomainError::Internal(format!("identity user id: {e}"))),
                        None => Ok(None),
                    }
                }

                async fn identities_of(&self, user_id: Uuid) -> Result<Vec<casedesk_core::identity::Identity>> {
                    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
                        "SELECT issuer, subject, user_id, issuer_name, created_at FROM user_identities \
                         WHERE user_id = $1 ORDER BY created_at, issuer, subject",
                    )
                    .bind(user_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    Ok(rows
                        .into_iter()
                        .map(|(issuer, subject, _, issuer_name, at)| casedesk_core::identity::Identity {
                            issuer,
                            subject,
                            user_id,
                            issuer_name,
                            created_at: ts(at),
                        })
                        .collect())
                }

                async fn link_identity(&self, i: &casedesk_core::identity::Identity, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _writer) = self.begin().await?;
                    let n = sqlx::query(
                        "INSERT INTO user_identities (issuer, subject, user_id, issuer_name, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, subject) DO NOTHING",
                    )
                    .bind(&i.issuer)
                    .bind(&i.subject)
                    .bind(i.user_id.to_string())
                    .bind(&i.issuer_name)
                    .bind(micros(i.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?
                    .rows_affected();
                    if n == 0 {
                        return Ok(false);
                    }
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(true)
                }

                async fn unlink_identity(&self, issuer: &str, subject: &str, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _writer) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM user_identities WHERE issuer = $1 AND subject = $2")
                        .bind(issuer)
                        .bind(subject)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    if n == 0 {
                        return Ok(false);
                    }
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(true)
                }

                async fn create_session(&self, s: &casedesk_core::identity::Session, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    // Sweep ended sessions here, so the table stays small without a timer.
                    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                        .bind(micros(s.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    sqlx::query("INSERT INTO sessions (hash, user_id, csrf, issuer, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(&s.hash)
                        .bind(s.user_id.to_string())
                        .bind(&s.csrf)
                        .bind(s.issuer.as_deref())
                        .bind(micros(s.created_at))
                        .bind(micros(s.expires_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_internal(e, "session already exists"))?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn find_session(&self, hash: &str, now: casedesk_core::Timestamp) -> Result<Option<(User, casedesk_core::identity::Session)>> {
                    let row = sqlx::query("SELECT user_id, csrf, issuer, created_at, expires_at FROM sessions WHERE hash = $1 AND expires_at > $2")
                        .bind(hash)
                        .bind(micros(now))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    let user_id = uuid(&r.try_get::<String, _>("user_id").map_err(internal)?)?;
                    let Some(user) = self.get_user(user_id).await? else { return Ok(None) };
                    let session = casedesk_core::identity::Session {
                        hash: hash.to_owned(),
                        user_id,
                        csrf: r.try_get("csrf").map_err(internal)?,
                        issuer: r.try_get("issuer").map_err(internal)?,
                        created_at: ts(r.try_get("created_at").map_err(internal)?),
                        expires_at: ts(r.try_get("expires_at").map_err(internal)?),
                    };
                    Ok(Some((user, session)))
                }

                async fn delete_session(&self, hash: &str, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query("DELETE FROM sessions WHERE hash = $1")
                        .bind(hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn create_login_flow(&self, f: &casedesk_core::identity::LoginFlow) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    let ttl = casedesk_core::identity::LOGIN_FLOW_TTL.as_micros();
                    let cutoff = micros(f.created_at).saturating_sub(i64::try_from(ttl).unwrap_or(i64::MAX));
                    sqlx::query("DELETE FROM login_flows WHERE created_at < $1")
                        .bind(cutoff)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    sqlx::query("INSERT INTO login_flows (state_hash, issuer, nonce, verifier, return_to, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(&f.state_hash)
                        .bind(&f.issuer)
                        .bind(&f.nonce)
                        .bind(&f.verifier)
                        .bind(&f.return_to)
                        .bind(micros(f.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_internal(e, "login already started"))?;
                    tx.commit().await.map_err(internal)
                }

                async fn invite_user(&self, u: &User, elevated_cap: Option<u32>, audit: &AuditRecord, invitation: &casedesk_core::mail::NewMail) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    Self::insert_user(&mut tx, u, elevated_cap).await?;
                    Self::insert_mails(&mut tx, std::slice::from_ref(invitation)).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn invite_again(&self, audit: &AuditRecord, invitation: &casedesk_core::mail::NewMail) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    Self::insert_mails(&mut tx, std::slice::from_ref(invitation)).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn take_login_flow(&self, state_hash: &str) -> Result<Option<casedesk_core::identity::LoginFlow>> {
                    let (mut tx, _writer) = self.begin().await?;
                    let row = sqlx::query("DELETE FROM login_flows WHERE state_hash = $1 RETURNING issuer, nonce, verifier, return_to, created_at")
                        .bind(state_hash)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                    tx.commit().await.map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    Ok(Some(casedesk_core::identity::LoginFlow {
                        state_hash: state_hash.to_owned(),
                        issuer: r.try_get("issuer").map_err(internal)?,
                        nonce: r.try_get("nonce").map_err(internal)?,
                        verifier: r.try_get("verifier").map_err(internal)?,
                        return_to: r.try_get("return_to").map_err(internal)?,
                        created_at: ts(r.try_get("created_at").map_err(internal)?),
                    }))
                }
            }

            impl $store {
                /// One pass of a listing, its page as one JSON row rather than a row per case:
                /// each row costs a hand-off between threads in the driver, which dominated
                /// lists.
                async fn list_pass(&self, query: &CaseQuery, pass: &Pass) -> Result<Vec<CaseSummary>> {
                    Self::list_pass_on(&self.pool, query, pass).await
                }

                /// [`Self::list_pass`] on a given connection.
                async fn list_pass_on<'c, E>(ex: E, query: &CaseQuery, pass: &Pass) -> Result<Vec<CaseSummary>>
                where
                    E: sqlx::Executor<'c, Database = $db>,
                {
                    let (sql, args) = list_sql_pass(query, $name, pass);
                    let sql = format!(
                        "SELECT CAST({}({}({}) ORDER BY {}) AS TEXT) AS page FROM ({sql}) AS p",
                        $jarr, $jobj, SUMMARY_FIELDS, page_order(query)
                    );
                    let q = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), args);
                    let page: Option<String> = q.fetch_one(ex).await.map_err(internal)?.try_get("page").map_err(internal)?;
                    summaries_from_json(page.as_deref())
                }

                /// For each window, each branch's `window`-th newest case (none for a
                /// shorter branch), and the newest case of all, from one statement.
                async fn search_cuts<'c, E>(ex: E, query: &CaseQuery, windows: &[i64]) -> Result<(Vec<Vec<Option<i64>>>, Option<i64>)>
                where
                    E: sqlx::Executor<'c, Database = $db>,
                {
                    let (sql, args) = list_sql_pass(query, $name, &Pass::Cuts(windows.to_vec()));
                    let row = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                        .fetch_one(ex)
                        .await
                        .map_err(internal)?;
                    let values = (0..row.len())
                        .map(|i| row.try_get::<Option<i64>, _>(i).map_err(internal))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(split_cuts(values, windows.len()))
                }

                /// A search newest first on PostgreSQL (see [`Pass`]). A customer's or an
                /// account's cases, when fewer than [`SEARCH_WALK_WHOLE`], are walked whole
                /// (the walk stops at a page): cheaper than every match of the text across all
                /// accounts. Otherwise each branch walks its newest cases down to its cut; the
                /// page is proven complete when it is full and reaches no lower than any cut (a
                /// branch's matches below its cut are all older than the page), and the text
                /// index drives when it is not.
                async fn search_in_passes(&self, query: &CaseQuery) -> Result<Vec<CaseSummary>> {
                    let few = matches!(query.visibility, casedesk_core::cases::Visibility::Mine { .. } | casedesk_core::cases::Visibility::Account { .. });
                    // Every window in one statement: the whole walk when it is possible, the
                    // first pass's, and each branch's newest case.
                    let windows: &[i64] = if few { &[SEARCH_WALK_WHOLE, SEARCH_WINDOW, 1] } else { &[SEARCH_WINDOW, 1] };
                    // Each pass is written so that its plan does not depend on the values (it
                    // walks the index it names, or is driven by the text index), so the plans
                    // the database keeps are used as they are. Left to choose, it plans these
                    // long statements again for every search (its estimate of a kept plan is
                    // always worse than of one for the values), which cost a search on
                    // PostgreSQL about as much as running it. One snapshot for every pass:
                    // the cuts and bounds read first hold for the cases read after them.
                    let mut tx = self
                        .pool
                        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL plan_cache_mode = force_generic_plan")
                        .await
                        .map_err(internal)?;
                    let page = Self::passes(&mut tx, query, windows).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(page)
                }

                /// The passes of [`Self::search_in_passes`] in its transaction, up to the
                /// first whose page is the answer.
                async fn passes(tx: &mut sqlx::Transaction<'_, $db>, query: &CaseQuery, windows: &[i64]) -> Result<Vec<CaseSummary>> {
                    let (mut cuts, top) = Self::search_cuts(&mut **tx, query, windows).await?;
                    let newest = cuts.pop().unwrap_or_default();
                    let window = cuts.pop().unwrap_or_default();
                    if let Some(whole) = cuts.pop().filter(|w| w.iter().all(Option::is_none)) {
                        return Self::list_pass_on(&mut **tx, query, &Pass::Bounded(whole)).await;
                    }
                    // The page is proven when it reaches no lower than any branch's cut.
                    let lowest_needed = window.iter().flatten().max().copied().unwrap_or(i64::MIN);
                    let page = Self::list_pass_on(&mut **tx, query, &Pass::Bounded(window)).await?;
                    let full = page.len() >= query.limit as usize;
                    if (full && page.last().is_some_and(|c| c.number >= lowest_needed))
                        || lowest_needed == i64::MIN
                    {
                        // Full and above every cut, or every branch walked whole.
                        return Ok(page);
                    }
                    // No case above every branch's newest is visible. When many lie above it,
                    // the text index's matches are cut there before any is read; when few do,
                    // intersecting with the key's range would cost more than it saves.
                    let visible_top = newest.iter().flatten().max().copied();
                    let bound = match (visible_top, top) {
                        (Some(v), Some(t)) if t - v > v / 4 => Some(v),
                        _ => None,
                    };
                    Self::list_pass_on(&mut **tx, query, &Pass::TextDriven(bound)).await
                }
            }

            #[async_trait]
            impl casedesk_core::cases::CaseStore for $store {
                async fn get_case(&self, number: i64) -> Result<Option<Case>> {
                    let row = sqlx::query($crate::case_select!($agg))
                        .bind(number)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    let contacts = parse_contacts(r.try_get("contacts").map_err(internal)?)?;
                    Ok(Some(case_from_row(&r, contacts)?))
                }

                async fn list_cases(&self, query: &CaseQuery) -> Result<Vec<CaseSummary>> {
                    if $name == "postgres" && query.text.is_some() && query.sort == casedesk_core::cases::CaseSort::Newest {
                        return self.search_in_passes(query).await;
                    }
                    self.list_pass(query, &Pass::Whole).await
                }

                async fn list_events(&self, number: i64, include_internal: bool) -> Result<Vec<CaseEvent>> {
                    let rows = sqlx::query(
                        "SELECT e.id, e.case_number, u.email AS actor, e.kind, e.public, e.data, e.at \
                         FROM case_events e LEFT JOIN users u ON u.id = e.actor_id \
                         WHERE e.case_number = $1 AND (e.public = $2 OR $3) ORDER BY e.id",
                    )
                    .bind(number)
                    .bind(true)
                    .bind(include_internal)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            let data: String = r.try_get("data").map_err(internal)?;
                            Ok(CaseEvent {
                                id: r.try_get("id").map_err(internal)?,
                                case_number: r.try_get("case_number").map_err(internal)?,
                                actor: r.try_get("actor").map_err(internal)?,
                                kind: EventKind::parse(&r.try_get::<String, _>("kind").map_err(internal)?)?,
                                public: r.try_get("public").map_err(internal)?,
                                data: serde_json::from_str(&data)
                                    .map_err(|e| DomainError::Internal(format!("bad event json: {e}")))?,
                                at: ts(r.try_get("at").map_err(internal)?),
                            })
                        })
                        .collect()
                }

                async fn event_with_case(&self, id: i64) -> Result<Option<(CaseEvent, Case)>> {
                    // The case query of `get_case`, joined to the event: one round trip.
                    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        $crate::case_select!($agg)
                            .replacen(
                                "SELECT c.number,",
                                "SELECT e.id AS event_id, eu.email AS event_actor, e.kind AS event_kind, \
                                 e.public AS event_public, e.data AS event_data, e.at AS event_at, c.number,",
                                1,
                            )
                            .replacen(
                                " WHERE c.number = $1",
                                " JOIN case_events e ON e.case_number = c.number \
                                 LEFT JOIN users eu ON eu.id = e.actor_id WHERE e.id = $1",
                                1,
                            )
                    });
                    let row = sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    let contacts = parse_contacts(r.try_get("contacts").map_err(internal)?)?;
                    let case = case_from_row(&r, contacts)?;
                    let data: String = r.try_get("event_data").map_err(internal)?;
                    let event = CaseEvent {
                        id: r.try_get("event_id").map_err(internal)?,
                        case_number: case.number,
                        actor: r.try_get("event_actor").map_err(internal)?,
                        kind: EventKind::parse(&r.try_get::<String, _>("event_kind").map_err(internal)?)?,
                        public: r.try_get("event_public").map_err(internal)?,
                        data: serde_json::from_str(&data).map_err(|e| DomainError::Internal(format!("bad event json: {e}")))?,
                        at: ts(r.try_get("event_at").map_err(internal)?),
                    };
                    Ok(Some((event, case)))
                }

                async fn open_case_numbers(&self, after: i64, limit: u32) -> Result<Vec<i64>> {
                    sqlx::query_scalar("SELECT number FROM cases WHERE number > $1 AND status <> 'closed' ORDER BY number LIMIT $2")
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)
                }
            }

            #[async_trait]
            impl casedesk_core::service::ServiceStore for $store {
                async fn create_case(&self, c: &NewCase, event: &NewEvent, key: Option<&IdempotencyKey>, audit: &AuditRecord, mails: Option<casedesk_core::mail::Compose>) -> Result<CreateOutcome> {
                    let mails = match self.batched_create(c, event, key, audit, mails).await? {
                        Batched::Done(done) => return Ok(done),
                        Batched::Not(mails) => mails,
                    };
                    if let Some(k) = key {
                        if let Some(done) = Self::replay(&self.pool, k).await? {
                            return Ok(done);
                        }
                    }
                    let (mut tx, _writer) = self.begin().await?;
                    let number = Self::insert_case(&mut tx, c, Status::New, event, mails.is_some()).await?;
                    if let Some(compose) = mails {
                        Self::insert_mails(&mut tx, &compose(number)).await?;
                    }
                    if let Some(k) = key {
                        let ins = Self::insert_key(&mut tx, k, number, c.created_at).await;
                        match ins {
                            Ok(_) => {}
                            // A concurrent request with the same key won: drop ours, answer theirs.
                            Err(e) if is_unique_violation(&e) => {
                                tx.rollback().await.map_err(internal)?;
                                return Self::replay(&self.pool, k)
                                    .await?
                                    .ok_or_else(|| DomainError::Internal("idempotency key vanished".into()));
                            }
                            Err(e) => return Err(internal(e)),
                        }
                    }
                    // Last, so the lock on the trail's head is held only until the commit.
                    Self::write_audit(&mut tx, &[case_created_audit(audit, number)]).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(CreateOutcome::Created(number))
                }

                async fn update_case(&self, number: i64, expected_version: i64, p: &CasePatch, event: &NewEvent, audit: &AuditRecord) -> Result<Option<Case>> {
                    let (mut tx, _writer) = self.begin().await?;
                    let (set_assignee, assignee) = match p.assignee {
                        Some(a) => (true, a.map(|u| u.to_string())),
                        None => (false, None),
                    };
                    let done = sqlx::query(
                        "UPDATE cases SET status = COALESCE($1, status), priority = COALESCE($2, priority), \
                         escalated = COALESCE($3, escalated), \
                         assignee_id = CASE WHEN $4 THEN $5 ELSE assignee_id END, \
                         sla_due_at = CASE WHEN $9 THEN $10 ELSE sla_due_at END, \
                         sla_alert_at = CASE WHEN $9 THEN $11 ELSE sla_alert_at END, \
                         updated_at = $6, version = version + 1 WHERE number = $7 AND version = $8",
                    )
                    .bind(p.status.map(|s| s.key()))
                    .bind(p.priority.map(|s| s.key()))
                    .bind(p.escalated)
                    .bind(set_assignee)
                    .bind(assignee)
                    .bind(micros(event.at))
                    .bind(number)
                    .bind(expected_version)
                    .bind(p.sla.is_some())
                    .bind(p.sla.as_ref().and_then(|w| w.due_at).map(micros))
                    .bind(p.sla.as_ref().and_then(|w| w.alert_at).map(micros))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    if let Some(w) = &p.sla {
                        Self::insert_sla_events(&mut tx, number, &w.events).await?;
                    }
                    for j in &p.jobs {
                        Self::insert_job(&mut tx, j).await?;
                    }
                    if let Some(m) = &p.inbound
                        && !Self::insert_inbound(&mut tx, m).await?
                    {
                        return Err(DomainError::Conflict("this message was received before".into()));
                    }
                    if let Some(u) = p.add_contact {
                        sqlx::query(CONTACT_INSERT)
                            .bind(number)
                            .bind(u.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| conflict_or_internal(e, "already a team contact"))?;
                    }
                    if let Some(u) = p.remove_contact {
                        sqlx::query("DELETE FROM case_contacts WHERE case_number = $1 AND user_id = $2")
                            .bind(number)
                            .bind(u.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(internal)?;
                    }
                    if let Some(ctx) = &p.context {
                        sqlx::query("UPDATE cases SET context = $1 WHERE number = $2")
                            .bind(to_json(ctx)?)
                            .bind(number)
                            .execute(&mut *tx)
                            .await
                            .map_err(internal)?;
                    }
                    Self::write_support_patch(&mut tx, number, p).await?;
                    Self::insert_attachments(&mut tx, number, event.at, &p.attachments).await?;
                    Self::insert_event(&mut tx, number, event).await?;
                    for e in &p.also {
                        Self::insert_event(&mut tx, number, e).await?;
                    }
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)?;
                    self.get_case(number).await
                }

                async fn finish_job(&self, c: &Claim, f: &Finish, follow: &FollowUp) -> Result<bool> { self.finish_job_op(c, f, follow).await }

                async fn fan_out(&self, c: &Claim, d: &[NewDelivery], m: &[casedesk_core::mail::NewMail]) -> Result<bool> { self.fan_out_op(c, d, m).await }

                async fn import_cases(&self, cases: &[(NewCase, Status)]) -> Result<Vec<i64>> {
                    let (mut tx, _writer) = self.begin().await?;
                    let mut out = Vec::with_capacity(cases.len());
                    for (c, status) in cases {
                        let event = NewEvent {
                            actor_id: Some(c.requester_id),
                            kind: EventKind::Created,
                            public: true,
                            data: serde_json::json!({"status": status.key(), "imported": true}),
                            at: c.created_at,
                        };
                        out.push(Self::insert_case(&mut tx, c, *status, &event, false).await?);
                    }
                    let audit = AuditRecord::new(casedesk_core::audit::Actor::system("import"), "case.import", "cases")
                        .summary(serde_json::json!({"count": out.len(), "first": out.first(), "last": out.last()}))
                        .internal();
                    Self::write_audit(&mut tx, &[audit]).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(out)
                }

                async fn import_history(&self, cases: &[casedesk_core::service::HistoricCase]) -> Result<Vec<i64>> {
                    let (mut tx, _writer) = self.begin().await?;
                    let mut out = Vec::with_capacity(cases.len());
                    // Marked as imported, so the dispatch trigger announces none of it.
                    let imported = |e: &NewEvent| {
                        let mut e = e.clone();
                        match &mut e.data {
                            serde_json::Value::Object(m) => {
                                m.insert("imported".into(), serde_json::Value::Bool(true));
                            }
                            other => *other = serde_json::json!({"imported": true, "value": other.clone()}),
                        }
                        e
                    };
                    for h in cases {
                        let created = NewEvent {
                            actor_id: Some(h.case.requester_id),
                            kind: EventKind::Created,
                            public: true,
                            data: serde_json::json!({"status": Status::New.key(), "imported": true}),
                            at: h.case.created_at,
                        };
                        let number = Self::insert_case(&mut tx, &h.case, h.status, &created, false).await?;
                        for e in &h.events {
                            Self::insert_event(&mut tx, number, &imported(e)).await?;
                        }
                        let last = h.events.iter().map(|e| e.at).max().unwrap_or(h.case.created_at);
                        sqlx::query("UPDATE cases SET assignee_id = $1, updated_at = $2 WHERE number = $3")
                            .bind(h.assignee.map(|u| u.to_string()))
                            .bind(micros(last))
                            .bind(number)
                            .execute(&mut *tx)
                            .await
                            .map_err(internal)?;
                        if let Some(r) = &h.rating {
                            sqlx::query("INSERT INTO case_ratings (case_number, rating, comment, rated_by, rated_at) VALUES ($1, $2, $3, $4, $5)")
                                .bind(number)
                                .bind(i32::from(r.rating))
                                .bind(r.comment.as_deref())
                                .bind(&r.rated_by)
                                .bind(micros(r.rated_at))
                                .execute(&mut *tx)
                                .await
                                .map_err(internal)?;
                        }
                        out.push(number);
                    }
                    let audit = AuditRecord::new(casedesk_core::audit::Actor::system("import"), "case.import", "cases")
                        .summary(serde_json::json!({"count": out.len(), "first": out.first(), "last": out.last(), "history": true}))
                        .internal();
                    Self::write_audit(&mut tx, &[audit]).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(out)
                }
            }

            #[async_trait]
            impl casedesk_core::audit::AuditStore for $store {
                async fn append_audit(&self, a: &AuditRecord) -> Result<()> { self.append_audit_op(a).await }

                async fn audit_page(&self, after: i64, limit: u32, f: &AuditFilter) -> Result<Vec<AuditEntry>> { self.audit_page_op(after, limit, f).await }

                async fn audit_head(&self) -> Result<Option<(i64, String)>> { self.audit_head_op().await }

                async fn audit_checkpoint(&self) -> Result<Option<Checkpoint>> { self.audit_checkpoint_op().await }

                async fn prune_audit(&self, before: casedesk_core::Timestamp, a: &AuditRecord) -> Result<u64> { self.prune_audit_op(before, a).await }
            }

            #[async_trait]
            impl casedesk_core::jobs::JobStore for $store {
                async fn enqueue_job(&self, j: &NewJob) -> Result<()> { self.enqueue_job_op(j).await }

                async fn claim_jobs(&self, node: &str, now: casedesk_core::Timestamp, lease: std::time::Duration, limit: u32) -> Result<Vec<Claim>> { self.claim_jobs_op(node, now, lease, limit).await }

                async fn release_expired(&self, now: casedesk_core::Timestamp) -> Result<u64> { self.release_expired_op(now).await }

                async fn extend_lease(&self, c: &Claim, until: casedesk_core::Timestamp) -> Result<bool> { self.extend_lease_op(c, until).await }

                async fn list_jobs(&self, q: &JobQuery) -> Result<Vec<Job>> { self.list_jobs_op(q).await }

                async fn get_job(&self, id: Uuid) -> Result<Option<Job>> { self.get_job_op(id).await }

                async fn set_job_state(&self, id: Uuid, from: JobState, to: JobState, a: &AuditRecord) -> Result<Option<Job>> { self.set_job_state_op(id, from, to, a).await }

                async fn job_counts(&self, now: casedesk_core::Timestamp) -> Result<Vec<JobCount>> { self.job_counts_op(now).await }

                async fn prune_jobs(&self, before: casedesk_core::Timestamp, now: casedesk_core::Timestamp) -> Result<u64> { self.prune_jobs_op(before, now).await }
            }

            #[async_trait]
            impl casedesk_core::webhooks::WebhookStore for $store {
                async fn create_endpoint(&self, ep: &Endpoint, s: &SecretRecord, a: &AuditRecord) -> Result<()> { self.create_endpoint_op(ep, s, a).await }

                async fn get_endpoint(&self, id: Uuid) -> Result<Option<Endpoint>> { self.get_endpoint_op(id).await }

                async fn list_endpoints(&self, account: Option<Uuid>) -> Result<Vec<Endpoint>> { self.list_endpoints_op(account).await }

                async fn update_endpoint(&self, ep: &Endpoint, a: &AuditRecord) -> Result<()> { self.update_endpoint_op(ep, a).await }

                async fn delete_endpoint(&self, id: Uuid, a: &AuditRecord) -> Result<()> { self.delete_endpoint_op(id, a).await }

                async fn add_secret(&self, s: &SecretRecord, others: casedesk_core::Timestamp, a: &AuditRecord) -> Result<()> { self.add_secret_op(s, others, a).await }

                async fn live_secrets(&self, ep: Uuid, now: casedesk_core::Timestamp) -> Result<Vec<SecretRecord>> { self.live_secrets_op(ep, now).await }

                async fn enabled_endpoints(&self) -> Result<Vec<Endpoint>> { self.enabled_endpoints_op().await }

                async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>> { self.get_delivery_op(id).await }

                async fn list_deliveries(&self, ep: Uuid, before: Option<&str>, limit: u32) -> Result<Vec<Delivery>> { self.list_deliveries_op(ep, before, limit).await }

                async fn list_attempts(&self, id: &str) -> Result<Vec<Attempt>> { self.list_attempts_op(id).await }

                async fn record_attempt(&self, c: &Claim, r: &AttemptRecord, f: &Finish) -> Result<bool> { self.record_attempt_op(c, r, f).await }

                async fn redeliver(&self, id: &str, j: &NewJob, a: &AuditRecord) -> Result<()> { self.redeliver_op(id, j, a).await }

                async fn list_notices(&self, account: Option<Uuid>) -> Result<Vec<Notice>> { self.list_notices_op(account).await }
            }

            #[async_trait]
            impl casedesk_core::sla::SlaStore for $store {
                async fn put_calendar(&self, name: &str, spec: &str, from: casedesk_core::Timestamp, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO sla_calendar_versions (name, valid_from, spec) VALUES ($1, $2, $3) \
                         ON CONFLICT (name, valid_from) DO UPDATE SET spec = excluded.spec",
                    )
                    .bind(name)
                    .bind(micros(from))
                    .bind(spec)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    Self::insert_job(&mut tx, &casedesk_core::sla::reapply_job()).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn calendar_versions(&self, name: &str) -> Result<Vec<(casedesk_core::Timestamp, String)>> {
                    let rows = sqlx::query("SELECT valid_from, spec FROM sla_calendar_versions WHERE name = $1 ORDER BY valid_from")
                        .bind(name)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter()
                        .map(|r| Ok((ts(r.try_get("valid_from").map_err(internal)?), r.try_get("spec").map_err(internal)?)))
                        .collect()
                }

                async fn list_calendars(&self) -> Result<Vec<(String, casedesk_core::Timestamp, String)>> {
                    let rows = sqlx::query(
                        "SELECT v.name, v.valid_from, v.spec FROM sla_calendar_versions v \
                         WHERE v.valid_from = (SELECT MAX(w.valid_from) FROM sla_calendar_versions w WHERE w.name = v.name) \
                         ORDER BY v.name",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok((
                                r.try_get("name").map_err(internal)?,
                                ts(r.try_get("valid_from").map_err(internal)?),
                                r.try_get("spec").map_err(internal)?,
                            ))
                        })
                        .collect()
                }

                async fn set_account_calendar(&self, account_id: Uuid, calendar: Option<&str>, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    let n = sqlx::query("UPDATE accounts SET sla_calendar = $1 WHERE id = $2")
                        .bind(calendar)
                        .bind(account_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    if n == 0 {
                        return Err(DomainError::NotFound { entity: "account" });
                    }
                    Self::insert_job(&mut tx, &casedesk_core::sla::reapply_job()).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn account_calendar(&self, account_id: Uuid) -> Result<Option<String>> {
                    let v: Option<Option<String>> = sqlx::query_scalar("SELECT sla_calendar FROM accounts WHERE id = $1")
                        .bind(account_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    Ok(v.flatten())
                }

                async fn put_policy(&self, plan: &str, priority: &str, spec: &str, at: casedesk_core::Timestamp, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO sla_policies (plan, priority, spec, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (plan, priority) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
                    )
                    .bind(plan)
                    .bind(priority)
                    .bind(spec)
                    .bind(micros(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    Self::insert_job(&mut tx, &casedesk_core::sla::reapply_job()).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn list_policies(&self) -> Result<Vec<(String, String, String, casedesk_core::Timestamp)>> {
                    let rows = sqlx::query("SELECT plan, priority, spec, updated_at FROM sla_policies ORDER BY plan, priority")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok((
                                r.try_get("plan").map_err(internal)?,
                                r.try_get("priority").map_err(internal)?,
                                r.try_get("spec").map_err(internal)?,
                                ts(r.try_get("updated_at").map_err(internal)?),
                            ))
                        })
                        .collect()
                }

                async fn sla_settings(&self) -> Result<Option<String>> {
                    sqlx::query_scalar("SELECT spec FROM sla_settings WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)
                }

                async fn put_sla_settings(&self, spec: &str, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _writer) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO sla_settings (id, spec) VALUES (1, $1) \
                         ON CONFLICT (id) DO UPDATE SET spec = excluded.spec",
                    )
                    .bind(spec)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    Self::insert_job(&mut tx, &casedesk_core::sla::reapply_job()).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                async fn sla_log(&self, number: i64) -> Result<Vec<casedesk_core::sla::ClockEvent>> {
                    let rows: Vec<String> = sqlx::query_scalar("SELECT events FROM sla_events WHERE case_number = $1 ORDER BY seq")
                        .bind(number)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    let mut out = Vec::new();
                    for r in &rows {
                        let batch: Vec<casedesk_core::sla::ClockEvent> = serde_json::from_str(r)
                            .map_err(|e| DomainError::Internal(format!("bad sla log row: {e}")))?;
                        out.extend(batch);
                    }
                    Ok(out)
                }

                async fn set_sla(&self, number: i64, expected_version: i64, w: &casedesk_core::sla::SlaWrite) -> Result<bool> {
                    let (mut tx, _writer) = self.begin().await?;
                    let n = sqlx::query("UPDATE cases SET sla_due_at = $1, sla_alert_at = $2, version = version + 1 WHERE number = $3 AND version = $4")
                        .bind(w.due_at.map(micros))
                        .bind(w.alert_at.map(micros))
                        .bind(number)
                        .bind(expected_version)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    if n == 0 {
                        return Ok(false);
                    }
                    Self::insert_sla_events(&mut tx, number, &w.events).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(true)
                }

                async fn sla_alerts_due(&self, until: casedesk_core::Timestamp, limit: u32) -> Result<Vec<i64>> {
                    sqlx::query_scalar(SLA_ALERTS_DUE)
                        .bind(micros(until))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)
                }
            }

            #[async_trait]
            impl casedesk_core::mail::MailStore for $store {
                async fn begin_mail_attempt(&self, c: &Claim, id: Uuid, at: casedesk_core::Timestamp, lease_until: casedesk_core::Timestamp, stale_before: casedesk_core::Timestamp) -> Result<casedesk_core::mail::AttemptStart> { self.begin_mail_attempt_op(c, id, at, lease_until, stale_before).await }
                async fn mail_result(&self, c: &Claim, r: &casedesk_core::mail::MailResult, f: &Finish) -> Result<bool> { self.mail_result_op(c, r, f).await }

                async fn list_mail(&self, n: i64) -> Result<Vec<casedesk_core::mail::MailRecord>> { self.list_mail_op(n).await }

                async fn get_mail(&self, id: Uuid) -> Result<Option<(casedesk_core::mail::MailRecord, String)>> { self.get_mail_op(id).await }

                async fn record_inbound(&self, m: &casedesk_core::mail::InboundRecord, n: Option<&casedesk_core::mail::NewMail>) -> Result<bool> { self.record_inbound_op(m, n).await }

                async fn find_inbound(&self, id: &str) -> Result<Option<casedesk_core::mail::InboundSummary>> { self.find_inbound_op(id).await }

                async fn get_inbound(&self, id: Uuid) -> Result<Option<(casedesk_core::mail::InboundSummary, Vec<u8>)>> { self.get_inbound_op(id).await }

                async fn list_inbound(&self, n: i64) -> Result<Vec<casedesk_core::mail::InboundSummary>> { self.list_inbound_op(n).await }

                async fn list_inbound_by_outcome(&self, o: &str, before: Option<Uuid>, limit: u32) -> Result<Vec<casedesk_core::mail::InboundSummary>> { self.list_inbound_by_outcome_op(o, before, limit).await }

                async fn review_held(&self, id: Uuid, o: &str, d: &serde_json::Value, audit: &AuditRecord) -> Result<bool> { self.review_held_op(id, o, d, audit).await }

                async fn recent_inbound(&self, q: &casedesk_core::mail::RecentQuery<'_>) -> Result<casedesk_core::mail::RecentInbound> { self.recent_inbound_op(q).await }

                async fn mail_by_message_id(&self, m: &str) -> Result<Option<casedesk_core::mail::MailRecord>> { self.mail_by_message_id_op(m).await }

                async fn notices_since(&self, r: &str, since: casedesk_core::Timestamp) -> Result<u32> { self.notices_since_op(r, since).await }

                async fn bounce_mail(&self, m: &str, e: &str) -> Result<Option<casedesk_core::mail::MailRecord>> { self.bounce_mail_op(m, e).await }

                async fn email_intake(&self, a: Uuid) -> Result<Option<String>> { self.email_intake_op(a).await }

                async fn set_email_intake(&self, a: Uuid, spec: &str, audit: &AuditRecord) -> Result<()> { self.set_email_intake_op(a, spec, audit).await }
            }

            #[async_trait]
            impl casedesk_core::kb::KbStore for $store {
                async fn put_kb_entry(&self, e: &casedesk_core::kb::StoredEntry, audit: &AuditRecord) -> Result<()> { self.put_kb_entry_op(e, audit).await }

                async fn kb_entry(&self, id: &str) -> Result<Option<casedesk_core::kb::StoredEntry>> { Ok(self.kb_query_op(Some(id), false).await?.into_iter().next()) }

                async fn kb_entries(&self) -> Result<Vec<casedesk_core::kb::StoredEntry>> { self.kb_query_op(None, false).await }

                async fn kb_versions(&self, id: &str) -> Result<Vec<casedesk_core::kb::StoredEntry>> { self.kb_query_op(Some(id), true).await }

                async fn kb_generation(&self) -> Result<i64> { self.kb_generation_op().await }

                async fn record_deflection(&self, d: &casedesk_core::kb::search::Deflection) -> Result<()> { self.record_deflection_op(d).await }

                async fn deflection_counts(&self, since: casedesk_core::Timestamp, until: casedesk_core::Timestamp) -> Result<Vec<(String, u64, u64)>> { self.deflection_counts_op(since, until).await }
            }

            #[async_trait]
            impl casedesk_core::status::StatusStore for $store {
                async fn create_incident(&self, i: &casedesk_core::status::Incident, jobs: &[NewJob], audit: &AuditRecord) -> Result<()> { self.create_incident_op(i, jobs, audit).await }

                async fn add_incident_update(&self, i: &casedesk_core::status::Incident, u: &casedesk_core::status::IncidentUpdate, jobs: &[NewJob], audit: &AuditRecord) -> Result<bool> { self.add_incident_update_op(i, u, jobs, audit).await }

                async fn get_incident(&self, id: Uuid) -> Result<Option<casedesk_core::status::Incident>> { self.get_incident_op(id).await }

                async fn list_incidents(&self, open_only: bool, limit: u32) -> Result<Vec<casedesk_core::status::Incident>> { self.list_incidents_op(open_only, limit).await }

                async fn link_incident(&self, id: Uuid, number: i64, by: Uuid, audit: &AuditRecord) -> Result<()> { self.link_incident_op(id, number, by, audit).await }

                async fn unlink_incident(&self, id: Uuid, number: i64, audit: &AuditRecord) -> Result<bool> { self.unlink_incident_op(id, number, audit).await }

                async fn case_incident_ids(&self, number: i64) -> Result<Vec<Uuid>> { self.case_incident_ids_op(number).await }

                async fn incident_case_numbers(&self, id: Uuid) -> Result<Vec<i64>> { self.incident_case_numbers_op(id).await }

                async fn put_subscription(&self, s: &casedesk_core::status::Subscription) -> Result<()> { self.put_subscription_op(s).await }

                async fn subscriptions(&self, user: Option<Uuid>) -> Result<Vec<casedesk_core::status::Subscription>> { self.subscriptions_op(user).await }

                async fn delete_subscription(&self, user: Uuid) -> Result<bool> { self.delete_subscription_op(user).await }

                async fn email_subscriber(&self, email: &str) -> Result<Option<casedesk_core::status::EmailSubscriber>> { self.email_subscriber_op(email).await }

                async fn get_email_subscriber(&self, id: Uuid) -> Result<Option<casedesk_core::status::EmailSubscriber>> { self.get_email_subscriber_op(id).await }

                async fn put_email_subscriber(&self, s: &casedesk_core::status::EmailSubscriber, m: Option<&casedesk_core::mail::NewMail>) -> Result<()> { self.put_email_subscriber_op(s, m).await }

                async fn confirm_email_subscriber(&self, id: Uuid, at: casedesk_core::Timestamp) -> Result<bool> { self.confirm_email_subscriber_op(id, at).await }

                async fn delete_email_subscriber(&self, id: Uuid) -> Result<bool> { self.delete_email_subscriber_op(id).await }

                async fn email_subscribers(&self) -> Result<Vec<casedesk_core::status::EmailSubscriber>> { self.email_subscribers_op().await }
            }

            #[async_trait]
            impl casedesk_core::kb::replies::ReplyStore for $store {
                async fn saved_replies(&self) -> Result<Vec<casedesk_core::kb::replies::SavedReply>> { self.saved_replies_op().await }

                async fn put_saved_reply(&self, r: &casedesk_core::kb::replies::SavedReply, audit: &AuditRecord) -> Result<()> { self.put_saved_reply_op(r, audit).await }

                async fn delete_saved_reply(&self, id: Uuid, audit: &AuditRecord) -> Result<bool> { self.delete_saved_reply_op(id, audit).await }
            }

            #[async_trait]
            impl casedesk_core::attachments::AttachmentStore for $store {
                async fn get_attachment(&self, n: i64, id: Uuid) -> Result<Option<casedesk_core::attachments::Attachment>> { self.get_attachment_op(n, id).await }

                async fn list_attachments(&self, n: i64) -> Result<Vec<casedesk_core::attachments::Attachment>> { self.list_attachments_op(n).await }

                async fn closed_cases_with_attachments(&self, limit: u32) -> Result<Vec<(i64, String, casedesk_core::Timestamp)>> { self.closed_cases_with_attachments_op(limit).await }

                async fn delete_attachments(&self, n: i64, e: &NewEvent) -> Result<Vec<String>> { self.delete_attachments_op(n, e).await }
            }

            #[async_trait]
            impl casedesk_core::grants::GrantStore for $store {
                async fn case_grants(&self, n: i64) -> Result<Vec<casedesk_core::grants::AccessGrant>> { self.case_grants_op(n).await }

                async fn grant(&self, id: Uuid) -> Result<Option<casedesk_core::grants::AccessGrant>> { self.grant_op(id).await }

                async fn active_grants(&self, t: Option<&str>, at: casedesk_core::Timestamp, limit: u32) -> Result<Vec<casedesk_core::grants::AccessGrant>> { self.active_grants_op(t, at, limit).await }
            }

            #[async_trait]
            impl casedesk_core::satisfaction::SatisfactionStore for $store {
                async fn rating(&self, n: i64) -> Result<Option<casedesk_core::satisfaction::Rating>> { self.rating_op(n).await }

                async fn rated_cases(&self, since: casedesk_core::Timestamp, until: casedesk_core::Timestamp, limit: u32) -> Result<Vec<casedesk_core::satisfaction::RatedCase>> { self.rated_cases_op(since, until, limit).await }
            }

            #[async_trait]
            impl casedesk_core::trust::TrustStore for $store {
                async fn put_document(&self, d: &casedesk_core::trust::TrustDocument, content: &[u8], audit: &AuditRecord) -> Result<()> { self.put_document_op(d, content, audit).await }

                async fn documents(&self) -> Result<Vec<casedesk_core::trust::TrustDocument>> { self.documents_op().await }

                async fn document_content(&self, id: Uuid) -> Result<Option<Vec<u8>>> { self.document_content_op(id).await }

                async fn accept_nda(&self, a: &casedesk_core::trust::NdaAcceptance, audit: &AuditRecord) -> Result<bool> { self.accept_nda_op(a, audit).await }

                async fn nda_acceptance(&self, account: Uuid, version: &str) -> Result<Option<casedesk_core::trust::NdaAcceptance>> { self.nda_acceptance_op(account, version).await }
            }

            #[async_trait]
            impl casedesk_core::reports::ReportStore for $store {
                async fn report_rows(&self, since: casedesk_core::Timestamp, until: casedesk_core::Timestamp, limit: u32) -> Result<Vec<casedesk_core::reports::ReportRow>> { self.report_rows_op(since, until, limit).await }
            }
        }
    };
}
