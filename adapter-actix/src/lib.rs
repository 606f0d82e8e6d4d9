//! # portcullis-actix
//!
//! [portcullis](portcullis_core) for actix-web 4: every route requires a valid bearer token;
//! a requirement is bound to the resource, route or scope it is declared on; opening a route
//! is a visible act.
//!
//! ```
//! use actix_web::{guard, web, App, HttpResponse};
//! use portcullis_actix::{allow_anonymous, requires_role, Claims, Gate};
//! use portcullis_core::{AuthConfig, Authenticator, StaticKeys};
//!
//! # fn keys() -> StaticKeys { StaticKeys::from_jwks(r#"{"keys":[]}"#).unwrap() }
//! let config = AuthConfig::builder().issuer("https://auth.example.com").audience("my-api").build().unwrap();
//! let gate = Gate::new(Authenticator::builder(config).key_source(keys()).build().unwrap());
//!
//! let app = App::new()
//!     // public: registered before the protected scope, with the method as a resource guard
//!     .service(gate.resource("/api/health", allow_anonymous()).guard(guard::Get()).to(HttpResponse::Ok))
//!     // the gate: everything inside, and every unknown path, needs a valid token
//!     .service(
//!         gate.protected()
//!             .service(web::resource("/api/me").route(web::get().to(|c: Claims| async move {
//!                 HttpResponse::Ok().body(c.0.sub().unwrap_or("").to_owned())
//!             })))
//!             .service(gate.resource("/api/admin/stats", requires_role(["admin"])).route(web::get().to(HttpResponse::Ok))),
//!     );
//! # let _ = app;
//! ```
//!
//! ## Why no spelling of a request separates a requirement from its handler
//!
//! Nothing here looks a route up by a path or a method: actix-web's own router picks the
//! handler (on the percent-decoded path, with its guards), and the checks are middleware of
//! what it picked.
//!
//! - [`Gate::protected`] is `web::scope("")` wrapped in the gate: a scope that matches every
//!   path, so whatever the router hands to it (a resource inside, or the default service
//!   for an unknown path) runs behind the gate. No valid token, no handler.
//! - A requirement is resource, route or scope middleware ([`Gate::resource`],
//!   [`Gate::require`] with `Resource::wrap` / `Route::wrap` / `Scope::wrap`, or
//!   [`Require::new`] in a macro's `wrap = "..."`). actix-web runs such middleware only for
//!   requests its router has already sent to that resource, route or scope: the check
//!   cannot be missed by a spelling of the path, and it cannot be applied to another
//!   handler than its own.
//! - A requirement that runs without the gate in front of it (outside `gate.protected()`)
//!   answers 500 and logs the fix: it never runs unchecked.
//! - Requests that no service matches, including targets that do not start with `/`
//!   (`OPTIONS *`), go to the `App`'s default service, outside every scope: give it
//!   [`Gate::default_service`] (or none: actix-web's own answers 404 and runs no handler).
//! - Public routes are the resources registered on the `App` *before* `gate.protected()`
//!   (actix-web tries services in registration order, so the catch-all scope must come
//!   last). [`allow_anonymous`] on them identifies a caller who sends a valid token. Give a
//!   public resource its method as a resource guard (`.guard(guard::Get())`, as the
//!   `#[get(..)]` macros do): the other methods of the path then fall through to the
//!   protected scope instead of answering 405 from the public resource. A public resource
//!   inside the protected scope stays authenticated, and says so in a warning.
//!
//! Checks run before any extractor: a 403 never turns into a 400/422. The caller is in the
//! [`SecurityContext`] for the handler and everything it calls; [`Claims`] and
//! `Option<Claims>` extract it. Status, body and `WWW-Authenticate` come from the core.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{
    forward_ready, Payload, Service, ServiceFactory, ServiceRequest, ServiceResponse, Transform,
};
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use portcullis_core::{
    AgentClaims, AgentContext, AuthError, Authenticator, AuthorizationHeader, Caller,
    ErrorResponse, RequestCredentials, Requirement, SecurityContext, TokenClaims,
    AGENT_AUTHORIZATION,
};
use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use portcullis_core::markers::{
    allow_anonymous, requires_agent_scope, requires_all_roles, requires_authorization_header,
    requires_dpop, requires_group, requires_role, requires_token_scope,
};

