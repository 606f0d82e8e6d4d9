//! # portcullis-axum
//!
//! [portcullis](portcullis_core) for axum 0.8 (and any tower / hyper / tonic stack): every
//! route requires a valid bearer token; a requirement is bound to the handler it is declared
//! with; opening a route is a visible act.
//!
//! The layer works on any `tower::Service<http::Request<B>>` whose response body can be built
//! from a `String` (axum's `Body`, `Full<Bytes>`, ...).
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
//!     .route_with(&gate, "/api/admin/stats", get(|| async { "42" }), requires_role(["admin"]))
//!     .layer(gate.layer()) // the gate: every route above it, and unknown paths, need a valid token
//!     .route_with(&gate, "/api/health", get(|| async { "ok" }), allow_anonymous()); // public: below the gate
//! # let _ = app;
//! # }
//! ```
//!
//! ## Why no spelling of a request separates a requirement from its handler
//!
//! Nothing here looks a route up by a path or a method: axum's own router picks the handler,
//! and the checks are wrapped around that handler.
//!
//! - [`Gate::layer`], added with `Router::layer`, is wrapped by axum around *each* route's
//!   handler (every method endpoint, and the fallback for unknown paths). Whatever route
//!   axum dispatches to, the gate around it runs first: no valid token, no handler.
//! - [`RouterExt::route_with`] wraps the given `MethodRouter` in the requirement's check
//!   ([`Gate::require`], with `MethodRouter::layer`): the check travels with the handlers of
//!   that method router, so a method merged onto the same path later by a plain
//!   `.route(..)` keeps its own rule (authenticated), HEAD answered by a GET handler is
//!   checked as that GET handler, and a nested router carries its checks along.
//! - A route declared with a requirement that runs without the gate in front of it (the
//!   layer forgotten, or the route added after it) answers 500 and logs the fix: it never
//!   runs unchecked.
//! - Public routes ([`allow_anonymous`]) are the routes added *after* `.layer(gate.layer())`
//!   (axum wraps only what is above a layer): the one visible act that opens a route. Their
//!   marker identifies a caller who sends a valid token (optional authentication). A public
//!   route placed above the layer stays authenticated, and says so in a warning.
//!
//! Requirements are checked before the handler runs, so before any body extractor: a 403
//! never turns into a 422. The caller is in the [`SecurityContext`] for the handler and
//! everything it calls; [`Claims`] and `Option<Claims>` extract it. Status, body and
//! `WWW-Authenticate` come from the core's [`AuthError`]; this crate only copies them.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http;
use axum::http::header::{HeaderValue, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use portcullis_core::{
    AgentClaims, AgentContext, AuthError, Authenticator, AuthorizationHeader, ErrorResponse,
    RequestCredentials, Requirement, SecurityContext, TokenClaims, AGENT_AUTHORIZATION,
};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

pub use portcullis_core::markers::{
    allow_anonymous, requires_agent_scope, requires_all_roles, requires_authorization_header,
    requires_dpop, requires_group, requires_role, requires_token_scope,
};

/// The authenticator of one application, and the layers built from it.
#[derive(Clone)]
pub struct Gate {
    authenticator: Authenticator,
}

impl Gate {
    /// A gate for `authenticator`.
    pub fn new(authenticator: Authenticator) -> Self {
        Self { authenticator }
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The gate: a tower layer that refuses every request without a valid token and runs the
    /// rest with the caller in the [`SecurityContext`]. Add it with `Router::layer` after the
    /// routes it protects.
    pub fn layer(&self) -> GateLayer {
        GateLayer {
            authenticator: self.authenticator.clone(),
        }
    }

    /// The check of `requirement`, as a layer for `MethodRouter::layer` (what
    /// [`RouterExt::route_with`] does). [`allow_anonymous`] makes it the optional
    /// authentication of a public route instead.
    pub fn require(&self, requirement: Requirement) -> RequireLayer {
        RequireLayer {
            authenticator: self.authenticator.clone(),
            requirement: Arc::new(requirement),
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// `Router::route` with the route's requirement bound to its handlers.
pub trait RouterExt<S> {
    /// Adds the route with `method_router`'s handlers wrapped in the check of `requirement`
    /// ([`Gate::require`]). Routes with a requirement go above `.layer(gate.layer())`;
    /// public routes ([`allow_anonymous`]) below it.
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
        // `layer`, not `route_layer`: it wraps the method router's fallback too, which is
        // where `any(handler)` puts its handler.
        self.route(path, method_router.layer(gate.require(requirement)))
    }
}

/// The parts of an axum request where a configured token source can be, and what a DPoP
/// proof names.
struct SourceParts<'a>(
    &'a http::HeaderMap,
    &'a http::Uri,
    &'a http::Method,
    &'a str,
);

impl<'a> portcullis_core::RequestParts<'a> for SourceParts<'a> {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.0.get_all(name).into_iter().map(HeaderValue::as_bytes)
    }
    fn query(&self) -> Option<&'a str> {
        self.1.query()
    }
    fn method(&self) -> &'a str {
        self.2.as_str()
    }
    fn path(&self) -> Option<&'a str> {
        Some(self.3)
    }
    fn authority(&self) -> Option<&'a str> {
        self.1.authority().map(http::uri::Authority::as_str)
    }
}

