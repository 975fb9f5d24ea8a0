//! Image pipelines: created and checked, started by their schedule exactly once per tick,
//! claimed only by a builder with their tags, skipped when nothing changed, disabled after
//! too many failures, their history kept; a builder that goes silent fails its run; updated
//! with their history kept, deleted with it (not while a run is going).

use super::*;
use davit_api::{BuildJob, Pipeline, PipelineRun, RunStatus};

fn nightly() -> Value {
    json!({
        "name": "nightly",
        "recipe_file": "/srv/recipes/web.yml",
        "recipe": "name: web\nversion: 1.0.0\nparent: debian:bookworm\ncomponents: []\n",
        "distribution_file": "/srv/recipes/dist.yml",
        "distribution": "registries:\n  - repository: docker://127.0.0.1:5000/web\n",
        "groups": [{"app": "web", "group": "prod"}],
        "schedule": "cron(0 3 * * ? *)",
        "timezone": "Europe/Paris",
        "condition": "changed",
        "max_failures": 2,
        "builder_tags": {"role": "builder"}
    })
}

async fn build_poll(url: &str, agent: &str) -> Option<BuildJob> {
    agent_poll(url, agent, "/v1/agent/build?wait=0").await
}

async fn finish(url: &str, agent: &str, run: &str, status: RunStatus, inputs: &str) -> StatusCode {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let body = json!({
        "run": run, "status": status, "inputs": inputs,
        "digest": digest, "reference": "docker://127.0.0.1:5000/web:1.0.0",
        "name": "web", "version": "1.0.0",
        "detail": format!("{status}"), "log": "x".repeat(100_000),
    });
    call(
        Method::POST,
        format!("{url}/v1/agent/build"),
        Some(agent),
        Some(body),
    )
    .await
    .0
}

