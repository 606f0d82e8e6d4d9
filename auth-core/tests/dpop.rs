//! DPoP (RFC 9449): the RFC's own examples, every check of §4.3 and §7.1 through the
//! authenticator, hostile proofs, replay, the scheme rules and the configuration.

use portcullis_core::dpop::{
    access_token_hash, jwk_thumbprint, verify_proof, DpopMode, DpopProblem, MemoryReplayStore,
    ProofPolicy, ProofRequest, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError,
};
use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
use portcullis_core::{
    markers, AuthConfig, AuthError, Authenticator, AuthorizationHeader, DpopRequest,
    RequestCredentials, Requirement, StaticKeys,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const ISS: &str = "https://issuer.test";
const NOW: i64 = 1_700_000_000;
const HTU: &str = "https://api.test/api/me";

// RFC 9449, figures 3 and 4: the proof of a token request, and its key.
const RFC_TOKEN_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgt",
    "MzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VO",
    "SmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRj",
    "IiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0Ijox",
    "NTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK",
    "70nfbV37xRZT3Lg",
);
// RFC 9449, figure 13: the proof of a protected resource request, with `ath`.
const RFC_RESOURCE_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgt",
    "MzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VO",
    "SmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVC",
    "IiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNv",
    "dXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlp",
    "S0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dq",
    "d-jfxSYoMxhAJpLjA",
);
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

#[test]
fn rfc_9449_thumbprint_and_token_hash() {
    let jwk = json!({
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256"
    });
    assert_eq!(
        jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
        Some(RFC_JKT)
    );
    assert_eq!(
        access_token_hash(RFC_ACCESS_TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn rfc_9449_proofs_verify_at_their_time_and_only_for_their_request() {
    let policy = ProofPolicy {
        leeway_seconds: 0,
        ..ProofPolicy::default()
    };
    let token_request = ProofRequest {
        method: "POST",
        path: "/token",
        authority: Some("server.example.com"),
        access_token: None,
        thumbprint: None,
    };
    let verified = verify_proof(RFC_TOKEN_PROOF, &token_request, &policy, 1562262616).unwrap();
    assert_eq!(verified.thumbprint(), RFC_JKT);
    assert_eq!(verified.jti(), "-BwC3ESc6acc2lTc");

    let resource = ProofRequest {
        method: "GET",
        path: "/protectedresource",
        authority: Some("resource.example.org"),
        access_token: Some(RFC_ACCESS_TOKEN),
        thumbprint: Some(RFC_JKT),
    };
    let at = 1562262618;
    let verified = verify_proof(RFC_RESOURCE_PROOF, &resource, &policy, at).unwrap();
    assert_eq!(verified.thumbprint(), RFC_JKT);
    let refused = |request: ProofRequest<'_>, now: i64| {
        verify_proof(RFC_RESOURCE_PROOF, &request, &policy, now).unwrap_err()
    };
    let other_token = ProofRequest {
        access_token: Some("another-token"),
        ..resource
    };
    assert_eq!(refused(other_token, at), DpopProblem::TokenHash);
    let post = ProofRequest {
        method: "POST",
        ..resource
    };
    assert_eq!(refused(post, at), DpopProblem::Method);
    let other_path = ProofRequest {
        path: "/protectedresource2",
        ..resource
    };
    assert_eq!(refused(other_path, at), DpopProblem::Uri);
    let other_host = ProofRequest {
        authority: Some("evil.example.org"),
        ..resource
    };
    assert_eq!(refused(other_host, at), DpopProblem::Uri);
    // The same path spelled with a percent-encoded unreserved character is the same URL
    // (RFC 3986 §6.2.2.2); the default port is the same authority.
    let spelled = ProofRequest {
        path: "/%70rotectedresource",
        authority: Some("RESOURCE.example.org:443"),
        ..resource
    };
    assert!(verify_proof(RFC_RESOURCE_PROOF, &spelled, &policy, at).is_ok());
    // Too old one minute later, from the future a second earlier.
    assert_eq!(refused(resource, at + 61), DpopProblem::IssuedAt);
    assert_eq!(refused(resource, at - 1), DpopProblem::IssuedAt);
    // Configured public origins replace the Host check.
    let behind_proxy = ProofPolicy {
        origins: vec!["https://resource.example.org".to_owned()],
        ..policy.clone()
    };
    let internal = ProofRequest {
        authority: Some("10.0.0.7:8080"),
        ..resource
    };
    assert!(verify_proof(RFC_RESOURCE_PROOF, &internal, &behind_proxy, at).is_ok());
    let elsewhere = ProofPolicy {
        origins: vec!["https://api.example.org".to_owned()],
        ..policy
    };
    assert_eq!(
        verify_proof(RFC_RESOURCE_PROOF, &resource, &elsewhere, at).unwrap_err(),
        DpopProblem::Uri
    );
}

/// The issuer's key, the client's key and an authenticator in `mode` at [`NOW`].
struct Setup {
    issuer: TestKey,
    client: TestKey,
    clock: ManualClock,
    auth: Authenticator,
}

fn setup(mode: DpopMode) -> Setup {
    setup_with(mode, |b| b, None)
}

fn setup_with(
    mode: DpopMode,
    more: impl FnOnce(portcullis_core::AuthConfigBuilder) -> portcullis_core::AuthConfigBuilder,
    store: Option<Arc<dyn ReplayStore>>,
) -> Setup {
    let issuer = TestKey::rsa("issuer-1");
    let client = TestKey::ec_p256("client");
    let clock = ManualClock::new(NOW);
    let config = more(
        AuthConfig::builder()
            .issuer(ISS)
            .audience("api")
            .dpop(mode)
            .leeway_seconds(5),
    )
    .build()
    .unwrap();
    let mut builder = Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&issuer])).unwrap())
        .clock(clock.clone());
    if let Some(store) = store {
        builder = builder.replay_store(SharedStore(store));
    }
    Setup {
        auth: builder.build().unwrap(),
        issuer,
        client,
        clock,
    }
}