/// The authenticator of one application, and the middleware built from it.
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

    /// The gate as middleware: refuses every request without a valid token and runs the
    /// rest with the caller in the [`SecurityContext`]. [`protected`](Self::protected) wraps
    /// it around a catch-all scope; `App::wrap(gate.middleware())` protects a whole
    /// application that has no public route.
    pub fn middleware(&self) -> GateMiddleware {
        GateMiddleware {
            authenticator: self.authenticator.clone(),
        }
    }

    /// `web::scope("")` behind the gate: register every protected service in it, and the
    /// scope itself after the public ones. Unknown paths land here too (401 without a
    /// token, 404 with).
    pub fn protected(
        &self,
    ) -> actix_web::Scope<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<EitherBody<BoxBody, BoxBody>>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        web::scope("").wrap(self.middleware())
    }

    /// A default service for `App::default_service`, behind the gate: `handler` answers
    /// only callers with a valid token (others get 401). actix-web sends to the `App`'s
    /// default service the requests no service matches, among them targets that do not
    /// start with `/` (`OPTIONS *`), which even the catch-all protected scope cannot match:
    /// an `App::default_service` not built with this is outside the gate.
    pub fn default_service<F, Args>(&self, handler: F) -> actix_web::Route
    where
        F: actix_web::Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        web::to(handler).wrap(self.middleware())
    }

    /// The check of `requirement` as middleware, for `Resource::wrap`, `Route::wrap` or
    /// `Scope::wrap`. [`allow_anonymous`] makes it the optional authentication of a public
    /// resource.
    pub fn require(&self, requirement: Requirement) -> Require {
        Require {
            requirement: Arc::new(requirement),
            authenticator: Some(self.authenticator.clone()),
            warned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `web::resource(path)` wrapped in the check of `requirement`. Every route of the
    /// resource (and its 405 answer) is behind the check.
    pub fn resource(
        &self,
        path: &str,
        requirement: Requirement,
    ) -> actix_web::Resource<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<EitherBody<BoxBody, BoxBody>>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        web::resource(path).wrap(self.require(requirement))
    }
}

/// The parts of an actix-web request where a configured token source can be, and what a
/// DPoP proof names.
struct SourceParts<'a>(
    &'a actix_web::http::header::HeaderMap,
    &'a actix_web::http::Uri,
    &'a actix_web::http::Method,
    &'a str,
);

impl<'a> portcullis_core::RequestParts<'a> for SourceParts<'a> {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.0.get_all(name).map(|v| v.as_bytes())
    }
    fn query(&self) -> Option<&'a str> {
        Some(self.3)
    }
    fn method(&self) -> &'a str {
        self.2.as_str()
    }
    fn path(&self) -> Option<&'a str> {
        // The URI as received: scopes do not rewrite it.
        Some(self.1.path())
    }
    fn authority(&self) -> Option<&'a str> {
        self.1.authority().map(|a| a.as_str())
    }
}

fn credentials<'r>(
    authenticator: &Authenticator,
    request: &'r ServiceRequest,
) -> RequestCredentials<'r> {
    let parts = SourceParts(
        request.headers(),
        request.uri(),
        request.method(),
        request.query_string(),
    );
    credentials_of_headers(request).with_sources(authenticator.config().token_sources(), parts)
}

fn credentials_of_headers(request: &ServiceRequest) -> RequestCredentials<'_> {
    let headers = request.headers();
    // Looked up by `HeaderName` (no parsing of the name per request).
    static AGENT: actix_web::http::header::HeaderName =
        actix_web::http::header::HeaderName::from_static(AGENT_AUTHORIZATION);
    let header = |name: &actix_web::http::header::HeaderName| {
        AuthorizationHeader::from_values(headers.get_all(name).map(|v| v.as_bytes()))
    };
    RequestCredentials::new(header(&AUTHORIZATION), header(&AGENT))
}

/// The authenticator of the gate that let this request in, for markers created without one.
#[derive(Clone)]
struct GateAuthenticator(Authenticator);

/// Runs `service` for `request` with `caller` installed, and answers an [`AuthError`] the
/// handler raised as the core says (through the authenticator's error-body hook).
async fn serve_as<S, B>(
    service: Rc<S>,
    request: ServiceRequest,
    caller: Caller,
    authenticator: Authenticator,
) -> Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    // `call` inside the scope too: middleware and handlers that start work in `call` see
    // the caller.
    let response = caller
        .scope(async move { service.call(request).await })
        .await?;
    let raised = response
        .response()
        .extensions()
        .get::<HandlerError>()
        .map(|h| h.0.clone());
    match raised {
        Some(error) => {
            let rendered = http_response(&authenticator.error_response(&error));
            let (req, _) = response.into_parts();
            Ok(ServiceResponse::new(req, rendered).map_into_right_body())
        }
        None => Ok(response.map_into_left_body()),
    }
}

