//! The gRPC service behind the gate, called by a real tonic client over loopback: the same
//! callers and expectations as the HTTP scenarios, answered as gRPC statuses.

use http::uri::PathAndQuery;
use portcullis_core::dpop::DpopMode;
use portcullis_core::testkit::{Behavior, TestIssuer, TestKey};
use portcullis_core::{AuthConfig, Authenticator};
use portcullis_examples::grpc::{self, paths, HelloReply, HelloRequest};
use tokio_stream::StreamExt;
use tonic::{Code, Status};

type Codec = tonic_prost::ProstCodec<HelloRequest, HelloReply>;

async fn serve(issuer: &TestIssuer) -> String {
    serve_with(issuer, DpopMode::Off).await
}

async fn serve_with(issuer: &TestIssuer, dpop: DpopMode) -> String {
    let config = AuthConfig::builder()
        .issuer(issuer.issuer())
        .audience("greeter")
        .http_timeout_seconds(1)
        .dpop(dpop)
        .build()
        .expect("config");
    let auth = Authenticator::builder(config)
        .build()
        .expect("authenticator");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(grpc::serve(auth, listener));
    url
}

async fn client(url: &str) -> tonic::client::Grpc<tonic::transport::Channel> {
    for _ in 0..200 {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(url.to_owned())
            .expect("url")
            .connect()
            .await
        {
            return tonic::client::Grpc::new(channel);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the gRPC server did not start");
}

fn request(token: Option<&str>) -> tonic::Request<HelloRequest> {
    let mut r = tonic::Request::new(HelloRequest { name: "ada".into() });
    if let Some(t) = token {
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("metadata"),
        );
    }
    r
}

/// A unary call with `authorization: <authorization>` and a `dpop` entry per proof.
async fn unary_dpop(
    url: &str,
    path: &'static str,
    authorization: &str,
    proofs: &[&str],
) -> Result<String, Status> {
    let mut c = client(url).await;
    c.ready().await.expect("ready");
    let mut r = tonic::Request::new(HelloRequest { name: "ada".into() });
    r.metadata_mut()
        .insert("authorization", authorization.parse().expect("metadata"));
    for proof in proofs {
        r.metadata_mut()
            .append("dpop", proof.parse().expect("metadata"));
    }
    c.unary(r, PathAndQuery::from_static(path), Codec::default())
        .await
        .map(|r| r.into_inner().message)
}

async fn unary(url: &str, path: &'static str, token: Option<&str>) -> Result<String, Status> {
    let mut c = client(url).await;
    c.ready().await.expect("ready");
    c.unary(
        request(token),
        PathAndQuery::from_static(path),
        Codec::default(),
    )
    .await
    .map(|r| r.into_inner().message)
}

async fn stream(url: &str, token: Option<&str>) -> Result<Vec<String>, Status> {
    let mut c = client(url).await;
    c.ready().await.expect("ready");
    let mut s = c
        .server_streaming(
            request(token),
            PathAndQuery::from_static(paths::COUNTDOWN),
            Codec::default(),
        )
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        out.push(item?.message);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_gated_per_method_with_grpc_statuses() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let url = serve(&issuer).await;
    let token = |roles: &[&str]| {
        issuer
            .token(&key, "greeter")
            .subject("user-1")
            .roles(roles)
            .sign()
    };
    let (user, admin, editor) = (token(&[]), token(&["admin"]), token(&["editor"]));

    // No token, a forged one: UNAUTHENTICATED, the fixed message, the challenge.
    let e = unary(&url, paths::SAY_HELLO, None).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert_eq!(e.message(), "Missing or invalid Authorization header");
    assert!(e.metadata().get("www-authenticate").is_some(), "{e:?}");
    let forged = issuer
        .token(&key, "greeter")
        .subject("user-1")
        .tamper_signature()
        .sign();
    let e = unary(&url, paths::SAY_HELLO, Some(&forged))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        !e.message().contains(&forged[..20]),
        "a token echoed: {e:?}"
    );

    // Authenticated: the service reads the caller from the SecurityContext.
    assert_eq!(
        unary(&url, paths::SAY_HELLO, Some(&user))
            .await
            .expect("hello"),
        "hello ada, from user-1"
    );
    // A per-method role: PERMISSION_DENIED with pico's message, then allowed.
    let e = unary(&url, paths::ADMIN_STATS, Some(&user))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(e.message(), "Requires one of roles: ['admin']");
    assert_eq!(
        unary(&url, paths::ADMIN_STATS, Some(&admin))
            .await
            .expect("admin"),
        "users: 42 (asked by user-1)"
    );
    // Server streaming, gated the same way; the stream carries the caller.
    assert_eq!(
        stream(&url, Some(&user)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        stream(&url, None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        stream(&url, Some(&editor)).await.expect("countdown"),
        ["3 for user-1", "2 for user-1", "1 for user-1"]
    );
    // A method the service does not have: the gate first, then tonic's UNIMPLEMENTED.
    assert_eq!(
        unary(&url, "/greet.Greeter/Nope", None)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        unary(&url, "/greet.Greeter/Nope", Some(&user))
            .await
            .unwrap_err()
            .code(),
        Code::Unimplemented
    );
    // A spelling that is not the method's path never reaches the method.
    assert_eq!(
        unary(&url, "/greet.Greeter/adminStats", Some(&user))
            .await
            .unwrap_err()
            .code(),
        Code::Unimplemented
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_unavailable_when_no_keys_can_be_had() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    issuer.set_behavior_all(Behavior::Status(500));
    let url = serve(&issuer).await;
    let t = issuer.token(&key, "greeter").subject("user-1").sign();
    let e = unary(&url, paths::SAY_HELLO, Some(&t)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
}

#[test]
fn the_grpc_example_binary_helps() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_grpc-api"))
        .arg("--help")
        .output()
        .expect("run grpc-api");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--issuer-port"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_take_dpop_bound_tokens_with_their_proofs() {
    let key = TestKey::rsa("k1");
    let client_key = TestKey::ec_p256("client");
    let issuer = TestIssuer::start(&[&key]).await;
    let url = serve_with(&issuer, DpopMode::Allowed).await;
    let token = issuer
        .token(&key, "greeter")
        .subject("user-1")
        .bound_to(&client_key)
        .sign();
    let dpop = format!("DPoP {token}");
    // gRPC calls are POSTs to the method's path.
    let proof_for = |path: &str| {
        client_key
            .dpop_proof("POST", &format!("{url}{path}"))
            .access_token(&token)
            .sign()
    };
    let proof = proof_for(paths::SAY_HELLO);
    assert_eq!(
        unary_dpop(&url, paths::SAY_HELLO, &dpop, &[&proof])
            .await
            .expect("hello"),
        "hello ada, from user-1"
    );
    // Replayed, for another method, missing, doubled, or the bound token as a bearer token:
    // UNAUTHENTICATED with a DPoP challenge, and the service never runs.
    let other_method = proof_for(paths::ADMIN_STATS);
    let (a, b) = (proof_for(paths::SAY_HELLO), proof_for(paths::SAY_HELLO));
    let bearer = format!("Bearer {token}");
    let cases: [(&str, &[&str]); 5] = [
        (&dpop, &[&proof]),
        (&dpop, &[&other_method]),
        (&dpop, &[]),
        (&dpop, &[&a, &b]),
        (&bearer, &[&a]),
    ];
    for (i, (authorization, proofs)) in cases.into_iter().enumerate() {
        let e = unary_dpop(&url, paths::SAY_HELLO, authorization, proofs)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "case {i}: {e:?}");
        let challenge = e.metadata().get("www-authenticate").expect("challenge");
        assert!(
            challenge.to_str().is_ok_and(|c| c.contains("DPoP")),
            "case {i}: {challenge:?}"
        );
    }

    // `dpop: required`: bearer tokens are refused, bound ones with a proof pass.
    let url = serve_with(&issuer, DpopMode::Required).await;
    let plain = issuer.token(&key, "greeter").subject("user-1").sign();
    let e = unary(&url, paths::SAY_HELLO, Some(&plain))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let proof = client_key
        .dpop_proof("POST", &format!("{url}{}", paths::SAY_HELLO))
        .access_token(&token)
        .sign();
    assert_eq!(
        unary_dpop(&url, paths::SAY_HELLO, &dpop, &[&proof])
            .await
            .expect("hello"),
        "hello ada, from user-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_method_can_require_dpop_where_the_application_allows_bearer_tokens() {
    use portcullis_axum::{requires_dpop, Gate};
    let key = TestKey::rsa("k1");
    let client_key = TestKey::ec_p256("client");
    let issuer = TestIssuer::start(&[&key]).await;
    let config = AuthConfig::builder()
        .issuer(issuer.issuer())
        .audience("greeter")
        .http_timeout_seconds(1)
        .dpop(DpopMode::Allowed)
        .build()
        .expect("config");
    let gate = Gate::new(
        Authenticator::builder(config)
            .build()
            .expect("authenticator"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tonic::transport::Server::builder()
        .layer(
            gate.grpc()
                .method(paths::ADMIN_STATS, requires_dpop())
                .layer(),
        )
        .add_service(grpc::Greeter)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    let admin = |bound: bool| {
        let t = issuer
            .token(&key, "greeter")
            .subject("user-1")
            .roles(&["admin"]);
        if bound { t.bound_to(&client_key) } else { t }.sign()
    };
    // A bearer token: fine elsewhere, refused on the DPoP method (the handler never runs).
    let bearer = admin(false);
    assert_eq!(
        unary(&url, paths::SAY_HELLO, Some(&bearer))
            .await
            .expect("hello"),
        "hello ada, from user-1"
    );
    let e = unary(&url, paths::ADMIN_STATS, Some(&bearer))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(
        e.metadata()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("DPoP error=\"invalid_token\"")),
        "{e:?}"
    );
    // A bound token with its proof for this method: the method runs.
    let token = admin(true);
    let proof = client_key
        .dpop_proof("POST", &format!("{url}{}", paths::ADMIN_STATS))
        .access_token(&token)
        .sign();
    assert_eq!(
        unary_dpop(
            &url,
            paths::ADMIN_STATS,
            &format!("DPoP {token}"),
            &[&proof]
        )
        .await
        .expect("admin"),
        "users: 42 (asked by user-1)"
    );
}
