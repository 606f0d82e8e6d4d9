//! The conformance suite against the three adapters: each implements [`Adapter`] by serving
//! the reference application in its own idiom; the macro generates one test per scenario.
//! This binary holds only those tests, so its summary line counts scenarios × adapters.

use portcullis_conformance::{services, Adapter, Server};
use portcullis_core::Authenticator;
use serde_json::Value;

/// axum 0.8: `route_with` markers, one `layer`.
struct AxumAdapter;

impl Adapter for AxumAdapter {
    const NAME: &'static str = "axum";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use ::axum::routing::{get, post};
        use ::axum::{Json, Router};
        use portcullis_axum::{
            allow_anonymous, requires_all_roles, requires_group, requires_role, requires_scope,
            AuthRejection, Gate, RouterExt,
        };

        let gate = Gate::new(authenticator);
        let app = Router::new()
            .route_with(
                &gate,
                "/api/health",
                get(|| async { Json(services::health()) }),
                allow_anonymous(),
            )
            .route(
                "/api/me",
                get(|| async { services::profile().map(Json).map_err(AuthRejection) }),
            )
            .route_with(
                &gate,
                "/api/admin/stats",
                get(|| async { Json(services::admin_stats()) }),
                requires_role(["admin"]),
            )
            .route_with(
                &gate,
                "/api/editor/drafts",
                get(|| async { Json(services::editor_drafts()) }),
                requires_role(["editor", "admin"]),
            )
            .route_with(
                &gate,
                "/api/audit/report",
                get(|| async { Json(services::audit_report()) }),
                requires_all_roles(["auditor", "admin"]),
            )
            .route_with(
                &gate,
                "/api/team/board",
                get(|| async { Json(services::team_board()) }),
                requires_group(["team-alpha"]),
            )
            .route_with(
                &gate,
                "/api/treasury/payments",
                post(|| async { Json(services::payment()) }),
                requires_role(["treasury-service"]).and(requires_scope(["treasury:write:*"])),
            )
            .route_with(
                &gate,
                "/api/echo",
                post(|Json(v): Json<Value>| async move { Json(v) }),
                requires_role(["admin"]),
            )
            .route_with(
                &gate,
                "/api/public/whoami",
                get(|| async { Json(services::whoami()) }),
                allow_anonymous(),
            )
            .route(
                "/api/context/nested",
                get(|| async { Json(services::nested().await) }),
            )
            .route(
                "/api/context/spawned",
                get(|| async { Json(services::spawned().await) }),
            )
            .route(
                "/api/handler/check",
                get(|| async { services::handler_check().map(Json).map_err(AuthRejection) }),
            )
            .layer(gate.layer());
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let task = tokio::spawn(async move { ::axum::serve(listener, app).await });
        Server::new(move || task.abort())
    }
}

/// actix-web 4: `gate.resource` markers, one `App::wrap`, its own actix system.
struct ActixAdapter;

impl Adapter for ActixAdapter {
    const NAME: &'static str = "actix";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use ::actix_web::{web, App, HttpResponse, HttpServer};
        use portcullis_actix::{
            allow_anonymous, requires_all_roles, requires_group, requires_role, requires_scope,
            AuthRejection, Gate,
        };

