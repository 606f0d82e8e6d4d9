//! Differential test against jsonwebtoken 11: generated tokens for every asymmetric
//! algorithm and HS256, and their mutations, with a fixed seed, verified by both libraries
//! configured alike. portcullis never accepts what jsonwebtoken refuses; where the two
//! disagree, the disagreement belongs to a class listed below with its reason (the README's
//! security notes repeat them). Classes the two treat alike (fractional dates, an `aud` list
//! with a non-string member, wrong types, missing claims) are generated too and must agree.
//!
//! 20,000 cases by default; `PORTCULLIS_DIFF_CASES=200000 cargo test --test differential`
//! for more.

use base64::Engine;
use portcullis_core::testkit::{ManualClock, TestKey};
use portcullis_core::{Algorithm, AuthConfig, Authenticator, StaticKeys};
use std::collections::BTreeMap;

const ISS: &str = "https://issuer.diff";
const AUD: &str = "diff-api";
const LEEWAY: i64 = 30;

/// Classes where portcullis refuses a token jsonwebtoken 11 accepts, and why.
const STRICTER: &[(&str, &str)] = &[
    (
        "duplicate_member",
        "a member named twice: jsonwebtoken takes the last value, portcullis refuses (a parser differential)",
    ),
    (
        "unknown_kid",
        "a `kid` the key set does not have: jsonwebtoken is handed the key by the caller, portcullis looks keys up by `kid`",
    ),
    (
        "iat_future",
        "`iat` beyond the leeway: jsonwebtoken does not check `iat`",
    ),
    (
        "crit",
        "a `crit` header, `null` included: portcullis understands no extension (RFC 7515 §4.1.11)",
    ),
    (
        "iss_array",
        "`iss` as an array: jsonwebtoken accepts an array containing the issuer, RFC 7519 says a string",
    ),
];

/// Classes where portcullis accepts a token jsonwebtoken 11 refuses, and why. Empty: there
/// are none.
const LAXER: &[(&str, &str)] = &[];

/// xorshift64*: a fixed-seed generator, so every run tests the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Subject {
    key: TestKey,
    alg: Algorithm,
    clock: ManualClock,
    ours: Authenticator,
    theirs: (jsonwebtoken::DecodingKey, jsonwebtoken::Validation),
}

fn subjects(now: i64) -> Vec<Subject> {
    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let keys = [
        TestKey::rsa("rsa"),
        TestKey::rsa_for("rsa-ps", Algorithm::PS256),
        TestKey::ec_p256("ec256"),
        TestKey::ec_p384("ec384"),
        TestKey::ed25519("ed"),
        TestKey::hmac("hs", Algorithm::HS256, &secret),
    ];
    keys.into_iter()
        .map(|key| {
            let alg = key.algorithm();
            let mut config = AuthConfig::builder()
                .issuer(ISS)
                .audience(AUD)
                .accepted_algorithms([alg.to_string()])
                .leeway_seconds(LEEWAY.unsigned_abs());
            let builder = if alg == Algorithm::HS256 {
                config = config.shared_secret(std::str::from_utf8(&secret).expect("ascii"));
                Authenticator::builder(config.build().expect("config"))
            } else {
                Authenticator::builder(config.build().expect("config"))
                    .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&key])).expect("jwks"))
            };
            let clock = ManualClock::new(now);
            let ours = builder.clock(clock.clone()).build().expect("authenticator");
            let jwk = key.jwk();
            let s = |name: &str| jwk[name].as_str().unwrap_or_default().to_owned();
            let (decoding, jalg) = match alg {
                Algorithm::RS256 => (
                    jsonwebtoken::DecodingKey::from_rsa_components(&s("n"), &s("e")),
                    jsonwebtoken::Algorithm::RS256,
                ),
                Algorithm::PS256 => (
                    jsonwebtoken::DecodingKey::from_rsa_components(&s("n"), &s("e")),
                    jsonwebtoken::Algorithm::PS256,
                ),
                Algorithm::ES256 => (
                    jsonwebtoken::DecodingKey::from_ec_components(&s("x"), &s("y")),
                    jsonwebtoken::Algorithm::ES256,
                ),
                Algorithm::ES384 => (
                    jsonwebtoken::DecodingKey::from_ec_components(&s("x"), &s("y")),
                    jsonwebtoken::Algorithm::ES384,
                ),
                Algorithm::EdDSA => (
                    jsonwebtoken::DecodingKey::from_ed_components(&s("x")),
                    jsonwebtoken::Algorithm::EdDSA,
                ),
                _ => (
                    Ok(jsonwebtoken::DecodingKey::from_secret(&secret)),
                    jsonwebtoken::Algorithm::HS256,
                ),
            };
            let mut validation = jsonwebtoken::Validation::new(jalg);
            validation.set_issuer(&[ISS]);
            validation.set_audience(&[AUD]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            validation.leeway = LEEWAY.unsigned_abs();
            validation.validate_nbf = true;
            Subject {
                key,
                alg,
                clock,
                ours,
                theirs: (decoding.expect("decoding key"), validation),
            }
        })
        .collect()
}

