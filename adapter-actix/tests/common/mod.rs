//! Runs an actix-web application for the tests: its own actix system on a thread, stopped
//! when the returned `Server` is dropped.

use actix_web::{web, App, HttpServer};
use portcullis_actix::Gate;
use portcullis_conformance::Server;

/// Serves `public`'s services on the `App`, then `protected`'s inside `gate.protected()`.
pub(crate) fn serve(
    gate: Gate,
    listener: std::net::TcpListener,
    public: fn(&Gate, &mut web::ServiceConfig),
    protected: fn(&Gate, &mut web::ServiceConfig),
) -> Server {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let (a, b) = (gate.clone(), gate.clone());
                App::new()
                    .configure(move |cfg| public(&a, cfg))
                    .service(gate.protected().configure(move |cfg| protected(&b, cfg)))
                    .default_service(gate.default_service(actix_web::HttpResponse::NotFound))
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
