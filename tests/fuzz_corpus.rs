//! Replays the committed fuzz corpus and every saved crash through the same
//! harness the fuzz targets run, on stable Rust, as ordinary tests.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

/// Runs `f` on every file under fuzz/corpus/<target> and
/// fuzz/artifacts/<target>; returns how many inputs ran.
fn replay(target: &str, f: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("read input");
            f(&data);
            count += 1;
        }
    }
    count
}

macro_rules! corpus_tests {
    ($($target:ident,)*) => {$(
        #[test]
        fn $target() {
            let ran = replay(stringify!($target), harness::$target);
            assert!(ran > 0, "no corpus for {}", stringify!($target));
        }
    )*};
}

corpus_tests! {
    standard_webhooks,
    stripe,
    hmac_presets,
    twilio,
    secrets,
    sendgrid,
    mailgun,
    postmark,
    resend,
    sns,
    providers,
    handoff,
    inbound,
    inbound_mime,
    inbound_sendgrid,
    inbound_mailgun,
    inbound_ses,
    inbound_postmark,
    inbound_resend,
    inbound_mailjet,
    inbound_mandrill,
    inbound_sparkpost,
    inbound_brevo,
    inbound_mailersend,
    inbound_postal,
    inbound_mailkite,
}
