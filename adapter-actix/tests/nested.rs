//! Resources declared inside `web::scope` are matched by the full pattern actix-web reports.

use actix_web::{web, App, HttpResponse, HttpServer};
use tollgate_actix::{allow_anonymous, Tollgate};
use tollgate_conformance::{run, Adapter, Harness, Server};
use tollgate_core::Authenticator;

struct Scoped;

impl Adapter for Scoped {
    const NAME: &'static str = "actix-scoped";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        let gate = Tollgate::new(authenticator);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    HttpServer::new(move || {
                        let api = gate.nested("/api");
                        App::new().wrap(gate.middleware()).service(
                            web::scope("/api")
                                .service(api.resource("/health", allow_anonymous()).route(
                                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                                ))
                                .service(web::resource("/me").route(
                                    web::get().to(|| async { HttpResponse::Ok().body("me") }),
                                )),
                        )
                    })
                    .workers(1)
                    .disable_signals()
                    .listen(listener)
                    .expect("listen")
                    .run();
                let handle = server.handle();
                actix_web::rt::spawn(async move {
                    let _ = stop_rx.await;
                    handle.stop(false).await;
                });
                let _ = server.await;
            });
        });
        Server::new(move || {
            let _ = stop_tx.send(());
            let _ = thread.join();
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
