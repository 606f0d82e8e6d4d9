//! The conformance suite against the three adapters: each implements [`Adapter`] by serving
//! the reference application in its own idiom; the macro generates one test per scenario.
//! This binary holds only those tests, so its summary line counts scenarios × adapters.

use portcullis_conformance::services::{self, Route};
use portcullis_conformance::{Adapter, Server};
use portcullis_core::Authenticator;
use serde_json::Value;

/// axum 0.8: requirements bound with `route_with` above the gate's layer, public routes
/// below it.
struct AxumAdapter;

async fn axum_answer(route: Route) -> ::axum::response::Response {
    use ::axum::response::IntoResponse;
    match services::respond(route).await {
        Ok((status, body)) => (
            ::axum::http::StatusCode::from_u16(status).expect("status"),
            ::axum::Json(body),
        )
            .into_response(),
        Err(e) => portcullis_axum::AuthRejection(e).into_response(),
    }
}

impl Adapter for AxumAdapter {
    const NAME: &'static str = "axum";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use ::axum::routing::{delete, get, post};
        use ::axum::{Json, Router};
        use portcullis_axum::{
            allow_anonymous, requires_agent_scope, requires_all_roles,
            requires_authorization_header, requires_dpop, requires_group, requires_role,
            requires_token_scope, Gate, RouterExt,
        };

        let r = |route: Route| move || axum_answer(route);
        let gate = Gate::new(authenticator);
        let v1 = Router::new()
            .route_with(
                &gate,
                "/admin/report",
                get(r(Route::NestedAdmin)),
                requires_role(["admin"]),
            )
            .route("/me", get(r(Route::NestedMe)));
        let app = Router::new()
            .route("/api/health", post(r(Route::HealthPost)))
            .route("/api/me", get(r(Route::Me)))
            .route_with(
                &gate,
                "/api/admin/stats",
                get(r(Route::AdminStats)),
                requires_role(["admin"]),
            )
            .route_with(
                &gate,
                "/api/editor/drafts",
                get(r(Route::EditorDrafts)),
                requires_role(["editor", "admin"]),
            )
            .route_with(
                &gate,
                "/api/audit/report",
                get(r(Route::AuditReport)),
                requires_all_roles(["auditor", "admin"]),
            )
            .route_with(
                &gate,
                "/api/team/board",
                get(r(Route::TeamBoard)),
                requires_group(["team-alpha"]),
            )
            .route_with(
                &gate,
                "/api/treasury/payments",
                post(r(Route::Payments)),
                requires_role(["treasury-service"]).and(requires_agent_scope(["treasury:write:*"])),
            )
            .route_with(
                &gate,
                "/api/echo",
                post(|Json(v): Json<Value>| async move {
                    let (status, body) = services::echo(v);
                    (
                        ::axum::http::StatusCode::from_u16(status).expect("status"),
                        Json(body),
                    )
                }),
                requires_role(["admin"]),
            )
            .route("/api/context/nested", get(r(Route::ContextNested)))
            .route("/api/context/spawned", get(r(Route::ContextSpawned)))
            .route("/api/handler/check", get(r(Route::HandlerCheck)))
            .route_with(
                &gate,
                "/api/items/{id}",
                delete(r(Route::ItemDelete)),
                requires_role(["admin"]),
            )
            .nest("/api/v1", v1)
            .route_with(
                &gate,
                "/api/docs",
                get(r(Route::TokenScope)),
                requires_token_scope(["docs:read"]),
            )
            .route_with(
                &gate,
                "/api/account/close",
                post(r(Route::AccountClose)),
                requires_authorization_header(),
            )
            .route_with(
                &gate,
                "/api/dpop/transfer",
                post(r(Route::DpopTransfer)),
                requires_dpop(),
            )
            .route_with(
                &gate,
                "/api/macro/admin",
                get(r(Route::MacroAdmin)),
                requires_role(["admin"]),
            )
            .route(
                "/api/typed",
                get(
                    |portcullis_axum::TypedClaims(p): portcullis_axum::TypedClaims<
                        services::Profile,
                    >| async move {
                        let (status, body) = services::typed(&p);
                        (
                            ::axum::http::StatusCode::from_u16(status).expect("status"),
                            Json(body),
                        )
                    },
                ),
            )
            .layer(gate.layer())
            // Public routes: below the gate's layer.
            .route_with(
                &gate,
                "/api/health",
                get(r(Route::Health)),
                allow_anonymous(),
            )
            .route_with(
                &gate,
                "/api/public/whoami",
                get(r(Route::Whoami)),
                allow_anonymous(),
            )
            .route_with(
                &gate,
                "/api/items/{id}",
                get(r(Route::ItemGet)),
                allow_anonymous(),
            );
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let task = tokio::spawn(async move { ::axum::serve(listener, app).await });
        Server::new(move || task.abort())
    }
}

