//! Red-team attacks on the gRPC gate (`Gate::grpc()`), over loopback, with raw HTTP/2 (h2)
//! so that paths, methods and metadata can be spelled as an attacker would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use http::{HeaderMap, Method, Request};
use portcullis_axum::{requires_role, Gate};
use portcullis_core::testkit::{TestIssuer, TestKey};
use portcullis_core::{AuthConfig, Authenticator, SecurityContext};
use portcullis_examples::grpc::{self, paths, HelloReply, HelloRequest};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::server::{Grpc, NamedService, ServerStreamingService};
use tonic::Status;

/// `HelloRequest { name: "ada" }`, gRPC framed (uncompressed).
const FRAME: &[u8] = &[0, 0, 0, 0, 5, 0x0a, 3, b'a', b'd', b'a'];

fn authenticator(issuer: &TestIssuer) -> Authenticator {
    let config = AuthConfig::builder()
        .issuer(issuer.issuer())
        .audience("greeter")
        .http_timeout_seconds(1)
        .build()
        .expect("config");
    Authenticator::builder(config)
        .build()
        .expect("authenticator")
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

async fn serve_example(issuer: &TestIssuer) -> SocketAddr {
    let (l, a) = listener().await;
    tokio::spawn(grpc::serve(authenticator(issuer), l));
    wait(a).await;
    a
}

async fn wait(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server did not start");
}

#[derive(Debug)]
struct Answer {
    status: Option<u16>,
    headers: HeaderMap,
    data: Vec<u8>,
    trailers: Option<HeaderMap>,
    error: Option<String>,
}

impl Answer {
    /// grpc-status from the trailers, or from the headers (trailers-only).
    fn grpc_status(&self) -> Option<String> {
        self.trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| self.headers.get("grpc-status"))
            .map(|v| v.to_str().unwrap_or("?").to_owned())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
    /// Did the protected method actually run and answer successfully?
    fn reached_admin(&self) -> bool {
        self.text().contains("users: 42") || self.text().contains(" for ")
    }
}

/// One raw HTTP/2 request: `uri` is absolute (scheme and authority), `headers` raw.
async fn raw(
    addr: SocketAddr,
    method: Method,
    uri: &str,
    headers: &[(&str, &[u8])],
    body: Option<&'static [u8]>,
    end_stream: bool,
) -> Answer {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = h2::client::Builder::new()
        .handshake::<_, &'static [u8]>(tcp)
        .await
        .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        req = req.header(*n, http::HeaderValue::from_bytes(v).expect("header value"));
    }
    let req = req.body(()).expect("request");
    let fut = async {
        let (resp, mut stream) = send
            .send_request(req, body.is_none() && end_stream)
            .map_err(|e| e.to_string())?;
        if let Some(b) = body {
            // The gate may answer (and end the stream) before the body is sent: sending then
            // fails with "inactive stream", and the answer is still there to read.
            let _ = stream.send_data(b, end_stream);
        }
        let resp = resp.await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let (parts, mut body) = resp.into_parts();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(Answer {
            status: Some(status),
            headers: parts.headers,
            data,
            trailers,
            error: None,
        })
    };
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => Answer {
            status: None,
            headers: HeaderMap::new(),
            data: vec![],
            trailers: None,
            error: Some(e),
        },
        Err(_) => Answer {
            status: None,
            headers: HeaderMap::new(),
            data: vec![],
            trailers: None,
            error: Some("TIMEOUT (hang)".into()),
        },
    }
}

fn bearer(t: &str) -> Vec<u8> {
    format!("Bearer {t}").into_bytes()
}

struct Tokens {
    user: String,
    admin: String,
}

fn tokens(issuer: &TestIssuer, key: &TestKey) -> Tokens {
    let t = |sub: &str, roles: &[&str]| {
        issuer
            .token(key, "greeter")
            .subject(sub)
            .roles(roles)
            .sign()
    };
    Tokens {
        user: t("mallory", &["viewer"]),
        admin: t("alice", &["admin"]),
    }
}

fn grpc_headers(auth: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("content-type", b"application/grpc".to_vec()),
        ("te", b"trailers".to_vec()),
        ("authorization", auth.to_vec()),
    ]
}

fn as_refs<'a>(h: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    h.iter().map(|(n, v)| (*n, v.as_slice())).collect()
}

