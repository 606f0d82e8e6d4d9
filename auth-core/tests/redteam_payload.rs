//! Red-team tests of the one-pass strict payload parse: small top-level members built during
//! the pass, large ones (more than 32 values) only validated and built on first use.
//!
//! Every verdict is compared with a reference: `serde_json` plus "no member name twice in one
//! object, at any depth". A claim check must read what that reference reads, and a payload it
//! refuses must be a 401 `Malformed`, never accepted and never a panic.

mod common;

use common::*;
use portcullis_core::{AuthError, Malformed, TokenClaims};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// `n` small integers, comma-separated: filler that pushes a member past the build budget.
fn filler(n: usize) -> String {
    (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// `n` distinct role names, quoted and comma-separated.
fn names(n: usize) -> String {
    (0..n)
        .map(|i| format!(r#""r{i}""#))
        .collect::<Vec<_>>()
        .join(",")
}

/// An authenticator for RSA tokens of up to 64 KiB.
fn big_auth(config: portcullis_core::AuthConfigBuilder) -> portcullis_core::Authenticator {
    authenticator(config.max_token_bytes(65_536), &[&RSA]).0
}

async fn verify_bytes(text: &[u8]) -> Result<TokenClaims, AuthError> {
    big_auth(config())
        .verify_token(&signed_raw_bytes(&RSA, &rs_header(), text))
        .await
}

/// Any JSON value in which no object names a member twice (the reference's strictness).
struct NoDuplicates;

impl<'de> Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }
    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name) {
                return Err(de::Error::custom("duplicate member name"));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}

/// The reference verdict: the claims a full strict parse reads, or `None` when it refuses.
fn reference(text: &[u8]) -> Option<Map<String, Value>> {
    let text = std::str::from_utf8(text).ok()?;
    serde_json::from_str::<NoDuplicates>(text).ok()?;
    serde_json::from_str::<Map<String, Value>>(text).ok()
}

/// Checks that a correctly signed payload `text` (valid claims whenever the reference
/// accepts it) is refused as `Malformed` exactly when the reference refuses it, and that
/// every accessor reads what the reference reads.
async fn agrees(text: &[u8]) {
    let shown = String::from_utf8_lossy(&text[..text.len().min(300)]).into_owned();
    let result = verify_bytes(text).await;
    let Some(map) = reference(text) else {
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "refused by the reference, got {result:?}: {shown}"
        );
        return;
    };
    let claims = result.unwrap_or_else(|e| panic!("accepted by the reference, got {e:?}: {shown}"));
    let want = TokenClaims::from_json(Value::Object(map.clone()));
    // Authorities and typed claims first: they must not depend on `raw` having been built.
    assert_eq!(claims.roles(), want.roles(), "roles: {shown}");
    assert_eq!(claims.groups(), want.groups(), "groups: {shown}");
    assert_eq!(claims.scopes(), want.scopes(), "scopes: {shown}");
    assert_eq!(claims.audiences(), want.audiences(), "aud: {shown}");
    assert_eq!(claims.sub(), want.sub(), "sub: {shown}");
    assert_eq!(claims.issuer(), want.issuer(), "iss: {shown}");
    assert_eq!(claims.expires_at(), want.expires_at(), "exp: {shown}");
    assert_eq!(
        claims.dpop_thumbprint(),
        want.dpop_thumbprint(),
        "cnf: {shown}"
    );
    for (name, value) in &map {
        assert_eq!(
            claims.claim::<Value>(name).as_ref(),
            Some(value),
            "{name}: {shown}"
        );
    }
    assert_eq!(
        serde_json::to_string(claims.raw()).ok(),
        serde_json::to_string(&map).ok(),
        "raw: {shown}"
    );
}

/// Runs [`agrees`] on `payload(extra)` for every `extra`.
async fn agrees_with_extras(extras: &[String]) {
    for extra in extras {
        agrees(payload(extra).as_bytes()).await;
    }
}

/// The build budget's boundary: members of exactly 31, 32, 33 and 34 values, flat and nested.
#[tokio::test]
async fn members_at_the_budget_boundary_read_as_a_full_parse_does() {
    let mut extras = Vec::new();
    for n in 28..=36 {
        extras.push(format!(r#","roles":[{}]"#, names(n)));
        extras.push(format!(r#","scope":"a","groups":[{}]"#, names(n)));
        extras.push(format!(r#","x":{{"a":[{}],"b":"s"}}"#, filler(n)));
        extras.push(format!(
            r#","x":[{{"k":[{}]}},"tail",{{"z":null}}]"#,
            filler(n)
        ));
        extras.push(format!(r#","x":[[{}],[1,[2,[3]]]]"#, filler(n)));
        extras.push(format!(r#","roles":[{}],"role":"last""#, names(n)));
        extras.push(format!(r#","roles":[[{}],"r-after"]"#, filler(n)));
    }
    agrees_with_extras(&extras).await;
}

/// Duplicate and escaped member names, at the top level and deep inside deferred members.
#[tokio::test]
async fn escaped_and_duplicate_names_read_as_a_full_parse_does() {
    let long = names(40);
    let extras = [
        r#","\u0072oles":["admin"]"#.to_owned(),
        format!(r#","ro\u006ces":[{long},"admin"]"#),
        format!(r#","roles":[{long}],"roles":"admin""#),
        format!(r#","roles":"admin","\u0072oles":[{long}]"#),
        format!(r#","\u0072oles":[{long}],"r\u006fles":["admin"]"#),
        r#","\u0073ub":"admin""#.to_owned(),
        format!(r#","x":[{long},{{"a":1,"\u0061":2}}]"#),
        format!(r#","x":[{long},{{"a":1,"\u0062":2}}]"#),
        format!(r#","x":{{"y":[{long}],"\u0079":1}}"#),
        format!(r#","x":{{"é":[{long}],"\u00e9":1}}"#),
        format!(r#","x":{{"😀":[{long}],"\ud83d\ude00":1}}"#),
        format!(r#","x":{{"😀":[{long}],"\ud83d\ude01":1}}"#),
        format!(r#","x":[{long},{{"":1,"":2}}]"#),
        format!(r#","x":[{long},{{"\u0000":1,"\u0000a":2}}]"#),
        format!(r#","x":[{long},{{"A":1,"a":2}}]"#),
        format!(r#","\u00e9":[{long}],"é":1"#),
        // The same name differing only in escapes, once each side of the budget.
        format!(r#","big":[{long}],"b\u0069g":[1]"#),
        format!(r#","b\u0069g":[1],"big":[{long}]"#),
    ];
    agrees_with_extras(&extras).await;
}

/// Duplicates among 14 to 20 names (where the name set switches from a scan to a hash set),
/// at the top level, in a built member and in a deferred one, spelled plainly or escaped.
#[tokio::test]
async fn duplicates_around_the_scan_to_set_switch_are_found() {
    let long = names(40);
    let mut extras = Vec::new();
    for n in 14..=20 {
        let plain: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let plain = plain.join(",");
        extras.push(format!(",{plain}"));
        extras.push(format!(r#","o":{{{plain}}}"#));
        extras.push(format!(r#","o":[{long},{{{plain}}}]"#));
        for dup in [0, n / 2, n - 1] {
            for name in [format!("k{dup}"), format!(r"k{dup}")] {
                extras.push(format!(r#",{plain},"{name}":0"#));
                extras.push(format!(r#","o":{{{plain},"{name}":0}}"#));
                extras.push(format!(r#","o":[{long},{{{plain},"{name}":0}}]"#));
                extras.push(format!(r#","o":{{"{name}":[{long}],{plain}}}"#));
            }
        }
    }
    agrees_with_extras(&extras).await;
}

/// Numbers a full parse reads oddly or refuses (1e400, -0, huge integers), in deferred and
/// in built members.
#[tokio::test]
async fn odd_numbers_read_as_a_full_parse_does() {
    let mut extras = Vec::new();
    for n in [
        "1e400",
        "-1e400",
        "-0",
        "-0.0",
        "0e0",
        "1e-400",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "01",
        "1.",
        ".5",
        "+1",
        "NaN",
        "Infinity",
        "0x10",
        "-",
        "1e",
        "1e+",
        "-01",
        "1E+2",
        "0.1e1",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([
        format!("1{}", "0".repeat(400)),
        format!("0.{}1", "0".repeat(400)),
    ]) {
        extras.push(format!(r#","n":{n}"#));
        extras.push(format!(r#","n":[{},{n}]"#, filler(40)));
        extras.push(format!(r#","n":{{"a":[{}],"b":{n}}}"#, filler(40)));
    }
    agrees_with_extras(&extras).await;
}

/// Strings a full parse refuses or decodes (lone surrogates, escapes, control characters).
#[tokio::test]
async fn odd_strings_read_as_a_full_parse_does() {
    let mut extras = Vec::new();
    for s in [
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud800\u0041""#,
        r#""\ud800\ud800""#,
        r#""\ud83d\ude00""#,
        r#""\u0000""#,
        r#""\/\b\f\n\r\t\"\\""#,
        r#""\x41""#,
        r#""\u00""#,
        r#""\uZZZZ""#,
        "\"tab\there\"",
        "\"nl\nhere\"",
        "\"del\u{7f}ok\"",
        "\"\u{2028}\u{2029}\"",
    ] {
        extras.push(format!(r#","s":{s}"#));
        extras.push(format!(r#","roles":[{},{s}]"#, names(40)));
        extras.push(format!(r#","x":{{"a":[{}],{s}:1}}"#, filler(40)));
    }
    agrees_with_extras(&extras).await;
}

/// Bytes that are not UTF-8 inside strings and names of deferred and built members.
#[tokio::test]
async fn invalid_utf8_anywhere_is_malformed() {
    let bad: [&[u8]; 6] = [
        b"\xff",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xe2\x82",
        b"\x80",
    ];
    for bytes in bad {
        for (before, after) in [
            (r#","s":""#.to_owned(), r#"""#.to_owned()),
            (format!(r#","roles":[{},""#, names(40)), r#""]"#.to_owned()),
            (
                format!(r#","x":{{"a":[{}],""#, filler(40)),
                r#"":1}"#.to_owned(),
            ),
        ] {
            let base = payload(&format!("{before}@{after}"));
            let at = base.find('@').unwrap_or_default();
            let mut text = base.as_bytes()[..at].to_vec();
            text.extend_from_slice(bytes);
            text.extend_from_slice(&base.as_bytes()[at + 1..]);
            agrees(&text).await;
        }
    }
}

/// Text around the object: a BOM, leading and trailing whitespace, trailing garbage.
#[tokio::test]
async fn text_around_the_object_reads_as_a_full_parse_does() {
    let body = payload(&format!(r#","roles":[{}]"#, names(40)));
    for text in [
        format!("\u{feff}{body}"),
        format!(" \t\r\n{body} \t\r\n"),
        format!("{body}x"),
        format!("{body}}}"),
        format!("{body},"),
        format!("{body}{{}}"),
        format!("{body}\u{0}"),
        format!("{body}\u{a0}"),
        format!("[{body}]"),
        body.replacen('{', "{,", 1),
        body.replace("]}", "],}"),
        body.replace("]}", "]"),
        "null".to_owned(),
    ] {
        agrees(text.as_bytes()).await;
    }
    assert_eq!(
        verify_bytes(b"{}").await.unwrap_err(),
        AuthError::MissingClaim("exp".into())
    );
}

/// Nesting at serde_json's depth limit, in built and deferred members, agrees with a full
/// parse; far deeper nesting is `Malformed`, not a stack overflow.
#[tokio::test]
async fn deep_nesting_reads_as_a_full_parse_does_and_never_overflows() {
    for depth in 124..=130 {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        agrees(payload(&format!(r#","d":{nested}"#)).as_bytes()).await;
        agrees(payload(&format!(r#","d":[{},{nested}]"#, filler(40))).as_bytes()).await;
        let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        agrees(payload(&format!(r#","d":[{},{objects}]"#, filler(40))).as_bytes()).await;
    }
    for (open, count) in [("[", 40_000), (r#"{"a":"#, 8_000)] {
        let text = payload(&format!(r#","d":[{},{}]"#, filler(40), open.repeat(count)));
        assert!(
            matches!(
                verify_bytes(text.as_bytes()).await,
                Err(AuthError::Malformed(_))
            ),
            "{open}"
        );
    }
}

/// An escaped `exp` is `exp`: an expired token does not pass by spelling its name oddly.
#[tokio::test]
async fn an_escaped_exp_is_still_checked() {
    let text = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u1","iat":{},"\u0065xp":{}}}"#,
        NOW - 100,
        NOW - 10
    );
    let result = verify_bytes(text.as_bytes()).await;
    assert_eq!(result.unwrap_err(), AuthError::Expired);
    let text = format!(
        r#"{{"\u0069ss":"https://evil.test","aud":"{AUD}","sub":"u1","exp":{}}}"#,
        NOW + 10
    );
    let result = verify_bytes(text.as_bytes()).await;
    assert_eq!(result.unwrap_err(), AuthError::WrongIssuer);
}

/// Registered claims too large to build in the pass (`exp`, `iss`, `aud`) are still checked.
#[tokio::test]
async fn deferred_registered_claims_are_checked() {
    let long = names(40);
    let base = payload("");
    let with = |name: &str, value: &str| {
        let Some(start) = base.find(&format!(r#""{name}":"#)) else {
            return base.replacen('{', &format!(r#"{{"{name}":{value},"#), 1);
        };
        let end = base[start..]
            .find([',', '}'])
            .map_or(base.len(), |i| start + i);
        format!(r#"{}"{name}":{value}{}"#, &base[..start], &base[end..])
    };
    let cases = [
        (
            with("exp", &format!("[{}]", filler(40))),
            Err(AuthError::Malformed(Malformed::ClaimType)),
        ),
        (
            with("exp", &format!(r#"{{"a":[{}]}}"#, filler(40))),
            Err(AuthError::Malformed(Malformed::ClaimType)),
        ),
        (
            with("iss", &format!(r#"[{long},"{ISS}"]"#)),
            Err(AuthError::WrongIssuer),
        ),
        (with("aud", &format!(r#"[{long},"{AUD}"]"#)), Ok(())),
        (
            with("aud", &format!("[{long}]")),
            Err(AuthError::WrongAudience),
        ),
        (
            with("aud", &format!(r#"[{long},"{AUD}",7]"#)),
            Err(AuthError::Malformed(Malformed::ClaimType)),
        ),
        (
            with("aud", &format!(r#"{{"{AUD}":[{long}]}}"#)),
            Err(AuthError::WrongAudience),
        ),
        (
            with("nbf", &format!("[{}]", filler(40))),
            Err(AuthError::Malformed(Malformed::ClaimType)),
        ),
        (
            with("iat", &format!("[{}]", filler(40))),
            Err(AuthError::Malformed(Malformed::ClaimType)),
        ),
    ];
    for (text, want) in cases {
        let got = verify_bytes(text.as_bytes()).await.map(|_| ());
        assert_eq!(got, want, "{text}");
    }
}

/// `payload(extra)`, signed, verified by `auth`.
async fn check(auth: &portcullis_core::Authenticator, extra: &str) -> Result<(), AuthError> {
    let token = signed_raw(&RSA, &rs_header(), &payload(extra));
    auth.verify_token(&token).await.map(|_| ())
}

/// A `cnf` built, escaped or deferred binds the token all the same: `verify_token` refuses
/// each as a full parse would read it.
#[tokio::test]
async fn deferred_and_escaped_cnf_bind_the_token() {
    let long = names(40);
    let auth = big_auth(config());
    for (extra, want) in [
        (
            r#","cnf":{"jkt":"abc"}"#.to_owned(),
            AuthError::DpopRequired,
        ),
        (
            r#","\u0063nf":{"j\u006bt":"abc"}"#.to_owned(),
            AuthError::DpopRequired,
        ),
        (
            format!(r#","cnf":{{"jkt":[{long}]}}"#),
            AuthError::UnsupportedConfirmation,
        ),
        (
            format!(r#","cnf":{{"jkt":"abc","x":[{long}]}}"#),
            AuthError::UnsupportedConfirmation,
        ),
        (
            format!(r#","cnf":{{"x5t#S256":[{long}]}}"#),
            AuthError::UnsupportedConfirmation,
        ),
        (
            format!(r#","cnf":[{long}]"#),
            AuthError::UnsupportedConfirmation,
        ),
        (
            format!(r#","cnf":{{"jkt":"abc","j\u006bt":[{long}]}}"#),
            AuthError::Malformed(Malformed::DuplicateMember),
        ),
        (
            format!(r#","cnf":{{"x":[{long}]}},"\u0063nf":{{"jkt":"abc"}}"#),
            AuthError::Malformed(Malformed::DuplicateMember),
        ),
    ] {
        assert_eq!(check(&auth, &extra).await, Err(want), "{extra}");
    }
}

/// Required claims, required claim values and client ids read deferred members in full.
#[tokio::test]
async fn deferred_members_meet_configured_requirements_as_sent() {
    let long = names(40);
    let auth = big_auth(
        config()
            .required_claim_value("tenant", "t1")
            .required_claims(["tenant"]),
    );
    assert_eq!(
        check(&auth, &format!(r#","tenant":[{long},"t1"]"#)).await,
        Ok(())
    );
    assert_eq!(
        check(&auth, &format!(r#","tenant":[{long}]"#)).await,
        Err(AuthError::WrongClaimValue)
    );
    assert_eq!(
        check(&auth, &format!(r#","tenant":[{long}],"t\u0065nant":"t1""#)).await,
        Err(AuthError::Malformed(Malformed::DuplicateMember))
    );
    assert_eq!(
        check(&auth, r#","x":1"#).await,
        Err(AuthError::MissingClaim("tenant".into()))
    );
    let auth = big_auth(config().client_ids(["c1"]));
    assert_eq!(
        check(&auth, &format!(r#","client_id":[{long},"c1"]"#)).await,
        Err(AuthError::WrongClient)
    );
    assert_eq!(
        check(&auth, &format!(r#","x":[{long}],"client_id":"c1""#)).await,
        Ok(())
    );
}

/// Thousands of top-level names, or of names in one deferred member (beyond the scan, in the
/// name set): read as a full parse does, and a duplicate at the very end is still found.
/// (Time is the benchmarks' business, not a test's.)
#[tokio::test]
async fn very_many_names_are_read_and_duplicates_are_found() {
    let many: Vec<String> = (0..4_000).map(|i| format!(r#""n{i}":0"#)).collect();
    let many = many.join(",");
    let half: Vec<String> = (0..2_000).map(|i| format!(r#""n{i}":0"#)).collect();
    let half = half.join(",");
    for extra in [
        format!(",{many}"),
        format!(r#",{many},"n0":1"#),
        format!(r#",{many},"\u006e3999":1"#),
        format!(r#","x":{{{many}}}"#),
        format!(r#","x":{{{many},"n1":1}}"#),
        format!(r#","x":[{{{half}}},{{{half}}}]"#),
        format!(r#","x":{{{many},"\u006e3999":1}}"#),
    ] {
        agrees(payload(&extra).as_bytes()).await;
    }
}

const CACHE_BYTES: u64 = 1 << 20;

/// Verifies eight tokens (`jti` 0 to 7) whose scope is `count` distinct words joined by
/// `separator`, resolves their scopes, and says how many a 1 MiB cache holds, and how many it
/// may hold given their least possible weight: the key, the text, and one authority (48
/// bytes) per word a scope string splits into, as `weight_of` documents.
async fn scopes_held(separator: &str, count: usize) -> (u64, u64) {
    // At most 31 entries: one shard holding all of `cache_max_bytes`.
    let auth = big_auth(config().cache_max_entries(31).cache_max_bytes(CACHE_BYTES));
    let words: Vec<String> = (0..count).map(|i| format!("s{i:x}")).collect();
    let mut least = u64::MAX;
    for i in 0..8 {
        let scope = words.join(separator);
        let text = payload(&format!(r#","jti":"j{i}","scope":"{scope}""#));
        let token = signed_raw(&RSA, &rs_header(), &text);
        assert!(token.len() <= 65_536, "{}", token.len());
        let claims = auth.verify_token(&token).await.expect("valid");
        assert_eq!(claims.scopes().len(), count, "{separator}");
        let bound = (token.len() + text.len() + 48 * (count - 1)) as u64;
        least = least.min(bound);
    }
    (auth.cached_tokens() as u64, CACHE_BYTES / least)
}

/// The cache's byte bound with scopes split on raw spaces (the control for the next test).
#[tokio::test]
async fn scopes_split_on_spaces_are_weighed() {
    let (held, allowed) = scopes_held(" ", 7_000).await;
    assert!(held <= allowed, "{held} held, {allowed} allowed");
}

/// The cache's byte bound with scopes split on escaped whitespace (`\t`, `\u0020`): the
/// same claims as spaces once decoded, so they must weigh at least as much.
#[tokio::test]
async fn scopes_split_on_escaped_whitespace_are_weighed() {
    let tabs = scopes_held(r"\t", 7_000).await;
    let spaces = scopes_held(r"\u0020", 4_000).await;
    assert!(
        tabs.0 <= tabs.1 && spaces.0 <= spaces.1,
        "(held, allowed) in a 1 MiB cache: \\t {tabs:?}, \\u0020 {spaces:?}"
    );
}

/// The cache's byte bound once `raw` is read: the small members built in the pass are built
/// again in the full map, so both copies must be weighed (here at least one `Value` per
/// array element per copy, nothing else of either copy counted).
#[tokio::test]
async fn small_members_built_twice_are_weighed() {
    const CACHE: u64 = 4 << 20;
    let value = std::mem::size_of::<Value>() as u64;
    let auth = big_auth(config().cache_max_entries(31).cache_max_bytes(CACHE));
    // 100 members of 32 values each (an array of 31 zeros): each small enough to build.
    let zeros = vec!["0"; 31].join(",");
    let members: Vec<String> = (0..100).map(|m| format!(r#""m{m}":[{zeros}]"#)).collect();
    let members = members.join(",");
    let mut least = u64::MAX;
    for i in 0..16 {
        let text = payload(&format!(r#","jti":"j{i}",{members}"#));
        let token = signed_raw(&RSA, &rs_header(), &text);
        let claims = auth.verify_token(&token).await.expect("valid");
        assert_eq!(claims.raw().len(), 106);
        assert_eq!(claims.claim::<Vec<u8>>("m99").map(|v| v.len()), Some(31));
        let bound = (token.len() + text.len()) as u64 + 2 * 100 * 31 * value;
        least = least.min(bound);
    }
    assert!(
        auth.cached_tokens() as u64 <= CACHE / least,
        "{} tokens held in a 4 MiB cache, each holding at least {least} bytes once read",
        auth.cached_tokens(),
    );
}

/// A cache hit reads a deferred member as the first verification did.
#[tokio::test]
async fn cached_claims_read_as_fresh_ones() {
    let auth = big_auth(config());
    let text = payload(&format!(r#","roles":[{}],"aud2":"x""#, names(40)));
    let token = signed_raw(&RSA, &rs_header(), &text);
    let first = auth.verify_token(&token).await.expect("valid");
    let second = auth.verify_token(&token).await.expect("valid");
    assert_eq!(auth.cached_tokens(), 1);
    assert_eq!(first.roles().len(), 40);
    assert_eq!(second.roles(), first.roles());
    assert_eq!(second.raw(), first.raw());
}

/// The probe of the weight tests works: small tokens are cached under the same bound.
#[tokio::test]
async fn small_tokens_are_cached_under_the_same_bound() {
    let auth = big_auth(config().cache_max_entries(31).cache_max_bytes(CACHE_BYTES));
    for i in 0..8 {
        let token = signed_raw(&RSA, &rs_header(), &payload(&format!(r#","jti":"j{i}""#)));
        assert!(auth.verify_token(&token).await.is_ok());
    }
    assert_eq!(auth.cached_tokens(), 8);
}
