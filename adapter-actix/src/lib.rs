//! # portcullis-actix
//!
//! [portcullis](portcullis_core) for actix-web 4: every route requires a valid bearer token
//! unless declared otherwise next to the route.
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use portcullis_actix::{allow_anonymous, requires_role, Claims, Gate};
//! use portcullis_core::{AuthConfig, Authenticator, StaticKeys};
//!
//! # fn keys() -> StaticKeys { StaticKeys::from_jwks(r#"{"keys":[]}"#).unwrap() }
//! let config = AuthConfig::builder().issuer("https://auth.example.com").audience("my-api").build().unwrap();
//! let gate = Gate::new(Authenticator::builder(config).key_source(keys()).build().unwrap());
//!
//! let app = App::new()
//!     .wrap(gate.middleware()) // the one line: every route, and unknown paths, are protected
//!     .service(web::resource("/api/me").route(web::get().to(|c: Claims| async move {
//!         HttpResponse::Ok().body(c.0.sub().unwrap_or("").to_owned())
//!     })))
//!     .service(gate.resource("/api/health", allow_anonymous()).route(web::get().to(HttpResponse::Ok)))
//!     .service(gate.resource("/api/admin/stats", requires_role(["admin"])).route(web::get().to(HttpResponse::Ok)));
//! # let _ = app;
//! ```
//!
//! - [`Gate::middleware`] is an `App::wrap` middleware: it wraps the whole application
//!   (registration order does not matter) and looks the requirement up by the pattern
//!   actix-web's own router matched (`match_pattern()`, guard-aware since actix-web 4.14),
//!   never by a second router. Paths that match no route require authentication: 401
//!   without a token, 404 with.
//! - Requirements are declared next to the resource with [`Gate::resource`] (or
//!   [`Gate::declare`], with the method, for macro-routed handlers); anything else
//!   requires authentication.
//! - Checks run in the middleware, before routing hands the request to extractors: a 403
//!   never turns into a 400/422.
//! - The caller is in the [`SecurityContext`] for the
//!   handler and everything it calls; [`Claims`] and `Option<Claims>` extract it.
//! - Status, body and `WWW-Authenticate` come from the core; this crate only copies them.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use portcullis_core::{
    AgentClaims, AgentContext, AuthError, Authenticator, AuthorizationHeader, DeclaredRoutes,
    ErrorResponse, RequestCredentials, Requirement, RoutePolicy, SecurityContext, TokenClaims,
    AGENT_AUTHORIZATION,
};
use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

pub use portcullis_core::markers::{
    allow_anonymous, requires_all_roles, requires_group, requires_role, requires_scope,
};

/// The authenticator and the per-route requirements of one application.
#[derive(Clone)]
pub struct Gate {
    authenticator: Authenticator,
    routes: DeclaredRoutes,
}

impl Gate {
    /// A gate for `authenticator`, with no route declared yet.
    pub fn new(authenticator: Authenticator) -> Self {
        Self {
            authenticator,
            routes: DeclaredRoutes::new(),
        }
    }

    /// A handle for resources inside `web::scope(prefix)`: they are recorded with the full
    /// pattern actix-web reports.
    pub fn nested(&self, prefix: &str) -> Self {
        Self {
            authenticator: self.authenticator.clone(),
            routes: self.routes.nested(prefix),
        }
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Records `requirement` for `method` on the route pattern `path`: for handlers routed by
    /// macros, e.g. `gate.declare("GET", "/api/health", allow_anonymous())` next to
    /// `#[get("/api/health")]`.
    ///
    /// The method is part of the declaration because the middleware runs before routing,
    /// where actix-web matches patterns without guards: `#[get("/widgets/{id}")]` declared
    /// anonymous must not open `#[post("/widgets/action")]`, which only its method guard
    /// tells apart (actix-web #3346).
    pub fn declare(&self, method: &str, path: &str, requirement: Requirement) {
        self.routes.declare_method(method, path, requirement);
    }

    /// `web::resource(path)` with `requirement` recorded for every method. Give it
    /// route-level method guards (`.route(web::get().to(..))`, which answer 405 instead of
    /// falling through to another resource); for resource-level guards, use
    /// [`declare`](Self::declare) with the method.
    pub fn resource(&self, path: &str, requirement: Requirement) -> actix_web::Resource {
        self.routes.declare(path, requirement);
        web::resource(path)
    }

    /// The policy as declared so far.
    pub fn policy(&self) -> RoutePolicy {
        self.routes.snapshot()
    }

    /// The middleware, for `App::wrap`. The declared requirements are read when actix-web
    /// builds the application (after every `.service(..)` of the `App` expression), so the
    /// position of `.wrap(..)` in the expression does not matter.
    pub fn middleware(&self) -> GateMiddleware {
        GateMiddleware {
            authenticator: self.authenticator.clone(),
            routes: self.routes.clone(),
        }
    }
}

/// The `Transform` of [`Gate::middleware`].
#[derive(Clone)]
pub struct GateMiddleware {
    authenticator: Authenticator,
    routes: DeclaredRoutes,
}

impl<S, B> Transform<S, ServiceRequest> for GateMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = GateService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GateService {
            service: Rc::new(service),
            authenticator: self.authenticator.clone(),
            policy: Arc::new(self.routes.snapshot()),
        }))
    }
}

