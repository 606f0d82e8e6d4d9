//! How an application is assembled never lets a declared requirement be skipped: a
//! requirement outside the protected scope answers 500, a public resource inside it stays
//! authenticated, and requirements bound to a route, a scope or a macro handler hold.

mod common;

use actix_web::{get, web, HttpResponse};
use portcullis_actix::{allow_anonymous, requires_role, Gate, Require};
use portcullis_conformance::{run, Adapter, Harness, Server};
use portcullis_core::Authenticator;

#[get("/macro/admin", wrap = "Require::new(requires_role([\"admin\"]))")]
async fn macro_admin() -> HttpResponse {
    HttpResponse::Ok().body("macro admin")
}

#[get("/outside/macro", wrap = "Require::new(requires_role([\"admin\"]))")]
async fn outside_macro() -> HttpResponse {
    HttpResponse::Ok().body("outside ran")
}

struct Assembled;

impl Adapter for Assembled {
    const NAME: &'static str = "actix-assembled";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        common::serve(
            Gate::new(authenticator),
            listener,
            |gate, cfg| {
                // Requirements outside the protected scope: refused, never run.
                cfg.service(
                    gate.resource("/outside/admin", requires_role(["admin"]))
                        .to(|| async { HttpResponse::Ok().body("outside ran") }),
                )
                .service(outside_macro)
                .service(
                    gate.resource("/api/health", allow_anonymous())
                        .guard(actix_web::guard::Get())
                        .to(|| async { HttpResponse::Ok().body("ok") }),
                );
            },
            |gate, cfg| {
                cfg.service(
                    gate.resource("/inside/public", allow_anonymous())
                        .to(|| async { HttpResponse::Ok().body("inside") }),
                )
                .service(macro_admin)
                .service(
                    web::resource("/route/level")
                        .route(
                            web::get()
                                .to(|| async { HttpResponse::Ok().body("get") })
                                .wrap(gate.require(requires_role(["admin"]))),
                        )
                        .route(web::post().to(|| async { HttpResponse::Ok().body("post") })),
                )
                .service(
                    web::scope("/admin")
                        .wrap(gate.require(requires_role(["admin"])))
                        .service(
                            web::resource("/{any}")
                                .to(|| async { HttpResponse::Ok().body("scoped") }),
                        ),
                )
                .service(
                    web::resource("/api/health")
                        .route(web::post().to(|| async { HttpResponse::Ok().body("posted") })),
                );
            },
        )
    }
}

async fn assembled(h: &Harness<Assembled>) {
    let app = h.app().await;
    let user = h.with_roles(&["user"]);
    let admin = h.with_roles(&["admin"]);
    let not_enforced = r#"{"detail":"Authentication is not configured for this route"}"#;
    for path in ["/outside/admin", "/outside/macro"] {
        for token in [None, Some(user.as_str()), Some(admin.as_str())] {
            let r = app.get(path, token).await;
            assert_eq!((r.status, r.body.as_str()), (500, not_enforced), "{path}");
        }
    }
    assert_eq!(app.get("/inside/public", None).await.status, 401);
    assert_eq!(app.get("/inside/public", Some(&user)).await.status, 200);
    assert_eq!(app.get("/macro/admin", Some(&user)).await.status, 403);
    assert_eq!(
        app.get("/macro/admin", Some(&admin)).await.body,
        "macro admin"
    );
    assert_eq!(app.get("/route/level", Some(&user)).await.status, 403);
    assert_eq!(app.get("/route/level", Some(&admin)).await.body, "get");
    let post = |path: &str, token: Option<&str>| {
        let mut r = app.request(reqwest::Method::POST, path);
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        app.send(r)
    };
    assert_eq!(post("/route/level", Some(&user)).await.body, "post");
    assert_eq!(post("/route/level", None).await.status, 401);
    assert_eq!(app.get("/admin/x", Some(&user)).await.status, 403);
    assert_eq!(app.get("/admin/%78", Some(&user)).await.status, 403);
    assert_eq!(app.get("/%61dmin/x", Some(&user)).await.status, 403);
    assert_eq!(app.get("/admin/x", Some(&admin)).await.body, "scoped");
    // A target no scope can match (`*`) reaches the App's default service: behind the gate.
    for method in ["OPTIONS", "GET", "POST"] {
        let raw = portcullis_conformance::raw::RawRequest {
            method: method.into(),
            target: "*".into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let r = portcullis_conformance::raw::send(app.addr(), &raw).await;
        assert_eq!(r.status, 401, "{method} *: {r:?}");
    }
    // The public GET's guard lets POST fall through to the protected resource.
    assert_eq!(app.get("/api/health", None).await.body, "ok");
    assert_eq!(post("/api/health", None).await.status, 401);
    assert_eq!(post("/api/health", Some(&user)).await.body, "posted");
}

#[test]
fn declared_requirements_hold_however_the_app_is_assembled() {
    run::<Assembled>(|h| Box::pin(assembled(h)));
}