struct SharedStore(Arc<dyn ReplayStore>);

impl ReplayStore for SharedStore {
    fn first_use<'s>(&'s self, key: &'s ReplayKey, ttl: Duration) -> ReplayFuture<'s> {
        self.0.first_use(key, ttl)
    }
}

impl Setup {
    fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(&self.issuer)
            .now(self.clock.now())
            .issuer(ISS)
            .audience("api")
            .subject("user-1")
    }
    fn bound_token(&self) -> String {
        self.token().bound_to(&self.client).sign()
    }
    fn proof(&self, token: &str) -> TokenBuilder<'_> {
        self.client
            .dpop_proof("GET", HTU)
            .now(self.clock.now())
            .without_claim("exp")
            .access_token(token)
    }
    async fn call(&self, authorization: &str, proofs: &[&str]) -> Result<(), AuthError> {
        self.call_at(authorization, proofs, "GET", "/api/me").await
    }
    async fn call_at(
        &self,
        authorization: &str,
        proofs: &[&str],
        method: &str,
        path: &str,
    ) -> Result<(), AuthError> {
        let mut credentials =
            RequestCredentials::new(authorization.into(), AuthorizationHeader::Absent);
        credentials.dpop = DpopRequest {
            proofs: AuthorizationHeader::from_values(proofs.iter().map(|p| p.as_bytes())),
            method: Some(method),
            path: Some(path),
            authority: Some("api.test"),
        };
        let caller = self.auth.authenticate_request(credentials).await?;
        // What the gate admitted with a proof passes `requires_dpop`.
        Requirement::Dpop.check(caller.user.as_ref())
    }
}

#[tokio::test]
async fn a_bound_token_with_its_proof_is_admitted_once() {
    let s = setup(DpopMode::Allowed);
    let token = s.bound_token();
    let proof = s.proof(&token).sign();
    let authorization = format!("DPoP {token}");
    assert_eq!(s.call(&authorization, &[&proof]).await, Ok(()));
    // The same proof again: a replay.
    assert_eq!(
        s.call(&authorization, &[&proof]).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Replayed))
    );
    // A fresh proof for the same token is fine (the scheme is case-insensitive).
    let again = s.proof(&token).sign();
    assert_eq!(s.call(&format!("dpop {token}"), &[&again]).await, Ok(()));
}

