//! Hostile pipelines: what a server (or whoever holds an operator token) could send a builder
//! to make it read, write or reach what this host's policy does not grant.

use super::*;

const RECIPE: &str = "name: web\nversion: 1.0.0\nparent: debian:bookworm\ncomponents:\n  - component: acme/hello@1.x.x\n";

fn recipe(text: &str) -> Recipe {
    Recipe::parse("/srv/pipelines/recipe.yml", text).unwrap()
}

fn policy(text: &str) -> HostPolicy {
    HostPolicy::parse("builder-policy.toml", text).unwrap()
}

fn refused(recipe_text: &str, dist: Option<&str>, policy_text: &str) -> String {
    let d = dist.map(|t| Distribution::parse("dist.yml", t).unwrap());
    match confine(
        "web",
        recipe(recipe_text),
        d.as_ref(),
        &policy(policy_text),
        Path::new("/var/lib/davit"),
    ) {
        Ok(_) => panic!("confined: {recipe_text} {dist:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_pipeline_names_no_path_of_the_builder_to_read() {
    let e = refused(
        "name: web\nversion: 1.0.0\nparent: debian:bookworm\ncomponents:\n  - document: /etc/shadow\n",
        None,
        "",
    );
    assert!(
        e.contains("/etc/shadow") && e.contains("builder's store"),
        "{e}"
    );
    assert!(e.starts_with("/srv/pipelines/recipe.yml:5:"), "{e}");
    let e = refused(
        "name: web\nversion: 1.0.0\nparent: debian:bookworm\ncomponents:\n  - component: acme/hello@1.x.x\ntests:\n  - document: ../../root/.ssh/id_ed25519\n",
        None,
        "",
    );
    assert!(e.contains("builder's store"), "{e}");
    let e = refused(
        "name: web\nversion: 1.0.0\nparent: oci-layout:/var/lib/secret-images\ncomponents:\n  - component: acme/hello@1.x.x\n",
        None,
        "",
    );
    assert!(e.contains("oci-layout:/var/lib/secret-images"), "{e}");
}

#[test]
fn registries_are_reached_only_under_the_policys_url_rules() {
    let rule = "[[urls]]\nprefix = \"http://127.0.0.1:5000/v2/team/\"\n";
    let parent = |repo: &str| {
        format!(
            "name: web\nversion: 1.0.0\nparent: docker://{repo}:1\ncomponents:\n  - component: acme/hello@1.x.x\n"
        )
    };
    let e = refused(&parent("169.254.169.254:80/latest"), None, rule);
    assert!(
        e.contains("no `[[urls]]` rule") && e.contains("builder-policy.toml"),
        "{e}"
    );
    let e = refused(&parent("127.0.0.1:5000/other/web"), None, rule);
    assert!(e.contains("the parent"), "{e}");
    // A lookalike path does not pass for the granted one.
    let e = refused(&parent("127.0.0.1:5000/team-evil/web"), None, rule);
    assert!(e.contains("no `[[urls]]` rule"), "{e}");
    let e = refused(
        RECIPE,
        Some(
            "registries:\n  - repository: docker://127.0.0.1:5000/team/web\n  - repository: docker://10.0.0.7:5000/exfil\n",
        ),
        rule,
    );
    assert!(
        e.contains("a distribution target `10.0.0.7:5000/exfil`"),
        "{e}"
    );
    let ok = confine(
        "web",
        recipe(&parent("127.0.0.1:5000/team/base")),
        Some(
            &Distribution::parse(
                "d.yml",
                "registries:\n  - repository: docker://127.0.0.1:5000/team/web\n",
            )
            .unwrap(),
        ),
        &policy(rule),
        Path::new("/var/lib/davit"),
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn outputs_go_under_the_deployment_root_whatever_the_recipe_says() {
    let text = format!(
        "{RECIPE}outputs:\n  oci-layout: /etc\n  registry: docker://10.0.0.7:5000/x\n  disk: {{raw: /boot/vmlinuz, qcow2: ../../etc/passwd}}\n"
    );
    let confined = confine(
        "web",
        recipe(&text),
        None,
        &policy(""),
        Path::new("/var/lib/davit"),
    )
    .unwrap();
    let o = &confined.recipe.outputs;
    assert_eq!(
        o.oci_layout.as_deref(),
        Some(Path::new("/var/lib/davit/pipelines/web/layout"))
    );
    assert_eq!(o.registry, None);
    assert_eq!(
        o.disk.raw.as_deref(),
        Some(Path::new("/var/lib/davit/pipelines/web/disks/vmlinuz"))
    );
    assert_eq!(
        o.disk.qcow2.as_deref(),
        Some(Path::new("/var/lib/davit/pipelines/web/disks/passwd"))
    );
}

#[test]
fn the_disk_store_is_opened_beneath_a_read_write_rule_and_never_through_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let allowed = tmp.path().join("allowed");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, allowed.join("link")).unwrap();
    let rules = format!(
        "[[directories]]\npath = \"{}\"\naccess = \"read-write\"\n[[directories]]\npath = \"{}\"\n",
        allowed.display(),
        tmp.path().join("readonly").display()
    );
    let dist = |store: &Path| format!("disk-store: {}\n", store.display());
    let e = refused(RECIPE, Some(&dist(&outside.join("store"))), &rules);
    assert!(e.contains("no read-write `[[directories]]` rule"), "{e}");
    let e = refused(
        RECIPE,
        Some(&dist(&tmp.path().join("readonly/store"))),
        &rules,
    );
    assert!(e.contains("no read-write"), "{e}");
    let e = refused(RECIPE, Some(&dist(&allowed.join("link/store"))), &rules);
    assert!(e.contains("link/store"), "{e}");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing made outside"
    );
    let fine = Distribution::parse("d.yml", &dist(&allowed.join("images"))).unwrap();
    let confined = confine(
        "web",
        recipe(RECIPE),
        Some(&fine),
        &policy(&rules),
        tmp.path(),
    )
    .unwrap();
    assert!(confined.disk_store.is_some());
    assert!(allowed.join("images").is_dir());
}
