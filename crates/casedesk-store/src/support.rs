//! SQL of the support center around the case: support access grants, satisfaction ratings and
//! the Trust Center, expanded once per backend by `store_impl!`. Grants and ratings are written
//! with their case change (`write_support_patch`, called by `update_case`).

/// Implements the inherent `*_op` methods the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! support_impl {
    ($store:ident) => {
        pub(crate) mod support_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::audit::AuditRecord;
            use casedesk_core::grants::{AccessGrant, EndReason, GrantChange, GrantScope};
            use casedesk_core::satisfaction::{RatedCase, Rating};
            use casedesk_core::service::CasePatch;
            use casedesk_core::trust::{NdaAcceptance, TrustDocument};
            use casedesk_core::{DomainError, Result, Timestamp};
            use uuid::Uuid;

            use super::ops_impl::{g, DbRow, Tx};

            const GRANT_COLS: &str = "id, case_number, account_id, tenant, scope, note, granted_by, granted_at, expires_at, ended_at, ended_by, end_reason";
            const DOC_COLS: &str = "id, title, summary, requires_nda, topics, file_name, content_type, size, sha256, published_at, published_by";

            fn grant_from_row(r: &DbRow) -> Result<AccessGrant> {
                let scope: String = g(r, "scope")?;
                let reason: Option<String> = g(r, "end_reason")?;
                Ok(AccessGrant {
                    id: uuid(&g::<String>(r, "id")?)?,
                    case_number: g(r, "case_number")?,
                    account_id: uuid(&g::<String>(r, "account_id")?)?,
                    tenant: g(r, "tenant")?,
                    scope: GrantScope::parse(&scope).ok_or_else(|| DomainError::Internal(format!("bad grant scope {scope}")))?,
                    note: g(r, "note")?,
                    granted_by: g(r, "granted_by")?,
                    granted_at: ts(g(r, "granted_at")?),
                    expires_at: ts(g(r, "expires_at")?),
                    ended_at: g::<Option<i64>>(r, "ended_at")?.map(ts),
                    ended_by: g(r, "ended_by")?,
                    end_reason: match reason {
                        Some(s) => Some(EndReason::parse(&s).ok_or_else(|| DomainError::Internal(format!("bad end reason {s}")))?),
                        None => None,
                    },
                })
            }

            fn doc_from_row(r: &DbRow) -> Result<TrustDocument> {
                let topics: String = g(r, "topics")?;
                Ok(TrustDocument {
                    id: uuid(&g::<String>(r, "id")?)?,
                    title: g(r, "title")?,
                    summary: g(r, "summary")?,
                    requires_nda: g(r, "requires_nda")?,
                    topics: serde_json::from_str(&topics).map_err(|e| DomainError::Internal(format!("bad topics: {e}")))?,
                    file_name: g(r, "file_name")?,
                    content_type: g(r, "content_type")?,
                    size: u64::try_from(g::<i64>(r, "size")?).unwrap_or(0),
                    sha256: g(r, "sha256")?,
                    published_at: ts(g(r, "published_at")?),
                    published_by: g(r, "published_by")?,
                })
            }

            fn nda_from_row(r: &DbRow) -> Result<NdaAcceptance> {
                Ok(NdaAcceptance {
                    account_id: uuid(&g::<String>(r, "account_id")?)?,
                    version: g(r, "version")?,
                    user_id: uuid(&g::<String>(r, "user_id")?)?,
                    name: g(r, "name")?,
                    title: g(r, "title")?,
                    accepted_at: ts(g(r, "accepted_at")?),
                })
            }

            impl $store {
                /// The parts of a case change that belong to this module: the contact, grants
                /// opened or ended, the rating.
                pub(crate) async fn write_support_patch(tx: &mut Tx, number: i64, p: &CasePatch) -> Result<()> {
                    if let Some(c) = &p.contact {
                        sqlx::query("UPDATE cases SET contact = $1 WHERE number = $2")
                            .bind(to_json(c)?)
                            .bind(number)
                            .execute(&mut **tx)
                            .await
                            .map_err(internal)?;
                    }
                    for change in &p.grants {
                        match change {
                            GrantChange::Open(gr) => {
                                sqlx::query(sqlx::AssertSqlSafe(format!(
                                    "INSERT INTO access_grants ({GRANT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL)"
                                )))
                                .bind(gr.id.to_string())
                                .bind(number)
                                .bind(gr.account_id.to_string())
                                .bind(&gr.tenant)
                                .bind(gr.scope.key())
                                .bind(&gr.note)
                                .bind(&gr.granted_by)
                                .bind(micros(gr.granted_at))
                                .bind(micros(gr.expires_at))
                                .execute(&mut **tx)
                                .await
                                .map_err(internal)?;
                            }
                            GrantChange::End { id, at, by, reason } => {
                                let n = sqlx::query(
                                    "UPDATE access_grants SET ended_at = $1, ended_by = $2, end_reason = $3 \
                                     WHERE id = $4 AND case_number = $5 AND ended_at IS NULL",
                                )
                                .bind(micros(*at))
                                .bind(by.as_deref())
                                .bind(reason.key())
                                .bind(id.to_string())
                                .bind(number)
                                .execute(&mut **tx)
                                .await
                                .map_err(internal)?
                                .rows_affected();
                                // Two ends of one grant at once: the second writes nothing,
                                // its event included (the transaction is dropped).
                                if n != 1 {
                                    return Err(DomainError::Conflict("the grant has already ended".into()));
                                }
                            }
                        }
                    }
                    if let Some(r) = &p.rating {
                        sqlx::query("INSERT INTO case_ratings (case_number, rating, comment, rated_by, rated_at) VALUES ($1, $2, $3, $4, $5)")
                            .bind(number)
                            .bind(i32::from(r.rating))
                            .bind(r.comment.as_deref())
                            .bind(&r.rated_by)
                            .bind(micros(r.rated_at))
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| conflict_or_internal(e, "the case has already been rated"))?;
                    }
                    Ok(())
                }

                pub(crate) async fn case_grants_op(&self, number: i64) -> Result<Vec<AccessGrant>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {GRANT_COLS} FROM access_grants WHERE case_number = $1 ORDER BY granted_at DESC, id DESC"
                    )))
                    .bind(number)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(grant_from_row).collect()
                }

                pub(crate) async fn grant_op(&self, id: Uuid) -> Result<Option<AccessGrant>> {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {GRANT_COLS} FROM access_grants WHERE id = $1")))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    row.as_ref().map(grant_from_row).transpose()
                }

                pub(crate) async fn active_grants_op(&self, tenant: Option<&str>, at: Timestamp, limit: u32) -> Result<Vec<AccessGrant>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {GRANT_COLS} FROM access_grants WHERE ended_at IS NULL AND expires_at > $1 \
                         AND ($2 IS NULL OR tenant = $2) ORDER BY expires_at, id LIMIT {}",
                        limit.min(1000)
                    )))
                    .bind(micros(at))
                    .bind(tenant)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(grant_from_row).collect()
                }

                pub(crate) async fn rating_op(&self, number: i64) -> Result<Option<Rating>> {
                    let row = sqlx::query("SELECT case_number, rating, comment, rated_by, rated_at FROM case_ratings WHERE case_number = $1")
                        .bind(number)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    let Some(r) = row else { return Ok(None) };
                    Ok(Some(Rating {
                        case_number: g(&r, "case_number")?,
                        rating: u8::try_from(g::<i32>(&r, "rating")?).unwrap_or(0),
                        comment: g(&r, "comment")?,
                        rated_by: g(&r, "rated_by")?,
                        rated_at: ts(g(&r, "rated_at")?),
                    }))
                }

                pub(crate) async fn rated_cases_op(&self, since: Timestamp, until: Timestamp, limit: u32) -> Result<Vec<RatedCase>> {
                    let rows = sqlx::query(
                        "SELECT r.rating, ac.plan, c.priority, c.issue_area, u.email AS assignee \
                         FROM case_ratings r JOIN cases c ON c.number = r.case_number \
                         JOIN accounts ac ON ac.id = c.account_id LEFT JOIN users u ON u.id = c.assignee_id \
                         WHERE r.rated_at >= $1 AND r.rated_at < $2 ORDER BY r.rated_at LIMIT $3",
                    )
                    .bind(micros(since))
                    .bind(micros(until))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(RatedCase {
                                rating: u8::try_from(g::<i32>(r, "rating")?).unwrap_or(0),
                                plan: g(r, "plan")?,
                                priority: g(r, "priority")?,
                                issue_area: g(r, "issue_area")?,
                                assignee: g(r, "assignee")?,
                            })
                        })
                        .collect()
                }

                pub(crate) async fn put_document_op(&self, d: &TrustDocument, content: &[u8], audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO trust_documents ({DOC_COLS}, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    )))
                    .bind(d.id.to_string())
                    .bind(&d.title)
                    .bind(&d.summary)
                    .bind(d.requires_nda)
                    .bind(to_json(&d.topics)?)
                    .bind(&d.file_name)
                    .bind(&d.content_type)
                    .bind(i64::try_from(d.size).unwrap_or(i64::MAX))
                    .bind(&d.sha256)
                    .bind(micros(d.published_at))
                    .bind(&d.published_by)
                    .bind(content)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn documents_op(&self) -> Result<Vec<TrustDocument>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {DOC_COLS} FROM trust_documents ORDER BY published_at DESC, id DESC"
                    )))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(doc_from_row).collect()
                }

                pub(crate) async fn document_content_op(&self, id: Uuid) -> Result<Option<Vec<u8>>> {
                    sqlx::query_scalar("SELECT content FROM trust_documents WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)
                }

                pub(crate) async fn accept_nda_op(&self, a: &NdaAcceptance, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query(
                        "INSERT INTO nda_acceptances (account_id, version, user_id, name, title, accepted_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(a.account_id.to_string())
                    .bind(&a.version)
                    .bind(a.user_id.to_string())
                    .bind(&a.name)
                    .bind(&a.title)
                    .bind(micros(a.accepted_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?
                    .rows_affected();
                    if n != 1 {
                        return Ok(false);
                    }
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(true)
                }

                pub(crate) async fn nda_acceptance_op(&self, account: Uuid, version: &str) -> Result<Option<NdaAcceptance>> {
                    let row = sqlx::query("SELECT account_id, version, user_id, name, title, accepted_at FROM nda_acceptances WHERE account_id = $1 AND version = $2")
                        .bind(account.to_string())
                        .bind(version)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    row.as_ref().map(nda_from_row).transpose()
                }
            }
        }
    };
}