fn refuse<B>(
    request: ServiceRequest,
    authenticator: Option<&Authenticator>,
    error: &AuthError,
) -> ServiceResponse<EitherBody<B, BoxBody>> {
    let answer = match authenticator {
        Some(a) => a.error_response(error),
        None => error.to_response(),
    };
    request
        .into_response(http_response(&answer))
        .map_into_right_body()
}

/// The `Transform` of [`Gate::middleware`].
#[derive(Clone)]
pub struct GateMiddleware {
    authenticator: Authenticator,
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
        }))
    }
}

/// The service of [`GateMiddleware`].
pub struct GateService<S> {
    service: Rc<S>,
    authenticator: Authenticator,
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
        Box::pin(async move {
            let decision = authenticator
                .authenticate_request(credentials(&authenticator, &request))
                .await;
            match decision {
                Ok(caller) => {
                    request
                        .extensions_mut()
                        .insert(GateAuthenticator(authenticator.clone()));
                    serve_as(service, request, caller, authenticator).await
                }
                Err(error) => Ok(refuse(request, Some(&authenticator), &error)),
            }
        })
    }
}

/// The check of one requirement, as resource, route or scope middleware
/// ([`Gate::require`], [`Gate::resource`], or [`Require::new`] where no gate is at hand,
/// e.g. `#[get("/api/admin/stats", wrap = "Require::new(requires_role([\"admin\"]))")]`).
#[derive(Clone)]
pub struct Require {
    requirement: Arc<Requirement>,
    authenticator: Option<Authenticator>,
    warned: Arc<AtomicBool>,
}

impl Require {
    /// The check of `requirement`, to run behind the gate. Errors are rendered by the gate's
    /// authenticator. [`allow_anonymous`] needs the gate's authenticator: use
    /// [`Gate::require`] for public routes.
    pub fn new(requirement: Requirement) -> Self {
        Self {
            requirement: Arc::new(requirement),
            authenticator: None,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService {
            service: Rc::new(service),
            marker: self.clone(),
        }))
    }
}

/// The service of [`Require`].
pub struct RequireService<S> {
    service: Rc<S>,
    marker: Require,
}

impl<S, B> Service<ServiceRequest> for RequireService<S>
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
        let marker = self.marker.clone();
        Box::pin(async move {
            let authenticator = marker.authenticator.clone().or_else(|| {
                request
                    .extensions()
                    .get::<GateAuthenticator>()
                    .map(|g| g.0.clone())
            });
            if marker.requirement.allows_anonymous() {
                if SecurityContext::is_installed() {
                    // Behind the gate: the route stays authenticated (fail closed). Say so once.
                    if !marker.warned.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            path = request.path(),
                            "a resource marked allow_anonymous() is inside gate.protected() \
                             and therefore requires a token; register public resources on \
                             the App, before the protected scope"
                        );
                    }
                    return Ok(service.call(request).await?.map_into_left_body());
                }
                let Some(authenticator) = authenticator else {
                    // A public marker without an authenticator cannot identify the caller;
                    // the route is still public, as declared.
                    return Ok(service.call(request).await?.map_into_left_body());
                };
                let caller = authenticator
                    .authenticate_optional(credentials(&authenticator, &request))
                    .await;
                return serve_as(service, request, caller, authenticator).await;
            }
            match SecurityContext::enforce(&marker.requirement) {
                Ok(()) => Ok(service.call(request).await?.map_into_left_body()),
                Err(error) => Ok(refuse(request, authenticator.as_ref(), &error)),
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

/// The caller's claims as your own type (`T: Deserialize`): 401 `Token claims not accepted`
/// when they do not fit it, 401 on an anonymous request.
#[derive(Debug, Clone)]
pub struct TypedClaims<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest for TypedClaims<T> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            SecurityContext::require()
                .and_then(|claims| claims.deserialize())
                .map(TypedClaims)
                .map_err(AuthRejection),
        )
    }
}

/// The verified agent of `X-Agent-Authorization`; rejects with 401 when none was sent or it
/// did not verify. `Option<Agent>` never rejects.
#[derive(Debug, Clone)]
pub struct Agent(pub AgentClaims);

impl FromRequest for Agent {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(AgentContext::require().map(Agent).map_err(AuthRejection))
    }
}