#[tokio::test]
async fn bearer_and_binding_rules() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let plain = s.token().sign();
    // A bound token presented as a bearer token: its binding would be undone.
    assert_eq!(
        s.call(&format!("Bearer {bound}"), &[]).await,
        Err(AuthError::DpopRequired)
    );
    // ... even with a valid proof next to it.
    let proof = s.proof(&bound).sign();
    assert_eq!(
        s.call(&format!("Bearer {bound}"), &[&proof]).await,
        Err(AuthError::DpopRequired)
    );
    // An unbound token with the DPoP scheme and a proof of the caller's own making.
    let proof = s.proof(&plain).sign();
    assert_eq!(
        s.call(&format!("DPoP {plain}"), &[&proof]).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::NotBound))
    );
    // An unbound bearer token passes the gate (`allowed`) but not `requires_dpop`.
    assert_eq!(
        s.call(&format!("Bearer {plain}"), &[]).await,
        Err(AuthError::DpopRequired)
    );
    // A binding portcullis cannot check (mutual TLS) is refused outright.
    let mtls = s
        .token()
        .claim(
            "cnf",
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        )
        .sign();
    assert_eq!(
        s.call(&format!("Bearer {mtls}"), &[]).await,
        Err(AuthError::UnsupportedConfirmation)
    );
    let both = s
        .token()
        .claim(
            "cnf",
            json!({"jkt": s.client.thumbprint(), "x5t#S256": "x"}),
        )
        .sign();
    let proof = s.proof(&both).sign();
    assert_eq!(
        s.call(&format!("DPoP {both}"), &[&proof]).await,
        Err(AuthError::UnsupportedConfirmation)
    );
    // `verify_token` has no request to check a proof against: bound tokens are refused.
    assert_eq!(
        s.auth.verify_token(&bound).await.unwrap_err(),
        AuthError::DpopRequired
    );
    assert!(s.auth.verify_token(&plain).await.is_ok());
}

#[tokio::test]
async fn required_mode_refuses_bearer_tokens_and_off_mode_refuses_the_scheme() {
    let s = setup(DpopMode::Required);
    let plain = s.token().sign();
    let bearer = format!("Bearer {plain}");
    let mut credentials =
        RequestCredentials::new(bearer.as_str().into(), AuthorizationHeader::Absent);
    credentials.dpop.method = Some("GET");
    assert_eq!(
        s.auth.authenticate_request(credentials).await.unwrap_err(),
        AuthError::DpopRequired
    );
    let bound = s.bound_token();
    let proof = s.proof(&bound).sign();
    assert_eq!(s.call(&format!("DPoP {bound}"), &[&proof]).await, Ok(()));

    let off = setup(DpopMode::Off);
    let bound = off.bound_token();
    let proof = off.proof(&bound).sign();
    // Without DPoP, `Authorization: DPoP` is no credential at all, and a bound token is
    // not a bearer token.
    let outcome = off.call(&format!("DPoP {bound}"), &[&proof]).await;
    assert_eq!(outcome, Err(AuthError::MissingToken));
    let outcome = off.call(&format!("Bearer {bound}"), &[]).await;
    assert_eq!(outcome, Err(AuthError::DpopRequired));
}

