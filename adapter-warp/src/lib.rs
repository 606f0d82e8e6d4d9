//! # portcullis-warp
//!
//! [portcullis](portcullis_core) for warp 0.4: routes are protected unless they are put in the
//! public tree, and per-route requirements are filters in the route's own chain.
//!
//! ```no_run
//! use warp::Filter;
//! use portcullis_core::{AuthConfig, Authenticator};
//! use portcullis_warp::Gate;
//!
//! # #[tokio::main]
//! # async fn main() {
//! let config = AuthConfig::load("application.yaml").expect("valid auth_client");
//! let gate = Gate::new(Authenticator::builder(config).build().unwrap());
//!
//! // The one visible act that opens routes: the public tree.
//! let public = warp::path!("api" / "health").map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
//! // Everything else requires a valid token; markers go before the handler (and the body).
//! let protected = warp::path!("api" / "admin" / "stats")
//!     .and(gate.requires_role(["admin"]))
//!     .map(|| warp::reply::json(&serde_json::json!({"users": 42})));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await.unwrap();
//! gate.protect(public, protected).serve(listener).await;
//! # }
//! ```
//!
//! How it works, and why it is not a plain filter: warp has no route metadata at run time,
//! and a filter cannot run the rest of the chain inside a task-local scope. So
//! [`Gate::protect`] wraps the two filter trees as one hyper/tower service that
//! authenticates first, then runs the request with the caller in the
//! [`SecurityContext`]:
//!
//! - valid token: `public.or(protected)`;
//! - no or invalid token: `public` only; if no public route matches, the answer is the
//!   core's 401 (never a 404 that would reveal the protected routes);
//! - markers ([`Gate::requires_role`], ...) reject with the core's error and the
//!   service's recovery turns it into the core's answer (403 with `WWW-Authenticate`).
//!
//! Forgetting a marker leaves a route authenticated; only the public tree opens one.
//!
//! ## Why no spelling of a request separates a requirement from its handler
//!
//! Nothing here looks a route up by a path: warp's own filters choose the handler. The
//! service authenticates before any filter runs, and without a valid token only the public
//! tree is consulted, so a protected handler cannot run for an anonymous caller whatever the
//! path looks like. A marker is a filter in the route's own chain: wherever warp runs that
//! route's handler, it has run the marker first (a rejected marker makes warp try the next
//! route, whose own chain holds its own markers). A marker used outside the service of
//! [`Gate::protect`] (a route served by `warp::serve` directly) refuses with 500 rather than
//! let its handler run unchecked.

use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis_core::{
    AgentClaims, AgentContext, AuthError, Authenticator, AuthorizationHeader, ErrorResponse,
    RequestCredentials, Requirement, SecurityContext, TokenClaims, AGENT_AUTHORIZATION,
};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use warp::filters::BoxedFilter;
use warp::http::{self, header::AUTHORIZATION, HeaderValue, StatusCode};
use warp::reject::{MethodNotAllowed, Reject, Rejection};
use warp::reply::Response;
use warp::{Filter, Reply};

/// The core's error as a warp rejection (from a marker or a handler).
#[derive(Debug)]
pub struct AuthRejection(pub AuthError);

impl Reject for AuthRejection {}

/// Rejects with the core's error: `return Err(portcullis_warp::reject(e))` in a handler.
pub fn reject(error: AuthError) -> Rejection {
    warp::reject::custom(AuthRejection(error))
}

