//! Output in text or JSON, exit codes, and how a token is named without being shown.

use serde_json::Value;
use std::process::ExitCode;

/// Success.
pub(crate) const OK: u8 = 0;
/// Bad input: an unreadable file, no token, a malformed argument.
pub(crate) const INPUT: u8 = 1;
/// The configuration is invalid (every problem is listed).
pub(crate) const CONFIG: u8 = 3;

/// The exit code of a refusal, by the core's reason category; with the category's name and
/// what to check. The README lists them.
pub(crate) fn refusal(reason: &str) -> (u8, &'static str, &'static str) {
    match reason {
        "missing_token" | "invalid_request" | "token_too_large" | "malformed" => (
            10,
            "malformed",
            "the value is not a compact JWS (three base64url segments, JSON header and payload); check what was copied",
        ),
        "disallowed_algorithm" | "unsupported_crit" => (
            11,
            "algorithm",
            "the token's `alg` is not in accepted_algorithms, or it carries `crit`; compare the header with the configuration",
        ),
        "unknown_key" | "key_mismatch" => (
            12,
            "key",
            "no key of the key set has this `kid` for this `alg`; check jwks_endpoint / discovery and whether the issuer rotated keys",
        ),
        "bad_signature" => (
            13,
            "signature",
            "the signature does not match: the token was altered, or signed by another issuer's key with the same `kid`",
        ),
        "expired" | "not_yet_valid" | "issued_in_future" => (
            14,
            "time",
            "the signature is valid but the token's times are not: compare exp / nbf / iat with this machine's clock (leeway_seconds)",
        ),
        "wrong_issuer" | "wrong_audience" | "missing_claim" | "wrong_type" => (
            15,
            "claims",
            "the signature is valid but a claim does not match: compare iss / aud / typ / required claims with the configuration",
        ),
        "revoked" => (
            16,
            "revoked",
            "the signature is valid but the token's jti is on the revocation list",
        ),
        "keys_unavailable" | "revocation_unavailable" => (
            17,
            "unavailable",
            "the key set (or revocation list) could not be fetched: check the issuer URL, the network and http_timeout_seconds",
        ),
        "dpop_required" | "invalid_dpop_proof" | "unsupported_confirmation" => (
            19,
            "binding",
            "the token is bound to its holder's key (`cnf`): it is accepted only as `Authorization: DPoP` with a proof by that key for this very request (verify --dpop-proof PROOF --url URL), never as a bearer token",
        ),
        "dpop_replay_unavailable" => (
            17,
            "unavailable",
            "the DPoP replay store could not be reached: check dpop_replay_redis_url",
        ),
        _ => (18, "other", "see the detail"),
    }
}

/// A command that could not do its job: an exit code and a one-line message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self {
            code: INPUT,
            message: message.into(),
        }
    }
}

/// Where results go.
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Prints `value` as JSON, or `text` lines.
    pub(crate) fn print(&self, value: &Value, text: &str) {
        if self.json {
            println!("{value}");
        } else {
            print!("{text}");
        }
    }

    /// Reports a failure on one line and gives its exit code.
    pub(crate) fn fail(&self, failure: &Failure) -> ExitCode {
        let message = failure.message.replace(['\n', '\r'], " ");
        if self.json {
            println!(
                "{}",
                serde_json::json!({ "error": message, "exit_code": failure.code })
            );
        } else {
            eprintln!("portcullis: {message}");
        }
        ExitCode::from(failure.code)
    }
}

/// A token given on the command line, or read from standard input for `-`.
pub(crate) fn read_token(arg: &str) -> Result<String, Failure> {
    let token = if arg == "-" {
        // A token is at most 64 KiB (max_token_bytes): read a little more, never unbounded.
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::io::stdin(), 70_000),
            &mut text,
        )
        .map_err(|e| Failure::input(format!("cannot read the token from standard input: {e}")))?;
        if text.len() >= 70_000 {
            return Err(Failure::input(
                "standard input holds more than a token (over 64 KiB)",
            ));
        }
        text.trim().to_owned()
    } else {
        arg.trim().to_owned()
    };
    if token.is_empty() {
        return Err(Failure::input(
            "no token given (pass it as an argument, or - to read standard input)",
        ));
    }
    Ok(token)
}

/// Whether `word` looks like a compact JWS (three base64url segments, long enough to be one).
pub(crate) fn looks_like_token(word: &str) -> bool {
    let segments: Vec<&str> = word.split('.').collect();
    word.len() >= 40
        && segments.len() == 3
        && segments.iter().take(2).all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A short, stable name for a token that does not reveal it: `sha256:` and 12 hex digits.
pub(crate) fn fingerprint(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let hex: String = digest
        .as_ref()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A Unix time as an RFC 3339 date and its distance from now (`in 14m`, `3h ago`).
pub(crate) fn when(unix: i64, now: i64) -> (String, String) {
    // RFC 3339 stops at year 9999 (253402300799); a token may say anything.
    let date = u64::try_from(unix)
        .ok()
        .filter(|s| *s <= 253_402_300_799)
        .and_then(|s| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(s)))
        .map_or_else(
            || format!("{unix} (not a representable date)"),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        );
    let delta = unix.saturating_sub(now);
    let span = humantime::format_duration(std::time::Duration::from_secs(delta.unsigned_abs()))
        .to_string();
    let relative = if delta >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    };
    (date, relative)
}

/// The current Unix time.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
