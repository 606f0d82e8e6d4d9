//! The Protected API on actix-web.

use crate::services::{self, UserService};
use actix_web::{guard, web, App, HttpResponse, HttpServer};
use portcullis_actix::{allow_anonymous, requires_role, AuthRejection, Gate};
use portcullis_core::Authenticator;

async fn me() -> Result<HttpResponse, AuthRejection> {
    Ok(HttpResponse::Ok().json(UserService.get_profile()?))
}

/// The public resources: registered on the `App` before the protected scope, each with its
/// method as a resource guard.
pub fn public(gate: &Gate) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        let authenticator = gate.authenticator().clone();
        cfg.service(
            gate.resource("/api/health", allow_anonymous())
                .guard(guard::Get())
                .to(|| async { HttpResponse::Ok().json(services::health()) }),
        )
        // Readiness for a load balancer: keys loaded and fresh (503 otherwise).
        .service(
            gate.resource("/ready", allow_anonymous())
                .guard(guard::Get())
                .to(move || {
                    let (status, body) = services::readiness(&authenticator);
                    async move {
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status)
                                .unwrap_or(actix_web::http::StatusCode::SERVICE_UNAVAILABLE),
                        )
                        .json(body)
                    }
                }),
        );
    }
}

/// The protected resources: inside `gate.protected()`.
pub fn protected(gate: &Gate) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        cfg.service(web::resource("/api/me").route(web::get().to(me)))
            .service(
                gate.resource("/api/admin/stats", requires_role(["admin"]))
                    .route(
                        web::get()
                            .to(|| async { HttpResponse::Ok().json(services::admin_stats()) }),
                    ),
            )
            .service(
                gate.resource("/api/editor/drafts", requires_role(["editor", "admin"]))
                    .route(
                        web::get()
                            .to(|| async { HttpResponse::Ok().json(services::editor_drafts()) }),
                    ),
            );
    }
}

/// Serves the application on `listener` (runs its own actix system; blocks).
pub fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> std::io::Result<()> {
    let gate = Gate::new(authenticator);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .configure(public(&gate))
                // The gate: everything inside, and every unknown path, needs a valid token.
                .service(gate.protected().configure(protected(&gate)))
                // What no service matches (`OPTIONS *`, say): behind the gate too.
                .default_service(gate.default_service(HttpResponse::NotFound))
        })
        .listen(listener)?
        .run()
        .await
    })
}
