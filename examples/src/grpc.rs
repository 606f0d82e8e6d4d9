//! A gRPC service (tonic) behind the same gate as the HTTP API: every call needs a valid
//! token, `AdminStats` the `admin` role, `Countdown` (server streaming) the `editor` or
//! `admin` role; the caller is in the `SecurityContext` inside the service implementation.
//!
//! The messages and the service are written by hand (what `tonic-build` would generate from
//! `greet.proto`), so that nothing needs `protoc`:
//!
//! ```proto
//! package greet;
//! service Greeter {
//!   rpc SayHello (HelloRequest) returns (HelloReply);
//!   rpc AdminStats (HelloRequest) returns (HelloReply);
//!   rpc Countdown (HelloRequest) returns (stream HelloReply);
//! }
//! message HelloRequest { string name = 1; }
//! message HelloReply { string message = 1; }
//! ```

use portcullis_axum::{requires_role, Gate};
use portcullis_core::{Authenticator, SecurityContext};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};

/// `greet.HelloRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    /// Who to greet.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `greet.HelloReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// The greeting.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The method paths of `greet.Greeter`.
pub mod paths {
    /// Any caller with a valid token.
    pub const SAY_HELLO: &str = "/greet.Greeter/SayHello";
    /// Role `admin`.
    pub const ADMIN_STATS: &str = "/greet.Greeter/AdminStats";
    /// Role `editor` or `admin`; server streaming.
    pub const COUNTDOWN: &str = "/greet.Greeter/Countdown";
}

/// The `sub` of the current caller (the service implementation reads the `SecurityContext`).
fn caller() -> String {
    SecurityContext::get()
        .and_then(|c| c.sub().map(str::to_owned))
        .unwrap_or_else(|| "nobody".to_owned())
}

/// `greet.Greeter`, as `tonic-build` would generate its server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Greeter;

impl NamedService for Greeter {
    const NAME: &'static str = "greet.Greeter";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type ReplyStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<HelloReply, Status>> + Send>>;

struct SayHello;
impl UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = std::future::Ready<Result<Response<HelloReply>, Status>>;
    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        std::future::ready(Ok(Response::new(HelloReply {
            message: format!("hello {}, from {}", request.into_inner().name, caller()),
        })))
    }
}

struct AdminStats;
impl UnaryService<HelloRequest> for AdminStats {
    type Response = HelloReply;
    type Future = std::future::Ready<Result<Response<HelloReply>, Status>>;
    fn call(&mut self, _: Request<HelloRequest>) -> Self::Future {
        std::future::ready(Ok(Response::new(HelloReply {
            message: format!("users: 42 (asked by {})", caller()),
        })))
    }
}

struct Countdown;
impl ServerStreamingService<HelloRequest> for Countdown {
    type Response = HelloReply;
    type ResponseStream = ReplyStream;
    type Future = std::future::Ready<Result<Response<ReplyStream>, Status>>;
    fn call(&mut self, _: Request<HelloRequest>) -> Self::Future {
        // The call runs inside the caller's scope; the stream is polled after it, so it
        // takes the caller along.
        let who = caller();
        let items = (1..=3).rev().map(move |n| {
            Ok(HelloReply {
                message: format!("{n} for {who}"),
            })
        });
        let stream: ReplyStream = Box::pin(tokio_stream::iter(items.collect::<Vec<_>>()));
        std::future::ready(Ok(Response::new(stream)))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let codec = || tonic_prost::ProstCodec::<HelloReply, HelloRequest>::default();
            Ok(match request.uri().path() {
                paths::SAY_HELLO => Grpc::new(codec()).unary(SayHello, request).await,
                paths::ADMIN_STATS => Grpc::new(codec()).unary(AdminStats, request).await,
                paths::COUNTDOWN => {
                    Grpc::new(codec())
                        .server_streaming(Countdown, request)
                        .await
                }
                _ => Status::unimplemented("").into_http(),
            })
        })
    }
}

/// Serves `greet.Greeter` on `listener` behind the gate: every call authenticated,
/// `AdminStats` and `Countdown` with their role requirements, declared next to the service.
pub async fn serve(
    authenticator: Authenticator,
    listener: tokio::net::TcpListener,
) -> Result<(), tonic::transport::Error> {
    let gate = Gate::new(authenticator);
    let mut server = tonic::transport::Server::builder().layer(
        gate.grpc()
            .method(paths::ADMIN_STATS, requires_role(["admin"]))
            .method(paths::COUNTDOWN, requires_role(["editor", "admin"]))
            .layer(),
    );
    server
        .add_service(Greeter)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}
