//! SQL of attachments: their rows, the closed cases retention looks at, and retention's
//! deletion, expanded once per backend by `store_impl!`.

/// Implements the inherent `*_attachment*_op` methods the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! attachments_impl {
    ($store:ident) => {
        pub(crate) mod attachments_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::attachments::{Attachment, NewAttachment};
            use casedesk_core::cases::NewEvent;
            use casedesk_core::{Result, Timestamp};
            use uuid::Uuid;

            use super::ops_impl::{g, DbRow, Tx};

            const COLS: &str = "a.id, a.case_number, a.file_name, a.content_type, a.size, a.sha256, a.kind, \
                                a.public, u.email AS uploaded_by, a.created_at, a.deleted_at";

            fn from_row(r: &DbRow) -> Result<Attachment> {
                Ok(Attachment {
                    id: uuid(&g::<String>(r, "id")?)?,
                    case_number: g(r, "case_number")?,
                    file_name: g(r, "file_name")?,
                    content_type: g(r, "content_type")?,
                    size: g(r, "size")?,
                    sha256: g(r, "sha256")?,
                    kind: g(r, "kind")?,
                    public: g(r, "public")?,
                    uploaded_by: g(r, "uploaded_by")?,
                    created_at: ts(g(r, "created_at")?),
                    deleted_at: g::<Option<i64>>(r, "deleted_at")?.map(ts),
                })
            }

            impl $store {
                pub(crate) async fn insert_attachments(tx: &mut Tx, number: i64, at: Timestamp, list: &[NewAttachment]) -> Result<()> {
                    for a in list {
                        sqlx::query(
                            "INSERT INTO attachments (id, case_number, file_name, content_type, size, sha256, kind, public, uploaded_by, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(a.id.to_string())
                        .bind(number)
                        .bind(&a.file_name)
                        .bind(&a.content_type)
                        .bind(a.size)
                        .bind(&a.sha256)
                        .bind(&a.kind)
                        .bind(a.public)
                        .bind(a.uploaded_by.map(|u| u.to_string()))
                        .bind(micros(at))
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                    }
                    Ok(())
                }

                pub(crate) async fn get_attachment_op(&self, number: i64, id: Uuid) -> Result<Option<Attachment>> {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLS} FROM attachments a LEFT JOIN users u ON u.id = a.uploaded_by \
                         WHERE a.id = $1 AND a.case_number = $2"
                    )))
                    .bind(id.to_string())
                    .bind(number)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    row.as_ref().map(from_row).transpose()
                }

                pub(crate) async fn list_attachments_op(&self, number: i64) -> Result<Vec<Attachment>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLS} FROM attachments a LEFT JOIN users u ON u.id = a.uploaded_by \
                         WHERE a.case_number = $1 ORDER BY a.created_at, a.id"
                    )))
                    .bind(number)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(from_row).collect()
                }

                pub(crate) async fn closed_cases_with_attachments_op(&self, limit: u32) -> Result<Vec<(i64, String, Timestamp)>> {
                    // A closed case changes no more, so its last change is when it closed.
                    let rows = sqlx::query(
                        "SELECT c.number, ac.plan, c.updated_at FROM cases c JOIN accounts ac ON ac.id = c.account_id \
                         WHERE c.status = 'closed' AND EXISTS (SELECT 1 FROM attachments a \
                         WHERE a.case_number = c.number AND a.deleted_at IS NULL) ORDER BY c.updated_at LIMIT $1",
                    )
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| Ok((g(r, "number")?, g(r, "plan")?, ts(g(r, "updated_at")?))))
                        .collect()
                }

                pub(crate) async fn delete_attachments_op(&self, number: i64, event: &NewEvent) -> Result<Vec<String>> {
                    let (mut tx, _w) = self.begin().await?;
                    let rows = sqlx::query(
                        "UPDATE attachments SET deleted_at = $1 WHERE case_number = $2 AND deleted_at IS NULL RETURNING sha256, file_name",
                    )
                    .bind(micros(event.at))
                    .bind(number)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(internal)?;
                    if rows.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut shas: Vec<String> = Vec::new();
                    let mut names: Vec<String> = Vec::new();
                    for r in &rows {
                        let s: String = g(r, "sha256")?;
                        if !shas.contains(&s) {
                            shas.push(s);
                        }
                        names.push(g(r, "file_name")?);
                    }
                    let mut e = event.clone();
                    e.data["files"] = serde_json::json!(names);
                    Self::insert_event(&mut tx, number, &e).await?;
                    let mut orphans = Vec::new();
                    for s in shas {
                        let live: Option<i64> = sqlx::query_scalar(
                            "SELECT CAST(1 AS BIGINT) FROM attachments WHERE sha256 = $1 AND deleted_at IS NULL LIMIT 1",
                        )
                        .bind(&s)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                        if live.is_none() {
                            orphans.push(s);
                        }
                    }
                    tx.commit().await.map_err(internal)?;
                    Ok(orphans)
                }
            }
        }
    };
}
