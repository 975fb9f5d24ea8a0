//! Package jobs, inventory and associations on the server, on SQLite and PostgreSQL: a job's
//! rate controls checked and carried to agents, a failure past the error threshold stopping it
//! without a group rollback, inventories replaced whole, associations refused with the field.

use super::*;
use davit_api::{Association, HostInventory, PackageJob};

fn job(version: &str) -> Value {
    json!({"name": "agent", "version": version, "operation": "install"})
}

#[tokio::test]
async fn a_package_job_goes_by_its_rate_controls_and_is_never_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let group = json!({"name": "prod", "tags": prod()});
        let (server, op, agents) = fleet(
            &database,
            &dir.path().join(format!("data{i}")),
            group,
            &["a", "b", "c"],
        )
        .await;
        let url = server.url.clone();
        let revision = "cd".repeat(32);
        let post = |body: Value| {
            call(
                Method::POST,
                format!("{url}/v1/apps/shop/groups/prod/deployments"),
                Some(&op),
                Some(body),
            )
        };
        // A package job takes rate controls, not a deployment configuration; both are checked.
        let (status, body) = post(json!({"revision": revision, "store": "s", "package": job("1.0"), "config": "AllAtOnce"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) =
            post(json!({"revision": revision, "store": "s", "concurrency": "2"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = post(json!({"revision": revision, "store": "s", "package": job("1.0"), "concurrency": "lots"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.to_string().contains("concurrency"), "{body}");
        let bad = json!({"name": "../etc", "version": "1", "operation": "install"});
        let (status, _) = post(json!({"revision": revision, "store": "s", "package": bad})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Two at once, no error allowed.
        let created = deploy(
            &url,
            &op,
            json!({"revision": revision, "store": "s", "package": job("1.0"), "concurrency": "2", "max_errors": "0"}),
        )
        .await;
        let expected: PackageJob = serde_json::from_value(job("1.0")).unwrap();
        assert_eq!(created.package.as_ref(), Some(&expected));
        let running: Vec<&str> = created
            .hosts
            .iter()
            .filter(|h| h.state == HostStatus::Running)
            .map(|h| h.host.as_str())
            .collect();
        assert_eq!(running, ["a", "b"], "{created:?}");
        let command = poll(&url, &agents["a"]).await.unwrap();
        assert_eq!(
            command.package.as_ref(),
            Some(&expected),
            "the agent is told the package"
        );
        let command_b = poll(&url, &agents["b"]).await.unwrap();
        assert_eq!(command_b.deployment, created.id);
        // a fails: b finishes, c never starts, and no rollback is made.
        report(
            &url,
            &agents["a"],
            &created.id,
            false,
            "install 1.0: exit 3",
        )
        .await;
        report(&url, &agents["b"], &created.id, true, "installed 1.0").await;
        let done = show(&url, &op, &created.id).await;
        assert_eq!(done.status, DeploymentStatus::Failed, "{done:?}");
        assert_eq!(
            done.reason.as_deref(),
            Some("1 of 3 hosts failed; the error threshold allows 0")
        );
        assert_eq!(state_of(&done, "c"), HostStatus::Skipped);
        assert!(done.rolled_back_by.is_none());
        assert!(poll(&url, &agents["c"]).await.is_none());
        drop(server);
    }
}

#[tokio::test]
async fn inventories_are_replaced_whole_and_shown_by_host() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = start_sqlite(dir.path()).await;
    let url = server.url.clone();
    let a = enroll(&url, &op, "web-1", prod()).await;
    let b = enroll(&url, &op, "web-2", prod()).await;
    let put = |agent: String, packages: Value| {
        let url = url.clone();
        async move {
            call(
                Method::POST,
                format!("{url}/v1/agent/inventory"),
                Some(&agent),
                Some(json!({"packages": packages})),
            )
            .await
        }
    };
    let item = |name: &str, version: &str| json!({"name": name, "version": version, "state": "Installed", "time": "2026-12-02T10:00:00Z"});
    assert_eq!(
        put(a.clone(), json!([item("agent", "1.0"), item("tools", "3")]))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(b.clone(), json!([item("agent", "1.0")])).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(a.clone(), json!([item("agent", "2.0")])).await.0,
        StatusCode::NO_CONTENT
    );
    // An operator's token is not an agent's; a malformed body names its field.
    assert_eq!(put(op.clone(), json!([])).await.0, StatusCode::FORBIDDEN);
    let (status, body) = put(a.clone(), json!([{"name": "x"}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, all): (_, Vec<HostInventory>) =
        typed(Method::GET, format!("{url}/v1/inventory"), Some(&op), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].host, "web-1");
    assert_eq!(
        all[0].packages.len(),
        1,
        "the second report replaced the first"
    );
    assert_eq!(all[0].packages[0].version.as_deref(), Some("2.0"));
    let (_, one): (_, Vec<HostInventory>) = typed(
        Method::GET,
        format!("{url}/v1/inventory?host=web-2"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].host, "web-2");
    assert_eq!(
        call(Method::GET, format!("{url}/v1/inventory"), Some(&a), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn associations_are_checked_and_one_whose_store_is_unreadable_keeps_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let group = json!({"name": "prod", "tags": prod()});
    let (server, op, _agents) = fleet(
        &start_database(dir.path()),
        &dir.path().join("data"),
        group,
        &["a"],
    )
    .await;
    let url = server.url.clone();
    let new = |patch: Value| {
        let mut body = json!({
            "name": "keep-agent", "app": "shop", "group": "prod", "package": "agent",
            "store": dir.path().join("no-store").display().to_string(),
            "schedule": "rate(30 minutes)"
        });
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        call(
            Method::POST,
            format!("{url}/v1/associations"),
            Some(&op),
            Some(body),
        )
    };
    for (patch, field) in [
        (json!({"schedule": "rate(0 minutes)"}), "schedule"),
        (
            json!({"schedule": "cron(0 3 * * ? *)", "timezone": "Mars/Olympus"}),
            "schedule",
        ),
        (json!({"name": "a/b"}), "name"),
        (json!({"package": ".."}), "package"),
        (json!({"max_errors": "x"}), "max_errors"),
    ] {
        let (status, body) = new(patch.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
        assert!(body.to_string().contains(field), "{patch}: {body}");
    }
    let (status, _) = new(json!({"group": "staging"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The store has no such package: the association is kept, with the reason.
    let (status, body) = new(json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: Association = serde_json::from_value(body).unwrap();
    assert!(created.last_job.is_none());
    assert!(
        created
            .last_error
            .as_deref()
            .unwrap()
            .contains("package `agent` is not in the store"),
        "{created:?}"
    );
    assert_eq!(created.compliance.len(), 1, "{created:?}");
    assert_eq!(
        created.compliance[0].status,
        davit_api::ComplianceStatus::Pending
    );
    assert_eq!(new(json!({})).await.0, StatusCode::CONFLICT);
    let (status, _) = call(
        Method::POST,
        format!("{url}/v1/associations/keep-agent/run"),
        Some(&op),
        Some(json!(null)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        Method::DELETE,
        format!("{url}/v1/associations/keep-agent"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        Method::GET,
        format!("{url}/v1/associations/keep-agent"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    drop(server);
}

fn start_database(dir: &Path) -> String {
    davit_server::default_database_url(dir)
}
