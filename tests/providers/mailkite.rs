//! MailKite: the official SDK's known-answer signature, milliseconds, and
//! the secret used as written.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::provider::mailkite::MailkiteVerifier;
use email_webhooks::{Configure as _, Secret};

use crate::common::at;

// From the official Node SDK's test (`mailkite/mailkite-node`
// `test/sdk.test.mjs`, v0.11.0): the secret, the body and the header it
// signs them with.
const SECRET: &str = "whsec_mailkite_test";
const BODY: &str = r#"{"type":"email.received","id":"evt_123","message":"It works."}"#;
const HEADER: &str =
    "t=1750000000000,v1=3d790f831e170ddba4d001f27532bf2c1fc68ebed52eef72fe453dfa1196b03c";

fn check(verifier: &MailkiteVerifier, header: &str, body: &str, now: i64) -> Result<usize, String> {
    let headers = [("x-mailkite-signature", header)];
    verifier
        .verify_at(&headers, body.as_bytes(), at(now))
        .map(|v| v.key_index())
        .map_err(|e| e.code().to_owned())
}

#[test]
fn the_sdk_vector_verifies_at_its_time_with_the_secret_as_written() {
    let verifier = MailkiteVerifier::new(Secret::from_bytes(SECRET).unwrap());
    assert_eq!(check(&verifier, HEADER, BODY, 1_750_000_000), Ok(0));
    assert_eq!(check(&verifier, HEADER, BODY, 1_750_000_000 + 299), Ok(0));
    assert_eq!(
        check(&verifier, HEADER, BODY, 1_750_000_000 + 301).unwrap_err(),
        "timestamp_too_old"
    );
    assert_eq!(
        check(&verifier, HEADER, BODY, 1_750_000_000 - 301).unwrap_err(),
        "timestamp_too_new"
    );
    let relaxed =
        MailkiteVerifier::new(Secret::from_bytes(SECRET).unwrap()).dangerous_disable_replay_check();
    assert_eq!(check(&relaxed, HEADER, BODY, 2_000_000_000), Ok(0));
    // The secret without its prefix is another key.
    let stripped = MailkiteVerifier::new(Secret::from_bytes("mailkite_test").unwrap());
    assert_eq!(
        check(&stripped, HEADER, BODY, 1_750_000_000).unwrap_err(),
        "invalid_signature"
    );
}

#[test]
fn the_header_grammar_is_strict_where_it_matters() {
    let verifier = MailkiteVerifier::new(Secret::from_bytes(SECRET).unwrap());
    let v1 = HEADER.split_once(',').unwrap().1;
    let now = 1_750_000_000;
    // Order, spaces and unknown parts do not matter.
    assert_eq!(
        check(
            &verifier,
            &format!("{v1}, x=y , t=1750000000000"),
            BODY,
            now
        ),
        Ok(0)
    );
    // Seconds instead of milliseconds sign other bytes.
    assert!(check(&verifier, &format!("t=1750000000,{v1}"), BODY, 1_750_000).is_err());
    for bad in ["", "t=1750000000000", v1, "t=abc,v1=00", "t=1,t=2,v1=00"] {
        assert!(check(&verifier, bad, BODY, now).is_err(), "{bad}");
    }
    // A signed time with a sign is malformed, as `t=abc` is (it was read
    // as a number and refused only by the signature).
    let malformed = check(&verifier, &format!("t=abc,{v1}"), BODY, now).unwrap_err();
    for signed in ["+1750000000000", "-1750000000000", " 1750000000000x"] {
        assert_eq!(
            check(&verifier, &format!("t={signed},{v1}"), BODY, now).unwrap_err(),
            malformed,
            "{signed}"
        );
    }
    let tampered = BODY.replace("works", "worked");
    assert_eq!(
        check(&verifier, HEADER, &tampered, now).unwrap_err(),
        "invalid_signature"
    );
}
