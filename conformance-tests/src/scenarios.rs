//! The catalogue: each scenario runs over real HTTP against one adapter. The README lists
//! them with one line each.

use crate::harness::{Adapter, Harness, KEYS};
use portcullis_core::testkit::{Behavior, TestIssuer, TestKey, JWKS_PATH};
use portcullis_core::{
    Algorithm, AuthError, Authorities, KeySet, Malformed, RoleResolver, StaticKeys,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

type Map = serde_json::Map<String, Value>;

const MISSING: AuthError = AuthError::MissingToken;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signed by `key` over arbitrary header and payload segments.
fn signed_raw(key: &TestKey, header: &str, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload));
    format!("{input}.{}", b64(&key.sign(input.as_bytes())))
}

// ----- tutorial -------------------------------------------------------------------------

/// The tutorial's transcript, byte for byte.
pub async fn tutorial_transcript<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.get("/api/health", None)
        .await
        .assert_ok(r#"{"status":"ok"}"#);
    let r = app.get("/api/me", None).await;
    assert_eq!(
        r.body,
        r#"{"detail":"Missing or invalid Authorization header"}"#
    );
    r.assert_error(&MISSING);
    app.get("/api/me", Some(&h.with_roles(&["admin"])))
        .await
        .assert_ok(
            r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":["admin"]}"#,
        );
    let r = app
        .get("/api/admin/stats", Some(&h.with_roles(&["user"])))
        .await;
    assert_eq!(r.body, r#"{"detail":"Requires one of roles: ['admin']"}"#);
    r.assert_error(&AuthError::InsufficientRole {
        required: vec!["admin".into()],
        all: false,
    });
    app.get("/api/admin/stats", Some(&h.with_roles(&["admin"])))
        .await
        .assert_ok(r#"{"users":42,"active":30}"#);
    app.get("/api/editor/drafts", Some(&h.with_roles(&["editor"])))
        .await
        .assert_ok(r#"{"drafts":5}"#);
}

// ----- header handling ------------------------------------------------------------------

async fn with_authorization<A: Adapter>(h: &Harness<A>, values: &[&[u8]]) -> crate::Reply {
    let app = h.app().await;
    let mut request = app.request(Method::GET, "/api/me");
    for v in values {
        request = request.header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(v).expect("header value"),
        );
    }
    app.send(request).await
}

/// No `Authorization` header: 401, `WWW-Authenticate: Bearer` without an error code.
pub async fn header_missing<A: Adapter>(h: &Harness<A>) {
    with_authorization(h, &[]).await.assert_error(&MISSING);
}

/// Another scheme (`Basic`): treated as no bearer credentials.
pub async fn header_wrong_scheme<A: Adapter>(h: &Harness<A>) {
    let t = h.with_roles(&[]);
    with_authorization(h, &[format!("Basic {t}").as_bytes()])
        .await
        .assert_error(&MISSING);
}

/// `bearer` in lower case is accepted (the scheme is case-insensitive).
pub async fn header_lowercase_bearer<A: Adapter>(h: &Harness<A>) {
    let t = h.with_roles(&[]);
    assert_eq!(
        with_authorization(h, &[format!("bearer {t}").as_bytes()])
            .await
            .status,
        200
    );
}

/// `Bearer ` with nothing after it: no credentials.
pub async fn header_empty_token<A: Adapter>(h: &Harness<A>) {
    with_authorization(h, &[b"Bearer "])
        .await
        .assert_error(&MISSING);
}

/// Several spaces between scheme and token are accepted (RFC 7235 `1*SP`).
pub async fn header_extra_spaces<A: Adapter>(h: &Harness<A>) {
    let t = h.with_roles(&[]);
    assert_eq!(
        with_authorization(h, &[format!("Bearer    {t}").as_bytes()])
            .await
            .status,
        200
    );
}

/// Two `Authorization` headers: 400 `invalid_request` (RFC 6750 §3.1).
pub async fn header_two_authorization_headers<A: Adapter>(h: &Harness<A>) {
    let t = h.with_roles(&[]);
    let v = format!("Bearer {t}");
    with_authorization(h, &[v.as_bytes(), v.as_bytes()])
        .await
        .assert_error(&AuthError::InvalidRequest);
}

/// Token sources besides `Authorization`, as configured: a custom header, a cookie among
/// others (quoted or not) and, on a WebSocket upgrade only, a query parameter each carry the
/// bare token, which is verified and enforced exactly as a bearer token is.
pub async fn token_sources_header_cookie_query<A: Adapter>(h: &Harness<A>) {
    let app = h.start(sources_authenticator(h)).await;
    let user = h.with_roles(&[]);
    let admin = h.with_roles(&["admin"]);
    let me = r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":[]}"#;
    let send = |path: &str, name: &str, value: String| {
        app.send(app.request(Method::GET, path).header(name, value))
    };
    send("/api/me", "x-api-token", user.clone())
        .await
        .assert_ok(me);
    send(
        "/api/me",
        "cookie",
        format!("theme=dark; session={user}; lang=en"),
    )
    .await
    .assert_ok(me);
    send("/api/me", "cookie", format!("session=\"{user}\""))
        .await
        .assert_ok(me);
    let upgrade = |path: String| {
        app.send(
            app.request(Method::GET, &path)
                .header("connection", "upgrade")
                .header("upgrade", "websocket"),
        )
    };
    upgrade(format!("/api/me?x=1&access_token={user}"))
        .await
        .assert_ok(me);
    // In the URL of anything but a WebSocket upgrade, a token is no token.
    app.get(&format!("/api/me?access_token={user}"), None)
        .await
        .assert_error(&MISSING);
    // The route's requirement holds whatever the source.
    send("/api/admin/stats", "cookie", format!("session={user}"))
        .await
        .assert_error(&AuthError::InsufficientRole {
            required: vec!["admin".into()],
            all: false,
        });
    send("/api/admin/stats", "x-api-token", admin)
        .await
        .assert_ok(r#"{"users":42,"active":30}"#);
    // A forged token is refused there as anywhere; a cookie of another name is no token.
    let forged = h.token(&KEYS.rsa).tamper_signature().sign();
    send("/api/me", "cookie", format!("session={forged}"))
        .await
        .assert_error(&AuthError::BadSignature);
    send("/api/me", "cookie", format!("other_session={user}"))
        .await
        .assert_error(&MISSING);
    upgrade(format!("/api/me?access_token_x={user}"))
        .await
        .assert_error(&MISSING);
}

/// More than one token in one request is 400 `invalid_request` (RFC 6750 §2: one method per
/// request), whichever the two places; never "the first one wins".
pub async fn token_sources_more_than_one_token_is_invalid_request<A: Adapter>(h: &Harness<A>) {
    let app = h.start(sources_authenticator(h)).await;
    let user = h.with_roles(&[]);
    let admin = h.with_roles(&["admin"]);
    let both = |path: String, headers: Vec<(&'static str, String)>| {
        let mut request = app.request(Method::GET, &path);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        app.send(request)
    };
    let cases = vec![
        (
            "/api/admin/stats".to_owned(),
            vec![
                ("authorization", format!("Bearer {user}")),
                ("cookie", format!("session={admin}")),
            ],
        ),
        (
            "/api/admin/stats".to_owned(),
            vec![("cookie", format!("session={user}; session={admin}"))],
        ),
        (
            format!("/api/admin/stats?access_token={admin}"),
            vec![
                ("x-api-token", user.clone()),
                ("connection", "upgrade".to_owned()),
                ("upgrade", "websocket".to_owned()),
            ],
        ),
        (
            format!("/api/admin/stats?access_token={admin}&access_token={admin}"),
            vec![
                ("connection", "upgrade".to_owned()),
                ("upgrade", "websocket".to_owned()),
            ],
        ),
        (
            "/api/admin/stats".to_owned(),
            vec![
                ("x-api-token", user.clone()),
                ("x-api-token", admin.clone()),
            ],
        ),
    ];
    for (path, headers) in cases {
        both(path, headers)
            .await
            .assert_error(&AuthError::InvalidRequest);
    }
}

/// A route marked `requires_authorization_header()` takes its token from `Authorization`
/// only: the same valid token in the application's cookie or custom header is refused there
/// (401, no handler runs), and accepted on the routes without the marker.
pub async fn token_sources_route_requires_authorization_header<A: Adapter>(h: &Harness<A>) {
    let app = h.start(sources_authenticator(h)).await;
    let user = h.with_roles(&[]);
    let post = |name: &str, value: String| {
        app.send(
            app.request(Method::POST, "/api/account/close")
                .header(name, value),
        )
    };
    post("authorization", format!("Bearer {user}"))
        .await
        .assert_ok(r#"{"closed":true}"#);
    for (name, value) in [
        ("cookie", format!("session={user}")),
        ("x-api-token", user.clone()),
    ] {
        let r = post(name, value).await;
        r.assert_error(&AuthError::TokenSourceNotAllowed);
        assert_eq!(
            r.body,
            r#"{"detail":"Token must be sent in the Authorization header"}"#
        );
    }
    // The same cookie is a token on an unmarked route.
    app.send(
        app.request(Method::GET, "/api/me")
            .header("cookie", format!("session={user}")),
    )
    .await
    .assert_ok(r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":[]}"#);
}

/// Red-team findings on token sources, closed: a name that the frameworks' own parsers read
/// as the configured one (percent-encoded, spaces around a cookie name) is the same name, so
/// a second token cannot hide from the gate (400); a URL token counts only on a real
/// WebSocket upgrade (`GET`, `Connection: upgrade`, `Upgrade: websocket`); an empty value is
/// no token, so a cleared cookie does not turn `Authorization` requests into 400s.
pub async fn token_sources_spellings_and_upgrade_rules<A: Adapter>(h: &Harness<A>) {
    let app = h.start(sources_authenticator(h)).await;
    let user = h.with_roles(&[]);
    let admin = h.with_roles(&["admin"]);
    let ws = |method: Method, path: String, connection: bool| {
        let mut r = app.request(method, &path).header("upgrade", "websocket");
        if connection {
            r = r.header("connection", "upgrade");
        }
        app.send(r)
    };
    for q in [
        format!("access_token={user}&access%5Ftoken={admin}"),
        format!("access_token={user}&%61ccess_token={admin}"),
    ] {
        ws(Method::GET, format!("/api/admin/stats?{q}"), true)
            .await
            .assert_error(&AuthError::InvalidRequest);
    }
    for cookie in [
        format!("session ={admin}; session={user}"),
        format!("s%65ssion={admin}; session={user}"),
    ] {
        app.send(
            app.request(Method::GET, "/api/admin/stats")
                .header("cookie", cookie),
        )
        .await
        .assert_error(&AuthError::InvalidRequest);
    }
    // Not a WebSocket upgrade: no token in the URL.
    ws(Method::GET, format!("/api/me?access_token={user}"), false)
        .await
        .assert_error(&MISSING);
    ws(
        Method::POST,
        format!("/api/health?access_token={user}"),
        true,
    )
    .await
    .assert_error(&MISSING);
    // A cleared cookie beside `Authorization` is one token, not two.
    app.send(
        app.request(Method::GET, "/api/me")
            .header("cookie", "session=")
            .header("authorization", format!("Bearer {user}")),
    )
    .await
    .assert_ok(r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":[]}"#);
}

/// Two trusted issuers in one application: each token is verified with its own issuer's
/// keys (the same `kid` in both included), audience and claim mapping; the unverified `iss`
/// only selects which, and an unknown one is refused without fetching anything.
pub async fn issuers_two_at_once_each_with_its_own_keys<A: Adapter>(h: &Harness<A>) {
    // The other issuer's key has the same `kid` as the harness issuer's RSA key.
    let other_key = TestKey::rsa("rsa-1");
    let other = TestIssuer::start(&[&other_key]).await;
    let auth = h
        .authenticator(
            h.config().also_trust(
                portcullis_core::AuthConfig::builder()
                    .issuer(other.issuer())
                    .audience("other-api")
                    .accepted_algorithms(["RS256"])
                    .role_claims(["realm_access.roles"])
                    .http_timeout_seconds(1),
            ),
        )
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    let stats = r#"{"users":42,"active":30}"#;
    // The harness issuer's tokens, as ever.
    app.get("/api/admin/stats", Some(&h.with_roles(&["admin"])))
        .await
        .assert_ok(stats);
    // The other issuer's: its audience, its role claim.
    let other_iss = other.issuer();
    let theirs = |key: &TestKey| {
        h.token(key)
            .issuer(&other_iss)
            .audience("other-api")
            .claim("realm_access", json!({"roles": ["admin"]}))
            .sign()
    };
    app.get("/api/admin/stats", Some(&theirs(&other_key)))
        .await
        .assert_ok(stats);
    // Its roles are read where its mapping says, not from `roles`.
    let wrong_claim = h
        .token(&other_key)
        .issuer(&other.issuer())
        .audience("other-api")
        .roles(&["admin"])
        .sign();
    app.get("/api/admin/stats", Some(&wrong_claim))
        .await
        .assert_error(&AuthError::InsufficientRole {
            required: vec!["admin".into()],
            all: false,
        });
    // Each issuer's own audience.
    let wrong_aud = h
        .token(&other_key)
        .issuer(&other.issuer())
        .audience(crate::harness::AUDIENCE)
        .sign();
    app.get("/api/me", Some(&wrong_aud))
        .await
        .assert_error(&AuthError::WrongAudience);
    // Keys never cross: the other issuer's claims signed with the harness key of the same
    // `kid`, and the harness issuer's claims signed with the other key, are both forgeries.
    app.get("/api/admin/stats", Some(&theirs(&KEYS.rsa)))
        .await
        .assert_error(&AuthError::BadSignature);
    let forged_home = h.token(&other_key).roles(&["admin"]).sign();
    app.get("/api/admin/stats", Some(&forged_home))
        .await
        .assert_error(&AuthError::BadSignature);
    // An issuer nobody trusts: refused, and no key set fetched for it.
    let fetches = (other.requests(JWKS_PATH), h.issuer.requests(JWKS_PATH));
    let stranger = h
        .token(&other_key)
        .issuer("https://stranger.example")
        .header("kid", json!("never-seen"))
        .sign();
    app.get("/api/me", Some(&stranger))
        .await
        .assert_error(&AuthError::WrongIssuer);
    assert_eq!(
        (other.requests(JWKS_PATH), h.issuer.requests(JWKS_PATH)),
        fetches,
        "an unknown issuer made us fetch"
    );
}

/// Without configuration, a token anywhere but `Authorization` is no token at all.
pub async fn token_sources_off_by_default<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let user = h.with_roles(&[]);
    for header in ["cookie", "x-api-token"] {
        let value = if header == "cookie" {
            format!("session={user}")
        } else {
            user.clone()
        };
        app.send(app.request(Method::GET, "/api/me").header(header, value))
            .await
            .assert_error(&MISSING);
    }
    app.get(&format!("/api/me?access_token={user}"), None)
        .await
        .assert_error(&MISSING);
}

fn sources_authenticator<A: Adapter>(h: &Harness<A>) -> portcullis_core::Authenticator {
    h.authenticator(
        h.config()
            .token_header("X-Api-Token")
            .token_cookie("session")
            .token_query("access_token"),
    )
    .build()
    .expect("authenticator")
}

/// A token over `max_token_bytes`: 401 before any decoding.
pub async fn header_token_over_size_limit<A: Adapter>(h: &Harness<A>) {
    let t = h
        .token(&KEYS.rsa)
        .claim("pad", json!("x".repeat(9000)))
        .sign();
    with_authorization(h, &[format!("Bearer {t}").as_bytes()])
        .await
        .assert_error(&AuthError::TokenTooLarge);
}

/// Non-ASCII bytes in the header: 401 malformed, never a 500.
pub async fn header_non_ascii_bytes<A: Adapter>(h: &Harness<A>) {
    with_authorization(h, &[b"Bearer \xe9\xff\xfe.abc.def"])
        .await
        .assert_error(&AuthError::Malformed(Malformed::NotToken68));
}

// ----- token structure ------------------------------------------------------------------

async fn bearer<A: Adapter>(h: &Harness<A>, token: &str) -> crate::Reply {
    h.app().await.get("/api/me", Some(token)).await
}

/// Two or four segments: malformed.
pub async fn structure_wrong_segment_count<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let t = h.with_roles(&[]);
    let (head, _) = t.rsplit_once('.').expect("three segments");
    for bad in [head.to_owned(), format!("{t}.extra")] {
        app.get("/api/me", Some(&bad))
            .await
            .assert_error(&AuthError::Malformed(Malformed::SegmentCount));
    }
}

/// A segment that is not base64url: malformed.
pub async fn structure_bad_base64<A: Adapter>(h: &Harness<A>) {
    let t = h.with_roles(&[]);
    let bad = format!("{}~~{}", &t[..10], &t[10..]);
    bearer(h, &bad)
        .await
        .assert_error(&AuthError::Malformed(Malformed::Base64));
}

/// A header that is not JSON: malformed.
pub async fn structure_header_not_json<A: Adapter>(h: &Harness<A>) {
    let bad = format!("{}.{}.{}", b64(b"not json"), b64(b"{}"), b64(b"sig"));
    bearer(h, &bad)
        .await
        .assert_error(&AuthError::Malformed(Malformed::Header));
}

/// A correctly signed payload that is not JSON: malformed.
pub async fn structure_payload_not_json<A: Adapter>(h: &Harness<A>) {
    let t = signed_raw(&KEYS.rsa, r#"{"alg":"RS256","kid":"rsa-1"}"#, b"not json");
    bearer(h, &t)
        .await
        .assert_error(&AuthError::Malformed(Malformed::Payload));
}

/// A correctly signed payload that is a JSON array: malformed.
pub async fn structure_payload_not_object<A: Adapter>(h: &Harness<A>) {
    let t = signed_raw(&KEYS.rsa, r#"{"alg":"RS256","kid":"rsa-1"}"#, b"[1,2,3]");
    bearer(h, &t)
        .await
        .assert_error(&AuthError::Malformed(Malformed::Payload));
}

// ----- algorithms -----------------------------------------------------------------------

/// `alg: none` in every casing, with an empty signature: refused.
pub async fn alg_none_in_every_casing<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let t = h.token(&KEYS.rsa).unsigned(alg).sign();
        app.get("/api/me", Some(&t))
            .await
            .assert_error(&AuthError::DisallowedAlgorithm);
    }
}

/// HS256 "signed" with the issuer's RSA public key (key confusion): refused.
pub async fn alg_hs256_signed_with_public_key<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let pem = KEYS.rsa.public_pem().expect("pem");
    for secret in [pem.into_bytes(), KEYS.rsa.public_der().expect("der")] {
        let t = h
            .token(&KEYS.rsa)
            .hmac_with_secret(Algorithm::HS256, &secret)
            .sign();
        app.get("/api/me", Some(&t))
            .await
            .assert_error(&AuthError::DisallowedAlgorithm);
    }
}

/// A valid EdDSA token when only RS256 and ES256 are accepted: refused.
pub async fn alg_outside_allowlist<A: Adapter>(h: &Harness<A>) {
    bearer(h, &h.token(&KEYS.ed).sign())
        .await
        .assert_error(&AuthError::DisallowedAlgorithm);
}

/// An RS256 token naming the EC key's `kid`: refused (key/algorithm binding).
pub async fn alg_rs256_with_ec_kid<A: Adapter>(h: &Harness<A>) {
    let t = h
        .token(&KEYS.rsa)
        .header("kid", json!(KEYS.ec.kid()))
        .sign();
    bearer(h, &t).await.assert_error(&AuthError::KeyMismatch);
}

/// ES256 with an all-zero signature (CVE-2022-21449): refused.
pub async fn alg_es256_zero_signature<A: Adapter>(h: &Harness<A>) {
    let t = h.token(&KEYS.ec).signature_bytes(vec![0; 64]).sign();
    bearer(h, &t).await.assert_error(&AuthError::BadSignature);
}

// ----- keys -----------------------------------------------------------------------------

/// A `kid` the issuer does not publish: refused with 401, not 500.
pub async fn key_unknown_kid<A: Adapter>(h: &Harness<A>) {
    let t = h
        .token(&KEYS.rsa)
        .header("kid", json!("no-such-key"))
        .sign();
    bearer(h, &t).await.assert_error(&AuthError::UnknownKey);
}

/// No `kid`: accepted when exactly one published key fits the algorithm.
pub async fn key_missing_kid<A: Adapter>(h: &Harness<A>) {
    let t = h.token(&KEYS.rsa).without_header("kid").sign();
    assert_eq!(bearer(h, &t).await.status, 200);
}

/// `jku`, `x5u` and an embedded `jwk` pointing at a server the test runs: never fetched,
/// never used.
pub async fn key_jku_x5u_jwk_are_never_fetched<A: Adapter>(h: &Harness<A>) {
    let attacker = TestIssuer::start(&[&KEYS.attacker]).await;
    let app = h.app().await;
    for (name, value) in [
        ("jku", json!(attacker.jwks_url())),
        ("x5u", json!(format!("{}/cert.pem", attacker.issuer()))),
        ("jwk", KEYS.attacker.jwk()),
    ] {
        let t = h.token(&KEYS.attacker).header(name, value.clone()).sign();
        app.get("/api/me", Some(&t))
            .await
            .assert_error(&AuthError::UnknownKey);
        let t = h
            .token(&KEYS.attacker)
            .header(name, value)
            .header("kid", json!(KEYS.rsa.kid()))
            .sign();
        app.get("/api/me", Some(&t))
            .await
            .assert_error(&AuthError::BadSignature);
    }
    assert_eq!(
        attacker.total_requests(),
        0,
        "the attacker's server was contacted"
    );
}

/// `crit` naming an extension portcullis does not understand: refused.
pub async fn key_crit_unknown_parameter<A: Adapter>(h: &Harness<A>) {
    let t = h
        .token(&KEYS.rsa)
        .header("crit", json!(["exp-ext"]))
        .header("exp-ext", json!(true))
        .sign();
    bearer(h, &t)
        .await
        .assert_error(&AuthError::UnsupportedCritical);
}

// ----- claims ---------------------------------------------------------------------------

/// Expired beyond the leeway: `Token has expired`.
pub async fn claims_expired<A: Adapter>(h: &Harness<A>) {
    let t = h.token(&KEYS.rsa).lifetime(-60).sign();
    bearer(h, &t).await.assert_error(&AuthError::Expired);
}

/// Expired 10 s ago, within the default 30 s leeway: accepted.
pub async fn claims_expired_within_leeway<A: Adapter>(h: &Harness<A>) {
    let t = h.token(&KEYS.rsa).lifetime(-10).sign();
    assert_eq!(bearer(h, &t).await.status, 200);
}

/// `nbf` beyond the leeway: refused.
pub async fn claims_nbf_in_future<A: Adapter>(h: &Harness<A>) {
    let t = h
        .token(&KEYS.rsa)
        .claim("nbf", json!(h.clock.now() + 120))
        .sign();
    bearer(h, &t).await.assert_error(&AuthError::NotYetValid);
}

/// No `exp`: refused.
pub async fn claims_missing_exp<A: Adapter>(h: &Harness<A>) {
    let t = h.token(&KEYS.rsa).without_claim("exp").sign();
    bearer(h, &t)
        .await
        .assert_error(&AuthError::MissingClaim("exp".into()));
}

/// Another issuer: refused.
pub async fn claims_wrong_issuer<A: Adapter>(h: &Harness<A>) {
    let t = h.token(&KEYS.rsa).issuer("https://evil.example").sign();
    bearer(h, &t).await.assert_error(&AuthError::WrongIssuer);
}

/// The issuer with a trailing slash: refused (exact match).
pub async fn claims_issuer_trailing_slash<A: Adapter>(h: &Harness<A>) {
    let t = h
        .token(&KEYS.rsa)
        .issuer(&format!("{}/", h.issuer.issuer()))
        .sign();
    bearer(h, &t).await.assert_error(&AuthError::WrongIssuer);
}

/// Another audience: refused.
pub async fn claims_wrong_audience<A: Adapter>(h: &Harness<A>) {
    let t = h.token(&KEYS.rsa).audience("another-api").sign();
    bearer(h, &t).await.assert_error(&AuthError::WrongAudience);
}

/// `aud` as an array that contains ours: accepted.
pub async fn claims_audience_array_contains_ours<A: Adapter>(h: &Harness<A>) {
    let t = h
        .token(&KEYS.rsa)
        .claim("aud", json!(["other", crate::AUDIENCE]))
        .sign();
    assert_eq!(bearer(h, &t).await.status, 200);
}

/// `require_typ: at+jwt`: `typ: JWT` refused, `at+jwt` accepted.
pub async fn claims_typ_mismatch_when_required<A: Adapter>(h: &Harness<A>) {
    let auth = h
        .authenticator(h.config().require_typ("at+jwt"))
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    app.get("/api/me", Some(&h.token(&KEYS.rsa).sign()))
        .await
        .assert_error(&AuthError::WrongType);
    let t = h.token(&KEYS.rsa).header("typ", json!("at+jwt")).sign();
    assert_eq!(app.get("/api/me", Some(&t)).await.status, 200);
}

/// A payload changed after signing: refused.
pub async fn claims_tampered_payload<A: Adapter>(h: &Harness<A>) {
    bearer(h, &h.token(&KEYS.rsa).tamper_payload().sign())
        .await
        .assert_error(&AuthError::BadSignature);
}

/// A signature with one bit flipped: refused.
pub async fn claims_tampered_signature<A: Adapter>(h: &Harness<A>) {
    bearer(h, &h.token(&KEYS.ec).tamper_signature().sign())
        .await
        .assert_error(&AuthError::BadSignature);
}

// ----- policy ---------------------------------------------------------------------------

/// Any-of roles: `editor` or `admin`.
pub async fn policy_role_any_of<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    for roles in [&["editor"][..], &["admin"], &["x", "editor"]] {
        assert_eq!(
            app.get("/api/editor/drafts", Some(&h.with_roles(roles)))
                .await
                .status,
            200,
            "{roles:?}"
        );
    }
    app.get("/api/editor/drafts", Some(&h.with_roles(&["user"])))
        .await
        .assert_error(&AuthError::InsufficientRole {
            required: vec!["admin".into(), "editor".into()],
            all: false,
        });
}

/// All-of roles: `auditor` and `admin`.
pub async fn policy_role_all_of<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.get(
        "/api/audit/report",
        Some(&h.with_roles(&["admin", "auditor"])),
    )
    .await
    .assert_ok(r#"{"report":"ok"}"#);
    app.get("/api/audit/report", Some(&h.with_roles(&["admin"])))
        .await
        .assert_error(&AuthError::InsufficientRole {
            required: vec!["admin".into(), "auditor".into()],
            all: true,
        });
}

/// Group `team-alpha`: granted and denied.
pub async fn policy_group<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let member = h
        .token(&KEYS.rsa)
        .claim("groups", json!(["team-alpha", "x"]))
        .sign();
    app.get("/api/team/board", Some(&member))
        .await
        .assert_ok(r#"{"board":"team-alpha","groups":["team-alpha","x"]}"#);
    let other = h
        .token(&KEYS.rsa)
        .claim("groups", json!(["team-beta"]))
        .sign();
    let r = app.get("/api/team/board", Some(&other)).await;
    assert_eq!(
        r.body,
        r#"{"detail":"Requires one of groups: ['team-alpha']"}"#
    );
    r.assert_error(&AuthError::InsufficientGroup {
        required: vec!["team-alpha".into()],
    });
}

async fn pay(app: &crate::App, user: &str, agent: Option<&str>) -> crate::Reply {
    let mut request = app
        .request(Method::POST, "/api/treasury/payments")
        .header("authorization", format!("Bearer {user}"))
        .header("content-type", "application/json")
        .body("{}");
    if let Some(agent) = agent {
        request = request.header("x-agent-authorization", format!("Bearer {agent}"));
    }
    app.send(request).await
}

fn agent_token<A: Adapter>(h: &Harness<A>, scopes: &[&str]) -> String {
    h.token(&KEYS.ec)
        .subject("agent-7")
        .claim("scopes", json!(scopes))
        .claim("task_type", json!("payment"))
        .sign()
}

/// Agent scope granted exactly and by wildcard (`*`, `treasury:*`).
pub async fn policy_agent_scope_wildcard<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let user = h.with_roles(&["treasury-service"]);
    for granted in ["treasury:write:*", "treasury:*", "*"] {
        pay(&app, &user, Some(&agent_token(h, &[granted])))
            .await
            .assert_ok(r#"{"paid":true,"caller":"user-123","agent":"agent-7"}"#);
    }
}

/// Agent scopes that do not cover the requirement: 403 with pico-client-auth's text.
pub async fn policy_agent_scope_wrong<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let user = h.with_roles(&["treasury-service"]);
    for granted in ["treasury:read", "treasury:write:payments", "billing:*"] {
        let r = pay(&app, &user, Some(&agent_token(h, &[granted]))).await;
        assert_eq!(
            r.body,
            r#"{"detail":"Agent missing required scope; required one of: ['treasury:write:*']"}"#,
            "{granted}"
        );
        r.assert_error(&AuthError::InsufficientAgentScope {
            required: vec!["treasury:write:*".into()],
        });
    }
}

/// No agent token on a route that needs one: 401 with pico-client-auth's text.
pub async fn policy_missing_agent_token<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let r = pay(&app, &h.with_roles(&["treasury-service"]), None).await;
    assert_eq!(
        r.body,
        r#"{"detail":"Endpoint requires X-Agent-Authorization header (agent token)"}"#
    );
    r.assert_error(&AuthError::MissingAgentToken);
}