// ---------------------------------------------------------------------------------------
// 1. Path spellings: nothing that runs AdminStats/Countdown for a non-admin.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redteam_path_spellings_never_reach_protected_methods() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let addr = serve_example(&issuer).await;
    let t = tokens(&issuer, &key);

    // Sanity: the admin reaches it with the canonical path; the user is refused.
    let h = grpc_headers(&bearer(&t.admin));
    let ok = raw(
        addr,
        Method::POST,
        &format!("http://{addr}{}", paths::ADMIN_STATS),
        &as_refs(&h),
        Some(FRAME),
        true,
    )
    .await;
    assert!(ok.reached_admin(), "{ok:?}");

    let spellings = [
        "/greet.Greeter/AdminStats",
        "/greet.Greeter/AdminStats?x=1",
        "/greet.Greeter/AdminStats?",
        "/greet.Greeter/AdminStats#frag",
        "//greet.Greeter/AdminStats",
        "/greet.Greeter//AdminStats",
        "/greet.Greeter/AdminStats/",
        "/greet.Greeter/AdminStats;x",
        "/greet.Greeter/%41dminStats",
        "/greet%2EGreeter/AdminStats",
        "/greet.Greeter%2FAdminStats",
        "/greet.Greeter/./AdminStats",
        "/./greet.Greeter/AdminStats",
        "/greet.Greeter/../greet.Greeter/AdminStats",
        "/x/../greet.Greeter/AdminStats",
        "/GREET.GREETER/ADMINSTATS",
        "/greet.Greeter/adminstats",
        "/greet.Greeter/AdminStats%00",
        "/greet.Greeter/AdminStats%20",
        "/greet.Greeter/Countdown",
        "/greet.Greeter/Countdown?a=b",
        "//greet.Greeter/Countdown",
        "/greet.Greeter/%43ountdown",
    ];
    let user = grpc_headers(&bearer(&t.user));
    let mut report = Vec::new();
    let mut breaches = Vec::new();
    for s in spellings {
        for authority in [format!("http://{addr}"), "http://evil.example".to_owned()] {
            let uri = format!("{authority}{s}");
            if uri.parse::<http::Uri>().is_err() {
                report.push(format!("{s:50} (http::Uri refuses to build)"));
                continue;
            }
            let a = raw(addr, Method::POST, &uri, &as_refs(&user), Some(FRAME), true).await;
            let line = format!(
                "{uri:70} http={:?} grpc-status={:?} err={:?} body={:?}",
                a.status,
                a.grpc_status(),
                a.error,
                a.text()
            );
            if a.reached_admin() || a.grpc_status().as_deref() == Some("0") {
                breaches.push(line.clone());
            }
            report.push(line);
        }
    }
    println!("{}", report.join("\n"));
    assert!(breaches.is_empty(), "BREACH:\n{}", breaches.join("\n"));
}

// ---------------------------------------------------------------------------------------
// 2. HTTP methods, missing content-type / te, compression flag, no body.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redteam_methods_and_headers_do_not_bypass() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let addr = serve_example(&issuer).await;
    let t = tokens(&issuer, &key);
    let uri = format!("http://{addr}{}", paths::ADMIN_STATS);
    let auth = bearer(&t.user);
    let mut report = Vec::new();
    let mut breaches = Vec::new();
    for m in [
        Method::GET,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::HEAD,
        Method::PATCH,
        Method::from_bytes(b"FOO").unwrap(),
    ] {
        let h = grpc_headers(&auth);
        let a = raw(addr, m.clone(), &uri, &as_refs(&h), Some(FRAME), true).await;
        report.push(format!("{m} -> {a:?}"));
        if a.reached_admin() {
            breaches.push(format!("{m}"));
        }
    }
    let variants: Vec<Vec<(&'static str, Vec<u8>)>> = vec![
        vec![("authorization", auth.clone())],
        vec![
            ("content-type", b"application/grpc".to_vec()),
            ("authorization", auth.clone()),
        ],
        vec![
            ("content-type", b"application/grpc-web".to_vec()),
            ("authorization", auth.clone()),
        ],
        vec![
            ("content-type", b"application/json".to_vec()),
            ("authorization", auth.clone()),
        ],
        vec![
            ("content-type", b"application/grpc".to_vec()),
            ("te", b"trailers".to_vec()),
            ("grpc-encoding", b"gzip".to_vec()),
            ("grpc-timeout", b"1n".to_vec()),
            ("authorization", auth.clone()),
        ],
    ];
    for h in &variants {
        let a = raw(addr, Method::POST, &uri, &as_refs(h), Some(FRAME), true).await;
        report.push(format!("{h:?} -> {a:?}"));
        if a.reached_admin() {
            breaches.push(format!("{h:?}"));
        }
    }
    // Compressed-flag frame (garbage gzip).
    let h = grpc_headers(&auth);
    let a = raw(
        addr,
        Method::POST,
        &uri,
        &as_refs(&h),
        Some(&[1, 0, 0, 0, 3, 1, 2, 3]),
        true,
    )
    .await;
    assert_eq!(a.grpc_status().as_deref(), Some("7"), "{a:?}");
    // Headers only, the body never ends: the refusal must come anyway (no hang).
    let a = raw(addr, Method::POST, &uri, &as_refs(&h), None, false).await;
    assert_eq!(a.grpc_status().as_deref(), Some("7"), "{a:?}");
    println!("{}", report.join("\n"));
    assert!(breaches.is_empty(), "BREACH: {breaches:?}");
}