#[tokio::test]
async fn hostile_proofs_are_refused_each_for_its_reason() {
    use DpopProblem as P;
    let s = setup(DpopMode::Allowed);
    let token = s.bound_token();
    let authorization = format!("DPoP {token}");
    let attacker = TestKey::ec_p256("attacker");
    let ok = || s.proof(&token);
    let cases: Vec<(&str, String, P)> = vec![
        ("alg none", ok().unsigned("none").sign(), P::Algorithm),
        (
            "HS256 keyed by the public key",
            ok().hmac_with_secret(portcullis_core::Algorithm::HS256, b"public")
                .sign(),
            P::Algorithm,
        ),
        (
            "private key in jwk",
            {
                let mut jwk = s.client.jwk();
                jwk["d"] = json!("c2VjcmV0");
                ok().header("jwk", jwk).sign()
            },
            P::PrivateKey,
        ),
        (
            "symmetric jwk",
            ok().header("jwk", json!({"kty": "oct", "k": "c2VjcmV0"}))
                .sign(),
            P::PrivateKey,
        ),
        ("no jwk", ok().without_header("jwk").sign(), P::Key),
        ("typ JWT", ok().header("typ", json!("JWT")).sign(), P::Type),
        ("no typ", ok().without_header("typ").sign(), P::Type),
        ("crit", ok().header("crit", json!(["exp"])).sign(), P::Type),
        ("tampered", ok().tamper_signature().sign(), P::Signature),
        (
            "another key's jwk",
            ok().header("jwk", attacker.jwk()).sign(),
            P::Thumbprint,
        ),
        (
            "the bound key's jwk, another key's signature",
            attacker
                .dpop_proof("GET", HTU)
                .now(NOW)
                .access_token(&token)
                .header("jwk", s.client.jwk())
                .sign(),
            P::Signature,
        ),
        (
            "signed by another key, its jwk",
            attacker
                .dpop_proof("GET", HTU)
                .now(NOW)
                .access_token(&token)
                .sign(),
            P::Thumbprint,
        ),
        ("no jti", ok().without_claim("jti").sign(), P::Claims),
        ("empty jti", ok().claim("jti", json!("")).sign(), P::Claims),
        ("jti number", ok().claim("jti", json!(7)).sign(), P::Claims),
        ("no htm", ok().without_claim("htm").sign(), P::Claims),
        ("no iat", ok().without_claim("iat").sign(), P::Claims),
        (
            "htm POST",
            ok().claim("htm", json!("POST")).sign(),
            P::Method,
        ),
        ("htm get", ok().claim("htm", json!("get")).sign(), P::Method),
        (
            "htu other path",
            ok().claim("htu", json!("https://api.test/api/admin"))
                .sign(),
            P::Uri,
        ),
        (
            "htu other host",
            ok().claim("htu", json!("https://evil.test/api/me")).sign(),
            P::Uri,
        ),
        (
            "htu with user info",
            ok().claim("htu", json!("https://u@api.test/api/me")).sign(),
            P::Uri,
        ),
        (
            "htu not http",
            ok().claim("htu", json!("ftp://api.test/api/me")).sign(),
            P::Uri,
        ),
        (
            "htu relative",
            ok().claim("htu", json!("/api/me")).sign(),
            P::Uri,
        ),
        (
            "iat old",
            ok().claim("iat", json!(NOW - 66)).sign(),
            P::IssuedAt,
        ),
        (
            "iat future",
            ok().claim("iat", json!(NOW + 6)).sign(),
            P::IssuedAt,
        ),
        (
            "iat string",
            ok().claim("iat", json!("now")).sign(),
            P::Claims,
        ),
        ("no ath", ok().without_claim("ath").sign(), P::TokenHash),
        (
            "ath of another token",
            ok().access_token("another.token.here").sign(),
            P::TokenHash,
        ),
        ("two parts", "a.b".to_owned(), P::Malformed),
        ("garbage", "not a proof at all".to_owned(), P::Malformed),
        ("huge", "a".repeat(9000), P::TooLarge),
    ];
    for (name, proof, problem) in cases {
        assert_eq!(
            s.call(&authorization, &[&proof]).await,
            Err(AuthError::InvalidDpopProof(problem)),
            "{name}"
        );
    }
    // Header-level problems: none, two.
    assert_eq!(
        s.call(&authorization, &[]).await,
        Err(AuthError::InvalidDpopProof(P::Missing))
    );
    let (a, b) = (ok().sign(), ok().sign());
    assert_eq!(
        s.call(&authorization, &[&a, &b]).await,
        Err(AuthError::InvalidDpopProof(P::Several))
    );
    // A request portcullis cannot see the URL of never passes.
    let mut credentials =
        RequestCredentials::new(authorization.as_str().into(), AuthorizationHeader::Absent);
    credentials.dpop.proofs = AuthorizationHeader::One(a.as_bytes());
    credentials.dpop.method = Some("GET");
    assert_eq!(
        s.auth.authenticate_request(credentials).await.unwrap_err(),
        AuthError::InvalidDpopProof(P::Uri)
    );
    // And a well-made proof still passes after all that.
    assert_eq!(s.call(&authorization, &[&ok().sign()]).await, Ok(()));
}

