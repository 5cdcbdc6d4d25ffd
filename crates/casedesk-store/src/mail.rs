//! SQL of the email channel (the mail log of sent messages, received messages with their
//! originals, each account's email intake) and of the knowledge base's entries and their
//! versions, expanded once per backend by `store_impl!`.

/// Implements the inherent `*_mail_op` methods the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! mail_impl {
    ($store:ident) => {
        pub(crate) mod mail_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::audit::AuditRecord;
            use casedesk_core::mail::{InboundRecord, InboundSummary, MailRecord, MailState, NewMail};
            use casedesk_core::{DomainError, Result};
            use uuid::Uuid;

            use super::ops_impl::{g, DbRow, Tx};

            const OUT_COLS: &str = "id, case_number, kind, recipient, subject, message_id, state, attempts, last_error, detail, created_at, sent_at";
            const IN_COLS: &str = "id, received_at, sender, subject, message_id, case_number, outcome, detail";

            fn mail_from_row(r: &DbRow) -> Result<MailRecord> {
                let state: String = g(r, "state")?;
                Ok(MailRecord {
                    id: uuid(&g::<String>(r, "id")?)?,
                    case_number: g(r, "case_number")?,
                    kind: g(r, "kind")?,
                    recipient: g(r, "recipient")?,
                    subject: g(r, "subject")?,
                    message_id: g(r, "message_id")?,
                    state: MailState::parse(&state)
                        .ok_or_else(|| DomainError::Internal(format!("bad mail state {state}")))?,
                    attempts: u32::try_from(g::<i64>(r, "attempts")?).unwrap_or(0),
                    last_error: g(r, "last_error")?,
                    detail: g(r, "detail")?,
                    created_at: ts(g(r, "created_at")?),
                    sent_at: g::<Option<i64>>(r, "sent_at")?.map(ts),
                })
            }

            fn inbound_from_row(r: &DbRow) -> Result<InboundSummary> {
                let detail: String = g(r, "detail")?;
                Ok(InboundSummary {
                    id: uuid(&g::<String>(r, "id")?)?,
                    received_at: ts(g(r, "received_at")?),
                    sender: g(r, "sender")?,
                    subject: g(r, "subject")?,
                    message_id: g(r, "message_id")?,
                    case_number: g(r, "case_number")?,
                    outcome: g(r, "outcome")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            }

            impl $store {
                /// Writes a received message; `false` when its `Message-ID` was seen before.
                pub(crate) async fn insert_inbound(tx: &mut Tx, m: &InboundRecord) -> Result<bool> {
                    let n = sqlx::query(
                        "INSERT INTO mail_in (id, received_at, sender, subject, message_id, case_number, outcome, detail, raw) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                    )
                    .bind(m.id.to_string())
                    .bind(micros(m.received_at))
                    .bind(m.sender.as_deref())
                    .bind(&m.subject)
                    .bind(m.message_id.as_deref())
                    .bind(m.case_number)
                    .bind(m.outcome.key())
                    .bind(m.detail.to_string())
                    .bind(&m.raw)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?
                    .rows_affected();
                    Ok(n == 1)
                }

                pub(crate) async fn list_mail_op(&self, number: i64) -> Result<Vec<MailRecord>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {OUT_COLS} FROM mail_out WHERE case_number = $1 ORDER BY id"
                    )))
                    .bind(number)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(mail_from_row).collect()
                }

                pub(crate) async fn get_mail_op(&self, id: Uuid) -> Result<Option<(MailRecord, String)>> {
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {OUT_COLS}, message FROM mail_out WHERE id = $1"
                    )))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    match r {
                        Some(r) => Ok(Some((mail_from_row(&r)?, g(&r, "message")?))),
                        None => Ok(None),
                    }
                }

                pub(crate) async fn record_inbound_op(&self, m: &InboundRecord, notice: Option<&NewMail>) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    if !Self::insert_inbound(&mut tx, m).await? {
                        return Ok(false);
                    }
                    if let Some(n) = notice {
                        Self::insert_mails(&mut tx, std::slice::from_ref(n)).await?;
                    }
                    tx.commit().await.map_err(internal)?;
                    Ok(true)
                }

                pub(crate) async fn find_inbound_op(&self, message_id: &str) -> Result<Option<InboundSummary>> {
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {IN_COLS} FROM mail_in WHERE message_id = $1"
                    )))
                    .bind(message_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    r.as_ref().map(inbound_from_row).transpose()
                }

                pub(crate) async fn get_inbound_op(&self, id: Uuid) -> Result<Option<(InboundSummary, Vec<u8>)>> {
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {IN_COLS}, raw FROM mail_in WHERE id = $1"
                    )))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    match r {
                        Some(r) => Ok(Some((inbound_from_row(&r)?, g(&r, "raw")?))),
                        None => Ok(None),
                    }
                }

                pub(crate) async fn list_inbound_op(&self, number: i64) -> Result<Vec<InboundSummary>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {IN_COLS} FROM mail_in WHERE case_number = $1 ORDER BY id"
                    )))
                    .bind(number)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(inbound_from_row).collect()
                }

                pub(crate) async fn email_intake_op(&self, account: Uuid) -> Result<Option<String>> {
                    let v: Option<Option<String>> = sqlx::query_scalar("SELECT email_intake FROM accounts WHERE id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    Ok(v.flatten())
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

                pub(crate) async fn set_email_intake_op(&self, account: Uuid, spec: &str, audit: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query("UPDATE accounts SET email_intake = $1 WHERE id = $2")
                        .bind(spec)
                        .bind(account.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(audit)).await?;
                    tx.commit().await.map_err(internal)
                }
            }
        }
    };
}