// ---------------------------------------------------------------------------------------
// 3. Metadata tricks: several authorization entries, -bin, agent header, huge values.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redteam_metadata_tricks() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let addr = serve_example(&issuer).await;
    let t = tokens(&issuer, &key);
    let admin_uri = format!("http://{addr}{}", paths::ADMIN_STATS);
    let hello_uri = format!("http://{addr}{}", paths::SAY_HELLO);
    let base: Vec<(&'static str, Vec<u8>)> = vec![
        ("content-type", b"application/grpc".to_vec()),
        ("te", b"trailers".to_vec()),
    ];
    let with = |extra: Vec<(&'static str, Vec<u8>)>| {
        let mut h = base.clone();
        h.extend(extra);
        h
    };
    let check = |label: &str, a: &Answer, want: &[&str]| {
        println!("{label}: {a:?}");
        assert!(!a.reached_admin(), "BREACH {label}: {a:?}");
        if a.status.is_none() && a.error.is_some() {
            // The stream failed at the HTTP/2 level (the raw client under load): no answer,
            // so no success either.
            return;
        }
        let st = a.grpc_status();
        assert!(
            want.iter().any(|w| st.as_deref() == Some(*w)),
            "{label}: grpc-status {st:?} not in {want:?}: {a:?}"
        );
        assert_eq!(a.status, Some(200), "{label}: {a:?}");
        for v in a.headers.values() {
            let v = String::from_utf8_lossy(v.as_bytes());
            assert!(!v.contains(&t.user[..30]), "{label}: token echoed {v}");
        }
    };

    // Two authorization entries (user twice; user + admin; admin + user).
    for (label, h) in [
        (
            "user,user",
            with(vec![
                ("authorization", bearer(&t.user)),
                ("authorization", bearer(&t.user)),
            ]),
        ),
        (
            "user,admin",
            with(vec![
                ("authorization", bearer(&t.user)),
                ("authorization", bearer(&t.admin)),
            ]),
        ),
        (
            "user,empty",
            with(vec![
                ("authorization", bearer(&t.user)),
                ("authorization", b"".to_vec()),
            ]),
        ),
        (
            "user-comma-admin",
            with(vec![(
                "authorization",
                format!("Bearer {}, Bearer {}", t.user, t.admin).into_bytes(),
            )]),
        ),
    ] {
        let a = raw(
            addr,
            Method::POST,
            &admin_uri,
            &as_refs(&h),
            Some(FRAME),
            true,
        )
        .await;
        check(label, &a, &["3", "16", "7"]);
    }
    // Binary metadata and look-alike names are not the token.
    for (label, h) in [
        (
            "authorization-bin",
            with(vec![("authorization-bin", bearer(&t.user))]),
        ),
        (
            "grpc-authorization",
            with(vec![("grpc-authorization", bearer(&t.user))]),
        ),
        (
            "proxy-authorization",
            with(vec![("proxy-authorization", bearer(&t.user))]),
        ),
        (
            "agent only",
            with(vec![("x-agent-authorization", bearer(&t.user))]),
        ),
        (
            "lowercase bearer",
            with(vec![(
                "authorization",
                format!("bearer {}", t.user).into_bytes(),
            )]),
        ),
    ] {
        let a = raw(
            addr,
            Method::POST,
            &hello_uri,
            &as_refs(&h),
            Some(FRAME),
            true,
        )
        .await;
        println!("{label}: {a:?}");
        assert!(
            a.grpc_status().as_deref() != Some("0") || label == "lowercase bearer",
            "{label}: {a:?}"
        );
    }
    // The user's token plus an admin token as the agent: still not admin.
    let h = with(vec![
        ("authorization", bearer(&t.user)),
        ("x-agent-authorization", bearer(&t.admin)),
    ]);
    let a = raw(
        addr,
        Method::POST,
        &admin_uri,
        &as_refs(&h),
        Some(FRAME),
        true,
    )
    .await;
    check("agent=admin", &a, &["7", "16", "3"]);
    // An agent header of garbage on an open method: no 500.
    let h = with(vec![
        ("authorization", bearer(&t.user)),
        ("x-agent-authorization", b"Bearer \xff\xfe garbage".to_vec()),
    ]);
    let a = raw(
        addr,
        Method::POST,
        &hello_uri,
        &as_refs(&h),
        Some(FRAME),
        true,
    )
    .await;
    println!("agent garbage on SayHello: {a:?}");
    assert_eq!(a.status, Some(200), "{a:?}");

    // Big / odd values: no panic, no hang, no echo.
    let big = format!("Bearer {}", "A".repeat(12_000)).into_bytes();
    let a = raw(
        addr,
        Method::POST,
        &admin_uri,
        &as_refs(&with(vec![("authorization", big)])),
        Some(FRAME),
        true,
    )
    .await;
    println!("big token: {a:?}");
    assert!(!a.reached_admin());
    let mut many = Vec::new();
    for _ in 0..50 {
        many.push(("authorization", bearer(&t.user)));
    }
    let a = raw(
        addr,
        Method::POST,
        &admin_uri,
        &as_refs(&with(many)),
        Some(FRAME),
        true,
    )
    .await;
    println!("50 authorization entries: {a:?}");
    assert!(!a.reached_admin());
    let weird = with(vec![(
        "authorization",
        format!("Bearer {}\u{00e9}\t", &t.user).into_bytes(),
    )]);
    let a = raw(
        addr,
        Method::POST,
        &admin_uri,
        &as_refs(&weird),
        Some(FRAME),
        true,
    )
    .await;
    check("non-ascii token", &a, &["16", "3"]);
    // Server still healthy.
    let h = with(vec![("authorization", bearer(&t.user))]);
    let a = raw(
        addr,
        Method::POST,
        &hello_uri,
        &as_refs(&h),
        Some(FRAME),
        true,
    )
    .await;
    assert!(a.text().contains("from mallory"), "{a:?}");
}