/// actix-web 4: public resources first, then `gate.protected()` with requirements as
/// resource, scope and macro middleware; its own actix system.
struct ActixAdapter;

async fn actix_answer(
    route: Route,
) -> Result<::actix_web::HttpResponse, portcullis_actix::AuthRejection> {
    let (status, body) = services::respond(route)
        .await
        .map_err(portcullis_actix::AuthRejection)?;
    Ok(actix_json(status, body))
}

fn actix_json(status: u16, body: Value) -> ::actix_web::HttpResponse {
    ::actix_web::HttpResponse::build(
        ::actix_web::http::StatusCode::from_u16(status).expect("status"),
    )
    .json(body)
}

/// A macro-routed handler, its requirement in the macro's `wrap`.
#[::actix_web::get(
    "/api/macro/admin",
    wrap = "portcullis_actix::Require::new(portcullis_actix::requires_role([\"admin\"]))"
)]
async fn actix_macro_admin() -> Result<::actix_web::HttpResponse, portcullis_actix::AuthRejection> {
    actix_answer(Route::MacroAdmin).await
}

impl Adapter for ActixAdapter {
    const NAME: &'static str = "actix";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use ::actix_web::{guard, web, App, HttpServer};
        use portcullis_actix::{
            allow_anonymous, requires_agent_scope, requires_all_roles,
            requires_authorization_header, requires_dpop, requires_group, requires_role,
            requires_token_scope, Gate,
        };

