//! The Redis DPoP replay store against a real `redis-server` on loopback (installed by
//! `live-issuers/setup.sh`): two authenticators sharing one Redis catch a proof replayed
//! from one to the other, and a Redis that goes away fails closed.

mod common;

use portcullis_core::dpop::{DpopMode, DpopProblem, RedisReplayStore, ReplayKey, ReplayStore};
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, AuthError, Authenticator, StaticKeys};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of our own on a free loopback port, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server cannot be started ({e}): run live-issuers/setup.sh, which installs it")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

const ISS: &str = "https://issuer.test";
const HTU: &str = "https://api.test/api/me";

fn authenticator(issuer: &TestKey, redis_url: &str) -> Authenticator {
    let config = AuthConfig::builder()
        .issuer(ISS)
        .audience("api")
        .dpop(DpopMode::Required)
        .dpop_replay_redis_url(redis_url)
        .build()
        .unwrap();
    Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[issuer])).unwrap())
        .build()
        .unwrap()
}

async fn call(auth: &Authenticator, token: &str, proof: &str) -> Result<(), AuthError> {
    let authorization = format!("DPoP {token}");
    auth.authenticate_request(common::dpop_get_me(&authorization, proof))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_proof_replayed_against_another_instance_is_caught() {
    let redis = Redis::start();
    let issuer = TestKey::rsa("issuer");
    let client = TestKey::ec_p256("client");
    let (a, b) = (
        authenticator(&issuer, &redis.url()),
        authenticator(&issuer, &redis.url()),
    );
    let token = bound_token(&issuer, &client);
    let proof = client.dpop_proof("GET", HTU).access_token(&token).sign();
    assert_eq!(call(&a, &token, &proof).await, Ok(()));
    // Instance B never saw this proof, but Redis did.
    assert_eq!(
        call(&b, &token, &proof).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Replayed))
    );
    assert_eq!(
        call(&a, &token, &proof).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Replayed))
    );
    // A new proof passes on B, once.
    let fresh = client.dpop_proof("GET", HTU).access_token(&token).sign();
    assert_eq!(call(&b, &token, &fresh).await, Ok(()));
    assert!(call(&a, &token, &fresh).await.is_err());
}

#[tokio::test]
async fn keys_expire_with_their_ttl_and_an_outage_fails_closed() {
    let mut redis = Redis::start();
    let store = RedisReplayStore::new(&redis.url())
        .unwrap()
        .with_prefix("test:")
        .with_timeout(Duration::from_millis(500));
    let key = ReplayKey::new("jkt", "seven");
    assert_eq!(
        store.first_use(&key, Duration::from_millis(300)).await,
        Ok(true)
    );
    assert_eq!(
        store.first_use(&key, Duration::from_millis(300)).await,
        Ok(false)
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        store.first_use(&key, Duration::from_secs(60)).await,
        Ok(true)
    );

    // Redis goes away: every answer is "unavailable", within the store's timeout.
    redis.stop();
    let started = Instant::now();
    assert!(store
        .first_use(&ReplayKey::new("jkt", "eight"), Duration::from_secs(60))
        .await
        .is_err());
    assert!(started.elapsed() < Duration::from_secs(5));

    let issuer = TestKey::rsa("issuer");
    let client = TestKey::ec_p256("client");
    let auth = authenticator(&issuer, &redis.url());
    let token = bound_token(&issuer, &client);
    let proof = client.dpop_proof("GET", HTU).access_token(&token).sign();
    assert_eq!(auth.readiness().dpop_replay_reachable, Some(true));
    let error = call(&auth, &token, &proof).await.unwrap_err();
    assert_eq!(error, AuthError::ReplayStoreUnavailable { retry_after: 1 });
    assert_eq!(auth.error_response(&error).status, 503);
    // `dpop: required`: every request needs the store, so the instance is not ready.
    let readiness = auth.readiness();
    assert_eq!(readiness.dpop_replay_reachable, Some(false));
    assert!(!readiness.ready);
    assert_eq!(
        readiness.to_json()["dpop_replay_reachable"],
        serde_json::json!(false)
    );
}

#[test]
fn the_url_password_is_never_shown() {
    let store = RedisReplayStore::new("redis://:hunter2@127.0.0.1:1/").unwrap();
    assert!(!format!("{store:?}").contains("hunter2"));
    let config = AuthConfig::builder()
        .issuer(ISS)
        .audience("api")
        .dpop(DpopMode::Allowed)
        .dpop_replay_redis_url("redis://:hunter2@127.0.0.1:1/")
        .build()
        .unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

/// A token of `issuer` bound to `client`'s key.
fn bound_token(issuer: &TestKey, client: &TestKey) -> String {
    TokenBuilder::new(issuer)
        .issuer(ISS)
        .audience("api")
        .bound_to(client)
        .sign()
}