// ---------------------------------------------------------------------------------------
// 4. HTTP/1.1 to the tonic server (h2c only by default).
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redteam_http1_requests_do_not_get_a_success() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let addr = serve_example(&issuer).await;
    let t = tokens(&issuer, &key);
    for (ct, tok) in [
        ("application/grpc", t.user.as_str()),
        ("application/grpc-web", t.user.as_str()),
        ("application/grpc", "garbage"),
    ] {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "POST /greet.Greeter/AdminStats HTTP/1.1\r\nhost: x\r\ncontent-type: {ct}\r\nte: trailers\r\nauthorization: Bearer {tok}\r\ncontent-length: {}\r\n\r\n",
            FRAME.len()
        );
        // The server may close on a non-HTTP/2 preface: a refused write is no success.
        let _ = s.write_all(req.as_bytes()).await;
        let _ = s.write_all(FRAME).await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        println!("HTTP/1.1 {ct} -> {text:?}");
        assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(!text.contains("users: 42"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// 5. SecurityContext inside a lazily-polled streaming body, concurrent streams on one
//    connection: never another caller.
// ---------------------------------------------------------------------------------------

fn who() -> String {
    SecurityContext::get()
        .and_then(|c| c.sub().map(str::to_owned))
        .unwrap_or_else(|| "nobody".to_owned())
}

#[derive(Clone, Copy, Default)]
struct Probe;
impl NamedService for Probe {
    const NAME: &'static str = "probe.Probe";
}
type ReplyStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<HelloReply, Status>> + Send>>;
struct Lazy;
impl ServerStreamingService<HelloRequest> for Lazy {
    type Response = HelloReply;
    type ResponseStream = ReplyStream;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<tonic::Response<ReplyStream>, Status>> + Send>,
    >;
    fn call(&mut self, _: tonic::Request<HelloRequest>) -> Self::Future {
        Box::pin(async move {
            let at_call = who();
            tokio::task::yield_now().await;
            use tokio_stream::StreamExt;
            // Read lazily, when the body is polled (after the gate's scope ended).
            let s = tokio_stream::iter(0..5).map(move |i| {
                Ok(HelloReply {
                    message: format!("{at_call}|{}|{i}", who()),
                })
            });
            let s: ReplyStream = Box::pin(s);
            Ok(tonic::Response::new(s))
        })
    }
}
impl tower::Service<http::Request<tonic::body::Body>> for Probe {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            Ok(
                Grpc::new(tonic_prost::ProstCodec::<HelloReply, HelloRequest>::default())
                    .server_streaming(Lazy, request)
                    .await,
            )
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redteam_stream_bodies_never_see_another_callers_context() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let (l, addr) = listener().await;
    let gate = Gate::new(authenticator(&issuer));
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(gate.grpc().layer())
            .add_service(Probe)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l)),
    );
    wait(addr).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let sub = format!("user-{i}");
        let tok = issuer.token(&key, "greeter").subject(&sub).sign();
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = tonic::client::Grpc::new(channel);
            c.ready().await.unwrap();
            let mut r = tonic::Request::new(HelloRequest { name: "x".into() });
            r.metadata_mut()
                .insert("authorization", format!("Bearer {tok}").parse().unwrap());
            let mut s = c
                .server_streaming(
                    r,
                    http::uri::PathAndQuery::from_static("/probe.Probe/Lazy"),
                    tonic_prost::ProstCodec::<HelloRequest, HelloReply>::default(),
                )
                .await
                .unwrap()
                .into_inner();
            let mut out = Vec::new();
            use tokio_stream::StreamExt;
            while let Some(m) = s.next().await {
                out.push(m.unwrap().message);
            }
            (sub, out)
        }));
    }
    let mut lazy_seen = std::collections::BTreeSet::new();
    for t in tasks {
        let (sub, out) = t.await.unwrap();
        assert_eq!(out.len(), 5);
        for m in out {
            let mut p = m.split('|');
            let (at_call, lazily) = (p.next().unwrap(), p.next().unwrap());
            assert_eq!(at_call, sub, "the call saw another caller: {m}");
            assert!(
                lazily == sub || lazily == "nobody",
                "LEAK: stream of {sub} saw {lazily}"
            );
            lazy_seen.insert(lazily.to_owned());
        }
    }
    println!("callers seen when the stream body is polled: {lazy_seen:?}");
}

