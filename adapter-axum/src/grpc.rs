//! gRPC services (tonic, or any gRPC-over-HTTP/2 tower service) behind the same gate.
//!
//! ```no_run
//! # use portcullis_axum::{requires_role, Gate};
//! # fn build(gate: Gate) {
//! // tonic::transport::Server::builder()
//! //     .layer(gate.grpc().method("/orders.Orders/Cancel", requires_role(["admin"])).layer())
//! //     .add_service(OrdersServer::new(orders))
//! let layer = gate
//!     .grpc()
//!     .method("/orders.Orders/Cancel", requires_role(["admin"]))
//!     .layer();
//! # let _ = layer;
//! # }
//! ```
//!
//! Every call needs a valid token (`authorization: Bearer ...` metadata); a method listed with
//! [`GrpcGate::method`] needs its requirement too, checked against the exact method path the
//! service dispatches on (`/package.Service/Method`, compared byte for byte, as tonic does: a
//! spelling tonic would not dispatch to the method gets only the gate's requirement and tonic's
//! own `UNIMPLEMENTED`). Refusals are gRPC answers: HTTP 200 with `grpc-status` 16
//! `UNAUTHENTICATED`, 7 `PERMISSION_DENIED`, 14 `UNAVAILABLE` (or 3 `INVALID_ARGUMENT` for two
//! tokens), the fixed `grpc-message`, and `www-authenticate` where it applies. The caller is in
//! the [`SecurityContext`] while the service implementation's call runs, streaming calls
//! included; a response stream is polled after that call, so a streaming method takes the
//! caller along (read it in the call, move it into the stream): read late, it sees no caller,
//! never another's.

use crate::http::{self, HeaderValue, StatusCode};
use crate::{credentials, take_ready, Gate};
use portcullis_core::{Authenticator, ErrorResponse, Requirement, SecurityContext};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

impl Gate {
    /// The gate for gRPC services: every call authenticated; per-method requirements added
    /// with [`GrpcGate::method`].
    pub fn grpc(&self) -> GrpcGate {
        GrpcGate {
            authenticator: self.authenticator.clone(),
            methods: HashMap::new(),
        }
    }
}

/// The requirements of a gRPC service's methods ([`Gate::grpc`]).
#[derive(Clone)]
pub struct GrpcGate {
    authenticator: Authenticator,
    methods: HashMap<String, Arc<Requirement>>,
}

impl GrpcGate {
    /// `path` (`/package.Service/Method`) also needs `requirement`. Requirements of one path
    /// add up ([`Requirement::and`]).
    ///
    /// `path` must be exactly what the service dispatches on: `/`, the service's full name
    /// (tonic: `NamedService::NAME`, package included), `/`, the method name as in the
    /// `.proto`. A misspelt path protects nothing (the method keeps the gate's requirement
    /// only), and so does a gate placed where the paths it sees carry a prefix (an axum
    /// `nest`): put the layer directly around the tonic server.
    ///
    /// # Panics
    /// If `path` is not of the form `/package.Service/Method` or holds anything a request
    /// path cannot (spaces, `?`, `#`, `%`, non-ASCII): such a method can never be called, so
    /// its requirement would protect nothing.
    pub fn method(mut self, path: &str, requirement: Requirement) -> Self {
        // What a request path can be, byte for byte: visible ASCII, no query, fragment or
        // escape; anything else would never match a request and leave the method open.
        let plain = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%'))
        };
        let valid = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(service, method)| plain(service) && plain(method));
        assert!(
            valid,
            "gRPC method path {path:?} must be /package.Service/Method, as the service \
             dispatches on it (visible ASCII, no query, fragment or escape)"
        );
        let merged = match self.methods.remove(path) {
            Some(existing) => (*existing).clone().and(requirement),
            None => requirement,
        };
        self.methods.insert(path.to_owned(), Arc::new(merged));
        self
    }

    /// The tower layer: put it around the gRPC service (tonic: `Server::builder().layer(..)`).
    pub fn layer(self) -> GrpcGateLayer {
        GrpcGateLayer {
            authenticator: self.authenticator,
            methods: Arc::new(self.methods),
        }
    }
}

/// The tower layer of [`GrpcGate::layer`].
#[derive(Clone)]
pub struct GrpcGateLayer {
    authenticator: Authenticator,
    methods: Arc<HashMap<String, Arc<Requirement>>>,
}

impl<S> tower_layer::Layer<S> for GrpcGateLayer {
    type Service = GrpcGateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcGateService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`GrpcGateLayer`].
#[derive(Clone)]
pub struct GrpcGateService<S> {
    inner: S,
    layer: GrpcGateLayer,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for GrpcGateService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
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
        Box::pin(async move {
            let authenticator = &layer.authenticator;
            let caller = match authenticator
                .authenticate_request(credentials(authenticator, &request))
                .await
            {
                Ok(caller) => caller,
                Err(error) => return Ok(grpc_refusal(&authenticator.error_response(&error))),
            };
            // The exact path tonic dispatches on; anything else gets the gate only.
            let requirement = layer.methods.get(request.uri().path()).cloned();
            let authenticator = authenticator.clone();
            caller
                .scope(async move {
                    if let Some(requirement) = requirement {
                        if let Err(error) = SecurityContext::enforce(&requirement) {
                            return Ok(grpc_refusal(&authenticator.error_response(&error)));
                        }
                    }
                    inner.call(request).await
                })
                .await
        })
    }
}

/// A trailers-only gRPC answer carrying the core's decision.
pub fn grpc_refusal<B: Default>(answer: &ErrorResponse) -> http::Response<B> {
    let mut response = http::Response::new(B::default());
    *response.status_mut() = StatusCode::OK;
    for (name, value) in answer.grpc_headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
