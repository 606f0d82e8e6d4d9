//! What must not go unnoticed is seen even by an application that installed no `tracing`
//! subscriber: authentication disabled, and a key set that cannot be loaded. Each case runs
//! in a child process (this test binary, re-run on one test), whose standard error is read.

use portcullis_core::{AuthConfig, Authenticator};
use std::process::Command;

const CHILD: &str = "PORTCULLIS_LOUD_CHILD";

fn child_stderr(test: &str) -> String {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .expect("child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn disabled_authentication_is_printed_without_a_subscriber() {
    let stderr = child_stderr("child_builds_a_disabled_authenticator");
    assert!(
        stderr.contains("portcullis: WARNING: AUTHENTICATION IS DISABLED"),
        "{stderr}"
    );
}

#[test]
fn child_builds_a_disabled_authenticator() {
    if std::env::var_os(CHILD).is_none() {
        return; // only as the child of the test above
    }
    let config = AuthConfig::builder()
        .enabled(false)
        .build()
        .expect("config");
    Authenticator::builder(config)
        .build()
        .expect("authenticator");
}

#[test]
fn keys_that_cannot_be_loaded_are_printed_without_a_subscriber() {
    let stderr = child_stderr("child_cannot_load_its_keys");
    assert!(
        stderr.contains("portcullis: ERROR: the key set could not be loaded"),
        "{stderr}"
    );
}

#[test]
fn child_cannot_load_its_keys() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // A loopback port that refuses connections: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = AuthConfig::builder()
        .issuer(format!("http://127.0.0.1:{port}"))
        .audience("api")
        .http_timeout_seconds(1)
        .build()
        .expect("config");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let auth = Authenticator::builder(config)
            .build()
            .expect("authenticator");
        // The first fetch runs in the background; wait for it to fail (bounded).
        for _ in 0..200 {
            if auth.readiness().keys.last_error.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
}