#[tokio::test]
async fn every_asymmetric_key_type_can_prove() {
    for client in [
        TestKey::ec_p256("c"),
        TestKey::ec_p384("c"),
        TestKey::ed25519("c"),
        TestKey::rsa("c"),
    ] {
        let s = setup(DpopMode::Required);
        let token = s.token().bound_to(&client).sign();
        let proof = client
            .dpop_proof("GET", HTU)
            .now(NOW)
            .access_token(&token)
            .sign();
        assert_eq!(
            s.call(&format!("DPoP {token}"), &[&proof]).await,
            Ok(()),
            "{:?}",
            client.algorithm()
        );
    }
    // An algorithm left out of `dpop_algorithms` is refused.
    let s = setup_with(DpopMode::Required, |b| b.dpop_algorithms(["ES256"]), None);
    let client = TestKey::ed25519("c");
    let token = s.token().bound_to(&client).sign();
    let proof = client
        .dpop_proof("GET", HTU)
        .now(NOW)
        .access_token(&token)
        .sign();
    assert_eq!(
        s.call(&format!("DPoP {token}"), &[&proof]).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Algorithm))
    );
}

#[tokio::test]
async fn the_proof_window_follows_the_clock_and_the_store_forgets_after_it() {
    let s = setup(DpopMode::Allowed);
    let token = s.token().lifetime(3600).bound_to(&s.client).sign();
    let proof = s.proof(&token).sign();
    let authorization = format!("DPoP {token}");
    s.clock.advance(60 + 5);
    assert_eq!(s.call(&authorization, &[&proof]).await, Ok(()));
    s.clock.advance(1);
    assert_eq!(
        s.call(&authorization, &[&proof]).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::IssuedAt))
    );
}

/// A store that cannot be reached.
struct DownStore;

impl ReplayStore for DownStore {
    fn first_use<'s>(&'s self, _: &'s ReplayKey, _: Duration) -> ReplayFuture<'s> {
        Box::pin(async { Err(ReplayStoreError::unavailable("unreachable")) })
    }
}

#[tokio::test]
async fn an_unreachable_replay_store_fails_closed_unless_told_otherwise() {
    let s = setup_with(DpopMode::Allowed, |b| b, Some(Arc::new(DownStore)));
    let token = s.bound_token();
    let proof = s.proof(&token).sign();
    let error = s
        .call(&format!("DPoP {token}"), &[&proof])
        .await
        .unwrap_err();
    assert_eq!(error, AuthError::ReplayStoreUnavailable { retry_after: 1 });
    let answer = s.auth.error_response(&error);
    assert_eq!((answer.status, answer.retry_after), (503, Some(1)));

    let open = setup_with(
        DpopMode::Allowed,
        |b| b.dpop_replay_fail_open(true),
        Some(Arc::new(DownStore)),
    );
    let token = open.bound_token();
    let proof = open.proof(&token).sign();
    assert_eq!(open.call(&format!("DPoP {token}"), &[&proof]).await, Ok(()));
}

#[tokio::test]
async fn a_full_memory_store_refuses_rather_than_forgets() {
    let store: Arc<dyn ReplayStore> = Arc::new(MemoryReplayStore::new(1));
    let s = setup_with(DpopMode::Allowed, |b| b, Some(store));
    let token = s.bound_token();
    let authorization = format!("DPoP {token}");
    assert_eq!(
        s.call(&authorization, &[&s.proof(&token).sign()]).await,
        Ok(())
    );
    assert_eq!(
        s.call(&authorization, &[&s.proof(&token).sign()]).await,
        Err(AuthError::ReplayStoreUnavailable { retry_after: 1 })
    );
}