/// The core's answer as a warp response.
pub fn error_response(answer: &ErrorResponse) -> Response {
    let mut response = Response::new(answer.body.clone().into());
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::UNAUTHORIZED);
    for (name, value) in answer.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Recovery for portcullis rejections (rendered by `authenticator`, so an error-body hook
/// applies); other rejections pass on unchanged.
pub fn recover(
    authenticator: Authenticator,
) -> impl Fn(Rejection) -> std::future::Ready<Result<Response, Rejection>> + Clone + Send + Sync + 'static
{
    move |rejection: Rejection| {
        std::future::ready(match rejection.find::<AuthRejection>() {
            Some(AuthRejection(e)) => Ok(error_response(&authenticator.error_response(e))),
            None => Err(rejection),
        })
    }
}

/// The authenticator, and the filters and service built from it.
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

    /// A marker filter, in a route's chain before its handler (and its body filters): the
    /// caller must satisfy `requirement` (403 / 401 otherwise). Outside the service of
    /// [`protect`](Self::protect) no gate authenticated the request, and the marker refuses
    /// with 500 ([`AuthError::NotEnforced`]) rather than let the handler run unchecked.
    pub fn requires(
        &self,
        requirement: Requirement,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        let requirement = std::sync::Arc::new(requirement);
        warp::any()
            .and_then(move || {
                let requirement = std::sync::Arc::clone(&requirement);
                async move { SecurityContext::enforce(&requirement).map_err(reject) }
            })
            .untuple_one()
    }

    /// Marker: at least one of `roles`.
    pub fn requires_role<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        roles: I,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.requires(Requirement::any_role(roles))
    }

    /// Marker: every one of `roles`.
    pub fn requires_all_roles<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        roles: I,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.requires(Requirement::all_roles(roles))
    }

    /// Marker: at least one of `groups`.
    pub fn requires_group<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        groups: I,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.requires(Requirement::any_group(groups))
    }

    /// Marker: the bearer token's own OAuth2 scopes (`scope` / `scp`) include one of
    /// `scopes` (wildcards apply); 403 `insufficient_scope` otherwise.
    pub fn requires_token_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        scopes: I,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.requires(Requirement::any_scope(scopes))
    }

    /// Marker: the token came in the `Authorization` header, not in a configured cookie,
    /// custom header or query parameter (401 otherwise).
    pub fn requires_authorization_header(
        &self,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.requires(Requirement::AuthorizationHeader)
    }

    /// Marker: DPoP on this route (RFC 9449): a DPoP-bound token with a valid, new proof for
    /// this request (401 with a `DPoP` challenge otherwise).
    pub fn requires_dpop(&self) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.requires(Requirement::Dpop)
    }

    /// Marker (pico-client-auth's `@requires_scope`): an agent token
    /// (`X-Agent-Authorization`) granting one of `scopes` (wildcards apply): 401 when it is
    /// missing or invalid, 403 without a matching scope.
    pub fn requires_agent_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        scopes: I,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        self.requires(Requirement::agent_scope(scopes))
    }

    /// Extracts the verified agent (401 when there is none).
    pub fn agent(&self) -> impl Filter<Extract = (AgentClaims,), Error = Rejection> + Clone {
        warp::any().and_then(|| async { AgentContext::require().map_err(reject) })
    }

    /// Extracts the authenticated caller (401 on an anonymous request).
    pub fn claims(&self) -> impl Filter<Extract = (TokenClaims,), Error = Rejection> + Clone {
        warp::any().and_then(|| async { SecurityContext::require().map_err(reject) })
    }

    /// Extracts the caller's claims as your own type (`T: Deserialize`): 401 `Token claims
    /// not accepted` when they do not fit it, 401 on an anonymous request.
    pub fn typed_claims<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
    ) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
        warp::any().and_then(|| async {
            SecurityContext::require()
                .and_then(|claims| claims.deserialize::<T>())
                .map_err(reject)
        })
    }

    /// Extracts the caller, if any (never rejects).
    pub fn optional_claims(
        &self,
    ) -> impl Filter<Extract = (Option<TokenClaims>,), Error = Infallible> + Clone {
        warp::any().map(SecurityContext::get)
    }

    /// The application: `public` routes for anyone, `protected` routes (and every unknown
    /// path) for authenticated callers only.
    pub fn protect<P, R1, Q, R2>(&self, public: P, protected: Q) -> Protected
    where
        P: Filter<Extract = (R1,), Error = Rejection> + Clone + Send + Sync + 'static,
        R1: Reply,
        Q: Filter<Extract = (R2,), Error = Rejection> + Clone + Send + Sync + 'static,
        R2: Reply,
    {
        let recover = recover(self.authenticator.clone());
        let public = public.map(|r: R1| r.into_response());
        let everything = public
            .clone()
            .or(protected.map(|r: R2| r.into_response()))
            .unify()
            .recover(recover.clone())
            .unify()
            .boxed();
        let public = public.recover(recover).unify();
        let public_only = public
            .recover(|rejection: Rejection| async move {
                if rejection.is_not_found() || rejection.find::<MethodNotAllowed>().is_some() {
                    let mut unmatched = Response::new(Vec::<u8>::new().into());
                    unmatched.extensions_mut().insert(Unmatched);
                    Ok(unmatched)
                } else {
                    Err(rejection)
                }
            })
            .unify()
            .boxed();
        Protected {
            authenticator: self.authenticator.clone(),
            everything,
            public_only,
        }
    }
}

