//! SQL of the knowledge base (entries, their versions and the counter of its changes)
//! and of deflections, expanded once per backend by `store_impl!`.

/// Implements the inherent `kb_*` methods the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! kb_impl {
    ($store:ident) => {
        pub(crate) mod kb_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::audit::AuditRecord;
            use casedesk_core::kb::search::Deflection;
            use casedesk_core::{DomainError, Result, Timestamp};

            use super::ops_impl::g;

            impl $store {
                pub(crate) async fn saved_replies_op(&self) -> Result<Vec<casedesk_core::kb::replies::SavedReply>> {
                    let rows = sqlx::query("SELECT id, title, body, updated_by, updated_at FROM saved_replies ORDER BY title")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(casedesk_core::kb::replies::SavedReply {
                                id: uuid(&g::<String>(r, "id")?)?,
                                title: g(r, "title")?,
                                body: g(r, "body")?,
                                updated_by: g(r, "updated_by")?,
                                updated_at: ts(g(r, "updated_at")?),
                            })
                        })
                        .collect()
                }

                pub(crate) async fn put_saved_reply_op(&self, r: &casedesk_core::kb::replies::SavedReply, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO saved_replies (id, title, body, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body, \
                         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    )
                    .bind(r.id.to_string())
                    .bind(&r.title)
                    .bind(&r.body)
                    .bind(&r.updated_by)
                    .bind(micros(r.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn delete_saved_reply_op(&self, id: uuid::Uuid, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM saved_replies WHERE id = $1")
                        .bind(id.to_string())
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

                pub(crate) async fn put_kb_entry_op(&self, e: &casedesk_core::kb::StoredEntry, audit: &AuditRecord) -> Result<()> {
                    let spec = serde_json::to_string(&e.entry).map_err(internal)?;
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO kb_versions (entry_id, version, spec, visibility, state, updated_at, updated_by) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&e.entry.id)
                    .bind(e.version)
                    .bind(&spec)
                    .bind(e.entry.visibility.key())
                    .bind(e.entry.state.key())
                    .bind(micros(e.updated_at))
                    .bind(&e.updated_by)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| conflict_or_internal(err, "the entry was changed meanwhile; read it again"))?;
                    // The version moves only from the one before it, so two writers cannot both win.
                    let n = if e.version == 1 {
                        sqlx::query("INSERT INTO kb_entries (id, version) VALUES ($1, 1)")
                            .bind(&e.entry.id)
                            .execute(&mut *tx)
                            .await
                            .map_err(|err| conflict_or_internal(err, "the entry exists already"))?
                            .rows_affected()
                    } else {
                        sqlx::query("UPDATE kb_entries SET version = $1 WHERE id = $2 AND version = $3")
                            .bind(e.version)
                            .bind(&e.entry.id)
                            .bind(e.version - 1)
                            .execute(&mut *tx)
                            .await
                            .map_err(internal)?
                            .rows_affected()
                    };
                    if n != 1 {
                        return Err(DomainError::Conflict("the entry was changed meanwhile; read it again".into()));
                    }
                    // Every process's ranked index is rebuilt when it sees the counter move.
                    sqlx::query("UPDATE kb_state SET generation = generation + 1 WHERE id = 1")
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }


                pub(crate) async fn kb_query_op(&self, id: Option<&str>, all_versions: bool) -> Result<Vec<casedesk_core::kb::StoredEntry>> {
                    let sql = if all_versions {
                        "SELECT v.spec, v.version, v.updated_at, v.updated_by FROM kb_versions v WHERE v.entry_id = $1 ORDER BY v.version DESC"
                    } else {
                        "SELECT v.spec, v.version, v.updated_at, v.updated_by FROM kb_entries e \
                         JOIN kb_versions v ON v.entry_id = e.id AND v.version = e.version WHERE ($1 IS NULL OR e.id = $1)"
                    };
                    let rows = sqlx::query(sql)
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            let spec: String = g(r, "spec")?;
                            Ok(casedesk_core::kb::StoredEntry {
                                entry: serde_json::from_str(&spec).map_err(|e| DomainError::Internal(format!("bad kb entry: {e}")))?,
                                version: g(r, "version")?,
                                updated_at: ts(g(r, "updated_at")?),
                                updated_by: g(r, "updated_by")?,
                            })
                        })
                        .collect()
                }

                pub(crate) async fn kb_generation_op(&self) -> Result<i64> {
                    sqlx::query_scalar("SELECT generation FROM kb_state WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(internal)
                }

                pub(crate) async fn record_deflection_op(&self, d: &Deflection) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO deflections (id, at, account_id, user_id, entry_id, issue_area, subject, description) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(d.id.to_string())
                    .bind(micros(d.at))
                    .bind(d.account_id.map(|a| a.to_string()))
                    .bind(d.user_id.to_string())
                    .bind(&d.entry_id)
                    .bind(d.question.issue_area.as_deref())
                    .bind(&d.question.subject)
                    .bind(&d.question.description)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn deflection_counts_op(&self, since: Timestamp, until: Timestamp) -> Result<Vec<(String, u64, u64)>> {
                    let rows = sqlx::query(
                        "SELECT area, SUM(d) AS d, SUM(c) AS c FROM ( \
                           SELECT COALESCE(issue_area, '') AS area, 1 AS d, 0 AS c FROM deflections WHERE at >= $1 AND at < $2 \
                           UNION ALL SELECT issue_area AS area, 0 AS d, 1 AS c FROM cases WHERE created_at >= $1 AND created_at < $2 \
                         ) AS x GROUP BY area ORDER BY area",
                    )
                    .bind(micros(since))
                    .bind(micros(until))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            let d: i64 = g(r, "d")?;
                            let c: i64 = g(r, "c")?;
                            Ok((g(r, "area")?, u64::try_from(d).unwrap_or(0), u64::try_from(c).unwrap_or(0)))
                        })
                        .collect()
                }
            }
        }
    };
}
