//! `davit server` and the operator's commands, as a user runs them: real server process,
//! SQLite state in a scratch directory, a restart in the middle.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use davit_api::{
    Agent, App, Deployment, DeploymentHost, DeploymentStatus, DeploymentSummary, Group, HostStatus,
};

use crate::support::*;

/// Starts `davit server` over `data_dir`; returns it and its URL.
pub(crate) fn start_server(data_dir: &Path) -> (Child, String) {
    start_server_with(data_dir, &[])
}

fn start_server_with(data_dir: &Path, extra: &[&str]) -> (Child, String) {
    let listen = if extra.contains(&"--listen") {
        &[][..]
    } else {
        &["--listen", "127.0.0.1:0"][..]
    };
    let mut server = davit()
        .arg("server")
        .args(listen)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("davit server on ") {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    (server, url)
}

pub(crate) fn operator(url: &str, token: &str, args: &[&str]) -> std::process::Output {
    davit()
        .args(args)
        .env("DAVIT_SERVER", url)
        .env("DAVIT_TOKEN", token)
        .output()
        .unwrap()
}

#[test]
fn operators_create_apps_and_groups_that_survive_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("server");
    let (mut server, url) = start_server(&data);
    let token = std::fs::read_to_string(data.join("operator-token")).unwrap();
    let token = token.trim();

    let output = operator(&url, token, &["app", "create", "shop"]);
    assert!(output.status.success(), "{}", text(&output).1);
    let output = operator(
        &url,
        token,
        &[
            "group",
            "create",
            "shop",
            "prod",
            "--tags",
            "env=prod,zone=a",
            "--hosts",
            "web-1,web-2",
            "--max-deployment-minutes",
            "90",
        ],
    );
    assert!(output.status.success(), "{}", text(&output).1);

    let output = operator(&url, token, &["app", "create", "shop"]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("application `shop` exists"), "{err}");
    let output = operator(&url, "dvo_wrong", &["app", "list"]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("hint: check DAVIT_TOKEN"), "{err}");

    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, url) = start_server(&data);
    let output = operator(&url, token, &["group", "list", "shop", "--output", "json"]);
    let (out, err) = text(&output);
    assert!(output.status.success(), "{err}");
    let groups: Vec<Group> = serde_json::from_str(&out).unwrap();
    assert_eq!(groups[0].name.as_str(), "prod");
    assert_eq!(groups[0].tags["zone"], "a");
    assert_eq!(groups[0].hosts[1], "web-2");
    assert_eq!(groups[0].max_deployment_minutes, 90);
    let output = operator(&url, token, &["enroll-token", "create"]);
    assert!(text(&output).0.starts_with("dve_"), "{}", text(&output).1);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A server, a pushed revision, and `davit agent` processes (killed when dropped).
///
/// The revision installs a page at /srv/app and runs an AfterInstall script that fails (exit 3)
/// on a host whose target root holds `fail`, sleeps a minute where it holds `slow`, 3 s where
/// it holds `pause` and 5 s where it holds `long`, and asks for a reboot (exit 194, removing
/// the flag) where it holds `reboot`.
struct Fleet {
    work: tempfile::TempDir,
    server: Child,
    url: String,
    token: String,
    revision: String,
    agents: std::collections::BTreeMap<String, Child>,
}

impl Fleet {
    /// Starts the server with `server_args`, and the app `shop` with group `prod`
    /// (`env=prod` hosts, plus `expected` by name).
    fn new(server_args: &[&str], expected: &str) -> Fleet {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let (server, url) = start_server_with(&w.join("server"), server_args);
        let token = std::fs::read_to_string(w.join("server/operator-token")).unwrap();
        let token = token.trim().to_string();
        assert!(
            operator(&url, &token, &["app", "create", "shop"])
                .status
                .success()
        );
        let output = operator(
            &url,
            &token,
            &[
                "group", "create", "shop", "prod", "--tags", "env=prod", "--hosts", expected,
            ],
        );
        assert!(output.status.success(), "{}", text(&output).1);
        let bundle = w.join("bundle");
        write_bundle(
            &bundle,
            "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: /srv/app\nhooks:\n  AfterInstall:\n    - location: check.sh\n      timeout: 120\n",
            &[
                ("site/index.html", b"fleet".as_slice()),
                (
                    "check.sh",
                    b"#!/bin/sh\n[ -f \"$DAVIT_TARGET_ROOT/slow\" ] && sleep 60\n[ -f \"$DAVIT_TARGET_ROOT/pause\" ] && sleep 3\n[ -f \"$DAVIT_TARGET_ROOT/long\" ] && sleep 5\nif [ -f \"$DAVIT_TARGET_ROOT/fail\" ]; then echo 'disk check failed' >&2; exit 3; fi\nif [ -f \"$DAVIT_TARGET_ROOT/reboot\" ]; then rm \"$DAVIT_TARGET_ROOT/reboot\"; exit 194; fi\nexit 0\n".as_slice(),
                ),
            ],
        );
        let pushed = push_bundle(&bundle, w.join("store"));
        std::fs::write(
            w.join("policy.toml"),
            "allow_native_scripts = true\n\n[install]\ndestinations = [\"/srv/app\", \"/srv/blog\"]\n\n\
             [[directories]]\npath = \"/opt/demo\"\naccess = \"read-write\"\n",
        )
        .unwrap();
        Fleet {
            revision: pushed["revision"].as_str().unwrap().to_string(),
            work,
            server,
            url,
            token,
            agents: Default::default(),
        }
    }

