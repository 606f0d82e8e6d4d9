//! The example applications answer the tutorial's transcript, each framework the same,
//! with keys fetched from a local test issuer by OIDC discovery.

use portcullis_core::testkit::{TestIssuer, TestKey};
use portcullis_core::{AuthConfig, Authenticator};
use portcullis_examples::apps::{self, Framework};
use serde_json::json;

async fn start(framework: Framework, issuer: &TestIssuer) -> String {
    let base = start_at(framework, issuer).await;
    // Wait until the server answers.
    for _ in 0..200 {
        if reqwest::get(format!("{base}/api/health")).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    base
}

async fn start_at(framework: Framework, issuer: &TestIssuer) -> String {
    let config = AuthConfig::builder()
        .issuer(issuer.issuer())
        .audience("my-api")
        .build()
        .unwrap();
    let auth = Authenticator::builder(config).build().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", std_listener.local_addr().unwrap());
    match framework {
        Framework::Axum => {
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            tokio::spawn(async move { apps::axum::serve(auth, l).await });
        }
        Framework::Warp => {
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            tokio::spawn(apps::warp::serve(auth, l));
        }
        Framework::Actix => {
            std::thread::spawn(move || apps::actix::serve(auth, std_listener));
        }
    }
    base
}

async fn get(url: String, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framework_answers_the_tutorial_transcript() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let token = |roles: &[&str]| {
        issuer
            .token(&key, "my-api")
            .subject("user-123")
            .claim("email", json!("user@example.com"))
            .claim("org_id", json!("org-1"))
            .roles(roles)
            .sign()
    };
    for framework in [Framework::Axum, Framework::Actix, Framework::Warp] {
        let base = start(framework, &issuer).await;
        assert_eq!(
            get(format!("{base}/api/health"), None).await,
            (200, r#"{"status":"ok"}"#.into()),
            "{framework:?}"
        );
        assert_eq!(
            get(format!("{base}/api/me"), None).await,
            (
                401,
                r#"{"detail":"Missing or invalid Authorization header"}"#.into()
            ),
            "{framework:?}"
        );
        assert_eq!(
            get(format!("{base}/api/me"), Some(&token(&["admin"]))).await,
            (200, r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":["admin"]}"#.into()),
            "{framework:?}"
        );
        assert_eq!(
            get(format!("{base}/api/admin/stats"), Some(&token(&["user"]))).await,
            (
                403,
                r#"{"detail":"Requires one of roles: ['admin']"}"#.into()
            ),
            "{framework:?}"
        );
        assert_eq!(
            get(
                format!("{base}/api/editor/drafts"),
                Some(&token(&["editor"]))
            )
            .await,
            (200, r#"{"drafts":5}"#.into())
        );
    }
}

/// With the example's `user` token, no spelling or method of `/api/admin/stats` or
/// `/api/editor/drafts` gets a 2xx in any framework; without a token, none of `/api/me`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_or_method_gets_past_a_requirement() {
    use portcullis_conformance::matrix::{spellings, METHODS};
    use portcullis_conformance::raw::{send, RawRequest};

    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let user = issuer
        .token(&key, "my-api")
        .subject("user-123")
        .roles(&["user"])
        .sign();
    for framework in [Framework::Axum, Framework::Actix, Framework::Warp] {
        let base = start(framework, &issuer).await;
        let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
        let mut sent = 0;
        let cases = [
            ("/api/admin/stats", Some(&user)),
            ("/api/editor/drafts", Some(&user)),
            ("/api/me", None),
        ];
        for (path, token) in cases {
            for (_, target) in spellings(path, &addr.to_string()) {
                for method in METHODS {
                    let mut headers = Vec::new();
                    if let Some(t) = token {
                        headers.push(("authorization".to_owned(), format!("Bearer {t}")));
                    }
                    let request = RawRequest {
                        method: (*method).to_owned(),
                        target: target.clone(),
                        headers,
                        body: Vec::new(),
                    };
                    let reply = send(addr, &request).await;
                    sent += 1;
                    assert!(
                        !(200..300).contains(&reply.status) && reply.status < 500,
                        "{framework:?}: {method} {target} -> {} {}",
                        reply.status,
                        reply.body
                    );
                }
            }
        }
        assert!(sent > 1000, "{sent}");
    }
}

/// The binary as a newcomer runs it: `--help` answers and exits 0; `--port` and
/// `--issuer-port` let a second instance start; the curl block comes whole, before any log
/// line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_helps_and_runs_on_chosen_ports() {
    let bin = env!("CARGO_BIN_EXE_protected-api");
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .expect("run");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--framework", "--port", "--issuer-port", "--config"] {
        assert!(text.contains(flag), "{flag} in {text}");
    }
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    };
    let (port, issuer_port) = (free(), free());
    let mut child = std::process::Command::new(bin)
        .args([
            "--framework",
            "warp",
            "--port",
            &port.to_string(),
            "--issuer-port",
            &issuer_port.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{base}/api/health")).await {
            up = r.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    assert!(up, "the API did not answer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("127.0.0.1:{issuer_port}")),
        "{stdout}"
    );
    // The curl block is whole: it ends before the first log line.
    let block_end = stdout.find("/api/editor/drafts").expect("the curl block");
    let first_log = stdout
        .find("authentication enabled")
        .unwrap_or(stdout.len());
    assert!(
        block_end < first_log,
        "a log line inside the curl block: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framework_serves_readiness_without_a_token() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    for framework in [Framework::Axum, Framework::Actix, Framework::Warp] {
        let base = start(framework, &issuer).await;
        // Ready once the key set has been fetched (in the background, from the start).
        let mut last = (0, String::new());
        for _ in 0..500 {
            last = get(format!("{base}/ready"), None).await;
            if last.0 == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(last.0, 200, "{framework:?}: {}", last.1);
        let body: serde_json::Value = serde_json::from_str(&last.1).unwrap();
        assert_eq!(body["ready"], true, "{framework:?}");
        assert_eq!(body["keys"]["loaded"], true, "{framework:?}");
    }
}