// ---------------------------------------------------------------------------------------
// 6. GrpcGate::method validation: spellings that can never match are accepted silently,
//    and the method they meant to protect is open to any caller.
// ---------------------------------------------------------------------------------------

#[test]
fn redteam_method_validation_what_panics() {
    let key = TestKey::rsa("k1");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issuer = rt.block_on(TestIssuer::start(&[&key]));
    let gate = Gate::new(authenticator(&issuer));
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for p in [
        "greet.Greeter/AdminStats",
        "/greet.Greeter/AdminStats/",
        "/greet.Greeter",
        "//AdminStats",
        " /greet.Greeter/AdminStats",
        "/Greeter/AdminStats",
        "/AdminStats/AdminStats",
        "/greet.Greeter/AdminStats ",
        "/greet.Greeter/AdminStats?x=1",
        "/greet.Greeter/AdminStats#x",
        "/greet.Greeter/%41dminStats",
        "/greet.Greeter/Admin Stats",
        "/greet.Greeter/AdminStats\n",
        "/greet.greeter/adminstats",
        "/greet.Greeter/ÄdminStats",
    ] {
        let g = gate.grpc();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            g.method(p, requires_role(["admin"]))
        }));
        if r.is_ok() {
            accepted.push(p);
        } else {
            refused.push(p);
        }
    }
    println!("refused (panic): {refused:?}\naccepted silently: {accepted:?}");
    // Spellings no gRPC request path can ever have (whitespace, query, fragment, raw
    // control or non-ASCII characters) are accepted: their requirement protects nothing.
    let never_matchable: Vec<_> = accepted
        .iter()
        .filter(|p| {
            p.bytes()
                .any(|b| b == b' ' || b == b'?' || b == b'#' || !(0x20..=0x7e).contains(&b))
        })
        .collect();
    assert!(
        never_matchable.is_empty(),
        "FINDING: never-matchable method paths accepted silently: {never_matchable:?}"
    );
}

