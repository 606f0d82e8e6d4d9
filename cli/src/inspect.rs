//! `portcullis inspect`: what a token says about itself, NOT verified.

use crate::output::{fingerprint, now, read_token, when, Failure, Output, OK};
use base64::Engine;
use serde_json::{json, Map, Value};

/// Arguments of `inspect`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The token, or `-` to read it from standard input.
    token: String,
}

/// Header members an attacker uses, and why each is dangerous.
fn dangers(header: &Map<String, Value>) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    if let Some(alg) = header.get("alg").and_then(Value::as_str) {
        if alg.eq_ignore_ascii_case("none") {
            found.push(("alg: none".to_owned(), "an unsigned token: never accept it"));
        } else if alg.to_ascii_uppercase().starts_with("HS") {
            found.push((
                format!("alg: {alg}"),
                "a shared-secret algorithm: with a public-key issuer this is key confusion",
            ));
        }
    }
    for (member, why) in [
        (
            "jku",
            "names a key-set URL: never fetch keys a token points to",
        ),
        (
            "x5u",
            "names a certificate URL: never fetch keys a token points to",
        ),
        (
            "jwk",
            "embeds its own key: never verify a token with the key it brings",
        ),
        (
            "x5c",
            "embeds a certificate chain: never verify a token with the key it brings",
        ),
        (
            "crit",
            "demands extensions be understood: refused unless every one is",
        ),
    ] {
        if header.contains_key(member) {
            found.push((member.to_owned(), why));
        }
    }
    found
}

fn decode(segment: &str, what: &str) -> Result<Map<String, Value>, Failure> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| Failure::input(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Failure::input(format!("the {what} is not a JSON object"))),
    }
}

pub(crate) fn run(args: &Args, out: &Output) -> Result<u8, Failure> {
    let token = read_token(&args.token)?;
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() != 3 {
        return Err(Failure::input(format!(
            "a compact JWS has 3 segments; this has {}",
            segments.len()
        )));
    }
    let header = decode(segments[0], "header")?;
    let payload = decode(segments[1], "payload")?;
    let dangers = dangers(&header);
    let now = now();
    let times: Vec<(String, String, String)> = ["iat", "nbf", "exp"]
        .iter()
        .filter_map(|name| {
            let t = payload.get(*name)?.as_f64()?;
            #[allow(clippy::cast_possible_truncation)]
            let (date, rel) = when(t as i64, now);
            Some(((*name).to_owned(), date, rel))
        })
        .collect();
    // DPoP (RFC 9449): a bound token, or a proof pasted where a token was expected.
    let binding = match payload.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str) {
        Some(jkt) => Some(format!(
            "bound to DPoP key {jkt}: accepted only as `Authorization: DPoP` with a proof by that key"
        )),
        None if payload.contains_key("cnf") => {
            Some("bound to its holder by a confirmation method other than DPoP (cnf)".to_owned())
        }
        None => None,
    };
    let proof = header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"));
    let value = json!({
        "binding": binding,
        "dpop_proof": proof,
        "verified": false,
        "warning": "decoded only: NOT verified; nothing here can be trusted",
        "token": fingerprint(&token),
        "header": header,
        "payload": payload,
        "times": times.iter().map(|(n, d, r)| json!({"claim": n, "date": d, "relative": r})).collect::<Vec<_>>(),
        "dangers": dangers.iter().map(|(m, why)| json!({"member": m, "why": why})).collect::<Vec<_>>(),
    });
    let mut text = format!(
        "NOT VERIFIED: decoded only; nothing below can be trusted.\ntoken   {}\nheader  {}\npayload {}\n",
        fingerprint(&token),
        Value::Object(header.clone()),
        serde_json::to_string_pretty(&Value::Object(payload.clone())).unwrap_or_default(),
    );
    for (name, date, rel) in &times {
        text.push_str(&format!("{name:<7} {date} ({rel})\n"));
    }
    if let Some(binding) = &binding {
        text.push_str(&format!("bound   {binding}\n"));
    }
    if proof {
        text.push_str("proof   this is a DPoP proof (typ dpop+jwt), not an access token\n");
    }
    for (member, why) in &dangers {
        text.push_str(&format!("DANGER  {member}: {why}\n"));
    }
    out.print(&value, &text);
    Ok(OK)
}
