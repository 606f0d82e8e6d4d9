//! The tutorial's transcript (and the policy cases around it), over real HTTP on 127.0.0.1,
//! against the warp adapter: the conformance suite's scenarios on a tutorial-sized app.

use portcullis_conformance::{services, Adapter, Server};
use portcullis_core::Authenticator;
use portcullis_warp::Gate;
use serde_json::Value;
use warp::filters::BoxedFilter;
use warp::reply::{json, Response};
use warp::{Filter, Reply};

fn boxed<F, R>(filter: F) -> BoxedFilter<(Response,)>
where
    F: Filter<Extract = (R,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
    R: Reply,
{
    filter.map(|r: R| r.into_response()).boxed()
}

struct Tutorial;

impl Adapter for Tutorial {
    const NAME: &'static str = "warp-tutorial";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        let gate = Gate::new(authenticator);
        let public = boxed(
            warp::path!("api" / "health")
                .and(warp::get())
                .map(|| json(&services::health())),
        )
        .or(boxed(
            warp::path!("api" / "public" / "whoami")
                .and(warp::get())
                .map(|| json(&services::whoami())),
        ))
        .unify();
        let protected = [
            boxed(
                warp::path!("api" / "me")
                    .and(warp::get())
                    .and_then(|| async {
                        services::profile()
                            .map(|v| json(&v))
                            .map_err(portcullis_warp::reject)
                    }),
            ),
            boxed(
                warp::path!("api" / "admin" / "stats")
                    .and(warp::get())
                    .and(gate.requires_role(["admin"]))
                    .map(|| json(&services::admin_stats())),
            ),
            boxed(
                warp::path!("api" / "editor" / "drafts")
                    .and(warp::get())
                    .and(gate.requires_role(["editor", "admin"]))
                    .map(|| json(&services::editor_drafts())),
            ),
            boxed(
                warp::path!("api" / "echo")
                    .and(warp::post())
                    .and(gate.requires_role(["admin"]))
                    .and(warp::body::json())
                    .map(|v: Value| json(&v)),
            ),
            boxed(
                warp::path!("api" / "handler" / "check")
                    .and(warp::get())
                    .and_then(|| async {
                        services::handler_check()
                            .map(|v| json(&v))
                            .map_err(portcullis_warp::reject)
                    }),
            ),
        ]
        .into_iter()
        .reduce(|a, b| a.or(b).unify().boxed())
        .expect("routes");
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let task = tokio::spawn(gate.protect(public, protected).serve(listener));
        Server::new(move || task.abort())
    }
}

portcullis_conformance::tutorial_tests!(Tutorial);
