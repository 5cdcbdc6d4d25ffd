//! DirectoryStore: accounts, tenants, users and the issue areas.

use super::*;

async fn taxonomy_and_uniqueness(b: Backend) {
    let (s, _db) = store(b).await;
    let areas = s.issue_areas().await.unwrap();
    let keys: Vec<(&str, &str)> = areas
        .iter()
        .map(|a| (a.key.as_str(), a.queue.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = DEFAULT_ISSUE_AREAS
        .iter()
        .map(|(k, _, _, q)| (*k, *q))
        .collect();
    assert_eq!(keys, want, "migrations seed the default taxonomy");

    let f = fixture(s.as_ref()).await;
    let dup = Account {
        id: Uuid::now_v7(),
        ..f.account.clone()
    };
    assert!(matches!(
        s.create_account(&dup, &a()).await,
        Err(DomainError::Conflict(_))
    ));
    let dup = Tenant {
        id: Uuid::now_v7(),
        ..f.tenant.clone()
    };
    assert!(matches!(
        s.create_tenant(&dup, &a()).await,
        Err(DomainError::Conflict(_))
    ));
    let dup = User {
        id: Uuid::now_v7(),
        ..f.requester.clone()
    };
    assert!(matches!(
        s.create_user(&dup, None, &a()).await,
        Err(DomainError::Conflict(_))
    ));
    assert_eq!(
        s.find_account("Acme").await.unwrap().unwrap().id,
        f.account.id
    );
    assert_eq!(
        s.find_account(&f.account.id.to_string())
            .await
            .unwrap()
            .unwrap()
            .name,
        "Acme"
    );
    assert!(
        s.find_account("acme").await.unwrap().is_none(),
        "names match exactly"
    );

    let agent = User {
        queues: vec!["identity".into(), "security".into()],
        ..user(None, "a@support.example", Role::Agent)
    };
    s.create_user(&agent, None, &a()).await.unwrap();
    assert_eq!(
        s.get_user(agent.id).await.unwrap().unwrap().queues,
        ["identity", "security"]
    );
}
both!(taxonomy_and_uniqueness);
