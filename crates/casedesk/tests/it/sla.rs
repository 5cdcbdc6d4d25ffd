//! SLA calendar previews over HTTP, and the same answers from the CLI.

use casedesk_testkit::{Backend, both, spawn_app};
use serde_json::json;

async fn managers_preview_due_times_and_business_time(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    // A Friday 17:30 P3 (8 business hours) in Berlin falls due on Monday at 15:30.
    let a = app
        .post(
            "/api/v1/sla/due",
            &w.manager,
            json!({"calendar": "Europe/Berlin", "start": "2026-11-20T17:30:00+01:00",
                "target_minutes": 480}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["due_at"], "2026-11-23T14:30:00Z");
    assert_eq!(
        a.json["due_local"],
        "2026-11-23T15:30:00+01:00[Europe/Berlin]"
    );
    assert_eq!(
        a.json["counted"],
        json!([
            {"from": "2026-11-20T16:30:00Z", "to": "2026-11-20T17:00:00Z"},
            {"from": "2026-11-23T07:00:00Z", "to": "2026-11-23T14:30:00Z"}
        ])
    );
    // A calendar with a split day and a holiday, across Sydney's change to summer time.
    let a = app
        .post(
            "/api/v1/sla/between",
            &w.manager,
            json!({"calendar": {"time_zone": "Australia/Sydney",
                "hours": {"fri": ["09:00-12:00", "13:00-17:00"], "mon": ["09:00-17:00"]},
                "holidays": ["2026-10-05"]},
                "from": "2026-10-02T00:00:00+10:00", "to": "2026-10-13T00:00:00+11:00"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    // Fri 2 Oct 7 h, Mon 5 Oct a holiday, Fri 9 Oct 7 h, Mon 12 Oct 8 h.
    assert_eq!(a.json["business_minutes"], 22 * 60);

    // Only managers; customers and agents are told why.
    for token in [&w.agent, &w.super_admin] {
        let r = app
            .post(
                "/api/v1/sla/due",
                token,
                json!({"calendar": "24x7", "start": "2026-11-20T17:30:00Z", "target_minutes": 1}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.json);
        assert!(
            r.json["detail"].as_str().unwrap().contains("managers"),
            "{}",
            r.json
        );
    }
    // Every bad field is named; a calendar that never opens is refused, not searched.
    let r = app
        .post(
            "/api/v1/sla/due",
            &w.manager,
            json!({"calendar": {"time_zone": "Europe/Berlin", "hours": {"mon": ["18:00-08:00"]}},
                "start": "soon", "target_minutes": -5, "priority": "P1"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.content_type().starts_with("application/problem+json"));
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(
        f,
        [
            "calendar.hours.mon.0",
            "priority",
            "start",
            "target_minutes"
        ]
    );
    let r = app
        .post(
            "/api/v1/sla/due",
            &w.manager,
            json!({"calendar": {"time_zone": "Europe/Berlin", "hours": {}},
                "start": "2026-11-20T17:30:00Z", "target_minutes": 60}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["calendar.hours"]);
}
both!(managers_preview_due_times_and_business_time);

#[test]
fn the_cli_answers_the_same_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let cal = dir.path().join("berlin.json");
    std::fs::write(
        &cal,
        r#"{"time_zone": "Europe/Berlin", "hours": {"mon": ["08:00-18:00"], "fri": ["08:00-18:00"]},
            "holidays": ["2026-11-23"]}"#,
    )
    .unwrap();
    let out = crate::cli::casedesk(
        &[
            "sla",
            "due",
            "--calendar",
            cal.to_str().unwrap(),
            "--start",
            "2026-11-20T17:30:00+01:00",
            "--target",
            "1h",
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Half an hour on Friday; Monday is a holiday; the rest the next Friday.
    assert_eq!(a["due_local"], "2026-11-27T08:30:00+01:00[Europe/Berlin]");
    let out = crate::cli::casedesk(
        &[
            "sla",
            "due",
            "--calendar",
            "Mars/Olympus",
            "--start",
            "now",
            "--target",
            "8h",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("calendar") && err.contains("start"), "{err}");
}
