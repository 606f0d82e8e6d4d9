//! Red-team DPoP tests over real HTTP (axum): nested routers, Host / absolute-form tricks,
//! header counts. Every test asserts the safe behaviour.

use portcullis_conformance::raw::{self, RawRequest};
use portcullis_conformance::{Adapter, Harness, Server, KEYS};
use portcullis_core::dpop::DpopMode;
use portcullis_core::Authenticator;

/// axum: a top-level `requires_dpop` route, a nested router whose gate layer sits *inside*
/// the nest (the request the gate sees has lost its `/api/v1` prefix), and a public health
/// route for the harness.
struct NestedAxum;

impl Adapter for NestedAxum {
    const NAME: &'static str = "axum-nested";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use ::axum::routing::{get, post};
        use ::axum::Router;
        use portcullis_axum::{allow_anonymous, requires_dpop, Gate, RouterExt};

        let gate = Gate::new(authenticator);
        let ok = |name: &'static str| move || async move { name };
        let inner = Router::new()
            .route_with(&gate, "/transfer", post(ok("v1")), requires_dpop())
            .layer(gate.layer());
        let app = Router::new()
            .route_with(
                &gate,
                "/api/dpop/transfer",
                post(ok("top")),
                requires_dpop(),
            )
            .layer(gate.layer())
            .nest("/api/v1", inner)
            .route_with(&gate, "/api/health", get(ok("up")), allow_anonymous());
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let task = tokio::spawn(async move { ::axum::serve(listener, app).await });
        Server::new(move || task.abort())
    }
}

struct World {
    h: Harness<NestedAxum>,
    app: portcullis_conformance::App,
    token: String,
}

async fn world() -> World {
    let h = Harness::<NestedAxum>::new().await;
    let auth = h
        .authenticator(h.config().dpop(DpopMode::Allowed))
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    let token = h.token(&KEYS.rsa).bound_to(&KEYS.client).sign();
    World { h, app, token }
}

impl World {
    fn proof(&self, method: &str, htu: &str) -> String {
        KEYS.client
            .dpop_proof(method, htu)
            .now(self.h.clock.now())
            .access_token(&self.token)
            .sign()
    }
    async fn post(&self, path: &str, proofs: &[&str]) -> portcullis_conformance::Reply {
        let mut request = self
            .app
            .request(reqwest::Method::POST, path)
            .header("authorization", format!("DPoP {}", self.token));
        for proof in proofs {
            request = request.header("dpop", *proof);
        }
        self.app.send(request).await
    }
    async fn raw(&self, target: &str, extra: &[(&str, &str)], proof: &str) -> raw::RawReply {
        let mut headers = vec![
            ("authorization".to_owned(), format!("DPoP {}", self.token)),
            ("dpop".to_owned(), proof.to_owned()),
        ];
        headers.extend(
            extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        raw::send(
            self.app.addr(),
            &RawRequest {
                method: "POST".to_owned(),
                target: target.to_owned(),
                headers,
                body: Vec::new(),
            },
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_router_proofs_must_name_the_full_path() {
    let w = world().await;
    let base = w.app.base().to_owned();
    // The path the gate sees inside the nest (`/transfer`) is not the request's URL.
    let stripped = w.proof("POST", &format!("{base}/transfer"));
    let reply = w.post("/api/v1/transfer", &[&stripped]).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    let full = w.proof("POST", &format!("{base}/api/v1/transfer"));
    let reply = w.post("/api/v1/transfer", &[&full]).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "v1"),
        "{reply:?}"
    );
    // Replayed on the nested route, then on the top-level one.
    assert_eq!(w.post("/api/v1/transfer", &[&full]).await.status, 401);
    let top = w.proof("POST", &format!("{base}/api/dpop/transfer"));
    assert_eq!(w.post("/api/dpop/transfer", &[&top]).await.status, 200);
    assert_eq!(w.post("/api/dpop/transfer", &[&top]).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_request_target_tricks_are_refused() {
    let w = world().await;
    let base = w.app.base().to_owned();
    let addr = w.app.addr().to_string();
    let htu = format!("{base}/api/dpop/transfer");
    // A second Host header (same value, or another one).
    for extra in [addr.as_str(), "evil.test"] {
        let reply = w
            .raw(
                "/api/dpop/transfer",
                &[("host", extra)],
                &w.proof("POST", &htu),
            )
            .await;
        assert_ne!(reply.status, 200, "second Host {extra}: {reply:?}");
    }
    // Absolute form naming another authority than the proof (Host says ours).
    let reply = w
        .raw(
            "http://evil.test/api/dpop/transfer",
            &[],
            &w.proof("POST", &htu),
        )
        .await;
    assert_ne!(reply.status, 200, "{reply:?}");
    // Absolute form naming our authority but a proof for another path.
    let other = w.proof("POST", &format!("{base}/api/v1/transfer"));
    let reply = w
        .raw(&format!("{base}/api/dpop/transfer"), &[], &other)
        .await;
    assert_ne!(reply.status, 200, "{reply:?}");
    // Two DPoP headers (the good one and a copy), and an empty one.
    let good = w.proof("POST", &htu);
    let reply = w.raw("/api/dpop/transfer", &[("dpop", &good)], &good).await;
    assert_ne!(reply.status, 200, "{reply:?}");
    let reply = w.raw("/api/dpop/transfer", &[], "").await;
    assert_ne!(reply.status, 200, "{reply:?}");
    // Method spelled differently on the wire than in the proof.
    let get_proof = w.proof("GET", &htu);
    let reply = w.raw("/api/dpop/transfer", &[], &get_proof).await;
    assert_ne!(reply.status, 200, "{reply:?}");
    // Percent-encoded slash / dot segments on the wire with a proof for the plain path.
    for target in [
        "/api/dpop%2Ftransfer",
        "/api/x/../dpop/transfer",
        "/api/x/%2e%2e/dpop/transfer",
        "//api/dpop/transfer",
    ] {
        let reply = w.raw(target, &[], &w.proof("POST", &htu)).await;
        assert_ne!(reply.status, 200, "{target}: {reply:?}");
    }
    // And the honest request still works.
    let reply = w
        .raw("/api/dpop/transfer", &[], &w.proof("POST", &htu))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answers_never_echo_the_proof_or_token() {
    let w = world().await;
    let base = w.app.base().to_owned();
    let canary = "CANARY-jti-http";
    let proof = KEYS
        .client
        .dpop_proof("POST", &format!("{base}/api/dpop/transfer"))
        .now(w.h.clock.now())
        .claim("jti", serde_json::json!(canary))
        .access_token(&w.token)
        .sign();
    assert_eq!(w.post("/api/dpop/transfer", &[&proof]).await.status, 200);
    let replayed = w.post("/api/dpop/transfer", &[&proof]).await;
    assert_eq!(replayed.status, 401);
    let wrong_path = w.post("/api/v1/transfer", &[&proof]).await;
    assert_eq!(wrong_path.status, 401);
    for reply in [replayed, wrong_path] {
        let shown = format!("{} {:?}", reply.body, reply.www_authenticate);
        for secret in [canary, &proof[..30], &w.token[..30]] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