        fn r(route: Route) -> ::actix_web::Route {
            web::route().to(move || actix_answer(route))
        }
        let gate = Gate::new(authenticator);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            ::actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        // Public resources: before the protected scope, method as a guard.
                        .service(
                            gate.resource("/api/health", allow_anonymous())
                                .guard(guard::Get())
                                .route(r(Route::Health)),
                        )
                        .service(
                            gate.resource("/api/public/whoami", allow_anonymous())
                                .guard(guard::Get())
                                .route(r(Route::Whoami)),
                        )
                        .service(
                            gate.resource("/api/items/{id}", allow_anonymous())
                                .guard(guard::Get())
                                .route(r(Route::ItemGet)),
                        )
                        .service(
                            gate.protected()
                                .service(web::resource("/api/health").route(
                                    r(Route::HealthPost).method(::actix_web::http::Method::POST),
                                ))
                                .service(
                                    web::resource("/api/me")
                                        .route(r(Route::Me).method(::actix_web::http::Method::GET)),
                                )
                                .service(
                                    gate.resource("/api/admin/stats", requires_role(["admin"]))
                                        .route(
                                            r(Route::AdminStats)
                                                .method(::actix_web::http::Method::GET),
                                        ),
                                )
                                .service(
                                    gate.resource(
                                        "/api/editor/drafts",
                                        requires_role(["editor", "admin"]),
                                    )
                                    .route(
                                        r(Route::EditorDrafts)
                                            .method(::actix_web::http::Method::GET),
                                    ),
                                )
                                .service(
                                    gate.resource(
                                        "/api/audit/report",
                                        requires_all_roles(["auditor", "admin"]),
                                    )
                                    .route(
                                        r(Route::AuditReport)
                                            .method(::actix_web::http::Method::GET),
                                    ),
                                )
                                .service(
                                    gate.resource(
                                        "/api/team/board",
                                        requires_group(["team-alpha"]),
                                    )
                                    .route(
                                        r(Route::TeamBoard).method(::actix_web::http::Method::GET),
                                    ),
                                )
                                .service(
                                    gate.resource(
                                        "/api/treasury/payments",
                                        requires_role(["treasury-service"])
                                            .and(requires_agent_scope(["treasury:write:*"])),
                                    )
                                    .route(
                                        r(Route::Payments).method(::actix_web::http::Method::POST),
                                    ),
                                )
                                .service(
                                    gate.resource("/api/echo", requires_role(["admin"])).route(
                                        web::post().to(|v: web::Json<Value>| async move {
                                            let (status, body) = services::echo(v.into_inner());
                                            actix_json(status, body)
                                        }),
                                    ),
                                )
                                .service(web::resource("/api/context/nested").route(
                                    r(Route::ContextNested).method(::actix_web::http::Method::GET),
                                ))
                                .service(web::resource("/api/context/spawned").route(
                                    r(Route::ContextSpawned).method(::actix_web::http::Method::GET),
                                ))
                                .service(web::resource("/api/handler/check").route(
                                    r(Route::HandlerCheck).method(::actix_web::http::Method::GET),
                                ))
                                .service(
                                    gate.resource("/api/items/{id}", requires_role(["admin"]))
                                        .route(
                                            r(Route::ItemDelete)
                                                .method(::actix_web::http::Method::DELETE),
                                        ),
                                )
                                .service(
                                    web::scope("/api/v1")
                                        .service(
                                            gate.resource(
                                                "/admin/report",
                                                requires_role(["admin"]),
                                            )
                                            .route(
                                                r(Route::NestedAdmin)
                                                    .method(::actix_web::http::Method::GET),
                                            ),
                                        )
                                        .service(
                                            web::resource("/me").route(
                                                r(Route::NestedMe)
                                                    .method(::actix_web::http::Method::GET),
                                            ),
                                        ),
                                )
                                .service(
                                    gate.resource("/api/docs", requires_token_scope(["docs:read"]))
                                        .route(
                                            r(Route::TokenScope)
                                                .method(::actix_web::http::Method::GET),
                                        ),
                                )
                                .service(
                                    gate.resource(
                                        "/api/account/close",
                                        requires_authorization_header(),
                                    )
                                    .route(
                                        r(Route::AccountClose)
                                            .method(::actix_web::http::Method::POST),
                                    ),
                                )
                                .service(
                                    gate.resource("/api/dpop/transfer", requires_dpop()).route(
                                        r(Route::DpopTransfer)
                                            .method(::actix_web::http::Method::POST),
                                    ),
                                )
                                .service(actix_macro_admin)
                                .service(
                                    web::resource("/api/typed").route(
                                        web::get().to(
                                            |p: portcullis_actix::TypedClaims<
                                                services::Profile,
                                            >| async move {
                                                let (status, body) = services::typed(&p.0);
                                                actix_json(status, body)
                                            },
                                        ),
                                    ),
                                ),
                        )
                        .default_service(gate.default_service(::actix_web::HttpResponse::NotFound))
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

async fn warp_answer(route: Route) -> Result<::warp::reply::Response, ::warp::Rejection> {
    let (status, body) = services::respond(route)
        .await
        .map_err(portcullis_warp::reject)?;
    Ok(warp_json(status, &body))
}

fn warp_json(status: u16, body: &Value) -> ::warp::reply::Response {
    use ::warp::Reply;
    ::warp::reply::with_status(
        ::warp::reply::json(body),
        ::warp::http::StatusCode::from_u16(status).expect("status"),
    )
    .into_response()
}

impl Adapter for WarpAdapter {
    const NAME: &'static str = "warp";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use ::warp::filters::BoxedFilter;
        use ::warp::reply::Response;
        use ::warp::{Filter, Rejection};
        use portcullis_warp::Gate;