        fn ok(v: Value) -> HttpResponse {
            HttpResponse::Ok().json(v)
        }
        let gate = Gate::new(authenticator);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            ::actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(gate.middleware())
                        .service(
                            gate.resource("/api/health", allow_anonymous())
                                .route(web::get().to(|| async { ok(services::health()) })),
                        )
                        .service(web::resource("/api/me").route(
                            web::get().to(|| async {
                                services::profile().map(ok).map_err(AuthRejection)
                            }),
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
                            gate.resource(
                                "/api/audit/report",
                                requires_all_roles(["auditor", "admin"]),
                            )
                            .route(web::get().to(|| async { ok(services::audit_report()) })),
                        )
                        .service(
                            gate.resource("/api/team/board", requires_group(["team-alpha"]))
                                .route(web::get().to(|| async { ok(services::team_board()) })),
                        )
                        .service(
                            gate.resource(
                                "/api/treasury/payments",
                                requires_role(["treasury-service"])
                                    .and(requires_scope(["treasury:write:*"])),
                            )
                            .route(web::post().to(|| async { ok(services::payment()) })),
                        )
                        .service(gate.resource("/api/echo", requires_role(["admin"])).route(
                            web::post().to(|v: web::Json<Value>| async move { ok(v.into_inner()) }),
                        ))
                        .service(
                            gate.resource("/api/public/whoami", allow_anonymous())
                                .route(web::get().to(|| async { ok(services::whoami()) })),
                        )
                        .service(
                            web::resource("/api/context/nested")
                                .route(web::get().to(|| async { ok(services::nested().await) })),
                        )
                        .service(
                            web::resource("/api/context/spawned")
                                .route(web::get().to(|| async { ok(services::spawned().await) })),
                        )
                        .service(web::resource("/api/handler/check").route(web::get().to(
                            || async { services::handler_check().map(ok).map_err(AuthRejection) },
                        )))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                let handle = server.handle();
                ::actix_web::rt::spawn(async move {
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

/// warp 0.4: a public and a protected tree, marker filters before the handlers.
struct WarpAdapter;

impl Adapter for WarpAdapter {
    const NAME: &'static str = "warp";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use ::warp::filters::BoxedFilter;
        use ::warp::reply::{json, Response};
        use ::warp::{Filter, Reply};
        use portcullis_warp::Gate;

        fn boxed<F, R>(filter: F) -> BoxedFilter<(Response,)>
        where
            F: Filter<Extract = (R,), Error = ::warp::Rejection> + Clone + Send + Sync + 'static,
            R: Reply,
        {
            filter.map(|r: R| r.into_response()).boxed()
        }
        let gate = Gate::new(authenticator);
        let public = boxed(
            ::warp::path!("api" / "health")
                .and(::warp::get())
                .map(|| json(&services::health())),
        )
        .or(boxed(
            ::warp::path!("api" / "public" / "whoami")
                .and(::warp::get())
                .map(|| json(&services::whoami())),
        ))
        .unify();
        let routes = [
            boxed(
                ::warp::path!("api" / "me")
                    .and(::warp::get())
                    .and_then(|| async {
                        services::profile()
                            .map(|v| json(&v))
                            .map_err(portcullis_warp::reject)
                    }),
            ),
            boxed(
                ::warp::path!("api" / "admin" / "stats")
                    .and(::warp::get())
                    .and(gate.requires_role(["admin"]))
                    .map(|| json(&services::admin_stats())),
            ),
            boxed(
                ::warp::path!("api" / "editor" / "drafts")
                    .and(::warp::get())
                    .and(gate.requires_role(["editor", "admin"]))
                    .map(|| json(&services::editor_drafts())),
            ),
            boxed(
                ::warp::path!("api" / "audit" / "report")
                    .and(::warp::get())
                    .and(gate.requires_all_roles(["auditor", "admin"]))
                    .map(|| json(&services::audit_report())),
            ),
            boxed(
                ::warp::path!("api" / "team" / "board")
                    .and(::warp::get())
                    .and(gate.requires_group(["team-alpha"]))
                    .map(|| json(&services::team_board())),
            ),
            boxed(
                ::warp::path!("api" / "treasury" / "payments")
                    .and(::warp::post())
                    .and(gate.requires_role(["treasury-service"]))
                    .and(gate.requires_scope(["treasury:write:*"]))
                    .map(|| json(&services::payment())),
            ),
            boxed(
                ::warp::path!("api" / "echo")
                    .and(::warp::post())
                    .and(gate.requires_role(["admin"]))
                    .and(::warp::body::json())
                    .map(|v: Value| json(&v)),
            ),
            boxed(
                ::warp::path!("api" / "context" / "nested")
                    .and(::warp::get())
                    .then(|| async { json(&services::nested().await) }),
            ),
            boxed(
                ::warp::path!("api" / "context" / "spawned")
                    .and(::warp::get())
                    .then(|| async { json(&services::spawned().await) }),
            ),
            boxed(
                ::warp::path!("api" / "handler" / "check")
                    .and(::warp::get())
                    .and_then(|| async {
                        services::handler_check()
                            .map(|v| json(&v))
                            .map_err(portcullis_warp::reject)
                    }),
            ),
        ];
        let protected = routes
            .into_iter()
            .reduce(|a, b| a.or(b).unify().boxed())
            .expect("routes");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let task = tokio::spawn(gate.protect(public, protected).serve(listener));
        Server::new(move || task.abort())
    }
}

mod axum {
    portcullis_conformance::conformance_tests!(super::AxumAdapter);
}

mod actix {
    portcullis_conformance::conformance_tests!(super::ActixAdapter);
}

mod warp {
    portcullis_conformance::conformance_tests!(super::WarpAdapter);
}