/// The service of [`GateMiddleware`].
pub struct GateService<S> {
    service: Rc<S>,
    authenticator: Authenticator,
    policy: Arc<RoutePolicy>,
}

impl<S, B> Service<ServiceRequest> for GateService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let authenticator = self.authenticator.clone();
        let pattern = request.match_pattern();
        let requirement = Arc::clone(
            self.policy
                .requirement(request.method().as_str(), pattern.as_deref()),
        );
        Box::pin(async move {
            let decision = {
                let headers = request.headers();
                let header = |name| {
                    AuthorizationHeader::from_values(headers.get_all(name).map(|v| v.as_bytes()))
                };
                let credentials = RequestCredentials::new(
                    header(AUTHORIZATION.as_str()),
                    header(AGENT_AUTHORIZATION),
                );
                authenticator
                    .authorize_request(credentials, &requirement)
                    .await
            };
            match decision {
                Ok(caller) => {
                    let response = caller.scope(service.call(request)).await?;
                    // An AuthError raised by the handler: answer as the core says.
                    let raised = response
                        .response()
                        .extensions()
                        .get::<HandlerError>()
                        .map(|h| h.0.clone());
                    if let Some(error) = raised {
                        let rendered = http_response(&authenticator.error_response(&error));
                        let (req, _) = response.into_parts();
                        return Ok(ServiceResponse::new(req, rendered).map_into_right_body());
                    }
                    Ok(response.map_into_left_body())
                }
                Err(error) => {
                    let response = http_response(&authenticator.error_response(&error));
                    Ok(request.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

/// The core's answer as an actix-web response.
pub fn http_response(answer: &ErrorResponse) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        response.insert_header((name, value));
    }
    response.body(answer.body.clone())
}

/// An [`AuthError`] raised in a handler (`SecurityContext::require_role(..)?`) becomes the
/// core's answer (403 for a missing role, never 401 or 500).
#[derive(Debug)]
pub struct AuthRejection(pub AuthError);

impl From<AuthError> for AuthRejection {
    fn from(e: AuthError) -> Self {
        Self(e)
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.detail())
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = http_response(&self.0.to_response());
        response
            .extensions_mut()
            .insert(HandlerError(self.0.clone()));
        response
    }
}

/// Carries a handler's [`AuthError`] to the middleware, which renders it with the
/// authenticator (so an error-body hook applies there too).
#[derive(Clone)]
struct HandlerError(AuthError);

/// The authenticated caller; rejects with 401 on an anonymous request. `Option<Claims>`
/// never rejects.
#[derive(Debug, Clone)]
pub struct Claims(pub TokenClaims);

impl FromRequest for Claims {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            SecurityContext::require()
                .map(Claims)
                .map_err(AuthRejection),
        )
    }
}

/// The verified agent of `X-Agent-Authorization`, on routes that require an agent scope;
/// rejects with 401 elsewhere. `Option<Agent>` never rejects.
#[derive(Debug, Clone)]
pub struct Agent(pub AgentClaims);

impl FromRequest for Agent {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(AgentContext::require().map(Agent).map_err(AuthRejection))
    }
}
