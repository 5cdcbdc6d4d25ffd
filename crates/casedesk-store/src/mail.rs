//! SQL of the email channel (the mail log of sent messages, received messages with their
//! originals, each account's email intake), expanded once per backend by `store_impl!`.

/// Implements the inherent `*_mail_op` methods the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! mail_impl {
    ($store:ident) => {
        pub(crate) mod mail_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::audit::AuditRecord;
            use casedesk_core::mail::{AttemptOutcome, InboundRecord, InboundSummary, MailAttempt, MailRecord, MailState, NewMail};
            use casedesk_core::{DomainError, Result};
            use uuid::Uuid;

            use super::ops_impl::{g, DbRow, Tx};

            const OUT_COLS: &str = $crate::common::MAIL_OUT_COLS;
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
                    next_attempt_at: g::<Option<i64>>(r, "next_attempt_at")?.map(ts),
                    attempt_log: Vec::new(),
                })
            }

            const ATTEMPT_COLS: &str = "mail_id, attempt, started_at, ended_at, outcome, error, detail";

            /// Hangs each attempt on its message (attempts come oldest first per message).
            fn hang_attempts(mails: &mut [MailRecord], rows: &[DbRow]) -> Result<()> {
                for r in rows {
                    let id = uuid(&g::<String>(r, "mail_id")?)?;
                    let outcome: String = g(r, "outcome")?;
                    let a = MailAttempt {
                        attempt: u32::try_from(g::<i64>(r, "attempt")?).unwrap_or(0),
                        started_at: ts(g(r, "started_at")?),
                        ended_at: g::<Option<i64>>(r, "ended_at")?.map(ts),
                        outcome: AttemptOutcome::parse(&outcome)
                            .ok_or_else(|| DomainError::Internal(format!("bad attempt outcome {outcome}")))?,
                        error: g(r, "error")?,
                        detail: g(r, "detail")?,
                    };
                    if let Some(m) = mails.iter_mut().find(|m| m.id == id) {
                        m.attempt_log.push(a);
                    }
                }
                Ok(())
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
                /// Writes a received message; `false` when its `Message-ID` was seen before
                /// (or, for a decision on held mail, when the message is no longer held).
                pub(crate) async fn insert_inbound(tx: &mut Tx, m: &InboundRecord) -> Result<bool> {
                    if m.replaces_held {
                        let n = sqlx::query(
                            "UPDATE mail_in SET outcome = $1, case_number = $2, detail = $3, flood_sender = $5, flood_case = $6 \
                             WHERE id = $4 AND outcome = 'held'",
                        )
                        .bind(m.outcome.key())
                        .bind(m.case_number)
                        .bind(m.detail.to_string())
                        .bind(m.id.to_string())
                        .bind(m.sender.as_deref().filter(|_| m.counts))
                        .bind(m.case_number.filter(|_| m.counts))
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                        return Ok(n == 1);
                    }
                    let n = sqlx::query(
                        "INSERT INTO mail_in (id, received_at, sender, subject, message_id, case_number, outcome, detail, raw, fingerprint, flood_sender, flood_case) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
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
                    .bind(m.fingerprint.as_deref())
                    .bind(m.sender.as_deref().filter(|_| m.counts))
                    .bind(m.case_number.filter(|_| m.counts))
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
                    let mut mails = rows.iter().map(mail_from_row).collect::<Result<Vec<_>>>()?;
                    let attempts = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {ATTEMPT_COLS} FROM mail_attempts WHERE mail_id IN (SELECT id FROM mail_out WHERE case_number = $1) \
                         ORDER BY mail_id, attempt"
                    )))
                    .bind(number)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    hang_attempts(&mut mails, &attempts)?;
                    Ok(mails)
                }

                pub(crate) async fn get_mail_op(&self, id: Uuid) -> Result<Option<(MailRecord, String)>> {
                    if let Some(read) = self.mail_on_reader(id).await? {
                        return Ok(read);
                    }
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

                pub(crate) async fn list_inbound_by_outcome_op(&self, outcome: &str, before: Option<Uuid>, limit: u32) -> Result<Vec<InboundSummary>> {
                    let rows = match before {
                        Some(b) => sqlx::query(sqlx::AssertSqlSafe(format!(
                            "SELECT {IN_COLS} FROM mail_in WHERE outcome = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
                        )))
                        .bind(outcome)
                        .bind(b.to_string())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await,
                        None => sqlx::query(sqlx::AssertSqlSafe(format!(
                            "SELECT {IN_COLS} FROM mail_in WHERE outcome = $1 ORDER BY id DESC LIMIT $2"
                        )))
                        .bind(outcome)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await,
                    }
                    .map_err(internal)?;
                    rows.iter().map(inbound_from_row).collect()
                }

                pub(crate) async fn review_held_op(&self, id: Uuid, outcome: &str, detail: &serde_json::Value, audit: &AuditRecord) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("UPDATE mail_in SET outcome = $1, detail = $2 WHERE id = $3 AND outcome = 'held'")
                        .bind(outcome)
                        .bind(detail.to_string())
                        .bind(id.to_string())
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

                pub(crate) async fn recent_inbound_op(&self, q: &casedesk_core::mail::RecentQuery<'_>) -> Result<casedesk_core::mail::RecentInbound> {
                    // One round trip; each count reads the index alone and stops at the cap,
                    // so a flood costs the breaker no more than the limit it is held to.
                    const COUNTED: &str = "outcome IN ('posted', 'opened', 'held')";
                    // Whether the same text came again is looked for among the same rows: a
                    // sender (or case) past its limit is held whatever the text.
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT a.n AS from_sender, a.same AS same_sender, b.n AS on_case, b.same AS same_case FROM \
                           (SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN fingerprint = $5 THEN 1 ELSE 0 END), 0) AS same FROM \
                              (SELECT fingerprint FROM mail_in WHERE flood_sender = $1 AND received_at >= $2 AND {COUNTED} LIMIT $3) s) a, \
                           (SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN fingerprint = $5 THEN 1 ELSE 0 END), 0) AS same FROM \
                              (SELECT fingerprint FROM mail_in WHERE flood_case = $4 AND received_at >= $2 AND {COUNTED} LIMIT $3) c) b"
                    )))
                    .bind(q.sender)
                    .bind(micros(q.since))
                    .bind(i64::from(q.cap.max(1)))
                    .bind(q.case.unwrap_or(-1))
                    .bind(q.fingerprint)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(internal)?;
                    let n = |k: &str| -> Result<u32> { Ok(u32::try_from(g::<i64>(&row, k)?).unwrap_or(u32::MAX)) };
                    Ok(casedesk_core::mail::RecentInbound {
                        from_sender: n("from_sender")?,
                        on_case: n("on_case")?,
                        repeated: n("same_sender")? > 0 || n("same_case")? > 0,
                    })
                }

                pub(crate) async fn mail_by_message_id_op(&self, message_id: &str) -> Result<Option<MailRecord>> {
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {OUT_COLS} FROM mail_out WHERE message_id = $1 LIMIT 1"
                    )))
                    .bind(message_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                    r.as_ref().map(mail_from_row).transpose()
                }

                pub(crate) async fn notices_since_op(&self, recipient: &str, since: casedesk_core::Timestamp) -> Result<u32> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM mail_out WHERE kind = 'notice' AND (recipient = $1 OR recipient LIKE $3) \
                         AND created_at >= $2 LIMIT 10) n",
                    )
                    .bind(recipient)
                    .bind(micros(since))
                    .bind(match recipient.rsplit_once('@') {
                        // The same mailbox under a tag: `local+…@domain`.
                        Some((local, domain)) => format!(
                            "{}+%@{}",
                            local.replace(['%', '_'], ""),
                            domain.replace(['%', '_'], "")
                        ),
                        None => recipient.to_owned(),
                    })
                    .fetch_one(&self.pool)
                    .await
                    .map_err(internal)?;
                    Ok(u32::try_from(n).unwrap_or(u32::MAX))
                }

                pub(crate) async fn bounce_mail_op(&self, message_id: &str, error: &str) -> Result<Option<MailRecord>> {
                    let (mut tx, _w) = self.begin().await?;
                    let id: Option<String> = sqlx::query_scalar("SELECT id FROM mail_out WHERE message_id = $1")
                        .bind(message_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                    let Some(id) = id else {
                        return Ok(None);
                    };
                    sqlx::query("UPDATE mail_out SET state = 'failed', last_error = $1, next_attempt_at = NULL WHERE id = $2")
                        .bind(error)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    // A message still waiting for its next attempt is not sent after its bounce.
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE jobs SET state = 'cancelled', last_error = $1 WHERE kind = '{}' AND state = 'queued' AND payload LIKE $2",
                        casedesk_core::mail::SEND
                    )))
                    .bind(error)
                    .bind(format!("%{id}%"))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {OUT_COLS} FROM mail_out WHERE id = $1")))
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(internal)?;
                    let rec = mail_from_row(&r)?;
                    tx.commit().await.map_err(internal)?;
                    Ok(Some(rec))
                }

                pub(crate) async fn email_intake_op(&self, account: Uuid) -> Result<Option<String>> {
                    let v: Option<Option<String>> = sqlx::query_scalar("SELECT email_intake FROM accounts WHERE id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    Ok(v.flatten())
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
