//! JobStore: the job table (with the ServiceStore's finish, which writes a job's follow-ups).

use super::*;

async fn jobs_are_claimed_once_fenced_by_their_lease_and_retried(b: Backend) {
    use casedesk_core::jobs::{Finish, JobQuery, JobState, NewJob};
    use casedesk_core::service::FollowUp;
    use std::time::Duration;
    let (s, _db) = store(b).await;
    let now = casedesk_core::now();
    let secs = |n: i64| now.checked_add(jiff::SignedDuration::from_secs(n)).unwrap();
    let due = NewJob::new("t.one", serde_json::json!({"n": 1}));
    let later = NewJob::new("t.one", serde_json::json!({"n": 2})).at(secs(3600));
    let unique = NewJob::new("t.two", serde_json::json!({})).unique("k");
    let twin = NewJob::new("t.two", serde_json::json!({})).unique("k");
    for j in [&due, &later, &unique, &twin] {
        s.enqueue_job(j).await.unwrap();
    }
    let all = s
        .list_jobs(&JobQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        3,
        "a second queued job with the same unique key is not written"
    );

    let lease = Duration::from_secs(1);
    let mut first = s.claim_jobs("a", secs(1), lease, 10).await.unwrap();
    first.sort_by_key(|c| c.job.kind.clone());
    assert_eq!(first.len(), 2, "only due jobs");
    assert!(
        first
            .iter()
            .all(|c| c.job.attempts == 1 && c.job.state == JobState::Running)
    );
    assert!(
        s.claim_jobs("b", secs(1), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased jobs are not claimed twice"
    );

    assert!(
        s.finish_job(&first[0], &Finish::Done, &FollowUp::default())
            .await
            .unwrap()
    );
    assert!(
        !s.finish_job(&first[0], &Finish::Done, &FollowUp::default())
            .await
            .unwrap(),
        "a finished job cannot finish again"
    );
    // A lease extended (a step that rightly takes long) is not released when it would have
    // run out; a stale lease token extends nothing.
    assert!(
        s.extend_lease(&first[1], secs(2) + Duration::from_millis(500))
            .await
            .unwrap()
    );
    assert_eq!(
        s.release_expired(secs(2) + Duration::from_millis(200))
            .await
            .unwrap(),
        0,
        "past the first lease, within the extension"
    );
    let mut stale = first[1].clone();
    stale.token = "not-the-lease".into();
    assert!(!s.extend_lease(&stale, secs(60)).await.unwrap());
    // The lease of the other runs out; another worker takes it over, and the first worker
    // can no longer end it.
    assert_eq!(s.release_expired(secs(3)).await.unwrap(), 1);
    let b2 = s.claim_jobs("b", secs(3), lease, 10).await.unwrap();
    assert_eq!(b2.len(), 1);
    assert_eq!(b2[0].job.id, unique.id);
    assert_eq!(b2[0].job.attempts, 2);
    assert!(
        !s.finish_job(&first[1], &Finish::Done, &FollowUp::default())
            .await
            .unwrap(),
        "fenced by the lease token"
    );
    let retry = Finish::Retry {
        at: secs(10),
        error: "boom".into(),
    };
    let follow = FollowUp {
        jobs: vec![NewJob::new("t.three", serde_json::json!({}))],
        audit: vec![a()],
        mails: vec![],
    };
    assert!(s.finish_job(&b2[0], &retry, &follow).await.unwrap());
    let j = s.get_job(unique.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.last_error.as_deref(), j.attempts),
        (JobState::Queued, Some("boom"), 2)
    );
    assert_eq!(j.run_at, secs(10));
    assert_eq!(
        s.list_jobs(&JobQuery {
            kind: Some("t.three".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        1,
        "follow-ups are written with the finish"
    );

    // The last attempt's failure is the dead letter; a manager's retry starts afresh.
    let once = NewJob::new("t.once", serde_json::json!({})).max_attempts(1);
    s.enqueue_job(&once).await.unwrap();
    let c = s.claim_jobs("a", secs(20), lease, 10).await.unwrap();
    let c = c.iter().find(|c| c.job.id == once.id).unwrap();
    assert!(
        s.finish_job(
            c,
            &Finish::Retry {
                at: secs(30),
                error: "last".into()
            },
            &FollowUp::default()
        )
        .await
        .unwrap()
    );
    let dead = s.get_job(once.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.state, dead.last_error.as_deref()),
        (JobState::Dead, Some("last"))
    );
    let back = s
        .set_job_state(once.id, JobState::Dead, JobState::Queued, &a())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((back.state, back.attempts), (JobState::Queued, 0));
    assert!(
        s.set_job_state(once.id, JobState::Dead, JobState::Cancelled, &a())
            .await
            .unwrap()
            .is_none(),
        "it moved meanwhile"
    );
    // Released at shutdown: the attempt does not count.
    let c = s.claim_jobs("a", secs(40), lease, 10).await.unwrap();
    let c = c.iter().find(|c| c.job.id == once.id).unwrap();
    assert!(
        s.finish_job(c, &Finish::Release, &FollowUp::default())
            .await
            .unwrap()
    );
    assert_eq!(s.get_job(once.id).await.unwrap().unwrap().attempts, 0);
    let counts = s.job_counts(secs(40)).await.unwrap();
    assert!(
        counts
            .iter()
            .any(|c| c.kind == "t.once" && c.state == JobState::Queued && c.count == 1)
    );
}
both!(jobs_are_claimed_once_fenced_by_their_lease_and_retried);