/// A registration that no request path can match is refused loudly at set-up (it would leave
/// the method open). A path of another service name (`/Greeter/AdminStats`, package left out)
/// is a valid path and cannot be told from a typo: the documented limit of a path-keyed table.
#[test]
fn redteam_a_misspelt_registration_leaves_the_method_open() {
    for registered in [
        "/greet.Greeter/AdminStats ",
        "/greet.Greeter/AdminStats?x=1",
    ] {
        let refused = std::panic::catch_unwind(|| {
            let gate = Gate::new(
                Authenticator::builder(
                    AuthConfig::builder()
                        .issuer("https://issuer.example")
                        .audience("greeter")
                        .build()
                        .expect("config"),
                )
                .key_source(portcullis_core::StaticKeys::new(
                    portcullis_core::KeySet::new(),
                ))
                .build()
                .expect("authenticator"),
            );
            gate.grpc().method(registered, requires_role(["admin"]))
        })
        .is_err();
        assert!(refused, "{registered:?} accepted silently");
    }
}

// ---------------------------------------------------------------------------------------
// 7. Refusal shape: trailers-only, content-type, grpc-message encoding of non-ASCII roles.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redteam_refusal_shape_and_message_encoding() {
    let key = TestKey::rsa("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let t = tokens(&issuer, &key);
    let (l, addr) = listener().await;
    let gate = Gate::new(authenticator(&issuer));
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(
                gate.grpc()
                    .method(
                        paths::ADMIN_STATS,
                        requires_role(["ädmin", "a%b", "x\r\nset-cookie: y"]),
                    )
                    .layer(),
            )
            .add_service(grpc::Greeter)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l)),
    );
    wait(addr).await;
    let h = grpc_headers(&bearer(&t.user));
    let a = raw(
        addr,
        Method::POST,
        &format!("http://{addr}{}", paths::ADMIN_STATS),
        &as_refs(&h),
        Some(FRAME),
        true,
    )
    .await;
    println!("{a:?}");
    assert_eq!(a.status, Some(200));
    assert_eq!(a.headers.get("content-type").unwrap(), "application/grpc");
    assert_eq!(a.headers.get("grpc-status").unwrap(), "7");
    assert!(
        a.data.is_empty() && a.trailers.is_none(),
        "trailers-only: {a:?}"
    );
    assert!(a.headers.get("set-cookie").is_none());
    let msg = a.headers.get("grpc-message").unwrap().to_str().unwrap();
    assert!(
        msg.contains("%C3%A4dmin") && msg.contains("a%25b") && msg.contains("%0D%0A"),
        "{msg}"
    );
    // tonic decodes it back.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = tonic::client::Grpc::new(channel);
    c.ready().await.unwrap();
    let mut r = tonic::Request::new(HelloRequest { name: "x".into() });
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", t.user).parse().unwrap(),
    );
    let e = c
        .unary(
            r,
            http::uri::PathAndQuery::from_static(paths::ADMIN_STATS),
            tonic_prost::ProstCodec::<HelloRequest, HelloReply>::default(),
        )
        .await
        .unwrap_err();
    println!("tonic sees: {:?} / {:?}", e.code(), e.message());
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert!(e.message().contains("ädmin"), "{}", e.message());
    // www-authenticate for the 403, and for a 401 with a forged token: no token text.
    let forged = issuer
        .token(&key, "greeter")
        .subject("mallory")
        .tamper_signature()
        .sign();
    let h = grpc_headers(&bearer(&forged));
    let a = raw(
        addr,
        Method::POST,
        &format!("http://{addr}{}", paths::ADMIN_STATS),
        &as_refs(&h),
        Some(FRAME),
        true,
    )
    .await;
    println!("forged: {a:?}");
    assert_eq!(a.grpc_status().as_deref(), Some("16"));
    for v in a.headers.values() {
        assert!(!String::from_utf8_lossy(v.as_bytes()).contains(&forged[..25]));
    }
}