async fn pipeline(url: &str, operator: &str) -> Pipeline {
    let (status, p) = typed(
        Method::GET,
        format!("{url}/v1/pipelines/nightly"),
        Some(operator),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    p
}

async fn manual_run(url: &str, operator: &str) -> PipelineRun {
    let (status, run) = typed(
        Method::POST,
        format!("{url}/v1/pipelines/nightly/runs"),
        Some(operator),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    run
}

#[tokio::test]
async fn pipelines_run_on_schedule_skip_what_did_not_change_and_disable_after_failures() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let (server, token) = start(&database, &dir.path().join(format!("data{i}"))).await;
        let (url, op) = (server.url.clone(), token.unwrap());
        let op = op.as_str();
        // The scheduler's tick, driven by the test through a second connection.
        let db = davit_server::Db::open(&database).await.unwrap();
        let post = |path: &str, body: Value| {
            call(Method::POST, format!("{url}{path}"), Some(op), Some(body))
        };
        assert_eq!(
            post("/v1/apps", json!({"name": "web"})).await.0,
            StatusCode::CREATED
        );
        let group = json!({"name": "prod", "tags": {"env": "prod"}});
        assert_eq!(
            post("/v1/apps/web/groups", group).await.0,
            StatusCode::CREATED
        );

        // Refused, each naming what is wrong.
        let refused = |patch: Value| {
            let mut body = nightly();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            post("/v1/pipelines", body)
        };
        for (patch, says) in [
            (json!({"schedule": "cron(0 3 * * * *)"}), "schedule"),
            (json!({"schedule": "rate(1 hours)"}), "schedule"),
            (json!({"timezone": "Mars/Olympus"}), "timezone"),
            (
                json!({"groups": [{"app": "web", "group": "nope"}]}),
                "no deployment group `nope`",
            ),
            (
                json!({"distribution": null, "distribution_file": null}),
                "groups",
            ),
            (json!({"recipe": ""}), "recipe"),
            (json!({"name": "../x"}), "pipeline name"),
        ] {
            let (status, body) = refused(patch.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
            assert!(
                body["error"].as_str().unwrap().contains(says),
                "{patch}: {body}"
            );
        }
        let (status, _) = call(Method::GET, format!("{url}/v1/pipelines"), None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (status, created): (_, Pipeline) = typed(
            Method::POST,
            format!("{url}/v1/pipelines"),
            Some(op),
            Some(nightly()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            post("/v1/pipelines", nightly()).await.0,
            StatusCode::CONFLICT
        );
        let first = created
            .next_run_at
            .expect("a scheduled pipeline has a next run");
        assert_eq!(
            Some(first),
            davit_schedule::next_run(
                "cron(0 3 * * ? *)",
                "Europe/Paris",
                created.created_at,
                created.created_at
            )
            .unwrap()
        );

        let builder = enroll(&url, op, "builder-1", json!({"role": "builder"})).await;
        let other = enroll(&url, op, "web-1", json!({"env": "prod"})).await;
        assert!(
            build_poll(&url, &builder).await.is_none(),
            "nothing is due yet"
        );

        // The tick at the due time starts one run; the same tick again starts none.
        assert_eq!(db.start_due_pipelines(first).await.unwrap(), 1);
        assert_eq!(db.start_due_pipelines(first).await.unwrap(), 0);
        let second = pipeline(&url, op).await.next_run_at.unwrap();
        assert!(
            (82_800..=90_000).contains(&(second - first)),
            "a day on: {first} → {second}"
        );
        assert!(
            build_poll(&url, &other).await.is_none(),
            "not a builder with its tags"
        );
        let job = build_poll(&url, &builder)
            .await
            .expect("the builder gets the run");
        assert_eq!(job.pipeline.as_str(), "nightly");
        assert_eq!(job.recipe_file, "/srv/recipes/web.yml");
        assert!(job.distribution.is_some());
        assert_eq!(job.unless_inputs, None, "no good build to compare with yet");
        // Its next tick comes while the run is going: no second run.
        assert_eq!(db.start_due_pipelines(second).await.unwrap(), 0);
        assert_eq!(
            finish(&url, &builder, &job.run, RunStatus::Succeeded, "in-1").await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            finish(&url, &builder, &job.run, RunStatus::Failed, "in-1").await,
            StatusCode::NOT_FOUND
        );
        let (_, groups): (_, Vec<davit_api::Group>) = typed(
            Method::GET,
            format!("{url}/v1/apps/web/groups"),
            Some(op),
            None,
        )
        .await;
        let image = groups[0]
            .image
            .as_ref()
            .expect("the run's image is recorded on web/prod");
        assert_eq!(image.reference, "docker://127.0.0.1:5000/web:1.0.0");

        // Scheduled again: handed with the last good inputs, and skipped.
        let third = pipeline(&url, op).await.next_run_at.unwrap();
        assert_eq!(db.start_due_pipelines(third).await.unwrap(), 1);
        let job = build_poll(&url, &builder).await.unwrap();
        assert_eq!(job.unless_inputs.as_deref(), Some("in-1"));
        assert_eq!(
            finish(&url, &builder, &job.run, RunStatus::Skipped, "in-1").await,
            StatusCode::NO_CONTENT
        );

        // Manual runs always build; two failures in a row disable it.
        for n in 1..=2 {
            let run = manual_run(&url, op).await;
            assert_eq!(run.status, RunStatus::Pending);
            assert_eq!(run.cause, "manual");
            let job = build_poll(&url, &builder).await.unwrap();
            assert_eq!(job.run, run.id);
            assert_eq!(job.unless_inputs, None);
            assert_eq!(
                finish(&url, &builder, &job.run, RunStatus::Failed, "in-2").await,
                StatusCode::NO_CONTENT
            );
            let p = pipeline(&url, op).await;
            assert_eq!(p.failures, n);
            assert_eq!(p.enabled, n < 2, "{p:?}");
        }
        let p = pipeline(&url, op).await;
        assert_eq!(p.next_run_at, None);
        assert!(
            p.disabled_because
                .as_deref()
                .unwrap()
                .contains("2 failed runs in a row"),
            "{p:?}"
        );
        assert_eq!(
            db.start_due_pipelines(i64::MAX / 2).await.unwrap(),
            0,
            "a disabled pipeline does not run"
        );

        let (status, p): (_, Pipeline) = typed(
            Method::POST,
            format!("{url}/v1/pipelines/nightly/enabled"),
            Some(op),
            Some(json!({"enabled": true})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            p.enabled && p.failures == 0 && p.next_run_at.is_some() && p.disabled_because.is_none(),
            "{p:?}"
        );

        // A builder that goes silent: its run fails.
        let run = manual_run(&url, op).await;
        build_poll(&url, &builder).await.unwrap();
        assert_eq!(
            db.reap_silent_builders(davit_server::now() + 60)
                .await
                .unwrap(),
            1
        );

        let (status, history): (_, Vec<PipelineRun>) = typed(
            Method::GET,
            format!("{url}/v1/pipelines/nightly/runs"),
            Some(op),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let seen: Vec<(i64, &str, RunStatus)> = history
            .iter()
            .map(|r| (r.seq, r.cause.as_str(), r.status))
            .collect();
        assert_eq!(
            seen,
            [
                (5, "manual", RunStatus::Failed),
                (4, "manual", RunStatus::Failed),
                (3, "manual", RunStatus::Failed),
                (2, "schedule", RunStatus::Skipped),
                (1, "schedule", RunStatus::Succeeded),
            ]
        );
        assert_eq!(history[0].id, run.id);
        assert!(
            history[0].detail.contains("went silent"),
            "{:?}",
            history[0]
        );
        assert_eq!(history[4].inputs.as_deref(), Some("in-1"));
        assert!(history[4].digest.is_some() && history[4].ended_at.is_some());
        assert!(
            history[4].log.len() <= davit_api::MAX_RUN_LOG + 8,
            "the log's tail is kept"
        );
        assert!(history[4].log.starts_with("[…]"));

        // Updated: a new schedule counted from now, the history kept; the path names it.
        let mut changed = nightly();
        changed["schedule"] = json!("rate(2 hours)");
        changed["max_failures"] = json!(0);
        let (status, updated): (_, Pipeline) = typed(
            Method::PUT,
            format!("{url}/v1/pipelines/nightly"),
            Some(op),
            Some(changed.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(updated.schedule.as_deref(), Some("rate(2 hours)"));
        assert_eq!(updated.max_failures, 0);
        let next = updated.next_run_at.unwrap() - davit_server::now();
        assert!((0..=7200).contains(&next), "{next}");
        let (_, history): (_, Vec<PipelineRun>) = typed(
            Method::GET,
            format!("{url}/v1/pipelines/nightly/runs"),
            Some(op),
            None,
        )
        .await;
        assert_eq!(history.len(), 5);
        changed["name"] = json!("other");
        let (status, body) = call(
            Method::PUT,
            format!("{url}/v1/pipelines/nightly"),
            Some(op),
            Some(changed),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // Deleted, with its history, but not while a run is going.
        let run = manual_run(&url, op).await;
        let delete = || {
            call(
                Method::DELETE,
                format!("{url}/v1/pipelines/nightly"),
                Some(op),
                None,
            )
        };
        let (status, body) = delete().await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let job = build_poll(&url, &builder).await.unwrap();
        assert_eq!(job.run, run.id);
        assert_eq!(
            finish(&url, &builder, &job.run, RunStatus::Succeeded, "in-3").await,
            StatusCode::NO_CONTENT
        );
        let (status, body) = delete().await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], "nightly");
        let (status, _) = call(
            Method::GET,
            format!("{url}/v1/pipelines/nightly/runs"),
            Some(op),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(delete().await.0, StatusCode::NOT_FOUND);
    }
}
