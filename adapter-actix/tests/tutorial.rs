//! The tutorial's transcript (and the policy cases around it), over real HTTP on 127.0.0.1,
//! against the actix-web adapter: the conformance suite's scenarios on a tutorial-sized app,
//! plus the guard-shadowing case of actix-web #3346.

mod common;

use actix_web::{guard, web, HttpResponse};
use portcullis_actix::{allow_anonymous, requires_role, AuthRejection, Gate};
use portcullis_conformance::{run, services, Adapter, Harness, Server};
use portcullis_core::Authenticator;
use serde_json::Value;

fn ok(v: Value) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

struct Tutorial;

impl Adapter for Tutorial {
    const NAME: &'static str = "actix-tutorial";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        common::serve(
            Gate::new(authenticator),
            listener,
            |gate, cfg| {
                cfg.service(
                    gate.resource("/api/health", allow_anonymous())
                        .guard(guard::Get())
                        .to(|| async { ok(services::health()) }),
                )
                .service(
                    gate.resource("/api/public/whoami", allow_anonymous())
                        .guard(guard::Get())
                        .to(|| async { ok(services::whoami()) }),
                )
                // actix-web #3346: an anonymous `#[get("/widgets/{id}")]` must not open the
                // protected `#[post("/widgets/action")]` that only its method guard tells
                // apart: the guard makes POST fall through to the protected scope.
                .service(
                    web::resource("/widgets/{id}")
                        .guard(guard::Get())
                        .to(HttpResponse::Ok),
                );
            },
            |gate, cfg| {
                cfg.service(web::resource("/api/me").route(
                    web::get().to(|| async { services::profile().map(ok).map_err(AuthRejection) }),
                ))
                .service(
                    gate.resource("/api/admin/stats", requires_role(["admin"]))
                        .route(web::get().to(|| async { ok(services::admin_stats()) })),
                )
                .service(
                    gate.resource("/api/editor/drafts", requires_role(["editor", "admin"]))
                        .route(web::get().to(|| async { ok(services::editor_drafts()) })),
                )
                .service(
                    gate.resource("/api/echo", requires_role(["admin"])).route(
                        web::post().to(|v: web::Json<Value>| async move { ok(v.into_inner()) }),
                    ),
                )
                .service(
                    web::resource("/api/handler/check").route(
                        web::get().to(|| async {
                            services::handler_check().map(ok).map_err(AuthRejection)
                        }),
                    ),
                )
                .service(
                    web::resource("/widgets/action")
                        .guard(guard::Post())
                        .to(|| async { HttpResponse::Ok().body("action ran") }),
                );
            },
        )
    }
}

portcullis_conformance::tutorial_tests!(Tutorial);

async fn guard_shadowed(h: &Harness<Tutorial>) {
    let app = h.app().await;
    assert_eq!(
        app.get("/widgets/7", None).await.status,
        200,
        "the anonymous route is open"
    );
    let post = || app.request(reqwest::Method::POST, "/widgets/action");
    assert_eq!(
        app.send(post()).await.status,
        401,
        "the shadowed protected route is not"
    );
    let r = app
        .send(post().header("authorization", format!("Bearer {}", h.with_roles(&[]))))
        .await;
    assert_eq!(r.body, "action ran");
}

#[test]
fn guard_shadowed_route_stays_protected() {
    run::<Tutorial>(|h| Box::pin(guard_shadowed(h)));
}
