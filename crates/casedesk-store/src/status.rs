//! SQL of service status: incidents and their updates, the cases linked to them, and the
//! email subscriptions, expanded once per backend by `store_impl!`.

/// Implements the inherent `*_status_op` methods the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! status_impl {
    ($store:ident) => {
        pub(crate) mod status_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::audit::AuditRecord;
            use casedesk_core::jobs::NewJob;
            use casedesk_core::status::{ComponentState, EmailSubscriber, Incident, IncidentState, IncidentUpdate, Subscription};
            use casedesk_core::{DomainError, Result};
            use uuid::Uuid;

            use super::ops_impl::{g, DbRow, Tx};

            const INCIDENT_COLS: &str = "id, title, state, impact, regions, components, issue_areas, started_at, resolved_at";

            fn list(r: &DbRow, c: &str) -> Result<Vec<String>> {
                let s: String = g(r, c)?;
                serde_json::from_str(&s).map_err(|e| DomainError::Internal(format!("bad {c}: {e}")))
            }

            fn impact(s: &str) -> Result<ComponentState> {
                ComponentState::parse(s).ok_or_else(|| DomainError::Internal(format!("bad impact {s}")))
            }

            fn state(s: &str) -> Result<IncidentState> {
                IncidentState::parse(s).ok_or_else(|| DomainError::Internal(format!("bad incident state {s}")))
            }

            fn incident_from_row(r: &DbRow) -> Result<Incident> {
                Ok(Incident {
                    id: uuid(&g::<String>(r, "id")?)?,
                    title: g(r, "title")?,
                    state: state(&g::<String>(r, "state")?)?,
                    impact: impact(&g::<String>(r, "impact")?)?,
                    regions: list(r, "regions")?,
                    components: list(r, "components")?,
                    issue_areas: list(r, "issue_areas")?,
                    started_at: ts(g(r, "started_at")?),
                    resolved_at: g::<Option<i64>>(r, "resolved_at")?.map(ts),
                    updates: Vec::new(),
                })
            }

            fn json(v: &[String]) -> String {
                serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
            }

            impl $store {
                async fn insert_update(tx: &mut Tx, incident: Uuid, u: &IncidentUpdate) -> Result<()> {
                    sqlx::query("INSERT INTO incident_updates (id, incident_id, at, state, impact, body) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(u.id.to_string())
                        .bind(incident.to_string())
                        .bind(micros(u.at))
                        .bind(u.state.key())
                        .bind(u.impact.key())
                        .bind(&u.body)
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                    Ok(())
                }

                pub(crate) async fn create_incident_op(&self, i: &Incident, jobs: &[NewJob], audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO incidents ({INCIDENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    )))
                    .bind(i.id.to_string())
                    .bind(&i.title)
                    .bind(i.state.key())
                    .bind(i.impact.key())
                    .bind(json(&i.regions))
                    .bind(json(&i.components))
                    .bind(json(&i.issue_areas))
                    .bind(micros(i.started_at))
                    .bind(i.resolved_at.map(micros))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    for u in &i.updates {
                        Self::insert_update(&mut tx, i.id, u).await?;
                    }
                    for j in jobs {
                        Self::insert_job(&mut tx, j).await?;
                    }
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn add_incident_update_op(&self, i: &Incident, u: &IncidentUpdate, jobs: &[NewJob], audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    // Only an open incident takes updates: two managers resolving at once
                    // cannot both post the resolution.
                    let n = sqlx::query("UPDATE incidents SET state = $1, impact = $2, resolved_at = $3 WHERE id = $4 AND resolved_at IS NULL")
                        .bind(i.state.key())
                        .bind(i.impact.key())
                        .bind(i.resolved_at.map(micros))
                        .bind(i.id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    if n != 1 {
                        return Ok(false);
                    }
                    Self::insert_update(&mut tx, i.id, u).await?;
                    for j in jobs {
                        Self::insert_job(&mut tx, j).await?;
                    }
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(true)
                }

                async fn with_updates(&self, mut v: Vec<Incident>) -> Result<Vec<Incident>> {
                    if v.is_empty() {
                        return Ok(v);
                    }
                    let ps: Vec<String> = (1..=v.len()).map(|k| format!("${k}")).collect();
                    let sql = format!(
                        "SELECT id, incident_id, at, state, impact, body FROM incident_updates WHERE incident_id IN ({}) ORDER BY at, id",
                        ps.join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for i in &v {
                        q = q.bind(i.id.to_string());
                    }
                    let rows = q.fetch_all(&self.pool).await.map_err(internal)?;
                    for r in &rows {
                        let of = uuid(&g::<String>(r, "incident_id")?)?;
                        let u = IncidentUpdate {
                            id: uuid(&g::<String>(r, "id")?)?,
                            at: ts(g(r, "at")?),
                            state: state(&g::<String>(r, "state")?)?,
                            impact: impact(&g::<String>(r, "impact")?)?,
                            body: g(r, "body")?,
                        };
                        if let Some(i) = v.iter_mut().find(|i| i.id == of) {
                            i.updates.push(u);
                        }
                    }
                    Ok(v)
                }

                pub(crate) async fn get_incident_op(&self, id: Uuid) -> Result<Option<Incident>> {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {INCIDENT_COLS} FROM incidents WHERE id = $1")))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    Ok(self.with_updates(vec![incident_from_row(&r)?]).await?.pop())
                }

                pub(crate) async fn list_incidents_op(&self, open_only: bool, limit: u32) -> Result<Vec<Incident>> {
                    let filter = if open_only { "WHERE resolved_at IS NULL " } else { "" };
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {INCIDENT_COLS} FROM incidents {filter}ORDER BY started_at DESC, id DESC LIMIT {}",
                        limit.min(500)
                    )))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    let v = rows.iter().map(incident_from_row).collect::<Result<Vec<_>>>()?;
                    self.with_updates(v).await
                }

                pub(crate) async fn link_incident_op(&self, id: Uuid, number: i64, by: Uuid, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("INSERT INTO incident_cases (incident_id, case_number, linked_at, linked_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                        .bind(id.to_string())
                        .bind(number)
                        .bind(micros(casedesk_core::now()))
                        .bind(by.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    // Linking twice changes nothing and records nothing.
                    if n == 1 {
                        Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    }
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn unlink_incident_op(&self, id: Uuid, number: i64, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM incident_cases WHERE incident_id = $1 AND case_number = $2")
                        .bind(id.to_string())
                        .bind(number)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    if n == 1 {
                        Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    }
                    tx.commit().await.map_err(internal)?;
                    Ok(n == 1)
                }

                pub(crate) async fn case_incident_ids_op(&self, number: i64) -> Result<Vec<Uuid>> {
                    let ids: Vec<String> = sqlx::query_scalar("SELECT incident_id FROM incident_cases WHERE case_number = $1 ORDER BY linked_at")
                        .bind(number)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    ids.iter().map(|s| uuid(s)).collect()
                }

                pub(crate) async fn incident_case_numbers_op(&self, id: Uuid) -> Result<Vec<i64>> {
                    sqlx::query_scalar("SELECT case_number FROM incident_cases WHERE incident_id = $1 ORDER BY case_number")
                        .bind(id.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)
                }

                pub(crate) async fn put_subscription_op(&self, s: &Subscription) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    // One subscription a person: subscribing again replaces the regions.
                    sqlx::query(
                        "INSERT INTO status_subscriptions (id, user_id, email, regions, created_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (user_id) DO UPDATE SET regions = excluded.regions, email = excluded.email",
                    )
                    .bind(s.id.to_string())
                    .bind(s.user_id.to_string())
                    .bind(&s.email)
                    .bind(json(&s.regions))
                    .bind(micros(s.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn subscriptions_op(&self, user: Option<Uuid>) -> Result<Vec<Subscription>> {
                    let rows = sqlx::query(
                        "SELECT id, user_id, email, regions, created_at FROM status_subscriptions \
                         WHERE ($1 IS NULL OR user_id = $1) ORDER BY created_at",
                    )
                        .bind(user.map(|u| u.to_string()))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(Subscription {
                                id: uuid(&g::<String>(r, "id")?)?,
                                user_id: uuid(&g::<String>(r, "user_id")?)?,
                                email: g(r, "email")?,
                                regions: list(r, "regions")?,
                                created_at: ts(g(r, "created_at")?),
                            })
                        })
                        .collect()
                }

                fn subscriber(r: &DbRow) -> Result<EmailSubscriber> {
                    Ok(EmailSubscriber {
                        id: uuid(&g::<String>(r, "id")?)?,
                        email: g(r, "email")?,
                        regions: list(r, "regions")?,
                        confirmed_at: g::<Option<i64>>(r, "confirmed_at")?.map(ts),
                        asked_at: ts(g(r, "asked_at")?),
                        created_at: ts(g(r, "created_at")?),
                    })
                }

                pub(crate) async fn email_subscriber_op(&self, email: &str) -> Result<Option<EmailSubscriber>> {
                    let row = sqlx::query("SELECT id, email, regions, confirmed_at, asked_at, created_at FROM status_email_subscribers WHERE email = $1")
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    row.as_ref().map(Self::subscriber).transpose()
                }

                pub(crate) async fn get_email_subscriber_op(&self, id: Uuid) -> Result<Option<EmailSubscriber>> {
                    let row = sqlx::query("SELECT id, email, regions, confirmed_at, asked_at, created_at FROM status_email_subscribers WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    row.as_ref().map(Self::subscriber).transpose()
                }

                pub(crate) async fn put_email_subscriber_op(&self, s: &EmailSubscriber, confirmation: Option<&casedesk_core::mail::NewMail>) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO status_email_subscribers (id, email, regions, confirmed_at, asked_at, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (id) DO UPDATE SET regions = excluded.regions, asked_at = excluded.asked_at",
                    )
                    .bind(s.id.to_string())
                    .bind(&s.email)
                    .bind(json(&s.regions))
                    .bind(s.confirmed_at.map(micros))
                    .bind(micros(s.asked_at))
                    .bind(micros(s.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or_internal(e, "the address was given twice at once; try again"))?;
                    if let Some(m) = confirmation {
                        Self::insert_mails(&mut tx, std::slice::from_ref(m)).await?;
                    }
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn confirm_email_subscriber_op(&self, id: Uuid, at: casedesk_core::Timestamp) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("UPDATE status_email_subscribers SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL")
                        .bind(micros(at))
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    tx.commit().await.map_err(internal)?;
                    Ok(n == 1)
                }

                pub(crate) async fn delete_email_subscriber_op(&self, id: Uuid) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM status_email_subscribers WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    tx.commit().await.map_err(internal)?;
                    Ok(n == 1)
                }

                pub(crate) async fn email_subscribers_op(&self) -> Result<Vec<EmailSubscriber>> {
                    let rows = sqlx::query("SELECT id, email, regions, confirmed_at, asked_at, created_at FROM status_email_subscribers WHERE confirmed_at IS NOT NULL ORDER BY created_at")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter().map(Self::subscriber).collect()
                }

                pub(crate) async fn delete_subscription_op(&self, user: Uuid) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM status_subscriptions WHERE user_id = $1")
                        .bind(user.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    tx.commit().await.map_err(internal)?;
                    Ok(n == 1)
                }
            }
        }
    };
}
