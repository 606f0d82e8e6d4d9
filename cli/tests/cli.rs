//! The built `portcullis` binary, run as a user would: keygen → mint → verify; every
//! refusal category and its exit code; inspect's warnings; check-config; the development
//! issuer; `--json` everywhere; a token is never echoed.

use portcullis_core::testkit::{TestIssuer, TestKey};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run portcullis")
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn keygen(dir: &Path, alg: &str, kid: &str) {
    let out = run(&[
        "keygen",
        "--alg",
        alg,
        "--kid",
        kid,
        "--out",
        dir.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{out:?}");
}

fn mint(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "mint",
        "--key",
        dir.to_str().expect("path"),
        "--iss",
        "https://auth.example.com",
        "--aud",
        "my-api",
        "--sub",
        "user-1",
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn verify(jwks: &Path, alg: &str, token: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--json",
        "verify",
        "--issuer",
        "https://auth.example.com",
        "--audience",
        "my-api",
        "--alg",
        alg,
        "--jwks",
        jwks.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    args.push(token);
    run(&args)
}

#[test]
fn keygen_mint_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
        let keys = dir.path().join(alg);
        keygen(&keys, alg, &format!("k-{alg}"));
        let token = mint(
            &keys,
            &[
                "--roles",
                "admin,user",
                "--claim",
                "groups=[\"g1\"]",
                "--ttl",
                "5m",
            ],
        );
        let out = verify(&keys.join("jwks.json"), alg, &token, &[]);
        assert_eq!(out.status.code(), Some(0), "{alg}: {out:?}");
        let v = json_of(&out);
        assert_eq!(v["verified"], json!(true));
        assert_eq!(v["sub"], json!("user-1"));
        assert_eq!(v["roles"], json!(["admin", "user"]));
        assert_eq!(v["groups"], json!(["g1"]));
        assert_eq!(v["alg"], json!(alg));
        // The token is named by its fingerprint, never shown.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains(&token) && !stdout.contains(token.split('.').nth(2).unwrap_or("x"))
        );
        assert!(v["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("sha256:")));
    }
}

#[test]
fn every_refusal_category_has_its_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("k");
    keygen(&keys, "ES256", "k1");
    let jwks = keys.join("jwks.json");
    let good = mint(&keys, &[]);
    let other = dir.path().join("other");
    keygen(&other, "ES256", "k2");
    let same_kid = dir.path().join("same");
    keygen(&same_kid, "ES256", "k1");
    let expired = mint(&keys, &["--claim", "exp=1000000000"]);
    let cases: Vec<(&str, String, &str, u8, &str)> = vec![
        ("malformed", "not-a-token".into(), "ES256", 10, "malformed"),
        ("algorithm", good.clone(), "RS256", 11, "algorithm"),
        ("key", mint(&other, &[]), "ES256", 12, "key"),
        ("signature", mint(&same_kid, &[]), "ES256", 13, "signature"),
        ("time", expired, "ES256", 14, "time"),
    ];
    for (what, token, alg, code, category) in cases {
        let out = verify(&jwks, alg, &token, &[]);
        assert_eq!(out.status.code(), Some(i32::from(code)), "{what}: {out:?}");
        let v = json_of(&out);
        assert_eq!(v["category"], json!(category), "{what}");
        assert_eq!(v["exit_code"], json!(code), "{what}");
        assert!(v["check"].as_str().is_some_and(|c| !c.is_empty()));
    }
    // Claims: another audience.
    let out = run(&[
        "--json",
        "verify",
        "--issuer",
        "https://auth.example.com",
        "--audience",
        "someone-else",
        "--alg",
        "ES256",
        "--jwks",
        jwks.to_str().expect("path"),
        &good,
    ]);
    assert_eq!(out.status.code(), Some(15), "{out:?}");
    assert_eq!(json_of(&out)["rfc6750_error"], json!("invalid_token"));
    // Unavailable: nothing listens there.
    let out = run(&[
        "--json",
        "verify",
        "--issuer",
        "https://auth.example.com",
        "--audience",
        "my-api",
        "--alg",
        "ES256",
        "--jwks",
        "http://127.0.0.1:9/jwks",
        &good,
    ]);
    assert_eq!(out.status.code(), Some(17), "{out:?}");
    assert_eq!(json_of(&out)["category"], json!("unavailable"));
}

#[test]
fn revoked_is_its_own_category() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let key = TestKey::rsa("rsa-1");
    let issuer = rt.block_on(TestIssuer::start(&[&key]));
    issuer.revoke("jti-1");
    let token = issuer
        .token(&key, "my-api")
        .claim("jti", json!("jti-1"))
        .sign();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("application.yaml");
    std::fs::write(
        &config,
        format!(
            "auth_client:\n  issuer: {}\n  audience: my-api\n  revocation_endpoint: {}\n",
            issuer.issuer(),
            issuer.revocation_url()
        ),
    )
    .expect("write");
    let out = run(&[
        "--json",
        "verify",
        "--config",
        config.to_str().expect("path"),
        &token,
    ]);
    assert_eq!(out.status.code(), Some(16), "{out:?}");
    assert_eq!(json_of(&out)["reason"], json!("revoked"));
    drop(issuer);
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn inspect_flags_every_dangerous_header() {
    for (header, flagged) in [
        (r#"{"alg":"none"}"#, "alg: none"),
        (r#"{"alg":"HS256"}"#, "alg: HS256"),
        (r#"{"alg":"RS256","jku":"https://x.example/k"}"#, "jku"),
        (r#"{"alg":"RS256","x5u":"https://x.example/c"}"#, "x5u"),
        (r#"{"alg":"RS256","jwk":{"kty":"oct"}}"#, "jwk"),
        (r#"{"alg":"RS256","x5c":["MII"]}"#, "x5c"),
        (r#"{"alg":"RS256","crit":["b64"]}"#, "crit"),
    ] {
        let token = format!(
            "{}.{}.c2ln",
            b64(header),
            b64(r#"{"sub":"x","exp":4102444800}"#)
        );
        let out = run(&["--json", "inspect", &token]);
        assert!(out.status.success(), "{out:?}");
        let v = json_of(&out);
        assert_eq!(v["verified"], json!(false));
        let members: Vec<&str> = v["dangers"]
            .as_array()
            .expect("dangers")
            .iter()
            .filter_map(|d| d["member"].as_str())
            .collect();
        assert!(members.contains(&flagged), "{header}: {members:?}");
        let text = run(&["inspect", &token]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.starts_with("NOT VERIFIED"), "{text}");
        assert!(text.contains("DANGER"), "{text}");
    }
    let clean = format!("{}.{}.c2ln", b64(r#"{"alg":"ES256","kid":"k"}"#), b64("{}"));
    assert_eq!(
        json_of(&run(&["--json", "inspect", &clean]))["dangers"],
        json!([])
    );
}

#[test]
fn check_config_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("application.yaml");
    std::fs::write(
        &file,
        "auth_client:\n  audiance: my-api\n  leeway_seconds: 999\n  accepted_algorithms: [none]\n",
    )
    .expect("write");
    let out = run(&["--json", "check-config", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json_of(&out);
    let keys: Vec<&str> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert!(keys.len() >= 4, "{keys:?}");
    for key in [
        "auth_client.audiance",
        "auth_client.issuer",
        "auth_client.leeway_seconds",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    std::fs::write(
        &file,
        "auth_client:\n  issuer: https://a.example\n  audience: x\n",
    )
    .expect("write");
    let out = run(&["--json", "check-config", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["valid"], json!(true));
    // Several issuers: each listed with its own audience, clients and keys.
    std::fs::write(
        &file,
        "auth_client:\n  issuers:\n    - {issuer: https://a.example, audience: x}\n    - {issuer: https://b.example, client_ids: [app-1], jwks_endpoint: https://b.example/keys}\n",
    )
    .expect("write");
    let out = run(&["--json", "check-config", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["issuers"][0]["issuer"], json!("https://a.example"));
    assert_eq!(v["issuers"][1]["client_ids"], json!(["app-1"]));
    assert_eq!(v["issuers"][1]["keys"], json!("https://b.example/keys"));
    let text =
        String::from_utf8_lossy(&run(&["check-config", file.to_str().expect("path")]).stdout)
            .into_owned();
    assert!(
        text.contains("https://b.example") && text.contains("app-1"),
        "{text}"
    );
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing");
    for args in [
        vec![
            "mint",
            "--key",
            missing.to_str().expect("path"),
            "--iss",
            "i",
            "--aud",
            "a",
            "--sub",
            "s",
        ],
        vec!["inspect", "a.b"],
        vec![
            "keygen",
            "--alg",
            "HS256",
            "--out",
            dir.path().to_str().expect("path"),
        ],
        vec!["verify", "--issuer", "ftp://x", "--audience", "a", "t.t.t"],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let out = run(&[&["--json"][..], &args].concat());
        assert!(json_of(&out)["error"].is_string(), "{args:?}");
    }
    // `-` with nothing on standard input.
    let mut child = bin()
        .args(["inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdin.take());
    assert_eq!(child.wait().expect("wait").code(), Some(1));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    assert_eq!(run(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn the_development_issuer_serves_discovery_keys_and_tokens() {
    let mut child = bin()
        .args([
            "--json",
            "dev-issuer",
            "--port",
            "0",
            "--audience",
            "my-api",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let info: Value = serde_json::from_slice(&line).expect("first line is JSON");
    let token_url = info["token_endpoint"]
        .as_str()
        .expect("token endpoint")
        .to_owned();
    let issuer = info["issuer"].as_str().expect("issuer").to_owned();
    // A raw GET of the token endpoint (loopback).
    let rest = token_url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET /{path}?sub=user-9&roles=admin HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let body = answer.split("\r\n\r\n").nth(1).expect("body");
    let token = serde_json::from_str::<Value>(body).expect("json")["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    // Verified through OIDC discovery against the running issuer.
    let out = run(&[
        "--json",
        "verify",
        "--issuer",
        &issuer,
        "--audience",
        "my-api",
        &token,
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["sub"], json!("user-9"));
    assert_eq!(v["roles"], json!(["admin"]));
}

#[test]
fn far_future_dates_and_huge_lifetimes_are_answered_not_panicked() {
    let header = b64(r#"{"alg":"ES256","kid":"k"}"#);
    for exp in ["1e12", "253402300800", "9.3e18", "-5"] {
        let token = format!("{header}.{}.c2ln", b64(&format!(r#"{{"exp":{exp}}}"#)));
        let out = run(&["--json", "inspect", &token]);
        assert_eq!(out.status.code(), Some(0), "{exp}: {out:?}");
        json_of(&out);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("k");
    keygen(&keys, "ES256", "k1");
    for ttl in ["300000000000y", "18446744073709551615s"] {
        let out = run(&[
            "mint",
            "--key",
            keys.to_str().expect("path"),
            "--iss",
            "i",
            "--aud",
            "a",
            "--sub",
            "s",
            "--ttl",
            ttl,
        ]);
        assert_eq!(out.status.code(), Some(1), "{ttl}: {out:?}");
    }
    let far = mint(&keys, &["--claim", "exp=253402300800"]);
    let out = verify(&keys.join("jwks.json"), "ES256", &far, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    json_of(&out);
}

#[test]
fn a_token_in_the_wrong_place_is_not_echoed_by_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("k");
    keygen(&keys, "ES256", "k1");
    let token = mint(&keys, &[]);
    for args in [
        vec!["inspect", "x.y.z", token.as_str()],
        vec!["verify", "--alg", token.as_str(), "t"],
        vec!["verify", "--nope", token.as_str()],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let sig = token.split('.').nth(2).expect("sig");
        assert!(!err.contains(sig) && !err.contains(&token), "{err}");
    }
}

#[test]
fn dpop_bound_tokens_and_proofs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issuer = dir.path().join("issuer");
    keygen(&issuer, "RS256", "iss-1");
    let client = dir.path().join("client");
    keygen(&client, "ES256", "client-1");
    let jwks = issuer.join("jwks.json");
    let token = mint(&issuer, &["--bind-to", client.to_str().expect("path")]);
    // As a bearer token: refused, category `binding`.
    let out = verify(&jwks, "RS256", &token, &[]);
    assert_eq!(out.status.code(), Some(19), "{out:?}");
    assert_eq!(json_of(&out)["category"], json!("binding"));
    let url = "https://api.example.com/api/me?page=2";
    let proof = |method: &str| {
        let out = run(&[
            "--json",
            "dpop-proof",
            "--key",
            client.to_str().expect("path"),
            "--method",
            method,
            "--url",
            url,
            "--token",
            &token,
        ]);
        assert!(out.status.success(), "{out:?}");
        let v = json_of(&out);
        assert_eq!(v["htu"], json!("https://api.example.com/api/me"));
        v["proof"].as_str().expect("proof").to_owned()
    };
    let good = proof("GET");
    let with = |proof: &str, url: &str| {
        verify(
            &jwks,
            "RS256",
            &token,
            &["--dpop-proof", proof, "--url", url, "--method", "GET"],
        )
    };
    let out = with(&good, url);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_of(&out)["sub"], json!("user-1"));
    // Another request's URL or method: refused.
    let out = with(&proof("GET"), "https://api.example.com/api/admin");
    assert_eq!(out.status.code(), Some(19), "{out:?}");
    let out = with(&proof("POST"), url);
    assert_eq!(out.status.code(), Some(19), "{out:?}");
    // Nothing of the token or the proof is printed.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&token) && !stdout.contains(&good));
}

#[test]
fn check_config_shows_dpop_without_the_redis_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("application.yaml");
    std::fs::write(
        &file,
        "auth_client:\n  issuer: https://a.example\n  audience: x\n  dpop: required\n  dpop_replay_redis_url: \"redis://:hunter2@cache.internal:6379/0\"\n",
    )
    .expect("write");
    let out = run(&["check-config", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dpop       required (replay store: redis redis://…@cache.internal:6379/0)"),
        "{text}"
    );
    let out = run(&["--json", "check-config", file.to_str().expect("path")]);
    let all = format!("{out:?}");
    assert!(!all.contains("hunter2"), "{all}");
    assert_eq!(json_of(&out)["dpop"], json!("required"));
}

#[test]
fn inspect_names_a_dpop_binding_and_a_proof() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (issuer, client) = (dir.path().join("i"), dir.path().join("c"));
    keygen(&issuer, "RS256", "i1");
    keygen(&client, "ES256", "c1");
    let token = mint(&issuer, &["--bind-to", client.to_str().expect("path")]);
    let v = json_of(&run(&["--json", "inspect", &token]));
    assert!(
        v["binding"]
            .as_str()
            .is_some_and(|b| b.starts_with("bound to DPoP key ")),
        "{v}"
    );
    assert_eq!(v["dpop_proof"], json!(false));
    let out = run(&[
        "dpop-proof",
        "--key",
        client.to_str().expect("path"),
        "--url",
        "https://api.example.com/x",
    ]);
    let proof = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let v = json_of(&run(&["--json", "inspect", &proof]));
    assert_eq!(v["dpop_proof"], json!(true));
    // A proof embeds its (public) key: inspect says so.
    assert!(v["dangers"].to_string().contains("jwk"), "{v}");
}