/// Marks "no public route matched" between the public tree and the service.
#[derive(Clone, Copy)]
struct Unmatched;

/// The protected application: a hyper / tower service.
#[derive(Clone)]
pub struct Protected {
    authenticator: Authenticator,
    everything: BoxedFilter<(Response,)>,
    public_only: BoxedFilter<(Response,)>,
}

impl Protected {
    /// Answers one request.
    pub async fn handle<B>(&self, request: http::Request<B>) -> Response
    where
        B: warp::hyper::body::Body + Send + Sync + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let outcome = {
            let headers = request.headers();
            // Looked up by `HeaderName` (no parsing of the name per request).
            static AGENT: http::HeaderName = http::HeaderName::from_static(AGENT_AUTHORIZATION);
            let header = |name: &http::HeaderName| {
                AuthorizationHeader::from_values(
                    headers.get_all(name).iter().map(HeaderValue::as_bytes),
                )
            };
            let parts = SourceParts(headers, request.uri(), request.method());
            // warp has no route metadata: the agent token is verified whenever one is sent,
            // and only `requires_agent_scope` markers look at it.
            self.authenticator
                .authenticate_request(
                    RequestCredentials::new(header(&AUTHORIZATION), header(&AGENT))
                        .with_sources(self.authenticator.config().token_sources(), parts),
                )
                .await
        };
        let mut everything = warp::service(self.everything.clone());
        let mut public_only = warp::service(self.public_only.clone());
        let result = match outcome {
            Ok(caller) => {
                caller
                    .scope(
                        async move { tower_service::Service::call(&mut everything, request).await },
                    )
                    .await
            }
            Err(error) => {
                let response = SecurityContext::scope(None, async move {
                    tower_service::Service::call(&mut public_only, request).await
                })
                .await;
                match response {
                    Ok(r) if r.extensions().get::<Unmatched>().is_some() => {
                        Ok(error_response(&self.authenticator.error_response(&error)))
                    }
                    other => other,
                }
            }
        };
        match result {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Serves on `listener` until the task is dropped (HTTP/1.1 and HTTP/2).
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let app = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let app = app.clone();
                        async move { Ok::<_, Infallible>(app.handle(request).await) }
                    },
                );
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
    }
}

impl<B> tower_service::Service<http::Request<B>> for Protected
where
    B: warp::hyper::body::Body + Send + Sync + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let app = self.clone();
        Box::pin(async move { Ok(app.handle(request).await) })
    }
}

/// The parts of a request where a configured token source can be, and what a DPoP proof
/// names.
struct SourceParts<'a>(&'a http::HeaderMap, &'a http::Uri, &'a http::Method);

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
        Some(self.1.path())
    }
    fn authority(&self) -> Option<&'a str> {
        self.1.authority().map(http::uri::Authority::as_str)
    }
}