fn credentials<'r, B>(
    authenticator: &Authenticator,
    request: &'r http::Request<B>,
) -> RequestCredentials<'r> {
    // The path as the client sent it: inside a nested router, `uri()` has lost its prefix.
    let path = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or(request.uri().path(), |original| original.0.path());
    let parts = SourceParts(request.headers(), request.uri(), request.method(), path);
    credentials_of_headers(request).with_sources(authenticator.config().token_sources(), parts)
}

fn credentials_of_headers<B>(request: &http::Request<B>) -> RequestCredentials<'_> {
    let headers = request.headers();
    // Looked up by `HeaderName` (no parsing of the name per request).
    static AGENT: http::HeaderName = http::HeaderName::from_static(AGENT_AUTHORIZATION);
    let header = |name: &http::HeaderName| {
        AuthorizationHeader::from_values(headers.get_all(name).iter().map(HeaderValue::as_bytes))
    };
    RequestCredentials::new(header(&AUTHORIZATION), header(&AGENT))
}

/// An [`AuthError`] raised by the handler (carried by [`AuthRejection`]) is answered as the
/// core says, through the authenticator's error-body hook.
fn render_handler_error<B: From<String>>(
    authenticator: &Authenticator,
    mut response: http::Response<B>,
) -> http::Response<B> {
    match response.extensions_mut().remove::<HandlerError>() {
        Some(HandlerError(error)) => http_response(&authenticator.error_response(&error)),
        None => response,
    }
}

/// Takes the clone of `inner` that was driven to readiness (tower's rule).
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// The tower layer of [`Gate::layer`].
#[derive(Clone)]
pub struct GateLayer {
    authenticator: Authenticator,
}

impl<S> tower_layer::Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            authenticator: self.authenticator.clone(),
        }
    }
}

/// The service of [`GateLayer`].
#[derive(Clone)]
pub struct GateService<S> {
    inner: S,
    authenticator: Authenticator,
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
        let inner = take_ready(&mut self.inner);
        let authenticator = self.authenticator.clone();
        Box::pin(async move {
            let decision = authenticator
                .authenticate_request(credentials(&authenticator, &request))
                .await;
            match decision {
                Ok(caller) => {
                    // `call` inside the scope too: services that start work in `call` see the
                    // caller.
                    let response = caller
                        .scope(tower::util::Oneshot::new(inner, request))
                        .await?;
                    Ok(render_handler_error(&authenticator, response))
                }
                Err(error) => Ok(http_response(&authenticator.error_response(&error))),
            }
        })
    }
}

/// The layer of [`Gate::require`]: the requirement of the handlers it wraps.
#[derive(Clone)]
pub struct RequireLayer {
    authenticator: Authenticator,
    requirement: Arc<Requirement>,
    warned: Arc<AtomicBool>,
}

impl<S> tower_layer::Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireLayer`].
#[derive(Clone)]
pub struct RequireService<S> {
    inner: S,
    layer: RequireLayer,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for RequireService<S>
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
        let mut inner = take_ready(&mut self.inner);
        let layer = self.layer.clone();
        // Everything happens when the future runs, inside the gate's scope.
        Box::pin(async move {
            let authenticator = &layer.authenticator;
            if layer.requirement.allows_anonymous() {
                if SecurityContext::is_installed() {
                    // Behind the gate: the route stays authenticated (fail closed). Say so once.
                    if !layer.warned.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            path = request.uri().path(),
                            "a route marked allow_anonymous() is above .layer(gate.layer()) \
                             and therefore requires a token; add public routes after the \
                             gate's layer"
                        );
                    }
                    return inner.call(request).await;
                }
                let caller = authenticator
                    .authenticate_optional(credentials(authenticator, &request))
                    .await;
                let response = caller
                    .scope(tower::util::Oneshot::new(inner, request))
                    .await?;
                return Ok(render_handler_error(authenticator, response));
            }
            match SecurityContext::enforce(&layer.requirement) {
                Ok(()) => inner.call(request).await,
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

/// The caller's claims as your own type (`T: Deserialize`): 401 `Token claims not accepted`
/// when they do not fit it, 401 on an anonymous request.
///
/// ```
/// # use portcullis_axum::TypedClaims;
/// #[derive(serde::Deserialize)]
/// struct Profile { sub: String, org_id: String }
///
/// async fn handler(TypedClaims(p): TypedClaims<Profile>) -> String {
///     format!("{} of {}", p.sub, p.org_id)
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Debug, Clone)]
pub struct TypedClaims<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for TypedClaims<T> {
    type Rejection = AuthRejection;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        SecurityContext::require()
            .and_then(|claims| claims.deserialize())
            .map(TypedClaims)
            .map_err(AuthRejection)
    }
}

/// The verified agent of `X-Agent-Authorization`; rejects with 401 when none was sent or it
/// did not verify. `Option<Agent>` never rejects.
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

mod grpc;
pub use grpc::{grpc_refusal, GrpcGate, GrpcGateLayer, GrpcGateService};
