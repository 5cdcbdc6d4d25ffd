//! The keyset cursor of case lists, the same for the API and the pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use casedesk_core::cases::{DueKey, PageCursor};

/// Encodes a keyset cursor (opaque to clients): `n:{number}` newest first,
/// `d:{due µs}:{number}` or `w:{number}` (no running clock) by due time.
pub fn encode_cursor(c: PageCursor) -> String {
    let raw = match c {
        PageCursor::Before(n) => format!("n:{n}"),
        PageCursor::AfterDue(DueKey {
            due: Some(d),
            number,
        }) => format!("d:{}:{number}", d.as_microsecond()),
        PageCursor::AfterDue(DueKey { due: None, number }) => format!("w:{number}"),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

/// Decodes a keyset cursor.
pub fn decode_cursor(s: &str) -> Option<PageCursor> {
    let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let number = |t: &str| t.parse::<i64>().ok().filter(|n| *n > 0);
    if let Some(n) = text.strip_prefix("n:") {
        return number(n).map(PageCursor::Before);
    }
    if let Some(n) = text.strip_prefix("w:") {
        return number(n).map(|number| PageCursor::AfterDue(DueKey { due: None, number }));
    }
    let (due, n) = text.strip_prefix("d:")?.split_once(':')?;
    let due = casedesk_core::Timestamp::from_microsecond(due.parse().ok()?).ok()?;
    Some(PageCursor::AfterDue(DueKey {
        due: Some(due),
        number: number(n)?,
    }))
}