#[tokio::test]
async fn answers_carry_dpop_challenges() {
    let s = setup(DpopMode::Allowed);
    let token = s.bound_token();
    let error = s.call(&format!("DPoP {token}"), &[]).await.unwrap_err();
    let answer = s.auth.error_response(&error);
    assert_eq!(answer.status, 401);
    let challenge = answer.www_authenticate.unwrap();
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    assert!(
        challenge.ends_with("algs=\"RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA\""),
        "{challenge}"
    );
    assert_eq!(answer.body, r#"{"detail":"Invalid DPoP proof"}"#);
    // Nothing of the token or proof is in the answer.
    assert!(!challenge.contains(&token[..20]));
    let missing = s.auth.error_response(&AuthError::MissingToken);
    assert!(
        missing
            .www_authenticate
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer, DPoP algs=")),
        "{missing:?}"
    );
    let required = setup(DpopMode::Required);
    let missing = required.auth.error_response(&AuthError::MissingToken);
    assert!(
        missing
            .www_authenticate
            .as_deref()
            .is_some_and(|c| c.starts_with("DPoP algs=")),
        "{missing:?}"
    );
    let off = setup(DpopMode::Off);
    let missing = off.auth.error_response(&AuthError::MissingToken);
    assert_eq!(missing.www_authenticate.as_deref(), Some("Bearer"));
}

#[test]
fn the_marker_needs_a_bound_caller() {
    assert_eq!(markers::requires_dpop(), Requirement::Dpop);
    let bound =
        portcullis_core::TokenClaims::from_json(json!({"sub": "u", "cnf": {"jkt": RFC_JKT}}));
    let plain = portcullis_core::TokenClaims::from_json(json!({"sub": "u"}));
    assert!(Requirement::Dpop.check(Some(&bound)).is_ok());
    assert_eq!(
        Requirement::Dpop.check(Some(&plain)),
        Err(AuthError::DpopRequired)
    );
    assert_eq!(
        Requirement::Dpop.check(None),
        Err(AuthError::NotAuthenticated)
    );
    assert_eq!(bound.dpop_thumbprint(), Some(RFC_JKT));
}

#[test]
fn configuration_is_checked() {
    let problems = |yaml: &str| match AuthConfig::builder().yaml_str(yaml).build() {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().iter().map(|p| p.key().to_owned()).collect(),
    };
    let base = "auth_client:\n  issuer: https://i.test\n  audience: api\n";
    assert!(problems(&format!("{base}  dpop: allowed\n")).is_empty());
    assert!(problems(&format!("{base}  dpop: false\n")).is_empty());
    assert_eq!(
        problems(&format!("{base}  dpop: sometimes\n")),
        ["auth_client.dpop"]
    );
    assert_eq!(
        problems(&format!(
            "{base}  dpop: required\n  dpop_algorithms: [ES256, HS256]\n"
        )),
        ["auth_client.dpop_algorithms[1]"]
    );
    assert_eq!(
        problems(&format!(
            "{base}  dpop_origins: [\"https://api.test/v1\"]\n"
        )),
        ["auth_client.dpop_origins[0]"]
    );
    assert_eq!(
        problems(&format!("{base}  dpop_proof_max_age_seconds: 0\n")),
        ["auth_client.dpop_proof_max_age_seconds"]
    );
    assert_eq!(
        problems(&format!("{base}  dpop_replay_redis_url: http://x\n")),
        ["auth_client.dpop_replay_redis_url"]
    );
    // Application-wide: never inside an entry of `issuers`.
    let entry = "auth_client:\n  issuers:\n    - issuer: https://i.test\n      audience: api\n      jwks_file: k.json\n      dpop: required\n";
    assert_eq!(problems(entry), ["auth_client.issuers[0].dpop"]);
    // A Redis URL's password never shows in a problem.
    let shown = AuthConfig::builder()
        .yaml_str("auth_client:\n  issuer: https://i.test\n  dpop_replay_redis_url: [\"redis://:hunter2@x\"]\n")
        .build()
        .unwrap_err()
        .to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    let config = AuthConfig::builder()
        .yaml_str(&format!(
            "{base}  dpop: required\n  dpop_origins: [\"HTTPS://API.test:443\"]\n"
        ))
        .build()
        .unwrap();
    assert_eq!(config.dpop_mode(), DpopMode::Required);
    assert_eq!(config.dpop_policy().origins, ["https://api.test"]);
}