        type Route_ = BoxedFilter<(Response,)>;
        fn answer(route: Route) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
            ::warp::any().and_then(move || warp_answer(route))
        }
        fn join(routes: Vec<Route_>) -> Route_ {
            routes
                .into_iter()
                .reduce(|a, b| a.or(b).unify().boxed())
                .expect("routes")
        }
        let gate = Gate::new(authenticator);
        let public = join(vec![
            ::warp::path!("api" / "health")
                .and(::warp::get())
                .and(answer(Route::Health))
                .boxed(),
            ::warp::path!("api" / "public" / "whoami")
                .and(::warp::get())
                .and(answer(Route::Whoami))
                .boxed(),
            ::warp::path!("api" / "items" / String)
                .and(::warp::get())
                .map(|_id: String| ())
                .untuple_one()
                .and(answer(Route::ItemGet))
                .boxed(),
        ]);
        let v1 = ::warp::path!("api" / "v1" / ..);
        let protected = join(vec![
            ::warp::path!("api" / "health")
                .and(::warp::post())
                .and(answer(Route::HealthPost))
                .boxed(),
            ::warp::path!("api" / "me")
                .and(::warp::get())
                .and(answer(Route::Me))
                .boxed(),
            ::warp::path!("api" / "admin" / "stats")
                .and(::warp::get())
                .and(gate.requires_role(["admin"]))
                .and(answer(Route::AdminStats))
                .boxed(),
            ::warp::path!("api" / "editor" / "drafts")
                .and(::warp::get())
                .and(gate.requires_role(["editor", "admin"]))
                .and(answer(Route::EditorDrafts))
                .boxed(),
            ::warp::path!("api" / "audit" / "report")
                .and(::warp::get())
                .and(gate.requires_all_roles(["auditor", "admin"]))
                .and(answer(Route::AuditReport))
                .boxed(),
            ::warp::path!("api" / "team" / "board")
                .and(::warp::get())
                .and(gate.requires_group(["team-alpha"]))
                .and(answer(Route::TeamBoard))
                .boxed(),
            ::warp::path!("api" / "treasury" / "payments")
                .and(::warp::post())
                .and(gate.requires_role(["treasury-service"]))
                .and(gate.requires_agent_scope(["treasury:write:*"]))
                .and(answer(Route::Payments))
                .boxed(),
            ::warp::path!("api" / "echo")
                .and(::warp::post())
                .and(gate.requires_role(["admin"]))
                .and(::warp::body::json())
                .map(|v: Value| {
                    let (status, body) = services::echo(v);
                    warp_json(status, &body)
                })
                .boxed(),
            ::warp::path!("api" / "context" / "nested")
                .and(::warp::get())
                .and(answer(Route::ContextNested))
                .boxed(),
            ::warp::path!("api" / "context" / "spawned")
                .and(::warp::get())
                .and(answer(Route::ContextSpawned))
                .boxed(),
            ::warp::path!("api" / "handler" / "check")
                .and(::warp::get())
                .and(answer(Route::HandlerCheck))
                .boxed(),
            ::warp::path!("api" / "items" / String)
                .and(::warp::delete())
                .map(|_id: String| ())
                .untuple_one()
                .and(gate.requires_role(["admin"]))
                .and(answer(Route::ItemDelete))
                .boxed(),
            v1.and(::warp::path!("admin" / "report"))
                .and(::warp::get())
                .and(gate.requires_role(["admin"]))
                .and(answer(Route::NestedAdmin))
                .boxed(),
            v1.and(::warp::path!("me"))
                .and(::warp::get())
                .and(answer(Route::NestedMe))
                .boxed(),
            ::warp::path!("api" / "docs")
                .and(::warp::get())
                .and(gate.requires_token_scope(["docs:read"]))
                .and(answer(Route::TokenScope))
                .boxed(),
            ::warp::path!("api" / "account" / "close")
                .and(::warp::post())
                .and(gate.requires_authorization_header())
                .and(answer(Route::AccountClose))
                .boxed(),
            ::warp::path!("api" / "dpop" / "transfer")
                .and(::warp::post())
                .and(gate.requires_dpop())
                .and(answer(Route::DpopTransfer))
                .boxed(),
            ::warp::path!("api" / "typed")
                .and(::warp::get())
                .and(gate.typed_claims::<services::Profile>())
                .map(|p: services::Profile| {
                    let (status, body) = services::typed(&p);
                    warp_json(status, &body)
                })
                .boxed(),
            ::warp::path!("api" / "macro" / "admin")
                .and(::warp::get())
                .and(gate.requires_role(["admin"]))
                .and(answer(Route::MacroAdmin))
                .boxed(),
        ]);
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
