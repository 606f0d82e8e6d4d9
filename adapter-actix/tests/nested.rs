//! Resources declared inside `web::scope` are matched by the full pattern actix-web reports.

mod common;

use actix_web::{web, HttpResponse};
use portcullis_actix::{allow_anonymous, Gate};
use portcullis_conformance::{run, Adapter, Harness, Server};
use portcullis_core::Authenticator;

struct Scoped;

impl Adapter for Scoped {
    const NAME: &'static str = "actix-scoped";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        common::serve(Gate::new(authenticator), listener, |gate, cfg| {
            let api = gate.nested("/api");
            cfg.service(
                web::scope("/api")
                    .service(
                        api.resource("/health", allow_anonymous())
                            .route(web::get().to(|| async { HttpResponse::Ok().body("ok") })),
                    )
                    .service(
                        web::resource("/me")
                            .route(web::get().to(|| async { HttpResponse::Ok().body("me") })),
                    ),
            );
        })
    }
}

async fn scoped(h: &Harness<Scoped>) {
    let app = h.app().await;
    assert_eq!(app.get("/api/health", None).await.status, 200);
    assert_eq!(app.get("/api/me", None).await.status, 401);
    assert_eq!(
        app.get("/api/me", Some(&h.with_roles(&[]))).await.body,
        "me"
    );
}

#[test]
fn scope_declarations_use_the_full_pattern() {
    run::<Scoped>(|h| Box::pin(scoped(h)));
}