/// An agent token that does not verify: 401.
pub async fn policy_invalid_agent_token<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let bad = h
        .token(&KEYS.ec)
        .claim("scopes", json!(["*"]))
        .tamper_signature()
        .sign();
    pay(&app, &h.with_roles(&["treasury-service"]), Some(&bad))
        .await
        .assert_error(&AuthError::InvalidAgentToken);
}

/// Role AND agent scope: a missing role is a 403 even with a good agent.
pub async fn policy_role_and_agent_scope_combined<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let r = pay(
        &app,
        &h.with_roles(&["user"]),
        Some(&agent_token(h, &["*"])),
    )
    .await;
    r.assert_error(&AuthError::InsufficientRole {
        required: vec!["treasury-service".into()],
        all: false,
    });
}

/// A path no route matches: 401 without a token, 404 with one.
pub async fn policy_unknown_route<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.get("/api/no/such/route", None)
        .await
        .assert_error(&MISSING);
    assert_eq!(
        app.get("/api/no/such/route", Some(&h.with_roles(&[])))
            .await
            .status,
        404
    );
}

/// A known path with the wrong method: 401 without a token, 405 with one.
pub async fn policy_wrong_method<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.send(app.request(Method::DELETE, "/api/me"))
        .await
        .assert_error(&MISSING);
    let r = app
        .send(
            app.request(Method::DELETE, "/api/me")
                .header("authorization", format!("Bearer {}", h.with_roles(&[]))),
        )
        .await;
    assert_eq!(r.status, 405);
}

