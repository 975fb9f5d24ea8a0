//! Attacks on the `s3` host interface: the host signs only objects under the call's url grants,
//! egress lets through only what it signed (beyond the grants themselves), and the host's
//! secret never reaches the guest. The endpoint is a closed local port: a request that leaves
//! the sandbox ends in "connection refused", one that does not is denied.

use davit_sandbox::{Grants, S3Access, S3Credentials};
use davit_spec::UrlPrefix;

use crate::support::probe_op;

const SECRET: &str = "the-host-secret-never-in-the-guest";
const ENDPOINT: &str = "http://127.0.0.1:1";

fn s3_grants() -> Grants {
    let mut access =
        S3Access::from_vars(|k| (k == "AWS_ENDPOINT_URL").then(|| ENDPOINT.into())).unwrap();
    access.credentials = Some(S3Credentials {
        access_key: "AKIDPROBE".into(),
        secret_key: SECRET.into(),
        session_token: Some("session-token".into()),
    });
    Grants {
        urls: vec![UrlPrefix::try_from(format!("{ENDPOINT}/bucket/granted").as_str()).unwrap()],
        s3: Some(access),
        ..Grants::default()
    }
}

async fn op(op: &str) -> String {
    let result = probe_op("s3-probe", s3_grants(), op).await;
    assert!(
        !result.contains(SECRET),
        "the secret reached the guest: {result}"
    );
    result
}

/// The URL a `presign` answered with.
fn signed(result: &str) -> &str {
    result
        .strip_prefix("signed ")
        .unwrap_or_else(|| panic!("not signed: {result}"))
}

#[tokio::test]
async fn the_host_signs_only_granted_objects() {
    let ok = op("presign get bucket granted/a.txt").await;
    let url = signed(&ok);
    assert!(
        url.starts_with(&format!("{ENDPOINT}/bucket/granted/a.txt?"))
            && url.contains("X-Amz-Credential=AKIDPROBE%2F")
            && url.contains("X-Amz-Security-Token=session-token")
            && url.contains("X-Amz-Signature="),
        "{url}"
    );
    signed(&op("presign put bucket granted/sub/b.bin").await);
    for refused in [
        "presign get bucket other/a.txt",
        "presign get bucket grantedX/a.txt",
        "presign get bucket granted/../other/a.txt",
        "presign put bucket granted/./a",
        "presign get other-bucket granted/a.txt",
        "presign get Bad_Bucket granted/a.txt",
        "presign list bucket granted",
        "presign list bucket -",
        "presign list bucket other/",
    ] {
        let result = op(refused).await;
        assert!(result.starts_with("denied: "), "{refused}: {result}");
    }
}

#[tokio::test]
async fn a_call_without_s3_access_gets_nothing_signed() {
    let grants = Grants {
        s3: None,
        ..s3_grants()
    };
    let result = probe_op("s3-probe", grants, "presign get bucket granted/a.txt").await;
    assert!(
        result.starts_with("denied: ") && result.contains("not given S3 access"),
        "{result}"
    );
}

#[tokio::test]
async fn egress_lets_through_exactly_the_listing_it_signed() {
    // Signed and sent in one invocation, the listing leaves; edited, it does not.
    let sent = op("presign-send list bucket granted/ -").await;
    assert!(sent.starts_with("sent: "), "{sent}");
    for edit in [
        "prefix=granted%2F=>prefix=other%2F",
        "prefix=granted%2F=>prefix=",
        "max-keys=1000=>max-keys=1001",
        "/bucket?=>/other-bucket?",
    ] {
        let result = op(&format!("presign-send list bucket granted/ {edit}")).await;
        assert_eq!(result, "denied: by egress", "{edit}");
    }
    // A listing signed in one invocation is not let through in another: a signature is for
    // the call that asked, not a standing grant.
    let listing = op("presign list bucket granted/").await;
    let url = signed(&listing).to_owned();
    assert!(url.starts_with(&format!("{ENDPOINT}/bucket?")), "{url}");
    assert!(url.contains("prefix=granted%2F"), "{url}");
    let elsewhere = op(&format!("send GET {url}")).await;
    assert_eq!(
        elsewhere, "denied: by egress",
        "signed in another invocation"
    );
    // Objects under the grant leave (and meet the closed port); the bucket itself does not.
    let object = op(&format!("send GET {ENDPOINT}/bucket/granted/a.txt")).await;
    assert!(object.starts_with("sent: "), "{object}");
    for denied in [
        format!("{ENDPOINT}/bucket"),
        format!("{ENDPOINT}/bucket?list-type=2&prefix="),
        format!("{ENDPOINT}/bucket/other/a.txt"),
    ] {
        assert_eq!(
            op(&format!("send GET {denied}")).await,
            "denied: by egress",
            "{denied}"
        );
    }
}
