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
            "calendar.hours.mon[0]",
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

async fn managers_keep_calendars_and_policies(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let week = |hours: &str| {
        json!({"time_zone": "Europe/Berlin", "hours": {"mon": [hours], "tue": [hours],
            "wed": [hours], "thu": [hours], "fri": [hours]}, "holidays": ["2026-12-25"]})
    };
    let r = app
        .put(
            "/api/v1/sla/calendars/berlin-office",
            &w.manager,
            week("08:00-18:00"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["calendar"]["time_zone"], "Europe/Berlin");
    // A second version: shorter days. Both are kept, the newest is the calendar.
    let r = app
        .put(
            "/api/v1/sla/calendars/berlin-office",
            &w.manager,
            week("09:00-17:00"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let one = app
        .get("/api/v1/sla/calendars/berlin-office", &w.manager)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json["versions"].as_array().unwrap().len(), 2);
    assert_eq!(one.json["calendar"]["hours"]["mon"], json!(["09:00-17:00"]));
    let list = app.get("/api/v1/sla/calendars", &w.manager).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
    // The preview reads a stored calendar by name: Friday 16:30 + 1 h of 09:00–17:00 hours.
    let a = app
        .post(
            "/api/v1/sla/due",
            &w.manager,
            json!({"calendar": "berlin-office", "start": "2026-11-20T16:30:00+01:00",
                "target_minutes": 60}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(
        a.json["due_local"],
        "2026-11-23T09:30:00+01:00[Europe/Berlin]"
    );
    // The CLI reads stored calendars from the database by name too.
    let out = crate::cli::casedesk(
        &[
            "sla",
            "due",
            "--calendar",
            "berlin-office",
            "--start",
            "2026-11-20T16:30:00+01:00",
            "--target",
            "60",
            "--json",
        ],
        &[("CASEDESK_DATABASE_URL", &app.db.url)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["due_local"], a.json["due_local"]);
    let a = app
        .post(
            "/api/v1/sla/due",
            &w.manager,
            json!({"calendar": "no-such-calendar", "start": "2026-11-20T16:30:00Z",
                "target_minutes": 60}),
        )
        .await;
    assert_eq!(
        (a.status, a.error_fields()),
        (422, vec!["calendar".to_owned()])
    );
    // Bad names and bad calendars are refused and change nothing.
    let r = app
        .put(
            "/api/v1/sla/calendars/Berlin%20Office",
            &w.manager,
            week("08:00-18:00"),
        )
        .await;
    assert_eq!((r.status, r.error_fields()), (422, vec!["name".to_owned()]));
    let r = app
        .put(
            "/api/v1/sla/calendars/berlin-office",
            &w.manager,
            json!({"time_zone": "Europe/Berlin", "hours": {"mon": ["17:00-09:00"]}}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["hours.mon[0]".to_owned()])
    );
    let one = app
        .get("/api/v1/sla/calendars/berlin-office", &w.manager)
        .await;
    assert_eq!(one.json["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/api/v1/sla/calendars/elsewhere", &w.manager)
            .await
            .status,
        404
    );

    // Policies: every plan × priority, defaults until edited.
    let all = app.get("/api/v1/sla/policies", &w.manager).await;
    assert_eq!(all.status, 200);
    let items = all.json["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 24);
    let gold_p3 = |items: &[serde_json::Value]| {
        items
            .iter()
            .find(|i| i["plan"] == "gold" && i["priority"] == "P3")
            .cloned()
            .unwrap()
    };
    assert_eq!(
        gold_p3(&items)["policy"]["first_response"],
        json!({"minutes": 480, "basis": "business"})
    );
    assert!(gold_p3(&items)["edited_at"].is_null());
    let edited = json!({"first_response": {"minutes": 240, "basis": "business"},
        "next_response": {"minutes": 480, "basis": "business"}, "resolution": null});
    let r = app
        .put("/api/v1/sla/policies/gold/P3", &w.manager, edited.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let all = app.get("/api/v1/sla/policies", &w.manager).await;
    let g = gold_p3(all.json["items"].as_array().unwrap());
    assert_eq!(g["policy"], edited);
    assert!(g["edited_at"].is_string());
    assert_eq!(
        app.put("/api/v1/sla/policies/gold/P9", &w.manager, edited.clone())
            .await
            .status,
        404
    );
    let r = app
        .put(
            "/api/v1/sla/policies/gold/P3",
            &w.manager,
            json!({"first_response": {"minutes": 0, "basis": "business"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["first_response.minutes".to_owned()])
    );

    // Nobody but managers reads or changes the settings.
    for token in [&w.agent, &w.super_admin, &w.globex] {
        assert_eq!(app.get("/api/v1/sla/calendars", token).await.status, 403);
        assert_eq!(
            app.get("/api/v1/sla/calendars/berlin-office", token)
                .await
                .status,
            403
        );
        assert_eq!(app.get("/api/v1/sla/policies", token).await.status, 403);
        let r = app
            .put(
                "/api/v1/sla/calendars/berlin-office",
                token,
                week("00:00-24:00"),
            )
            .await;
        assert_eq!(r.status, 403);
        let r = app
            .put("/api/v1/sla/policies/gold/P3", token, edited.clone())
            .await;
        assert_eq!(r.status, 403);
    }
    // Which calendar an account's business hours count on: its production tenant's region until
    // one is chosen (Acme's production tenant is in the EU, its development one in the
    // Americas; Globex's is in APAC).
    let url = app.db.url.clone();
    let account_cal = |account: &str, extra: &[&str]| {
        let mut args = vec!["sla", "account-calendar", "--account", account, "--json"];
        args.extend_from_slice(extra);
        let out = crate::cli::casedesk(&args, &[("CASEDESK_DATABASE_URL", &url)]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (
            out.status.success(),
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, a, _) = account_cal("Acme", &[]);
    assert!(ok);
    assert_eq!(
        (a["calendar"].as_str(), a["hours"]["time_zone"].as_str()),
        (Some("eu"), Some("Europe/Berlin"))
    );
    assert_eq!(a["why"], "built in for the account's region");
    let (_, g, _) = account_cal("Globex", &[]);
    assert_eq!(g["hours"]["time_zone"], "Asia/Singapore");
    let (ok, a, _) = account_cal("Acme", &["--set", "berlin-office"]);
    assert!(ok);
    assert_eq!(
        (a["calendar"].as_str(), a["hours"]["hours"]["mon"].clone()),
        (Some("berlin-office"), json!(["09:00-17:00"]))
    );
    let (ok, _, err) = account_cal("Acme", &["--set", "atlantis"]);
    assert!(!ok && err.contains("no calendar named atlantis"), "{err}");
    let (_, a, _) = account_cal("Acme", &["--set", "apac"]);
    assert_eq!(a["hours"]["time_zone"], "Asia/Singapore");
    assert_eq!(a["why"], "chosen for the account (built in)");
    let (ok, a, _) = account_cal("Acme", &["--clear"]);
    assert!(ok);
    assert_eq!(a["calendar"], "eu");
    // A manager's calendar under the region's key replaces the built-in one.
    let r = app
        .put("/api/v1/sla/calendars/eu", &w.manager, week("07:00-19:00"))
        .await;
    assert_eq!(r.status, 200);
    let (_, a, _) = account_cal("Acme", &[]);
    assert_eq!(a["why"], "stored for the account's region");

    // Every change is in the audit trail, by whom and on what.
    let trail = crate::audit::export_lines(&app, &w.manager, "").await;
    let changes: Vec<&str> = trail
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("sla."))
        .collect();
    assert_eq!(
        changes,
        [
            "sla.calendar.update",
            "sla.calendar.update",
            "sla.policy.update",
            "sla.account_calendar.set",
            "sla.account_calendar.set",
            "sla.account_calendar.set",
            "sla.calendar.update",
        ]
    );
}
both!(managers_keep_calendars_and_policies);
