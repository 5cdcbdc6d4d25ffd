//! Evidence arriving on a case: files (with the captures found in them and the context they
//! fill) and the reports of the diagnostics, each written as one change of the case.

use serde_json::{Value, json};

use super::change::change_case;
use super::writes::{CasePatch, ServiceStore};
use crate::Result;
use crate::attachments::{Prepared, check_attach, evidence_event, fill_context, upload_event};
use crate::cases::{Case, EventKind, NewEvent};
use crate::diagnostics::secrets;
use crate::permissions::is_support;
use crate::users::Principal;

/// Stores prepared files on a case: the rows, the upload event, each capture's evidence and
/// the filled context, in one transaction (the content is already in the blob store).
pub async fn attach(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    prepared: &[Prepared],
    public: bool,
) -> Result<Case> {
    // Several uploads to one case at once are common (a browser sends files in parallel);
    // each attempt is short, so more of them are allowed than for other changes.
    change_case(store, p, number, 20, |case| {
        check_attach(p, case, !public)?;
        let patch = CasePatch {
            attachments: prepared.iter().map(|f| f.attachment.clone()).collect(),
            context: fill_context(case, prepared),
            also: prepared
                .iter()
                .filter_map(|f| evidence_event(p, f))
                .collect(),
            ..Default::default()
        };
        Ok((patch, upload_event(p, prepared, public)))
    })
    .await
}

/// Records a diagnostic's report (never its input) on a case's timeline: public when the
/// customer ran it, internal when support did.
pub async fn record_report(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    kind: &str,
    report: &Value,
) -> Result<()> {
    // Whatever a report quotes (an issuer's answer, a claim) meets the detector before it
    // is stored.
    let mut report = report.clone();
    secrets::scrub_strings(
        &mut report,
        &secrets::Tag::Plain,
        &mut secrets::Found::default(),
    )?;
    change_case(store, p, number, 5, |_| {
        let event = NewEvent {
            actor_id: Some(p.user.id),
            kind: EventKind::DiagnosticReport,
            public: !is_support(p),
            data: json!({"diagnostic": kind, "report": report}),
            at: crate::now(),
        };
        Ok((CasePatch::default(), event))
    })
    .await
    .map(|_| ())
}
