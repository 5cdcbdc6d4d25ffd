use casedesk_testkit::{Backend, acme_case, both, spawn_app};
use serde_json::json;

async fn keyset_pagination_and_filters(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let mut made = Vec::new();
    for i in 0..7 {
        let mut c = acme_case(&format!("case-{i}x about tokens"));
        if i % 2 == 0 {
            c["priority"] = json!("P1");
            c["tenant"] = json!("acme-dev");
        }
        if i == 3 {
            c["stage"] = json!("production");
            c["issue_area"] = json!("security-review");
            c["identifiers"] = json!({"environment": "staging", "deployment_model": "hybrid", "review_needed_by": casedesk_testkit::date_in_days(30)});
        }
        made.push(app.open_case(&w.ops, c).await);
    }
    made.reverse();

    // Pages of 3 cover every case once, newest first, and the last page has no cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/cases?limit=3&cursor={c}"),
            None => "/api/v1/cases?limit=3".into(),
        };
        let page = app.get(&q, &w.ops).await;
        assert_eq!(page.status, 200, "{}", page.json);
        pages += 1;
        seen.extend(
            page.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap()),
        );
        match page.json["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
        // A case opened between pages does not shift the pages already served.
        if pages == 1 {
            app.open_case(&w.teammate, acme_case("someone else's"))
                .await;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);

    let nums = |q: &'static str| {
        let app = &app;
        let t = w.ops.clone();
        async move {
            let a = app.get(&format!("/api/v1/cases{q}"), &t).await;
            assert_eq!(a.status, 200, "{q}: {}", a.json);
            a.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        nums("?priority=P1").await,
        [made[0], made[2], made[4], made[6]]
    );
    assert_eq!(nums("?priority=P1,P2").await.len(), 7);
    assert_eq!(nums("?tenant=acme-dev").await, nums("?priority=P1").await);
    assert_eq!(nums("?stage=production").await, [made[3]]);
    assert_eq!(nums("?issue_area=security-review").await, [made[3]]);
    assert_eq!(nums("?status=new").await.len(), 7);
    assert_eq!(nums("?status=closed").await.len(), 0);
    assert_eq!(nums("?status=active").await.len(), 7);
    assert_eq!(nums("?q=case-4x").await, [made[2]]);
    assert_eq!(nums("?q=TOKENS").await.len(), 7, "search ignores case");
    assert_eq!(nums("?q=100%25").await.len(), 0, "wildcards are literal");

    for (q, field) in [
        ("?status=waiting", "status"),
        ("?priority=P7", "priority"),
        ("?stage=x", "stage"),
        ("?limit=0", "limit"),
        ("?limit=1000", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=zzz", "cursor"),
        ("?view=everything", "view"),
        ("?escalated=maybe", "escalated"),
        ("?colour=red", "colour"),
    ] {
        let a = app.get(&format!("/api/v1/cases{q}"), &w.ops).await;
        assert_eq!(a.status, 422, "{q}");
        assert_eq!(a.error_fields(), [field], "{q}");
    }

    // Agents filter their queue view by queue and status.
    app.post(
        &format!("/api/v1/cases/{}/replies", made[0]),
        &w.agent,
        json!({"body": "on it"}),
    )
    .await;
    let a = app
        .get("/api/v1/cases?queue=identity&status=open", &w.agent)
        .await;
    assert_eq!(a.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(a.json["items"][0]["number"], made[0]);
}
both!(keyset_pagination_and_filters);
