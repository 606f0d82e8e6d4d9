//! Issue 11's leniencies, each closed and pinned: duplicate claims, fractional dates, `aud`
//! and `crit` types, the `Bearer` syntax, agent tokens that are callers' tokens, an empty
//! payload, and hostile configuration documents.

mod common;

use base64::Engine;
use common::*;
use portcullis_core::testkit::TestKey;
use portcullis_core::{
    AuthConfig, AuthError, AuthorizationHeader, Malformed, RequestCredentials, Requirement,
    SecurityContext,
};
use serde_json::json;

async fn verify(token: &str) -> Result<portcullis_core::TokenClaims, AuthError> {
    let (auth, _) = default_auth();
    auth.verify_token(token).await
}

#[tokio::test]
async fn the_raw_helper_makes_valid_tokens() {
    let claims = verify(&signed_raw(&RSA, &rs_header(), &payload(""))).await;
    assert_eq!(claims.expect("valid").sub(), Some("u1"));
}

#[tokio::test]
async fn duplicate_claim_names_are_refused_at_any_depth() {
    for extra in [
        r#","sub":"admin""#,
        r#","roles":["user"],"roles":["admin"]"#,
        r#","realm_access":{"roles":["user"],"roles":["admin"]}"#,
        r#","\u0073ub":"admin""#,
        // In a member too large to be built while the token is verified (read on first use,
        // checked all the same): a duplicate at its end, deep inside, or escaped.
        &format!(r#","roles":[{LONG},{{"k":1,"k":2}}]"#),
        &format!(r#","realm_access":{{"roles":[{LONG}],"roles":["admin"]}}"#),
        &format!(r#","x":[{LONG},[{{"a":{{"\u0062":1,"b":2}}}}]]"#),
    ] {
        let token = signed_raw(&RSA, &rs_header(), &payload(extra));
        assert_eq!(
            verify(&token).await.unwrap_err(),
            AuthError::Malformed(Malformed::DuplicateMember),
            "{extra}"
        );
    }
}

/// Forty roles: more than a member may hold and still be built while its token is verified.
const LONG: &str = r#""r0","r1","r2","r3","r4","r5","r6","r7","r8","r9","r10","r11","r12","r13","r14","r15","r16","r17","r18","r19","r20","r21","r22","r23","r24","r25","r26","r27","r28","r29","r30","r31","r32","r33","r34","r35","r36","r37","r38","r39""#;

#[tokio::test]
async fn large_claims_are_checked_in_full_and_read_when_asked_for() {
    // A large `aud`: every element checked, ours found at its end.
    let auds = format!(r#"[{LONG},"{AUD}"]"#);
    let t = signed_raw(
        &RSA,
        &rs_header(),
        &payload("").replace(&format!(r#""{AUD}""#), &auds),
    );
    let claims = verify(&t).await.expect("our audience is in the list");
    assert_eq!(claims.audiences().len(), 41);
    for (list, want) in [
        (format!("[{LONG}]"), AuthError::WrongAudience),
        (
            format!(r#"[{LONG},"{AUD}",7]"#),
            AuthError::Malformed(Malformed::ClaimType),
        ),
    ] {
        let t = signed_raw(
            &RSA,
            &rs_header(),
            &payload("").replace(&format!(r#""{AUD}""#), &list),
        );
        assert_eq!(verify(&t).await.unwrap_err(), want, "{list}");
    }
    // Large roles: resolved, and every claim as sent.
    let t = signed_raw(
        &RSA,
        &rs_header(),
        &payload(&format!(r#","roles":[{LONG}],"email":"e@x""#)),
    );
    let claims = verify(&t).await.expect("valid");
    assert!(claims.has_role("r39") && !claims.has_role("r40"));
    assert_eq!(claims.roles().len(), 40);
    assert_eq!(claims.email(), Some("e@x"));
    assert_eq!(claims.raw()["roles"].as_array().map(Vec::len), Some(40));
    assert_eq!(
        claims.claim::<Vec<String>>("roles").map(|r| r.len()),
        Some(40)
    );
    // Typed claims read the same claims as `raw`.
    let typed = claims.deserialize::<serde_json::Map<String, serde_json::Value>>();
    assert_eq!(typed.ok().as_ref(), Some(claims.raw()));
    #[derive(serde::Deserialize)]
    struct Profile {
        sub: String,
        roles: Vec<String>,
    }
    let profile: Profile = claims.deserialize().expect("fits");
    assert_eq!((profile.sub.as_str(), profile.roles.len()), ("u1", 40));
    assert!(claims.deserialize::<Vec<u8>>().is_err());
    // A large `cnf` is no key binding portcullis can check.
    let cnf = format!(r#","cnf":{{"jkt":"x","other":[{LONG}]}}"#);
    let t = signed_raw(&RSA, &rs_header(), &payload(&cnf));
    assert_eq!(
        verify(&t).await.unwrap_err(),
        AuthError::UnsupportedConfirmation
    );
}

#[tokio::test]
async fn fractional_dates_round_toward_refusal() {
    let (auth, _) = authenticator(config().leeway_seconds(30), &[&RSA]);
    let with = |name: &str, value: f64| token(&RSA).claim(name, json!(value)).sign();
    let now = NOW as f64;
    // Half a second past the leeway is past it.
    assert_eq!(
        auth.verify_token(&with("nbf", now + 30.5))
            .await
            .unwrap_err(),
        AuthError::NotYetValid
    );
    assert_eq!(
        auth.verify_token(&with("iat", now + 30.5))
            .await
            .unwrap_err(),
        AuthError::IssuedInFuture
    );
    assert!(auth.verify_token(&with("nbf", now + 29.5)).await.is_ok());
    // `exp` half a second beyond the leeway's edge has expired.
    assert_eq!(
        auth.verify_token(&with("exp", now - 30.0 + 0.5))
            .await
            .unwrap_err(),
        AuthError::Expired
    );
    assert!(auth
        .verify_token(&with("exp", now - 29.0 + 0.5))
        .await
        .is_ok());
}

#[tokio::test]
async fn an_aud_list_with_a_non_string_member_is_malformed() {
    for aud in [json!([5, AUD]), json!([AUD, null]), json!([AUD, {"x": 1}])] {
        let t = token(&RSA).claim("aud", aud.clone()).sign();
        assert_eq!(
            verify(&t).await.unwrap_err(),
            AuthError::Malformed(Malformed::ClaimType),
            "{aud}"
        );
    }
    assert!(verify(&token(&RSA).claim("aud", json!(["x", AUD])).sign())
        .await
        .is_ok());
}

#[tokio::test]
async fn crit_present_in_any_form_is_refused() {
    for crit in [json!(null), json!([]), json!(["exp"]), json!("b64")] {
        let t = token(&RSA).header("crit", crit.clone()).sign();
        assert_eq!(
            verify(&t).await.unwrap_err(),
            AuthError::UnsupportedCritical,
            "{crit}"
        );
    }
}

#[tokio::test]
async fn the_bearer_scheme_takes_spaces_only() {
    let (auth, _) = default_auth();
    let t = token(&RSA).sign();
    assert!(auth
        .authenticate(format!("Bearer {t}").as_str())
        .await
        .is_ok());
    assert!(auth
        .authenticate(format!("bearer   {t}").as_str())
        .await
        .is_ok());
    for bad in [
        format!("Bearer\t{t}"),
        format!("Bearer \t{t}"),
        format!("Bearer {t} "),
        format!("Bearer {t}\t"),
        format!(" Bearer {t}"),
    ] {
        assert!(auth.authenticate(bad.as_str()).await.is_err(), "{bad:?}");
    }
    // The bare token path is as strict about whitespace.
    assert!(auth.verify_token(&format!("{t} ")).await.is_err());
    assert!(auth.verify_token(&format!(" {t}")).await.is_err());
}

#[tokio::test]
async fn an_empty_payload_is_a_payload_problem_not_a_structure_problem() {
    let header = b64(rs_header().as_bytes());
    let input = format!("{header}.");
    let token = format!("{input}.{}", b64(&RSA.sign(input.as_bytes())));
    assert_eq!(
        verify(&token).await.unwrap_err(),
        AuthError::Malformed(Malformed::Payload)
    );
    assert_eq!(
        verify(&format!(".{}.sig", b64(b"{}"))).await.unwrap_err(),
        AuthError::Malformed(Malformed::SegmentCount)
    );
}

fn creds<'a>(user: &'a str, agent: &'a str) -> RequestCredentials<'a> {
    RequestCredentials::new(
        AuthorizationHeader::from(user),
        AuthorizationHeader::from(agent),
    )
}

async fn agent_outcome(
    auth: &portcullis_core::Authenticator,
    user: &str,
    agent: &str,
) -> Result<(), AuthError> {
    let caller = auth.authenticate_request(creds(user, agent)).await?;
    caller
        .scope(async { SecurityContext::enforce(&Requirement::agent_scope(["pay"])) })
        .await
}

#[tokio::test]
async fn the_callers_own_token_is_not_an_agent_token() {
    let (auth, _) = default_auth();
    let both = token(&RSA).claim("scopes", json!(["pay"])).sign();
    let header = format!("Bearer {both}");
    assert_eq!(
        agent_outcome(&auth, &header, &header).await,
        Err(AuthError::InvalidAgentToken)
    );
    let agent = format!(
        "Bearer {}",
        token(&EC256)
            .subject("agent-1")
            .claim("scopes", json!(["pay"]))
            .sign()
    );
    assert_eq!(agent_outcome(&auth, &header, &agent).await, Ok(()));
}

#[tokio::test]
async fn agent_tokens_can_be_required_to_be_agent_tokens() {
    let (auth, _) = authenticator(
        config()
            .agent_require_typ("agent+jwt")
            .agent_required_claims(["task_type"]),
        &[&RSA, &EC256],
    );
    let user = format!("Bearer {}", token(&RSA).sign());
    let agent = |typ: Option<&str>, task: bool| {
        let mut b = token(&EC256)
            .subject("agent-1")
            .claim("scopes", json!(["pay"]));
        if let Some(typ) = typ {
            b = b.header("typ", json!(typ));
        }
        if task {
            b = b.claim("task_type", json!("payment"));
        }
        format!("Bearer {}", b.sign())
    };
    assert_eq!(
        agent_outcome(&auth, &user, &agent(Some("agent+jwt"), true)).await,
        Ok(())
    );
    // A user-style token (no agent typ) is not an agent.
    assert_eq!(
        agent_outcome(&auth, &user, &agent(None, true)).await,
        Err(AuthError::InvalidAgentToken)
    );
    assert_eq!(
        agent_outcome(&auth, &user, &agent(Some("JWT"), true)).await,
        Err(AuthError::InvalidAgentToken)
    );
    assert_eq!(
        agent_outcome(&auth, &user, &agent(Some("agent+jwt"), false)).await,
        Err(AuthError::InvalidAgentToken)
    );
    // And an agent's token is not a caller's.
    let agent_as_user = agent(Some("agent+jwt"), true);
    assert_eq!(
        auth.authenticate(agent_as_user.as_str()).await.unwrap_err(),
        AuthError::WrongType
    );
    let same = AuthConfig::builder()
        .issuer(ISS)
        .audience(AUD)
        .require_typ("at+jwt")
        .agent_require_typ("at+jwt")
        .build()
        .unwrap_err();
    assert!(same.to_string().contains("agent_require_typ"), "{same}");
}

#[test]
fn a_yaml_document_over_the_alias_budget_is_refused() {
    // Valid YAML that an application could never need: 1,500 aliases in an ignored section.
    let mut doc = String::from("shared: &s x\nother:\n");
    for i in 0..1_500 {
        doc.push_str(&format!("  k{i}: *s\n"));
    }
    doc.push_str("auth_client:\n  issuer: https://auth.example.com\n  audience: api\n");
    let error = AuthConfig::builder().yaml_str(&doc).build().unwrap_err();
    assert!(error.to_string().contains("(document)"), "{error}");
    // The same document with few aliases is fine.
    let small = "shared: &s x\nother:\n  a: *s\nauth_client:\n  issuer: https://auth.example.com\n  audience: api\n";
    assert!(AuthConfig::builder().yaml_str(small).build().is_ok());
}

#[test]
fn an_alias_bomb_is_refused() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\nauth_client:\n  issuer: https://auth.example.com\n  audience: api\n";
    let error = AuthConfig::builder().yaml_str(bomb).build().unwrap_err();
    assert!(error.to_string().contains("not valid YAML"), "{error}");
}

#[test]
fn a_configuration_document_over_one_mebibyte_is_refused_unread() {
    let doc = format!("# {}\nauth_client: {{}}\n", "x".repeat(1 << 20));
    let error = AuthConfig::builder().yaml_str(&doc).build().unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_exhausting_the_stack() {
    // serde_json's recursion limit (128) holds for the strict payload parser too.
    let deep = format!("{}1{}", "[".repeat(2_000), "]".repeat(2_000));
    let token = signed_raw(&RSA, &rs_header(), &payload(&format!(r#","x":{deep}"#)));
    assert_eq!(
        verify(&token).await.unwrap_err(),
        AuthError::Malformed(Malformed::Payload)
    );
    // The header is read as strictly as the payload: the same nesting limit applies.
    let header = format!(r#"{{"alg":"RS256","kid":"{}","x":{deep}}}"#, RSA.kid());
    let token = signed_raw(&RSA, &header, &payload(""));
    assert_eq!(
        verify(&token).await.unwrap_err(),
        AuthError::Malformed(Malformed::Header)
    );
    // Deep and unsigned: refused before any key is touched.
    let unsigned = format!("{}.{}.AA", b64(header.as_bytes()), b64(b"{}"));
    assert!(verify(&unsigned).await.is_err());
}

/// `n - s` for a P-256 signature `r || s`: the other valid encoding anyone can make.
fn malleate_p256(token: &str) -> String {
    const N: [u8; 32] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63,
        0x25, 0x51,
    ];
    let (input, sig) = token.rsplit_once('.').expect("jws");
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("b64");
    let s = &mut sig[32..];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        s[i] = u8::try_from(d.rem_euclid(256)).expect("byte");
    }
    format!("{input}.{}", b64(&sig))
}

#[tokio::test]
async fn a_re_encoded_signature_of_the_callers_token_is_not_an_agent_token() {
    let (auth, _) = default_auth();
    let user = token(&EC256).claim("scopes", json!(["pay"])).sign();
    let twin = malleate_p256(&user);
    assert_ne!(user, twin);
    // The twin verifies on its own (ECDSA malleability; nothing to do about that)...
    assert!(auth.verify_token(&twin).await.is_ok());
    // ...but it is the same signed header and claims: not an agent.
    assert_eq!(
        agent_outcome(&auth, &format!("Bearer {user}"), &format!("Bearer {twin}")).await,
        Err(AuthError::InvalidAgentToken)
    );
}

#[tokio::test]
async fn a_header_must_be_a_json_object() {
    for header in [
        format!(r#"["RS256","{}","JWT"]"#, RSA.kid()),
        format!(r#"["RS256","{}",null]"#, RSA.kid()),
        r#""RS256""#.to_owned(),
    ] {
        let token = signed_raw(&RSA, &header, &payload(""));
        assert_eq!(
            verify(&token).await.unwrap_err(),
            AuthError::Malformed(Malformed::Header),
            "{header}"
        );
    }
}

#[test]
fn publicly_forgeable_keys_are_refused() {
    use portcullis_core::KeySet;
    let ed = |x: &[u8]| {
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": b64(x)}]}).to_string()
    };
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut identity_signed = identity;
    identity_signed[31] |= 0x80;
    for x in [[0u8; 32], identity, identity_signed] {
        let (set, skipped) = KeySet::from_jwks_report(&ed(&x)).expect("jwks");
        assert!(set.is_empty(), "{x:?}");
        assert_eq!(skipped[0].reason, "Ed25519 public key of small order");
    }
    // n = 3^1293 (2050 bits): textbook RSA with it is forgeable; so is any small factor.
    let mut n = vec![1u8];
    for _ in 0..1293 {
        let mut carry = 0u16;
        for byte in n.iter_mut().rev() {
            let v = u16::from(*byte) * 3 + carry;
            *byte = u8::try_from(v & 0xff).expect("byte");
            carry = v >> 8;
        }
        if carry > 0 {
            n.insert(0, u8::try_from(carry).expect("byte"));
        }
    }
    let rsa = json!({"keys": [{"kty": "RSA", "kid": "r", "n": b64(&n), "e": "AQAB"}]}).to_string();
    let (set, skipped) = KeySet::from_jwks_report(&rsa).expect("jwks");
    assert!(set.is_empty());
    assert_eq!(skipped[0].reason, "RSA modulus has a small prime factor");
    // A real key passes.
    assert_eq!(
        KeySet::from_jwks(&TestKey::jwks(&[&RSA, &ED]))
            .expect("jwks")
            .len(),
        2
    );
}

#[test]
fn urls_are_shown_without_their_query_string_everywhere() {
    let url = "https://auth.example.com/revoked?access_token=QSECRET";
    let builder = AuthConfig::builder()
        .issuer(ISS)
        .audience(AUD)
        .revocation_endpoint(url)
        .jwks_endpoint("https://auth.example.com/jwks?key=QSECRET2");
    assert!(!format!("{builder:?}").contains("QSECRET"));
    let config = builder.build().expect("config");
    assert_eq!(config.revocation_endpoint(), Some(url));
    assert!(!format!("{config:?}").contains("QSECRET"), "{config:?}");
    let auth = portcullis_core::Authenticator::builder(config)
        .build()
        .expect("authenticator");
    assert!(!format!("{auth:?}").contains("QSECRET"));
    let refused = AuthConfig::builder()
        .issuer(ISS)
        .audience(AUD)
        .revocation_endpoint("http://evil.example/r?access_token=QSECRET")
        .build()
        .unwrap_err();
    assert!(!refused.to_string().contains("QSECRET"), "{refused}");
}

#[test]
fn files_are_read_with_a_bound_whatever_they_are() {
    // /dev/zero has no end: reading it unbounded would exhaust memory.
    let error = AuthConfig::builder()
        .yaml_file("/dev/zero")
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
    assert!(portcullis_core::StaticKeys::from_jwks_file("/dev/zero").is_err());
}

#[tokio::test]
async fn require_typ_is_the_callers_when_agents_have_their_own() {
    let (auth, _) = authenticator(
        config()
            .require_typ("at+jwt")
            .agent_require_typ("agent+jwt"),
        &[&RSA, &EC256],
    );
    let user = format!(
        "Bearer {}",
        token(&RSA).header("typ", json!("at+jwt")).sign()
    );
    let agent = format!(
        "Bearer {}",
        token(&EC256)
            .subject("agent-1")
            .header("typ", json!("agent+jwt"))
            .claim("scopes", json!(["pay"]))
            .sign()
    );
    assert_eq!(agent_outcome(&auth, &user, &agent).await, Ok(()));
    // Spelled differently, the same media type is the same type.
    let same = AuthConfig::builder()
        .issuer(ISS)
        .audience(AUD)
        .require_typ("at+jwt")
        .agent_require_typ("application/AT+JWT")
        .build()
        .unwrap_err();
    assert!(same.to_string().contains("agent_require_typ"), "{same}");
}
