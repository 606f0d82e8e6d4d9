//! A marker used outside the service of `Gate::protect` (served by `warp::serve` or as a
//! plain filter) refuses with 500 instead of letting its handler run unchecked.

use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, Authenticator, StaticKeys};
use portcullis_warp::Gate;
use warp::Filter;

#[tokio::test]
async fn a_marker_outside_the_protected_service_answers_500() {
    let key = TestKey::ec_p256("k1");
    let config = AuthConfig::builder()
        .issuer("https://auth.example.com")
        .audience("api")
        .accepted_algorithms(["ES256"])
        .build()
        .unwrap();
    let auth = Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&key])).unwrap())
        .build()
        .unwrap();
    let gate = Gate::new(auth.clone());
    let route = warp::path!("admin")
        .and(gate.requires_role(["admin"]))
        .map(|| "admin ran")
        .recover(portcullis_warp::recover(auth));
    let admin = TokenBuilder::new(&key)
        .issuer("https://auth.example.com")
        .audience("api")
        .roles(&["admin"])
        .sign();
    let mut service = warp::service(route);
    for token in [None, Some(admin)] {
        let mut request = warp::http::Request::builder().uri("/admin");
        if let Some(t) = &token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let request = request.body(String::new()).unwrap();
        let response = tower_service::Service::call(&mut service, request)
            .await
            .unwrap();
        assert_eq!(response.status(), 500, "{token:?}");
    }
}