/// One generated case: the token, and the class of what was done to it.
struct Case {
    token: String,
    class: &'static str,
}

/// Offsets from now that stay clear of every boundary by several seconds, so the two
/// libraries' clocks (portcullis's pinned, jsonwebtoken's the system's) cannot disagree.
const OFFSETS: &[i64] = &[
    -100_000,
    -LEEWAY - 60,
    -LEEWAY - 6,
    -LEEWAY + 6,
    -6,
    6,
    LEEWAY - 6,
    LEEWAY + 6,
    600,
    100_000,
];

fn generate(rng: &mut Rng, s: &Subject, now: i64) -> Case {
    let mut class = "valid_or_claims";
    let exp = now + *rng.pick(OFFSETS);
    let mut members: Vec<(String, String)> = vec![
        ("sub".into(), "\"u1\"".into()),
        ("iss".into(), format!("\"{ISS}\"")),
        ("aud".into(), format!("\"{AUD}\"")),
        ("exp".into(), exp.to_string()),
        ("iat".into(), (now - 10).to_string()),
    ];
    let set = |members: &mut Vec<(String, String)>, name: &str, value: String| match members
        .iter_mut()
        .find(|(n, _)| n == name)
    {
        Some(slot) => slot.1 = value,
        None => members.push((name.to_owned(), value)),
    };
    let mut header: Vec<(String, String)> = vec![
        ("alg".into(), format!("\"{}\"", s.alg)),
        ("kid".into(), format!("\"{}\"", s.key.kid())),
    ];
    match rng.below(24) {
        0 => set(&mut members, "nbf", (now + rng.pick(OFFSETS)).to_string()),
        1 => {
            class = "iat_future";
            set(
                &mut members,
                "iat",
                (now + rng.pick(&[LEEWAY + 6, 1000])).to_string(),
            );
        }
        2 => set(
            &mut members,
            "aud",
            rng.pick(&[
                format!("[\"x\",\"{AUD}\"]"),
                "[\"x\",\"y\"]".to_owned(),
                "[]".to_owned(),
                format!("\"{AUD}/\""),
                "5".to_owned(),
                "null".to_owned(),
            ])
            .clone(),
        ),
        3 => {
            class = "aud_non_string";
            set(&mut members, "aud", format!("[5,\"{AUD}\"]"));
        }
        4 => set(
            &mut members,
            "iss",
            rng.pick(&[
                format!("\"{ISS}/\""),
                "\"https://evil.example\"".to_owned(),
                "5".to_owned(),
                "null".to_owned(),
            ])
            .clone(),
        ),
        5 => {
            class = "iss_array";
            set(&mut members, "iss", format!("[\"{ISS}\"]"));
        }
        6 => {
            class = "duplicate_member";
            let (name, value) = rng
                .pick(&[
                    ("sub", "\"admin\"".to_owned()),
                    ("exp", (now + 100_000).to_string()),
                    ("aud", format!("\"{AUD}\"")),
                    ("roles", "[\"admin\"]".to_owned()),
                ])
                .clone();
            members.push((name.to_owned(), value.clone()));
            members.push((name.to_owned(), value));
        }
        7 => set(
            &mut members,
            "exp",
            rng.pick(&[
                format!("\"{exp}\""),
                "true".to_owned(),
                "null".to_owned(),
                "-1".to_owned(),
                "18446744073709551615".to_owned(),
            ])
            .clone(),
        ),
        8 => members.retain(|(n, _)| n != *rng.pick(&["exp", "iss", "aud", "sub", "iat"])),
        9 => {
            class = "exp_fraction";
            set(&mut members, "exp", format!("{exp}.5"));
        }
        10 => {
            class = "nbf_fraction";
            set(
                &mut members,
                "nbf",
                format!("{}.5", now + rng.pick(OFFSETS)),
            );
        }
        11 => {
            class = "unknown_kid";
            set(&mut header, "kid", "\"someone-else\"".into());
        }
        12 => header.retain(|(n, _)| n != "kid"),
        13 => {
            class = "crit";
            let crit = rng.pick(&["null", "[]", "[\"exp\"]", "[\"b64\"]"]);
            header.push(("crit".into(), (*crit).to_owned()));
        }
        14 => header.push((
            (*rng.pick(&["jku", "x5u", "typ", "cty"])).to_owned(),
            "\"https://attacker.example/k\"".into(),
        )),
        15 => header.push((
            "typ".into(),
            (*rng.pick(&["\"JWT\"", "\"at+jwt\"", "5"])).to_owned(),
        )),
        _ => {}
    }
    let object = |items: &[(String, String)]| {
        let inner: Vec<String> = items.iter().map(|(n, v)| format!("\"{n}\":{v}")).collect();
        format!("{{{}}}", inner.join(","))
    };
    let input = format!(
        "{}.{}",
        b64(object(&header).as_bytes()),
        b64(object(&members).as_bytes())
    );
    let mut token = format!("{input}.{}", b64(&s.key.sign_as(s.alg, input.as_bytes())));
    let signed = token.clone();
    // Structural mutations after signing.
    match rng.below(10) {
        0 => {
            let pos = rng.below(token.len());
            let replacement = *rng.pick(b"AB_-.=z");
            let mut bytes = token.into_bytes();
            bytes[pos] = replacement;
            token = String::from_utf8(bytes).expect("ascii");
        }
        1 => {
            let other = rng.pick(&["none", "None", "HS256", "RS256", "ES256", "PS256", "EdDSA"]);
            let h = format!("{{\"alg\":\"{other}\",\"kid\":\"{}\"}}", s.key.kid());
            let rest = token
                .split_once('.')
                .map(|(_, r)| r.to_owned())
                .unwrap_or_default();
            token = format!("{}.{rest}", b64(h.as_bytes()));
        }
        2 => {
            let cut = token.rfind('.').unwrap_or(0) + 1;
            token.truncate(cut + rng.below(token.len() - cut));
        }
        _ => {}
    }
    if token != signed {
        class = "mutated";
    }
    Case { token, class }
}