    fn host_dir(&self, host: &str) -> std::path::PathBuf {
        self.work.path().join(host)
    }

    /// Starts the agent of `host` (enrolling it the first time), with `flag` (`fail`, `slow`)
    /// set in its target root.
    fn start_agent(&mut self, host: &str, flag: Option<&str>) {
        self.start_agent_with(host, flag, &[]);
    }

    /// [`Fleet::start_agent`] with `extra` arguments; its stderr goes to `<host>/agent.log`.
    fn start_agent_with(&mut self, host: &str, flag: Option<&str>, extra: &[&str]) {
        let target = self.host_dir(host).join("target");
        std::fs::create_dir_all(&target).unwrap();
        if let Some(flag) = flag {
            std::fs::write(target.join(flag), "").unwrap();
        }
        let mut cmd = davit();
        cmd.args([
            "agent",
            "--server",
            &self.url,
            "--tags",
            "env=prod,zone=a",
            "--hostname",
            host,
        ]);
        if !self
            .host_dir(host)
            .join("root/agent/identity.json")
            .exists()
        {
            let enroll = operator(&self.url, &self.token, &["enroll-token", "create"]);
            cmd.args(["--enroll-token", text(&enroll).0.trim()]);
        }
        let agent = cmd
            .arg("--policy")
            .arg(self.work.path().join("policy.toml"))
            .arg("--deployment-root")
            .arg(self.host_dir(host).join("root"))
            .arg("--target-root")
            .arg(&target)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.host_dir(host).join("agent.log")).unwrap())
            .spawn()
            .unwrap();
        self.agents.insert(host.to_string(), agent);
    }

    fn kill_agent(&mut self, host: &str) {
        let mut agent = self.agents.remove(host).unwrap();
        agent.kill().unwrap();
        agent.wait().unwrap();
    }

    /// Runs an operator's command with `--output json`; its output read as `T`.
    fn run<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let json = json_ok(&operator(&self.url, &self.token, args));
        serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    /// Waits until `count` agents are enrolled.
    fn wait_for_agents(&self, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self
            .run::<Vec<Agent>>(&["agents", "--output", "json"])
            .len()
            < count
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the agents did not enroll"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Deploys the revision AllAtOnce and returns the deployment's id.
    fn deploy(&self) -> String {
        self.deploy_revision(&self.revision, "AllAtOnce")
    }

    fn deploy_revision(&self, revision: &str, config: &str) -> String {
        self.deploy_app("shop", revision, config)
    }

    /// Deploys `revision` of `app` to its group `prod`; returns the deployment's id.
    fn deploy_app(&self, app: &str, revision: &str, config: &str) -> String {
        let store = self.work.path().join("store");
        let created: Deployment = self.run(&[
            "deploy",
            app,
            "prod",
            "--revision",
            revision,
            "--store",
            store.to_str().unwrap(),
            "--config",
            config,
            "--output",
            "json",
        ]);
        created.id
    }

    /// Pushes a broken release: another page, and an AfterInstall that always fails.
    fn push_broken(&self) -> String {
        self.push(
            "broken",
            "/srv/app",
            "#!/bin/sh\necho 'migration failed' >&2\nexit 4\n",
        )
    }

    /// Pushes a revision whose page, `name`, goes to `destination`, and whose AfterInstall
    /// runs `script`; returns its id.
    fn push(&self, name: &str, destination: &str, script: &str) -> String {
        let bundle = self.work.path().join(name);
        write_bundle(
            &bundle,
            &format!(
                "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: {destination}\nhooks:\n  AfterInstall:\n    - location: check.sh\n"
            ),
            &[
                ("site/index.html", name.as_bytes()),
                ("check.sh", script.as_bytes()),
            ],
        );
        let pushed = push_bundle(&bundle, self.work.path().join("store"));
        pushed["revision"].as_str().unwrap().to_string()
    }

    /// The deployment, as `deployments show --output json` prints it.
    fn show(&self, id: &str) -> Deployment {
        self.run(&["deployments", "show", id, "--output", "json"])
    }

    /// Polls the deployment until `until` holds of it (60 s at most).
    fn wait(&self, id: &str, until: impl Fn(&Deployment) -> bool) -> Deployment {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let shown = self.show(id);
            if until(&shown) {
                return shown;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited too long: {shown:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Fleet {
    /// The fleet's store, where packages are pushed too.
    fn store(&self) -> String {
        self.work.path().join("store").to_str().unwrap().to_owned()
    }

    /// Pushes [`native_package`] `pkg` at `version` to the store.
    fn push_package(&self, version: &str) {
        let dir = self.work.path().join(format!("pkg-{version}"));
        native_package(&dir, version);
        self.push_package_dir(&dir, "pkg");
    }

    /// Pushes the package in `dir` to the store as `name`.
    fn push_package_dir(&self, dir: &Path, name: &str) {
        let out = davit()
            .args(["package", "push"])
            .arg(dir)
            .args(["--name", name, "--store", &self.store()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out).1);
    }

    /// The version `pkg`'s install wrote on `host`, if any.
    fn package_version(&self, host: &str) -> Option<String> {
        std::fs::read_to_string(self.host_dir(host).join("target/opt/pkg/version")).ok()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for agent in self.agents.values_mut() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn host(deployment: &Deployment, name: &str) -> DeploymentHost {
    deployment
        .hosts
        .iter()
        .find(|h| h.host == name)
        .cloned()
        .unwrap_or_else(|| panic!("no host {name} in {deployment:?}"))
}

/// Whether the deployment has ended.
fn finished(d: &Deployment) -> bool {
    d.status.is_finished()
}

/// A fresh database on the test PostgreSQL server (`DAVIT_TEST_POSTGRES`, set by
/// `scripts/services start`), made with the real `psql` client; `None` with DAVIT_SKIP_POSTGRES.
fn postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("DAVIT_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("DAVIT_SKIP_POSTGRES").is_some(),
            "DAVIT_TEST_POSTGRES is not set: run `eval \"$(scripts/services start)\"` first (scripts/test does), or set DAVIT_SKIP_POSTGRES=1"
        );
        eprintln!("SKIPPED: PostgreSQL (DAVIT_SKIP_POSTGRES is set)");
        return None;
    };
    let name = format!(
        "davit_e2e_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let created = std::process::Command::new("psql")
        .arg(&base)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs");
    assert!(created.status.success(), "{created:?}");
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Some(format!("{prefix}/{name}"))
}

#[test]
fn a_fleet_deployment_runs_on_every_agent_and_reports_each_host() {
    fleet_deployment(&[]);
}

#[test]
fn a_fleet_deployment_runs_the_same_with_postgresql_state() {
    if let Some(database) = postgres_database() {
        fleet_deployment(&["--database-url", &database]);
    }
}

fn fleet_deployment(server_args: &[&str]) {
    let mut fleet = Fleet::new(server_args, "web-4");
    fleet.start_agent("web-1", None);
    fleet.start_agent("web-2", None);
    fleet.start_agent("web-3", Some("fail"));
    fleet.wait_for_agents(3);
    let id = fleet.deploy();
    // `watch` follows it to the end: exit 0 as it succeeds, the failing hook's log shown.
    let watched = operator(&fleet.url, &fleet.token, &["deploy", "watch", &id]);
    let (out, err) = text(&watched);
    assert_eq!(watched.status.code(), Some(0), "{err}");
    assert!(
        out.contains(&format!("deployment {id} of shop/prod: Succeeded")),
        "{out}"
    );
    assert!(out.contains("AfterInstall:FAILED"), "{out}");
    assert!(out.contains("| [stderr] disk check failed"), "{out}");
    let listed: Vec<DeploymentSummary> = fleet.run(&["deployments", "list", "--output", "json"]);
    assert_eq!(listed[0].id, id);
    let done = fleet.wait(&id, finished);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    let events = host(&done, "web-1").events.unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "ApplicationStop",
            "DownloadBundle",
            "BeforeInstall",
            "Install",
            "AfterInstall",
            "ApplicationStart",
            "ValidateService"
        ]
    );
    for ok in ["web-1", "web-2"] {
        assert_eq!(host(&done, ok).state, HostStatus::Succeeded, "{done:?}");
        let page = fleet.host_dir(ok).join("target/srv/app/index.html");
        assert_eq!(std::fs::read_to_string(page).unwrap(), "fleet");
    }
    assert_eq!(host(&done, "web-3").state, HostStatus::Failed);
    let detail = host(&done, "web-3").detail.unwrap();
    assert!(detail.starts_with("AfterInstall:"), "{detail}");
    assert!(detail.contains("exited with status 3"), "{detail}");
    assert_eq!(host(&done, "web-4").state, HostStatus::Failed);
    assert_eq!(
        host(&done, "web-4").detail.as_deref(),
        Some("no agent ever enrolled on this host")
    );
}

#[test]
fn an_agent_killed_mid_deployment_is_reported_lost_and_the_deployment_ends() {
    let mut fleet = Fleet::new(&["--agent-timeout", "2s"], "web-1");
    fleet.start_agent("web-1", None);
    fleet.start_agent("web-2", Some("slow"));
    fleet.wait_for_agents(2);
    let id = fleet.deploy();
    fleet.wait(&id, |d| host(d, "web-2").state == HostStatus::Claimed);
    // Events arrive live, before the host's result: Install is done while AfterInstall sleeps.
    let live = fleet.wait(&id, |d| {
        host(d, "web-2")
            .events
            .is_some_and(|e| e.iter().any(|e| e.event == "Install"))
    });
    assert_eq!(host(&live, "web-2").state, HostStatus::Claimed, "{live:?}");
    // Its hook sleeps a minute; heartbeats keep it alive meanwhile, until the agent dies.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let alive = fleet.show(&id);
    assert_eq!(
        host(&alive, "web-2").state,
        HostStatus::Claimed,
        "a busy agent is not lost: {alive:?}"
    );
    let killed = std::time::Instant::now();
    fleet.kill_agent("web-2");
    let done = fleet.wait(&id, finished);
    assert!(
        killed.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(host(&done, "web-2").state, HostStatus::Failed, "{done:?}");
    assert_eq!(
        host(&done, "web-2").detail.as_deref(),
        Some("the agent stopped answering during the deployment")
    );
    assert_eq!(host(&done, "web-1").state, HostStatus::Succeeded);
    assert_eq!(
        done.status,
        DeploymentStatus::Succeeded,
        "AllAtOnce needs one host: {done:?}"
    );
}

#[test]
fn a_failed_release_is_rolled_back_to_the_last_good_revision() {
    let mut fleet = Fleet::new(&[], "web-1");
    for host in ["web-1", "web-2", "web-3"] {
        fleet.start_agent(host, None);
    }
    fleet.wait_for_agents(3);
    let good = fleet.deploy();
    let done = fleet.wait(&good, finished);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");

    // OneAtATime: the first host fails the broken release, which ends it.
    let broken = fleet.push_broken();
    let failed = fleet.deploy_revision(&broken, "OneAtATime");
    // The rollback is created just after the failure is stored: wait for both.
    let ended = fleet.wait(&failed, |d| finished(d) && d.rolled_back_by.is_some());
    assert_eq!(ended.status, DeploymentStatus::Failed, "{ended:?}");
    let changed = ended
        .hosts
        .iter()
        .filter(|h| h.state == HostStatus::Failed)
        .count();
    assert_eq!(changed, 1, "{ended:?}");
    let rollback = ended.rolled_back_by.clone().expect("rolled back");
    let back = fleet.wait(&rollback, finished);
    assert_eq!(back.status, DeploymentStatus::Succeeded, "{back:?}");
    assert_eq!(back.rollback_of, Some(failed));
    assert_eq!(back.revision.as_str(), fleet.revision);
    // Every host serves the good page again; the broken one stayed nowhere.
    for host in ["web-1", "web-2", "web-3"] {
        let page = fleet.host_dir(host).join("target/srv/app/index.html");
        assert_eq!(std::fs::read_to_string(page).unwrap(), "fleet", "{host}");
    }
}

#[test]
fn an_agent_restarted_mid_deployment_reports_failed_after_restart() {
    // A long timeout: the restart, not silence, must be what fails the host.
    let mut fleet = Fleet::new(&["--agent-timeout", "5m"], "web-1");
    fleet.start_agent("web-1", Some("slow"));
    fleet.wait_for_agents(1);
    let id = fleet.deploy();
    // Killed once Install has committed, while AfterInstall sleeps.
    fleet.wait(&id, |d| {
        host(d, "web-1")
            .events
            .is_some_and(|e| e.iter().any(|e| e.event == "Install"))
    });
    fleet.kill_agent("web-1");
    std::fs::remove_file(fleet.host_dir("web-1").join("target/slow")).unwrap();
    fleet.start_agent("web-1", None);
    let done = fleet.wait(&id, finished);
    assert_eq!(host(&done, "web-1").state, HostStatus::Failed, "{done:?}");
    // Killed in AfterInstall: the Install had committed, and the report says what the host holds.
    let detail = host(&done, "web-1").detail.clone().unwrap_or_default();
    assert!(
        detail.starts_with("the agent restarted during the deployment; ")
            && detail.contains(&format!("the host holds revision {}", fleet.revision)),
        "{detail}"
    );
    assert_eq!(done.status, DeploymentStatus::Failed);
}

#[test]
fn a_hook_that_asks_for_a_reboot_restarts_the_agent_and_the_deployment_resumes() {
    let mut fleet = Fleet::new(&[], "web-1");
    fleet.start_agent_with("web-1", Some("reboot"), &["--reboot", "agent"]);
    fleet.start_agent("web-2", None);
    fleet.wait_for_agents(2);
    let id = fleet.deploy();
    let done = fleet.wait(&id, finished);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    let web1 = host(&done, "web-1");
    assert_eq!(web1.state, HostStatus::Succeeded, "{done:?}");
    // One deployment on the host, every event once: AfterInstall before the reboot, the rest
    // after it, by the agent that took its place.
    let events = web1.events.clone().unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "ApplicationStop",
            "DownloadBundle",
            "BeforeInstall",
            "Install",
            "AfterInstall",
            "ApplicationStart",
            "ValidateService"
        ]
    );
    let after_install = events[4].detail.clone().unwrap_or_default();
    assert!(
        after_install.contains("hook `check.sh` asked for a reboot")
            && after_install.contains("resumes at ApplicationStart"),
        "{after_install}"
    );
    let log = std::fs::read_to_string(fleet.host_dir("web-1").join("agent.log")).unwrap();
    let restarted = log.find("starting the agent again in place of a reboot");
    let resumed = log.find("resuming after the reboot");
    assert!(
        restarted.is_some() && resumed > restarted,
        "the agent restarted, then resumed: {log}"
    );
    let reports = fleet
        .host_dir("web-1")
        .join("root/apps/shop/prod/deployments");
    assert_eq!(
        std::fs::read_dir(reports).unwrap().count(),
        1,
        "one deployment"
    );
    assert_eq!(host(&done, "web-2").state, HostStatus::Succeeded);
}

#[test]
fn a_server_restarted_mid_deployment_finishes_it_and_runs_no_host_twice() {
    server_restart(&[]);
}

#[test]
fn a_server_on_postgresql_restarted_mid_deployment_finishes_it() {
    if let Some(database) = postgres_database() {
        server_restart(&["--database-url", &database]);
    }
}

fn server_restart(server_args: &[&str]) {
    let mut fleet = Fleet::new(server_args, "web-1");
    fleet.start_agent("web-1", None);
    fleet.start_agent("web-2", Some("pause"));
    fleet.wait_for_agents(2);
    let id = fleet.deploy();
    fleet.wait(&id, |d| host(d, "web-2").state == HostStatus::Claimed);
    // Down while web-2's hook runs; up again on the same address, from the same state.
    fleet.server.kill().unwrap();
    fleet.server.wait().unwrap();
    let listen = fleet.url.trim_start_matches("http://").to_string();
    let data = fleet.work.path().join("server");
    let mut args = vec!["--listen", listen.as_str()];
    args.extend_from_slice(server_args);
    let (server, url) = start_server_with(&data, &args);
    assert_eq!(url, fleet.url);
    fleet.server = server;
    let done = fleet.wait(&id, finished);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    for name in ["web-1", "web-2"] {
        assert_eq!(host(&done, name).state, HostStatus::Succeeded, "{done:?}");
        let reports = fleet.host_dir(name).join("root/apps/shop/prod/deployments");
        assert_eq!(
            std::fs::read_dir(reports).unwrap().count(),
            1,
            "{name} ran once"
        );
    }
}

#[test]
fn five_hosts_each_end_as_what_happened_to_them() {
    five_hosts(&[]);
}

#[test]
fn five_hosts_end_the_same_with_postgresql_state() {
    if let Some(database) = postgres_database() {
        five_hosts(&["--database-url", &database]);
    }
}

fn five_hosts(server_args: &[&str]) {
    // web-1, web-2 deploy; web-3's hook fails; web-4's agent dies mid-hook; web-5 never enrolls.
    let mut args = vec!["--agent-timeout", "2s"];
    args.extend_from_slice(server_args);
    let mut fleet = Fleet::new(&args, "web-5");
    fleet.start_agent("web-1", None);
    fleet.start_agent("web-2", None);
    fleet.start_agent("web-3", Some("fail"));
    fleet.start_agent("web-4", Some("slow"));
    fleet.wait_for_agents(4);
    let id = fleet.deploy();
    fleet.wait(&id, |d| host(d, "web-4").state == HostStatus::Claimed);
    fleet.kill_agent("web-4");
    let done = fleet.wait(&id, finished);
    assert_eq!(
        done.status,
        DeploymentStatus::Succeeded,
        "AllAtOnce needs one host: {done:?}"
    );
    let expect = [
        ("web-1", HostStatus::Succeeded, None),
        ("web-2", HostStatus::Succeeded, None),
        (
            "web-3",
            HostStatus::Failed,
            Some("AfterInstall: hook `check.sh` failed: script exited with status 3"),
        ),
        (
            "web-4",
            HostStatus::Failed,
            Some("the agent stopped answering during the deployment"),
        ),
        (
            "web-5",
            HostStatus::Failed,
            Some("no agent ever enrolled on this host"),
        ),
    ];
    for (name, state, detail) in expect {
        let h = host(&done, name);
        assert_eq!(h.state, state, "{name}: {done:?}");
        if let Some(detail) = detail {
            assert_eq!(h.detail.as_deref(), Some(detail), "{name}");
        }
    }
    // What each host holds now: the revision where it succeeded, where Install ran before the
    // failing hook too, and nothing where no agent ever ran.
    for name in ["web-1", "web-2", "web-3"] {
        let page = fleet.host_dir(name).join("target/srv/app/index.html");
        assert_eq!(std::fs::read_to_string(page).unwrap(), "fleet", "{name}");
    }
    assert!(!fleet.host_dir("web-5").exists());
}

#[test]
fn two_servers_share_one_postgresql_state() {
    let Some(database) = postgres_database() else {
        return;
    };
    let mut fleet = Fleet::new(&["--database-url", &database], "web-1");
    let (mut second, second_url) = start_server_with(
        &fleet.work.path().join("second-server"),
        &["--database-url", &database],
    );
    assert!(
        !fleet
            .work
            .path()
            .join("second-server/operator-token")
            .exists(),
        "the shared state has its operator already"
    );
    fleet.start_agent("web-1", None);
    fleet.start_agent("web-2", None);
    fleet.wait_for_agents(2);
    // Deployed through the second server; the agents poll and report to the first.
    let store = fleet.work.path().join("store");
    let created = json_ok(&operator(
        &second_url,
        &fleet.token,
        &[
            "deploy",
            "shop",
            "prod",
            "--revision",
            &fleet.revision,
            "--store",
            store.to_str().unwrap(),
            "--config",
            "HalfAtATime",
            "--output",
            "json",
        ],
    ));
    let id = serde_json::from_value::<Deployment>(created).unwrap().id;
    let done = fleet.wait(&id, finished);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    let seen_by_second: Deployment = serde_json::from_value(json_ok(&operator(
        &second_url,
        &fleet.token,
        &["deployments", "show", &id, "--output", "json"],
    )))
    .unwrap();
    assert_eq!(seen_by_second.status, DeploymentStatus::Succeeded);
    assert_eq!(host(&seen_by_second, "web-2").state, HostStatus::Succeeded);
    second.kill().unwrap();
    second.wait().unwrap();
}

#[test]
fn a_hook_longer_than_the_agent_timeout_succeeds_while_the_agent_heartbeats() {
    // The hook sleeps 5 s; the server takes an agent silent for 3 s as lost.
    let mut fleet = Fleet::new(&["--agent-timeout", "3s"], "web-1");
    fleet.start_agent("web-1", Some("long"));
    fleet.wait_for_agents(1);
    let started = std::time::Instant::now();
    let id = fleet.deploy();
    let done = fleet.wait(&id, finished);
    assert!(started.elapsed() > std::time::Duration::from_secs(5));
    assert_eq!(
        host(&done, "web-1").state,
        HostStatus::Succeeded,
        "{done:?}"
    );
    assert_eq!(done.status, DeploymentStatus::Succeeded);
}

#[test]
fn one_agent_deploys_two_applications_at_once() {
    let mut fleet = Fleet::new(&[], "web-1");
    // A second application on the same hosts, whose AfterInstall also waits 3 s on `pause`.
    let _: App = fleet.run(&["app", "create", "blog", "--output", "json"]);
    let _: Group = fleet.run(&[
        "group", "create", "blog", "prod", "--tags", "env=prod", "--output", "json",
    ]);
    let blog_revision = fleet.push(
        "blog",
        "/srv/blog",
        "#!/bin/sh\n[ -f \"$DAVIT_TARGET_ROOT/pause\" ] && sleep 3\nexit 0\n",
    );
    fleet.start_agent("web-1", Some("pause"));
    fleet.wait_for_agents(1);
    let shop = fleet.deploy();
    let blog = fleet.deploy_app("blog", &blog_revision, "AllAtOnce");
    // Both run on web-1 at the same moment: neither waits for the other.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let claimed = |id: &str| host(&fleet.show(id), "web-1").state == HostStatus::Claimed;
        if claimed(&shop) && claimed(&blog) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never both at once: {:?} {:?}",
            fleet.show(&shop),
            fleet.show(&blog)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for id in [&shop, &blog] {
        let done = fleet.wait(id, finished);
        assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    }
    let target = fleet.host_dir("web-1").join("target/srv");
    assert_eq!(
        std::fs::read_to_string(target.join("app/index.html")).unwrap(),
        "fleet"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("blog/index.html")).unwrap(),
        "blog"
    );
}

/// Writes a native package `pkg` at `version` into `dir`: its install records the version
/// under the target root and fails where the target root holds `fail-VERSION`.
fn native_package(dir: &Path, version: &str) {
    use sha2::Digest;
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    let zip_path = dir.join("pkg.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let scripts: [(&str, &str); 2] = [
        (
            "install.sh",
            "#!/bin/sh\nset -e\n[ -f \"$DAVIT_TARGET_ROOT/fail-$DAVIT_PACKAGE_VERSION\" ] && { echo 'the disk is full' >&2; exit 5; }\nmkdir -p \"$DAVIT_TARGET_ROOT/opt/pkg\"\necho \"$DAVIT_PACKAGE_VERSION\" > \"$DAVIT_TARGET_ROOT/opt/pkg/version\"\n",
        ),
        (
            "uninstall.sh",
            "#!/bin/sh\nrm -f \"$DAVIT_TARGET_ROOT/opt/pkg/version\"\n",
        ),
    ];
    for (name, body) in scripts {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    let sha: String = sha2::Sha256::digest(std::fs::read(&zip_path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": "2.0", "version": version,
        "packages": {"_any": {"_any": {"_any": {"file": "pkg.zip"}}}},
        "files": {"pkg.zip": {"checksums": {"sha256": sha}}}
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

#[test]
fn a_package_job_rolls_out_by_rate_controls_and_the_inventory_shows_each_host() {
    let mut fleet = Fleet::new(&[], "web-2");
    fleet.start_agent("web-1", None);
    fleet.start_agent("web-2", None);
    fleet.wait_for_agents(2);
    let store = fleet.store();
    fleet.push_package("1.0.0");
    let send_with = |package: &str, more: &[&str]| -> Deployment {
        let mut args = vec![
            "package", "send", package, "-a", "shop", "-g", "prod", "--store", &store,
        ];
        args.extend(more);
        args.extend(["--output", "json"]);
        fleet.run(&args)
    };
    let send = |version: &str| {
        let package = format!("pkg@{version}");
        send_with(&package, &["--concurrency", "1", "--max-errors", "0"])
    };
    // A dry run of the Wasm demo package: each host says what its scripts would do there,
    // and nothing is done.
    let wasm = std::fs::read(crate::support::test_guest("package-demo")).unwrap();
    let demo = crate::package::package(
        &fleet.work.path().join("demo-1.0.0"),
        "1.0.0",
        &[("package.wasm", &wasm), ("payload.txt", b"one")],
        Some(crate::package::DEMO_GRANTS),
    );
    fleet.push_package_dir(&demo, "demo");
    for h in ["web-1", "web-2"] {
        std::fs::create_dir_all(fleet.host_dir(h).join("target/opt/demo")).unwrap();
    }
    let job = send_with("demo", &["--dry-run"]);
    assert!(job.package.as_ref().unwrap().dry_run);
    let done = fleet.wait(&job.id, |d| d.status != DeploymentStatus::InProgress);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    for h in ["web-1", "web-2"] {
        let web = host(&done, h);
        let events = web.events.clone().unwrap();
        let install = events.iter().find(|e| e.event == "install 1.0.0").unwrap();
        assert_eq!(
            install.recorded,
            [
                "create /opt/demo/calls",
                "create /opt/demo/payload.txt",
                "create /opt/demo/version"
            ],
            "{h}: {events:?}"
        );
        assert!(
            web.detail.as_deref().unwrap().contains("nothing changed"),
            "{web:?}"
        );
        let demo_dir = fleet.host_dir(h).join("target/opt/demo");
        assert_eq!(std::fs::read_dir(&demo_dir).unwrap().count(), 0, "{h}");
    }

    let job = send("1.0.0");
    assert_eq!(job.package.as_ref().unwrap().version, "1.0.0");
    let done = fleet.wait(&job.id, |d| d.status != DeploymentStatus::InProgress);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    for h in ["web-1", "web-2"] {
        assert_eq!(fleet.package_version(h).as_deref(), Some("1.0.0\n"), "{h}");
        let events = host(&done, h).events.unwrap();
        assert!(
            events.iter().any(|e| e.event == "install 1.0.0"),
            "{events:?}"
        );
    }

    // Every host's agent reported what it has.
    let all: Vec<davit_api::HostInventory> = fleet.run(&["inventory", "--output", "json"]);
    assert_eq!(all.len(), 2, "{all:?}");
    for h in &all {
        let p = &h.packages[0];
        assert_eq!(
            (p.name.as_str(), p.version.as_deref(), p.state.as_str()),
            ("pkg", Some("1.0.0"), "Installed")
        );
    }
    let one: Vec<davit_api::HostInventory> =
        fleet.run(&["inventory", "--host", "web-2", "--output", "json"]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].host, "web-2");

    // 2.0.0 fails on web-1: web-1 is rolled back by its own agent, and with an error
    // threshold of 0 web-2 never starts. No group rollback is made for a package job.
    std::fs::write(fleet.host_dir("web-1").join("target/fail-2.0.0"), "").unwrap();
    fleet.push_package("2.0.0");
    let job = send("2.0.0");
    let done = fleet.wait(&job.id, |d| d.status != DeploymentStatus::InProgress);
    assert_eq!(done.status, DeploymentStatus::Failed, "{done:?}");
    assert_eq!(
        done.reason.as_deref(),
        Some("1 of 2 hosts failed; the error threshold allows 0")
    );
    let web1 = host(&done, "web-1");
    assert!(
        web1.detail
            .as_deref()
            .unwrap()
            .contains("rolled back to 1.0.0"),
        "{web1:?}"
    );
    assert_eq!(host(&done, "web-2").state, HostStatus::Skipped);
    assert!(done.rolled_back_by.is_none());
    for h in ["web-1", "web-2"] {
        assert_eq!(fleet.package_version(h).as_deref(), Some("1.0.0\n"), "{h}");
    }
}

#[test]
fn an_association_applies_at_once_picks_up_a_joining_host_and_follows_the_newest_version() {
    let mut fleet = Fleet::new(&[], "web-1");
    fleet.start_agent("web-1", None);
    fleet.wait_for_agents(1);
    let store = fleet.store();
    fleet.push_package("1.0.0");

    // Created: it runs at once, with the newest version, on the group's host.
    let created: davit_api::Association = fleet.run(&[
        "package",
        "association",
        "create",
        "keep-pkg",
        "--package",
        "pkg",
        "-a",
        "shop",
        "-g",
        "prod",
        "--store",
        &store,
        "--schedule",
        "rate(1 day)",
        "--output",
        "json",
    ]);
    assert!(created.last_job.is_some(), "{created:?}");
    assert!(created.spec.version.is_none());
    wait_for_association(&fleet, "web-1 compliant", &|a| compliant(a, "web-1"));
    assert_eq!(fleet.package_version("web-1").as_deref(), Some("1.0.0\n"));

    // A host that joins the group is picked up without waiting a day.
    fleet.start_agent("web-2", None);
    fleet.wait_for_agents(2);
    let a = wait_for_association(&fleet, "web-2 compliant", &|a| compliant(a, "web-2"));
    assert!(compliant(&a, "web-1"), "{a:?}");
    assert_eq!(fleet.package_version("web-2").as_deref(), Some("1.0.0\n"));

    // A newer version pushed: the next run installs it everywhere.
    fleet.push_package("2.0.0");
    let job: Deployment = fleet.run(&[
        "package",
        "association",
        "run",
        "keep-pkg",
        "--output",
        "json",
    ]);
    assert_eq!(job.package.as_ref().unwrap().version, "2.0.0");
    assert_eq!(job.cause.as_deref(), Some("association: keep-pkg"));
    let done = fleet.wait(&job.id, |d| d.status != DeploymentStatus::InProgress);
    assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
    for h in ["web-1", "web-2"] {
        assert_eq!(fleet.package_version(h).as_deref(), Some("2.0.0\n"), "{h}");
    }

    // Deleted: gone from the list, its runs kept in the history.
    let _: davit_api::Association = fleet.run(&[
        "package",
        "association",
        "delete",
        "keep-pkg",
        "--output",
        "json",
    ]);
    let all: Vec<davit_api::Association> =
        fleet.run(&["package", "association", "list", "--output", "json"]);
    assert!(all.is_empty());
    assert_eq!(fleet.show(&job.id).status, DeploymentStatus::Succeeded);
}

fn compliant(a: &davit_api::Association, host: &str) -> bool {
    a.compliance
        .iter()
        .any(|c| c.host == host && c.status == davit_api::ComplianceStatus::Compliant)
}

/// Shows association `keep-pkg` until `until` holds of it (60 s at most).
fn wait_for_association(
    fleet: &Fleet,
    what: &str,
    until: &dyn Fn(&davit_api::Association) -> bool,
) -> davit_api::Association {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let a: davit_api::Association = fleet.run(&[
            "package",
            "association",
            "show",
            "keep-pkg",
            "--output",
            "json",
        ]);
        if until(&a) {
            return a;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {a:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
