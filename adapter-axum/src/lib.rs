//! # portcullis-axum
//!
//! [portcullis](portcullis_core) for axum 0.8 (and any tower / hyper / tonic stack): every route
//! requires a valid bearer token unless declared otherwise next to the route.
//!
//! The layer works on any `tower::Service<http::Request<B>>` whose response body can be built
//! from a `String` (axum's `Body`, `Full<Bytes>`, ...). Outside axum there is no route
//! template, so every request requires authentication.
//!
//! ```
//! use axum::{routing::get, Router};
//! use portcullis_axum::{allow_anonymous, requires_role, Claims, RouterExt, Gate};
//! use portcullis_core::{AuthConfig, Authenticator, SecurityContext, StaticKeys};
//!
//! # fn keys() -> StaticKeys { StaticKeys::from_jwks(r#"{"keys":[]}"#).unwrap() }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = AuthConfig::builder().issuer("https://auth.example.com").audience("my-api").build().unwrap();
//! let gate = Gate::new(Authenticator::builder(config).key_source(keys()).build().unwrap());
//!
//! let app: Router = Router::new()
//!     .route("/api/me", get(|Claims(c): Claims| async move { c.sub().unwrap_or("").to_owned() }))
//!     .route_with(&gate, "/api/health", get(|| async { "ok" }), allow_anonymous())
//!     .route_with(&gate, "/api/admin/stats", get(|| async { "42" }), requires_role(["admin"]))
//!     .layer(gate.layer()); // the one line: every route above, and unknown paths, are protected
//! # let _ = app;
//! # }
//! ```
//!
//! - [`Gate::layer`] is a tower layer. Added with `Router::layer` after the routes (as
//!   every axum layer), it runs after routing and reads axum's `MatchedPath`, so the
//!   requirement is looked up by the exact route axum chose, never by a second router.
//!   Paths that match no route require authentication too: 401 without a token, 404 with.
//! - Requirements are declared next to the route with [`RouterExt::route_with`]; a route
//!   declared with plain `Router::route` requires authentication. Nothing can open a route but
//!   an explicit [`allow_anonymous`].
//! - Requirements are checked before the handler runs, so before any body extractor: a 403
//!   never turns into a 422.
//! - The caller is in the [`SecurityContext`] for the
//!   handler and everything it calls, and gone after the response; [`Claims`] and
//!   `Option<Claims>` extract it.
//! - Status, body and `WWW-Authenticate` come from the core's
//!   [`AuthError`]; this crate only copies them.

use axum::extract::{FromRequestParts, MatchedPath, OptionalFromRequestParts};
use axum::http;
use axum::http::header::{HeaderValue, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use portcullis_core::{
    AgentClaims, AgentContext, AuthError, Authenticator, AuthorizationHeader, DeclaredRoutes,
    ErrorResponse, RequestCredentials, Requirement, RoutePolicy, SecurityContext, TokenClaims,
    AGENT_AUTHORIZATION,
};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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

    /// A handle for a router that will be nested under `prefix`: routes declared through it
    /// are recorded with the full path axum reports (`/api` + `/me`).
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

    /// Records `requirement` for the route `path` (as written in `Router::route`).
    pub fn declare(&self, path: &str, requirement: Requirement) {
        self.routes.declare(path, requirement);
    }

    /// The policy as declared so far.
    pub fn policy(&self) -> RoutePolicy {
        self.routes.snapshot()
    }

    /// The tower layer. Add it with `Router::layer` after the routes. It takes the routes
    /// declared up to this call; routes declared later require authentication.
    pub fn layer(&self) -> GateLayer {
        GateLayer {
            authenticator: self.authenticator.clone(),
            policy: Arc::new(self.policy()),
        }
    }
}

/// `Router::route` plus the route's requirement.
pub trait RouterExt<S> {
    /// Adds the route and records its requirement with `gate`.
    #[must_use]
    fn route_with(
        self,
        gate: &Gate,
        path: &str,
        method_router: MethodRouter<S>,
        requirement: Requirement,
    ) -> Self;
}

impl<S: Clone + Send + Sync + 'static> RouterExt<S> for Router<S> {
    fn route_with(
        self,
        gate: &Gate,
        path: &str,
        method_router: MethodRouter<S>,
        requirement: Requirement,
    ) -> Self {
        gate.declare(path, requirement);
        self.route(path, method_router)
    }
}

/// The tower layer of [`Gate::layer`].
#[derive(Clone)]
pub struct GateLayer {
    authenticator: Authenticator,
    policy: Arc<RoutePolicy>,
}

impl<S> tower_layer::Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            authenticator: self.authenticator.clone(),
            policy: Arc::clone(&self.policy),
        }
    }
}

/// The service of [`GateLayer`].
#[derive(Clone)]
pub struct GateService<S> {
    inner: S,
    authenticator: Authenticator,
    policy: Arc<RoutePolicy>,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for GateService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness handles this request (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = self.authenticator.clone();
        // axum's route template, when axum routed the request; plain tower / hyper / tonic
        // stacks have none, and every request there requires authentication.
        let pattern = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let requirement = Arc::clone(self.policy.requirement(request.method().as_str(), pattern));
        Box::pin(async move {
            let decision = {
                let headers = request.headers();
                let header = |name| {
                    AuthorizationHeader::from_values(
                        headers.get_all(name).iter().map(HeaderValue::as_bytes),
                    )
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
                    let mut response = caller.scope(inner.call(request)).await?;
                    // An AuthError raised by the handler: answer as the core says.
                    if let Some(HandlerError(error)) =
                        response.extensions_mut().remove::<HandlerError>()
                    {
                        response = http_response(&authenticator.error_response(&error));
                    }
                    Ok(response)
                }
                Err(error) => Ok(http_response(&authenticator.error_response(&error))),
            }
        })
    }
}

/// The core's answer as an `http` response with any body type built from a `String`.
pub fn http_response<B: From<String>>(answer: &ErrorResponse) -> http::Response<B> {
    let mut response = http::Response::new(B::from(answer.body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::UNAUTHORIZED);
    for (name, value) in answer.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The core's answer as an axum response.
pub fn error_response(answer: &ErrorResponse) -> Response {
    http_response(answer)
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

/// Carries a handler's [`AuthError`] to the layer, which renders it with the
/// authenticator (so an error-body hook applies there too).
#[derive(Clone)]
struct HandlerError(AuthError);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut response = error_response(&self.0.to_response());
        response.extensions_mut().insert(HandlerError(self.0));
        response
    }
}

/// The authenticated caller; rejects with 401 on an anonymous request. `Option<Claims>`
/// never rejects.
#[derive(Debug, Clone)]
pub struct Claims(pub TokenClaims);

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = AuthRejection;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        SecurityContext::require()
            .map(Claims)
            .map_err(AuthRejection)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = Infallible;

    async fn from_request_parts(
        _parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(SecurityContext::get().map(Claims))
    }
}

/// The verified agent of `X-Agent-Authorization`, on routes that require an agent scope;
/// rejects with 401 elsewhere. `Option<Agent>` never rejects.
#[derive(Debug, Clone)]
pub struct Agent(pub AgentClaims);

impl<S: Send + Sync> FromRequestParts<S> for Agent {
    type Rejection = AuthRejection;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        AgentContext::require().map(Agent).map_err(AuthRejection)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Agent {
    type Rejection = Infallible;

    async fn from_request_parts(
        _parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(AgentContext::get().map(Agent))
    }
}