#[tokio::test(flavor = "current_thread")]
async fn portcullis_never_accepts_what_jsonwebtoken_refuses() {
    let cases: usize = std::env::var("PORTCULLIS_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    // jsonwebtoken reads the system clock: portcullis's clock is set to the same second
    // before every case, and dates stay seconds clear of every boundary.
    let system_now = || i64::try_from(jsonwebtoken::get_current_timestamp()).expect("now");
    let subjects = subjects(system_now());
    let mut rng = Rng(0x005E_ED0F_D1FF_u64);
    let mut tally: BTreeMap<(&'static str, bool, bool), usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    for _ in 0..cases {
        let s = &subjects[rng.below(subjects.len())];
        let now = system_now();
        s.clock.set(now);
        let case = generate(&mut rng, s, now);
        let ours = s.ours.verify_token(&case.token).await.is_ok();
        let theirs =
            jsonwebtoken::decode::<serde_json::Value>(&case.token, &s.theirs.0, &s.theirs.1)
                .is_ok();
        *tally.entry((case.class, ours, theirs)).or_default() += 1;
        let allowed = match (ours, theirs) {
            (true, false) => LAXER.iter().any(|(c, _)| *c == case.class),
            (false, true) => STRICTER.iter().any(|(c, _)| *c == case.class),
            _ => true,
        };
        if !allowed && unexplained.len() < 20 {
            let payload = case
                .token
                .split('.')
                .nth(1)
                .and_then(|p| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(p)
                        .ok()
                })
                .map(|p| String::from_utf8_lossy(&p).into_owned());
            unexplained.push(format!(
                "{} {}: ours={ours} theirs={theirs} payload={payload:?}",
                s.alg, case.class
            ));
        }
    }
    for ((class, ours, theirs), n) in &tally {
        eprintln!("{class:>18} ours={ours:<5} theirs={theirs:<5} {n}");
    }
    assert!(
        unexplained.is_empty(),
        "unexplained disagreements:\n{}",
        unexplained.join("\n")
    );
    let accepted_by_both = tally
        .iter()
        .filter(|((_, o, t), _)| *o && *t)
        .map(|(_, n)| n)
        .sum::<usize>();
    let refused_by_both = tally
        .iter()
        .filter(|((_, o, t), _)| !*o && !*t)
        .map(|(_, n)| n)
        .sum::<usize>();
    // Neither side is vacuous: plenty of tokens are valid, plenty are not.
    assert!(accepted_by_both > cases / 10, "{tally:?}");
    assert!(refused_by_both > cases / 4, "{tally:?}");
}