/// A role check runs before body extraction: a bad body from a non-admin is a 403.
pub async fn policy_role_check_before_body<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let send = |token: String, body: &'static str| {
        app.request(Method::POST, "/api/echo")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body)
    };
    let r = app.send(send(h.with_roles(&["user"]), "{not json")).await;
    r.assert_error(&AuthError::InsufficientRole {
        required: vec!["admin".into()],
        all: false,
    });
    app.send(send(h.with_roles(&["admin"]), r#"{"a":1}"#))
        .await
        .assert_ok(r#"{"a":1}"#);
}

/// `SecurityContext::require_role` inside a handler: 403, never 401.
pub async fn policy_handler_role_check_is_403<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.get("/api/handler/check", Some(&h.with_roles(&["user"])))
        .await
        .assert_error(&AuthError::InsufficientRole {
            required: vec!["auditor".into()],
            all: false,
        });
    app.get("/api/handler/check", Some(&h.with_roles(&["auditor"])))
        .await
        .assert_ok(r#"{"checked":true}"#);
}

/// An anonymous route sees a valid caller and ignores an invalid token.
pub async fn policy_anonymous_route_sees_valid_caller<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.get("/api/public/whoami", None)
        .await
        .assert_ok(r#"{"sub":null}"#);
    app.get("/api/public/whoami", Some(&h.with_roles(&[])))
        .await
        .assert_ok(r#"{"sub":"user-123"}"#);
    app.get("/api/public/whoami", Some("not-a-token"))
        .await
        .assert_ok(r#"{"sub":null}"#);
    let expired = h.token(&KEYS.rsa).lifetime(-3600).sign();
    app.get("/api/public/whoami", Some(&expired))
        .await
        .assert_ok(r#"{"sub":null}"#);
}

/// The bearer token's own OAuth2 scope (`requires_token_scope`): a `scope` string or an
/// `scp` list grants it; without it 403 `insufficient_scope` with the `scope` attribute; an
/// agent token's scopes do not count for it.
pub async fn policy_token_scope<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let with_scope = h
        .token(&KEYS.rsa)
        .claim("scope", json!("docs:write docs:read"))
        .sign();
    app.get("/api/docs", Some(&with_scope))
        .await
        .assert_ok(r#"{"docs":["guide"]}"#);
    let scp = h.token(&KEYS.rsa).claim("scp", json!(["docs:read"])).sign();
    app.get("/api/docs", Some(&scp))
        .await
        .assert_ok(r#"{"docs":["guide"]}"#);
    let other = h
        .token(&KEYS.rsa)
        .claim("scope", json!("docs:write"))
        .sign();
    let r = app.get("/api/docs", Some(&other)).await;
    r.assert_error(&AuthError::InsufficientScope {
        required: vec!["docs:read".into()],
    });
    assert!(r
        .www_authenticate
        .as_deref()
        .is_some_and(|v| v.contains(r#"scope="docs:read""#)));
    // The agent's scopes are the agent's, not the caller's.
    let r = app
        .send(
            app.request(Method::GET, "/api/docs")
                .header("authorization", format!("Bearer {}", h.with_roles(&[])))
                .header(
                    "x-agent-authorization",
                    format!("Bearer {}", agent_token(h, &["docs:read"])),
                ),
        )
        .await;
    assert_eq!(r.status, 403);
    app.get("/api/docs", None).await.assert_error(&MISSING);
}

async fn raw_get(app: &crate::App, target: &str, token: Option<&str>) -> crate::raw::RawReply {
    let headers = token
        .map(|t| vec![("authorization".to_owned(), format!("Bearer {t}"))])
        .unwrap_or_default();
    let request = crate::raw::RawRequest {
        method: "GET".into(),
        target: target.into(),
        headers,
        body: Vec::new(),
    };
    crate::raw::send(app.addr(), &request).await
}

/// Issue 10, first reproduction: a percent-encoded spelling of a role route (any letter,
/// lower or upper hex, absolute form) never reaches its handler for a caller without the
/// role. Whether the framework routes the spelling to the handler (actix-web decodes it)
/// or not (404), the answer is never a success.
pub async fn route_percent_encoded_path_keeps_its_requirement<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let user = h.with_roles(&["user"]);
    let editor = h.with_roles(&["editor"]);
    let host = app.addr();
    let targets = [
        "/api/%61dmin/stats".to_owned(),
        "/api/admin/stat%73".to_owned(),
        "/api/%61%64%6d%69%6e/stats".to_owned(),
        "/%61pi/admin/stats".to_owned(),
        "/api/admi%6E/stats".to_owned(),
        "/api/admi%6e/stats".to_owned(),
        format!("http://{host}/api/%61dmin/stats"),
        "http://evil.example/api/%61dmin/stats".to_owned(),
    ];
    for target in &targets {
        for token in [Some(user.as_str()), Some(editor.as_str()), None] {
            let r = raw_get(&app, target, token).await;
            assert!(
                matches!(r.status, 401 | 403 | 404),
                "GET {target} answered {} {}",
                r.status,
                r.body
            );
        }
    }
    for target in ["/%61pi/editor/drafts", "/api/editor/draft%73"] {
        let r = raw_get(&app, target, Some(&user)).await;
        assert!(matches!(r.status, 403 | 404), "GET {target}: {r:?}");
    }
}

/// Issue 10, second reproduction: a marker on one method of a path (anonymous `GET
/// /api/health`, anonymous `GET /api/items/{id}`) opens no other method of it: `POST
/// /api/health` (no marker) needs a token, `DELETE /api/items/{id}` the admin role.
pub async fn route_marker_on_one_method_keeps_other_methods<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let bearer = |t: String| format!("Bearer {t}");
    let send = |method: Method, path: &str, token: Option<String>| {
        let mut request = app
            .request(method, path)
            .header("content-type", "application/json")
            .body("{}");
        if let Some(t) = token {
            request = request.header("authorization", bearer(t));
        }
        app.send(request)
    };
    send(Method::POST, "/api/health", None)
        .await
        .assert_error(&MISSING);
    send(Method::POST, "/api/health", Some(h.with_roles(&[])))
        .await
        .assert_ok(r#"{"posted":true}"#);
    app.get("/api/health", None)
        .await
        .assert_ok(r#"{"status":"ok"}"#);
    app.get("/api/items/42", None)
        .await
        .assert_ok(r#"{"item":42}"#);
    send(Method::DELETE, "/api/items/42", None)
        .await
        .assert_error(&MISSING);
    send(
        Method::DELETE,
        "/api/items/42",
        Some(h.with_roles(&["user"])),
    )
    .await
    .assert_error(&AuthError::InsufficientRole {
        required: vec!["admin".into()],
        all: false,
    });
    send(
        Method::DELETE,
        "/api/items/42",
        Some(h.with_roles(&["admin"])),
    )
    .await
    .assert_ok(r#"{"deleted":42}"#);
}

/// A nested router / scope carries its routes' requirements, and a path parameter route
/// keeps its own.
pub async fn route_nested_router_and_path_parameter<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.get("/api/v1/me", None).await.assert_error(&MISSING);
    assert_eq!(
        app.get("/api/v1/me", Some(&h.with_roles(&[]))).await.status,
        200
    );
    app.get("/api/v1/admin/report", Some(&h.with_roles(&["user"])))
        .await
        .assert_error(&AuthError::InsufficientRole {
            required: vec!["admin".into()],
            all: false,
        });
    app.get("/api/v1/admin/report", Some(&h.with_roles(&["admin"])))
        .await
        .assert_ok(r#"{"report":"v1"}"#);
    app.get("/api/macro/admin", Some(&h.with_roles(&["user"])))
        .await
        .assert_error(&AuthError::InsufficientRole {
            required: vec!["admin".into()],
            all: false,
        });
    app.get("/api/macro/admin", Some(&h.with_roles(&["admin"])))
        .await
        .assert_ok(r#"{"users":42,"active":30}"#);
    for id in ["1", "abc", "x%2Fy"] {
        assert_eq!(
            app.get(&format!("/api/items/{id}"), None).await.status,
            200,
            "{id}"
        );
    }
}

/// The route matrix (see [`crate::matrix`]): every route × callers × spellings × methods,
/// the handler-side oracle armed. No handler runs for a caller who does not satisfy it, no
/// 5xx, and every predicted class matches.
pub async fn route_matrix<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let report = crate::matrix::run(h, &app).await;
    eprintln!(
        "{}: {} requests, {} predicted, {} successes on other spellings, classes {:?}",
        A::NAME,
        report.requests,
        report.predicted,
        report.variant_successes,
        report.classes
    );
    assert!(
        report.failures.is_empty(),
        "{} failures of {} requests, first ones:\n{}",
        report.failures.len(),
        report.requests,
        report.failures[..report.failures.len().min(30)].join("\n")
    );
    assert!(report.requests > 40_000, "{} requests", report.requests);
    assert!(
        report.predicted > 20_000,
        "{} predicted answers",
        report.predicted
    );
}

/// The adapter's typed claims extractor: claims that fit the application's type come back
/// typed; a token without a field the type needs is refused with a fixed 401, never a 500 or
/// the deserializer's message.
pub async fn typed_claims_extractor<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    app.get("/api/typed", Some(&h.with_roles(&[])))
        .await
        .assert_ok(r#"{"sub":"user-123","org_id":"org-1"}"#);
    let without = h.token(&KEYS.rsa).without_claim("org_id").sign();
    let r = app.get("/api/typed", Some(&without)).await;
    r.assert_error(&AuthError::ClaimsRejected { forbidden: false });
    assert_eq!(r.body, r#"{"detail":"Token claims not accepted"}"#);
    let wrong_type = h.token(&KEYS.rsa).claim("org_id", json!(7)).sign();
    app.get("/api/typed", Some(&wrong_type))
        .await
        .assert_error(&AuthError::ClaimsRejected { forbidden: false });
    app.get("/api/typed", None).await.assert_error(&MISSING);
}

/// The claims validation hook: the application's own rule refuses with a fixed 401 or 403,
/// at the gate, for every route.
pub async fn claims_validation_hook<A: Adapter>(h: &Harness<A>) {
    let auth = h
        .authenticator(h.config())
        .validate_claims(|claims| match claims.claim::<String>("tenant").as_deref() {
            Some("blocked") => Err(AuthError::ClaimsRejected { forbidden: true }),
            Some(_) => Ok(()),
            None => Err(AuthError::ClaimsRejected { forbidden: false }),
        })
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    let with = |tenant: Option<&str>| {
        let mut b = h.token(&KEYS.rsa);
        if let Some(t) = tenant {
            b = b.claim("tenant", json!(t));
        }
        b.sign()
    };
    assert_eq!(
        app.get("/api/me", Some(&with(Some("acme")))).await.status,
        200
    );
    let r = app.get("/api/me", Some(&with(Some("blocked")))).await;
    r.assert_error(&AuthError::ClaimsRejected { forbidden: true });
    assert_eq!(r.body, r#"{"detail":"Not allowed by token claims"}"#);
    app.get("/api/me", Some(&with(None)))
        .await
        .assert_error(&AuthError::ClaimsRejected { forbidden: false });
    // Public routes never refuse; a refused token there is an anonymous caller.
    app.get("/api/public/whoami", Some(&with(Some("blocked"))))
        .await
        .assert_ok(r#"{"sub":null}"#);
}

// ----- context --------------------------------------------------------------------------

/// 200 concurrent requests with distinct subjects each see their own, two calls deep.
pub async fn context_concurrent_distinct_subjects<A: Adapter>(h: &Harness<A>) {
    let app = Arc::new(h.app().await);
    let tokens: Vec<(String, String)> = (0..200)
        .map(|i| {
            let sub = format!("user-{i}");
            (sub.clone(), h.token(&KEYS.ec).subject(&sub).sign())
        })
        .collect();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|(sub, token)| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let r = app.get("/api/context/nested", Some(&token)).await;
                (sub, r)
            })
        })
        .collect();
    for task in tasks {
        let (sub, r) = task.await.expect("request task");
        r.assert_ok(&json!({"sub": sub}).to_string());
    }
}

/// A service two calls deep (across awaits) sees the caller.
pub async fn context_nested_service<A: Adapter>(h: &Harness<A>) {
    h.app()
        .await
        .get("/api/context/nested", Some(&h.with_roles(&[])))
        .await
        .assert_ok(r#"{"sub":"user-123"}"#);
}

/// A spawned task sees the caller only when the context was carried into it.
pub async fn context_spawned_task<A: Adapter>(h: &Harness<A>) {
    h.app()
        .await
        .get("/api/context/spawned", Some(&h.with_roles(&[])))
        .await
        .assert_ok(r#"{"sub":"user-123","uncarried":null}"#);
}

/// Nothing is left after a response: the next requests on the same connection are
/// anonymous.
pub async fn context_nothing_left_after_response<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/me", Some(&h.with_roles(&["admin"])))
                .await
                .status,
            200
        );
        app.get("/api/public/whoami", None)
            .await
            .assert_ok(r#"{"sub":null}"#);
        app.get("/api/me", None).await.assert_error(&MISSING);
    }
}

// ----- key-set life ---------------------------------------------------------------------

/// A key added at the issuer mid-run: its tokens verify after one fetch.
pub async fn keyset_rotation_mid_run<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    assert_eq!(
        app.get("/api/me", Some(&h.with_roles(&[]))).await.status,
        200
    );
    let fetches = h.issuer.requests(JWKS_PATH);
    h.issuer.add_key(&KEYS.rotated);
    assert_eq!(
        app.get("/api/me", Some(&h.token(&KEYS.rotated).sign()))
            .await
            .status,
        200
    );
    assert_eq!(h.issuer.requests(JWKS_PATH), fetches + 1);
}

/// The issuer goes down after keys were fetched: tokens still verify (stale keys).
pub async fn keyset_issuer_down_with_cached_keys<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    assert_eq!(
        app.get("/api/me", Some(&h.with_roles(&[]))).await.status,
        200
    );
    h.issuer.set_behavior_all(Behavior::RefuseConnections);
    h.clock.advance(600); // past the key-set TTL, within the stale limit
    assert_eq!(
        app.get("/api/me", Some(&h.with_roles(&[]))).await.status,
        200
    );
}

/// The issuer is down and no keys were ever fetched: 503 with `Retry-After`.
pub async fn keyset_issuer_down_without_keys<A: Adapter>(h: &Harness<A>) {
    h.issuer.set_behavior_all(Behavior::RefuseConnections);
    let app = h.app().await;
    let r = app.get("/api/me", Some(&h.with_roles(&[]))).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, r#"{"detail":"Authentication service unavailable"}"#)
    );
    assert!(r.retry_after.is_some(), "Retry-After");
    assert_eq!(r.www_authenticate, None);
}

/// A revoked `jti` is refused; others pass.
pub async fn keyset_revoked_jti<A: Adapter>(h: &Harness<A>) {
    h.issuer.revoke("revoked-1");
    let auth = h
        .authenticator(h.config().revocation_endpoint(h.issuer.revocation_url()))
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    let revoked = h.token(&KEYS.rsa).claim("jti", json!("revoked-1")).sign();
    app.get("/api/me", Some(&revoked))
        .await
        .assert_error(&AuthError::Revoked);
    let fine = h.token(&KEYS.rsa).claim("jti", json!("fine-1")).sign();
    assert_eq!(app.get("/api/me", Some(&fine)).await.status, 200);
}

/// Polls `path` with `token` until the answer is `status` (the change lands in a background
/// refresh), for at most about five seconds.
async fn eventually(app: &crate::App, path: &str, token: &str, status: u16) -> crate::Reply {
    let mut last = app.get(path, Some(token)).await;
    for _ in 0..250 {
        if last.status == status {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        last = app.get(path, Some(token)).await;
    }
    last
}

/// The verified-token cache never outlives the token: a cached token is refused once it
/// expires (plus leeway), with the usual answer.
pub async fn cache_expiry_while_cached<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let token = h.token(&KEYS.ec).lifetime(60).sign();
    for _ in 0..3 {
        assert_eq!(app.get("/api/me", Some(&token)).await.status, 200);
    }
    h.clock.advance(60 + 30); // past exp plus the default leeway
    app.get("/api/me", Some(&token))
        .await
        .assert_error(&AuthError::Expired);
}

/// Revocation is checked on every cache hit: a cached token revoked at the issuer is
/// refused once the list is polled again.
pub async fn cache_revocation_while_cached<A: Adapter>(h: &Harness<A>) {
    let auth = h
        .authenticator(h.config().revocation_endpoint(h.issuer.revocation_url()))
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    let token = h.token(&KEYS.rsa).claim("jti", json!("cached-1")).sign();
    for _ in 0..3 {
        assert_eq!(app.get("/api/me", Some(&token)).await.status, 200);
    }
    h.issuer.revoke("cached-1");
    h.clock.advance(16); // past revocation_ttl_seconds
    eventually(&app, "/api/me", &token, 401)
        .await
        .assert_error(&AuthError::Revoked);
}

/// A cache entry names its key: once the issuer stops publishing that key and the key set
/// is refreshed, the cached token is refused like any token of an unknown key.
pub async fn cache_key_removal_while_cached<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let token = h.token(&KEYS.ec).sign();
    for _ in 0..3 {
        assert_eq!(app.get("/api/me", Some(&token)).await.status, 200);
    }
    h.issuer.remove_key(KEYS.ec.kid());
    h.clock.advance(300); // the key set's TTL: the next request refreshes it
    eventually(&app, "/api/me", &token, 401)
        .await
        .assert_error(&AuthError::UnknownKey);
    // Other tokens are unaffected.
    assert_eq!(
        app.get("/api/me", Some(&h.with_roles(&[]))).await.status,
        200
    );
}

/// `enabled: false`: everything passes anonymously, markers are not enforced.
pub async fn disabled_mode<A: Adapter>(h: &Harness<A>) {
    let auth = h
        .authenticator(portcullis_core::AuthConfig::builder().enabled(false))
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    app.get("/api/admin/stats", None)
        .await
        .assert_ok(r#"{"users":42,"active":30}"#);
    app.get("/api/team/board", None)
        .await
        .assert_ok(r#"{"board":"team-alpha","groups":[]}"#);
    app.get("/api/public/whoami", Some(&h.with_roles(&[])))
        .await
        .assert_ok(r#"{"sub":null}"#);
    let r = app
        .send(
            app.request(Method::POST, "/api/treasury/payments")
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await;
    r.assert_ok(r#"{"paid":true,"caller":null,"agent":null}"#);
    assert_eq!(app.get("/api/no/such/route", None).await.status, 404);
}

// ----- post-quantum, replaceable parts ---------------------------------------------------

/// ML-DSA-65 and ML-DSA-87 tokens verify when listed.
pub async fn pq_ml_dsa_65_and_87_accepted_when_listed<A: Adapter>(h: &Harness<A>) {
    let (k65, k87) = (TestKey::ml_dsa_65("pq-65"), TestKey::ml_dsa_87("pq-87"));
    h.issuer.add_key(&k65);
    h.issuer.add_key(&k87);
    let auth = h
        .authenticator(
            h.config()
                .accepted_algorithms(["RS256", "ML-DSA-65", "ML-DSA-87"]),
        )
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    for key in [&k65, &k87] {
        let t = h.token(key).roles(&["admin"]).sign();
        app.get("/api/admin/stats", Some(&t))
            .await
            .assert_ok(r#"{"users":42,"active":30}"#);
    }
}

/// ML-DSA tokens are refused when not listed.
pub async fn pq_ml_dsa_rejected_when_not_listed<A: Adapter>(h: &Harness<A>) {
    let (k65, k87) = (TestKey::ml_dsa_65("pq-65"), TestKey::ml_dsa_87("pq-87"));
    h.issuer.add_key(&k65);
    h.issuer.add_key(&k87);
    let auth = h
        .authenticator(h.config().accepted_algorithms(["RS256", "ML-DSA-65"]))
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    app.get("/api/me", Some(&h.token(&k87).sign()))
        .await
        .assert_error(&AuthError::DisallowedAlgorithm);
    let app = h.app().await;
    app.get("/api/me", Some(&h.token(&k65).sign()))
        .await
        .assert_error(&AuthError::DisallowedAlgorithm);
}

/// A custom key source (keys the service holds): no request ever reaches the issuer.
pub async fn custom_key_source<A: Adapter>(h: &Harness<A>) {
    let own = TestKey::ec_p256("own-key");
    let keys = StaticKeys::new(KeySet::from_jwks(&TestKey::jwks(&[&own])).expect("jwks"));
    let auth = h
        .authenticator(h.config())
        .key_source(keys)
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    app.get("/api/me", Some(&h.token(&own).sign()))
        .await
        .assert_ok(r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":[]}"#);
    app.get("/api/me", Some(&h.with_roles(&[])))
        .await
        .assert_error(&AuthError::UnknownKey);
    assert_eq!(h.issuer.total_requests(), 0);
}

struct Directory;

impl RoleResolver for Directory {
    fn resolve(&self, claims: &Map) -> Authorities {
        let roles = match claims.get("sub").and_then(Value::as_str) {
            Some("alice") => vec!["admin".to_owned()],
            _ => Vec::new(),
        };
        Authorities::new(roles, Vec::new(), Vec::new())
    }
}

/// A custom role resolver (roles from an in-memory directory, not the token).
pub async fn custom_role_resolver<A: Adapter>(h: &Harness<A>) {
    let auth = h
        .authenticator(h.config())
        .role_resolver(Directory)
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    let alice = h.token(&KEYS.rsa).subject("alice").sign();
    app.get("/api/admin/stats", Some(&alice))
        .await
        .assert_ok(r#"{"users":42,"active":30}"#);
    let bob = h.token(&KEYS.rsa).subject("bob").roles(&["admin"]).sign();
    assert_eq!(
        app.get("/api/admin/stats", Some(&bob)).await.status,
        403,
        "the token's own roles are ignored"
    );
}

/// The error-body hook shapes bodies; status and `WWW-Authenticate` stay the core's,
/// for adapter decisions and handler errors alike.
pub async fn error_body_hook<A: Adapter>(h: &Harness<A>) {
    let auth = h
        .authenticator(h.config())
        .error_body(|e| json!({"error": e.reason(), "message": e.detail()}).to_string())
        .build()
        .expect("authenticator");
    let app = h.start(auth).await;
    let r = app.get("/api/me", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        r#"{"error":"missing_token","message":"Missing or invalid Authorization header"}"#
    );
    assert_eq!(r.www_authenticate.as_deref(), Some("Bearer"));
    let r = app
        .get("/api/handler/check", Some(&h.with_roles(&[])))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        r#"{"error":"insufficient_role","message":"Requires one of roles: ['auditor']"}"#
    );
    assert!(r
        .www_authenticate
        .is_some_and(|v| v.starts_with(r#"Bearer error="insufficient_scope""#)));
}

/// Every 401/403 carries the core's `WWW-Authenticate`, and no body echoes token content.
pub async fn challenges_and_no_leaks<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let secretive = h
        .token(&KEYS.rsa)
        .header("kid", json!("kid-SECRET-1"))
        .claim("sub", json!("sub-SECRET-2"))
        .sign();
    let tokens = [
        secretive,
        h.token(&KEYS.rsa).issuer("https://SECRET-3.example").sign(),
        h.token(&KEYS.rsa).claim("exp", json!("SECRET-4")).sign(),
        h.token(&KEYS.rsa).tamper_signature().sign(),
        format!(
            "{}.{}.{}",
            b64(br#"{"alg":"SECRET-5"}"#),
            b64(b"{}"),
            b64(b"x")
        ),
    ];
    for t in &tokens {
        let r = app.get("/api/me", Some(t)).await;
        assert_eq!(r.status, 401, "{r:?}");
        let challenge = r.www_authenticate.clone().unwrap_or_default();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{challenge}"
        );
        let everything = format!("{} {challenge}", r.body);
        assert!(
            !everything.contains("SECRET"),
            "leaked token content: {everything}"
        );
        for segment in t.split('.').filter(|s| s.len() > 8) {
            assert!(!everything.contains(segment), "echoed a token segment");
        }
        let v: Value = serde_json::from_str(&r.body).expect("JSON body");
        assert!(v["detail"].is_string());
    }
    let r = app.get("/api/admin/stats", Some(&h.with_roles(&[]))).await;
    assert_eq!(r.status, 403);
    assert!(r
        .www_authenticate
        .is_some_and(|v| v.starts_with(r#"Bearer error="insufficient_scope""#)));
}

// ----- DPoP (RFC 9449) ------------------------------------------------------------------

const PROFILE: &str =
    r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":[]}"#;

/// A request with `Authorization: <scheme> <token>` and one `DPoP` header per proof.
async fn dpop_send(
    app: &crate::App,
    method: Method,
    path: &str,
    authorization: &str,
    proofs: &[&str],
) -> crate::Reply {
    let mut request = app
        .request(method, path)
        .header("authorization", authorization);
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    app.send(request).await
}

/// `GET /api/me` as `Authorization: DPoP` with a token bound to the client's key and a
/// fresh proof of it; the token and the answer.
async fn dpop_get_me<A: Adapter>(h: &Harness<A>, app: &crate::App) -> (String, crate::Reply) {
    let token = h.token(&KEYS.rsa).bound_to(&KEYS.client).sign();
    let proof = dpop_proof(h, app, "GET", "/api/me", &token).sign();
    let authorization = format!("DPoP {token}");
    let reply = dpop_send(app, Method::GET, "/api/me", &authorization, &[&proof]).await;
    (token, reply)
}

/// A proof by the client key for `method` and this app's `path`, for `token`.
fn dpop_proof<A: Adapter>(
    h: &Harness<A>,
    app: &crate::App,
    method: &str,
    path: &str,
    token: &str,
) -> portcullis_core::testkit::TokenBuilder<'static> {
    KEYS.client
        .dpop_proof(method, &format!("{}{path}", app.base()))
        .now(h.clock.now())
        .without_claim("exp")
        .access_token(token)
}

fn dpop_authenticator<A: Adapter>(
    h: &Harness<A>,
    mode: portcullis_core::dpop::DpopMode,
) -> portcullis_core::Authenticator {
    h.authenticator(h.config().dpop(mode))
        .build()
        .expect("authenticator")
}

/// `dpop: allowed`: a DPoP-bound token with its proof reaches the handler, on a plain route
/// and on a `requires_dpop` route, once per proof; bearer tokens still work where DPoP is not
/// required; a bound token sent as a bearer token does not.
pub async fn dpop_bound_token_and_proof_reach_the_handler<A: Adapter>(h: &Harness<A>) {
    use portcullis_core::dpop::{DpopMode, DpopProblem};
    let auth = dpop_authenticator(h, DpopMode::Allowed);
    let app = h.start(auth.clone()).await;
    let token = h.token(&KEYS.rsa).bound_to(&KEYS.client).sign();
    let dpop = format!("DPoP {token}");
    let proof = dpop_proof(h, &app, "GET", "/api/me", &token).sign();
    dpop_send(&app, Method::GET, "/api/me", &dpop, &[&proof])
        .await
        .assert_ok(PROFILE);
    // The same proof a second time: a replay, whatever else is right about it.
    dpop_send(&app, Method::GET, "/api/me", &dpop, &[&proof])
        .await
        .assert_answer(&auth.error_response(&AuthError::InvalidDpopProof(DpopProblem::Replayed)));
    let transfer = dpop_proof(h, &app, "POST", "/api/dpop/transfer", &token).sign();
    let jkt = KEYS.client.thumbprint();
    dpop_send(
        &app,
        Method::POST,
        "/api/dpop/transfer",
        &dpop,
        &[&transfer],
    )
    .await
    .assert_ok(&format!(r#"{{"transferred":true,"jkt":"{jkt}"}}"#));
    // A bearer token: fine on `/api/me`, not on the DPoP route.
    let bearer = h.with_roles(&[]);
    app.get("/api/me", Some(&bearer)).await.assert_ok(PROFILE);
    let required = auth.error_response(&AuthError::DpopRequired);
    dpop_send(
        &app,
        Method::POST,
        "/api/dpop/transfer",
        &format!("Bearer {bearer}"),
        &[],
    )
    .await
    .assert_answer(&required);
    // The bound token as a bearer token (a thief without the key), with or without a proof.
    app.get("/api/me", Some(&token))
        .await
        .assert_answer(&required);
    let stolen = dpop_proof(h, &app, "GET", "/api/me", &token).sign();
    dpop_send(
        &app,
        Method::GET,
        "/api/me",
        &format!("Bearer {token}"),
        &[&stolen],
    )
    .await
    .assert_answer(&required);
}

/// Hostile proofs (RFC 9449 §4.3): wrong `htm`, `htu` of another route or origin, an old or
/// future `iat`, a replayed `jti`, `ath` of another token, a private key in `jwk`, `alg:
/// none`, HS256, another key, none or two proofs: every one is the same 401
/// `invalid_dpop_proof` answer, and no handler runs.
pub async fn dpop_hostile_proofs_are_refused<A: Adapter>(h: &Harness<A>) {
    use portcullis_core::dpop::{DpopMode, DpopProblem};
    let auth = dpop_authenticator(h, DpopMode::Allowed);
    let app = h.start(auth.clone()).await;
    let token = h.token(&KEYS.rsa).bound_to(&KEYS.client).sign();
    let dpop = format!("DPoP {token}");
    let ok = || dpop_proof(h, &app, "POST", "/api/dpop/transfer", &token);
    let now = h.clock.now();
    let private_jwk = {
        let mut jwk = KEYS.client.jwk();
        jwk["d"] = json!("c2VjcmV0");
        jwk
    };
    let other_port = format!(
        "http://127.0.0.1:{}/api/dpop/transfer",
        app.addr().port().wrapping_add(1)
    );
    // The first use of a `jti` passes; any later proof with that `jti` is a replay.
    let first = ok().claim("jti", json!("fixed-jti")).sign();
    dpop_send(&app, Method::POST, "/api/dpop/transfer", &dpop, &[&first])
        .await
        .assert_ok(&format!(
            r#"{{"transferred":true,"jkt":"{}"}}"#,
            KEYS.client.thumbprint()
        ));
    let hostile: Vec<(&str, String)> = vec![
        ("htm GET", ok().claim("htm", json!("GET")).sign()),
        (
            "htu of another route",
            ok().claim("htu", json!(format!("{}/api/me", app.base())))
                .sign(),
        ),
        (
            "htu of another origin",
            ok().claim("htu", json!(other_port)).sign(),
        ),
        (
            "iat two minutes old",
            ok().claim("iat", json!(now - 120)).sign(),
        ),
        (
            "iat a minute ahead",
            ok().claim("iat", json!(now + 60)).sign(),
        ),
        ("replayed jti", ok().claim("jti", json!("fixed-jti")).sign()),
        (
            "ath of another token",
            ok().access_token("another.token.x").sign(),
        ),
        ("no ath", ok().without_claim("ath").sign()),
        ("private key in jwk", ok().header("jwk", private_jwk).sign()),
        ("alg none", ok().unsigned("none").sign()),
        (
            "HS256",
            ok().hmac_with_secret(Algorithm::HS256, b"secret").sign(),
        ),
        ("typ JWT", ok().header("typ", json!("JWT")).sign()),
        ("tampered", ok().tamper_signature().sign()),
        (
            "another key",
            KEYS.attacker
                .dpop_proof("POST", &format!("{}/api/dpop/transfer", app.base()))
                .now(now)
                .access_token(&token)
                .sign(),
        ),
    ];
    let refused = auth.error_response(&AuthError::InvalidDpopProof(DpopProblem::Signature));
    for (name, proof) in &hostile {
        let reply = dpop_send(&app, Method::POST, "/api/dpop/transfer", &dpop, &[proof]).await;
        assert_eq!(reply.status, 401, "{name}: {reply:?}");
        reply.assert_answer(&refused);
    }
    dpop_send(&app, Method::POST, "/api/dpop/transfer", &dpop, &[])
        .await
        .assert_answer(&refused);
    let (a, b) = (ok().sign(), ok().sign());
    dpop_send(&app, Method::POST, "/api/dpop/transfer", &dpop, &[&a, &b])
        .await
        .assert_answer(&refused);
    // The answer names nothing of the token or the proof.
    let reply = dpop_send(&app, Method::POST, "/api/dpop/transfer", &dpop, &[&first]).await;
    assert!(!reply.body.contains("fixed-jti") && !reply.body.contains(&token[..16]));
}

/// `dpop: required`: only DPoP-bound tokens with a proof; bearer tokens and missing tokens
/// get a `DPoP` challenge listing the accepted algorithms.
pub async fn dpop_required_refuses_bearer_tokens<A: Adapter>(h: &Harness<A>) {
    use portcullis_core::dpop::DpopMode;
    let auth = dpop_authenticator(h, DpopMode::Required);
    let app = h.start(auth.clone()).await;
    let missing = app.get("/api/me", None).await;
    missing.assert_answer(&auth.error_response(&MISSING));
    assert!(
        missing
            .www_authenticate
            .as_deref()
            .is_some_and(|c| c.starts_with("DPoP algs=\"")),
        "{missing:?}"
    );
    app.get("/api/me", Some(&h.with_roles(&[])))
        .await
        .assert_answer(&auth.error_response(&AuthError::DpopRequired));
    dpop_get_me(h, &app).await.1.assert_ok(PROFILE);
    // Public routes stay public.
    app.get("/api/health", None)
        .await
        .assert_ok(r#"{"status":"ok"}"#);
}

/// `dpop` off (the default): `Authorization: DPoP` is no credential, a DPoP-bound token is
/// never taken as a bearer token, and `requires_dpop` admits nobody.
pub async fn dpop_off_refuses_bound_tokens<A: Adapter>(h: &Harness<A>) {
    let app = h.app().await;
    let (token, reply) = dpop_get_me(h, &app).await;
    reply.assert_error(&MISSING);
    app.get("/api/me", Some(&token))
        .await
        .assert_error(&AuthError::DpopRequired);
    dpop_send(
        &app,
        Method::POST,
        "/api/dpop/transfer",
        &format!("Bearer {}", h.with_roles(&["admin"])),
        &[],
    )
    .await
    .assert_error(&AuthError::DpopRequired);
}
