//! The one error type of portcullis and the HTTP answer each error maps to.
//!
//! Adapters never choose a status, a body or a header themselves: they call
//! [`AuthError::to_response`] and copy the result into their framework's response type.
//! Every public text here is fixed: nothing from the token, the key set or a library's
//! internal message ever reaches a response.

use std::borrow::Cow;
use std::fmt;

/// Why a token was rejected, or why a caller may not proceed.
///
/// Each variant is a reason *category*: it is what gets logged (see [`AuthError::reason`])
/// and it decides the HTTP status, the RFC 6750 `WWW-Authenticate` value and the public
/// `{"detail": "..."}` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer credentials were sent (no `Authorization` header, another scheme, or an
    /// empty token).
    #[error("missing bearer token")]
    MissingToken,
    /// The request carried credentials in a way RFC 6750 calls `invalid_request`
    /// (for example two `Authorization` headers).
    #[error("invalid authorization request")]
    InvalidRequest,
    /// The route takes its token from the `Authorization` header only, and it came from
    /// elsewhere (a configured cookie, header or query parameter).
    #[error("token not sent in the Authorization header")]
    TokenSourceNotAllowed,
    /// `client_ids` is configured and the token's client (its first client-id claim) is not
    /// one of them.
    #[error("token client not accepted")]
    WrongClient,
    /// A claim of `required_claim_values` is missing or carries another value (e.g. a Cognito
    /// ID token where an access token is required).
    #[error("token claim value not accepted")]
    WrongClaimValue,
    /// The token is longer than `max_token_bytes`; it was not decoded.
    #[error("token exceeds the size limit")]
    TokenTooLarge,
    /// The token is not a well-formed JWS in compact serialization.
    #[error("malformed token ({0})")]
    Malformed(Malformed),
    /// The token header lists a `crit` extension that portcullis does not understand.
    #[error("unsupported critical header parameter")]
    UnsupportedCritical,
    /// The token's `alg` is not on the configured allowlist (or is `none` or unknown).
    #[error("token algorithm not allowed")]
    DisallowedAlgorithm,
    /// No key of the key set matches the token's `kid` (or, without `kid`, no single key fits).
    #[error("unknown signing key")]
    UnknownKey,
    /// The key found for the token does not allow the token's algorithm (RFC 8725 §3.1).
    #[error("key does not allow the token's algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is in the past, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent. The name is the configured claim name, never token data.
    #[error("missing required claim `{0}`")]
    MissingClaim(Cow<'static, str>),
    /// The header `typ` is not the required one (RFC 9068 `at+jwt`, for example).
    #[error("wrong token type")]
    WrongType,
    /// The token's `jti` is on the revocation list, or the list could not be confirmed
    /// while failing closed.
    #[error("token revoked")]
    Revoked,
    /// The revocation list cannot be confirmed and revocation fails closed (503).
    #[error("revocation list unavailable")]
    RevocationUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after: u64,
    },
    /// No verification keys could be obtained: not the caller's fault (503).
    #[error("verification keys unavailable")]
    KeysUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after: u64,
    },
    /// The caller is authenticated but has none (or, with `all`, not all) of the roles.
    #[error("insufficient role")]
    InsufficientRole {
        /// The roles the resource asks for, sorted.
        required: Vec<String>,
        /// Whether every role is needed (all-of) rather than one (any-of).
        all: bool,
    },
    /// The caller is authenticated but in none of the groups.
    #[error("insufficient group")]
    InsufficientGroup {
        /// The groups the resource asks for, sorted.
        required: Vec<String>,
    },
    /// The caller's token grants none of the scopes.
    #[error("insufficient scope")]
    InsufficientScope {
        /// The scopes the resource asks for, sorted.
        required: Vec<String>,
    },
    /// The route requires an agent token and none was sent.
    #[error("missing agent token")]
    MissingAgentToken,
    /// The agent token was sent but is not valid (any reason; the reason is logged).
    #[error("invalid agent token")]
    InvalidAgentToken,
    /// The agent's token grants none of the scopes the route requires.
    #[error("insufficient agent scope")]
    InsufficientAgentScope {
        /// The scopes the route asks for, sorted.
        required: Vec<String>,
    },
    /// Code asked for the authenticated caller where there is none (anonymous request, or no
    /// [`SecurityContext`](crate::SecurityContext) at all).
    #[error("not authenticated")]
    NotAuthenticated,
    /// A route declared with a requirement ran where no portcullis gate authenticated the
    /// request (the adapter's layer or middleware is missing, or the route was added outside
    /// it). The request is refused (500) rather than served unchecked; the log names the fix.
    #[error("requirement not enforced: no gate in front of this route")]
    NotEnforced,
    /// The application's own claim rules refused the token: the claims validation hook
    /// ([`AuthenticatorBuilder::validate_claims`](crate::AuthenticatorBuilder::validate_claims))
    /// or a typed claims extractor whose type the claims do not fit. `forbidden`: 403 (the
    /// caller is known but not allowed); otherwise 401 (the token is not acceptable).
    #[error("token claims refused by the application")]
    ClaimsRejected {
        /// 403 instead of 401.
        forbidden: bool,
    },
    /// The DPoP proof (RFC 9449) sent with a DPoP-bound token is missing or fails a check, or
    /// the token sent with the `DPoP` scheme is not bound. The problem is logged; the answer
    /// is always `invalid_dpop_proof`.
    #[error("invalid DPoP proof ({0})")]
    InvalidDpopProof(crate::dpop::DpopProblem),
    /// A DPoP-bound token was sent as a bearer token (or from a cookie, custom header or query
    /// parameter), or a bearer token where DPoP is required (by `dpop: required` or the
    /// route's `requires_dpop`).
    #[error("DPoP required")]
    DpopRequired,
    /// The token is bound to its holder (`cnf`) by a method portcullis cannot check (mutual
    /// TLS `x5t#S256`, a `jwk`, ...): accepting it as a bearer token would undo the binding.
    #[error("unsupported token confirmation")]
    UnsupportedConfirmation,
    /// The DPoP replay store cannot say whether a proof is new, and fails closed (503).
    #[error("DPoP replay store unavailable")]
    ReplayStoreUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after: u64,
    },
}

/// What exactly was malformed. For logs and tests; the public text is always the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The credentials are not RFC 7235 `token68` syntax.
    NotToken68,
    /// Not three dot-separated segments.
    SegmentCount,
    /// A segment is not unpadded base64url.
    Base64,
    /// The header is not a JSON object with a string `alg`.
    Header,
    /// The payload is not a JSON object.
    Payload,
    /// A registered claim has the wrong JSON type (`exp` that is not a number, an `aud`
    /// list with a member that is not a string, ...).
    ClaimType,
    /// A JSON object of the payload names a member twice (RFC 7519 §4: a JWT with duplicate
    /// claim names must be rejected or resolved; portcullis rejects, so that no other reader
    /// of the token can see a different value than it does).
    DuplicateMember,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotToken68 => "not token68",
            Self::SegmentCount => "segment count",
            Self::Base64 => "base64",
            Self::Header => "header",
            Self::Payload => "payload",
            Self::ClaimType => "claim type",
            Self::DuplicateMember => "duplicate member",
        })
    }
}

/// The RFC 6750 error code of a `WWW-Authenticate: Bearer` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenge {
    /// No error code: the request had no bearer credentials.
    Plain,
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
    InvalidDpopProof,
}

impl AuthError {
    /// The HTTP status code: 400, 401, 403, 503, or 500 for [`AuthError::NotEnforced`].
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::NotEnforced => 500,
            Self::ClaimsRejected { forbidden: true } => 403,
            Self::InsufficientRole { .. }
            | Self::InsufficientGroup { .. }
            | Self::InsufficientScope { .. }
            | Self::InsufficientAgentScope { .. } => 403,
            Self::KeysUnavailable { .. }
            | Self::RevocationUnavailable { .. }
            | Self::ReplayStoreUnavailable { .. } => 503,
            _ => 401,
        }
    }

    /// A short, stable reason category for logs and metrics (`"expired"`, `"bad_signature"`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidRequest => "invalid_request",
            Self::TokenSourceNotAllowed => "token_source_not_allowed",
            Self::WrongClient => "wrong_client",
            Self::WrongClaimValue => "wrong_claim_value",
            Self::TokenTooLarge => "token_too_large",
            Self::Malformed(_) => "malformed",
            Self::UnsupportedCritical => "unsupported_crit",
            Self::DisallowedAlgorithm => "disallowed_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::WrongType => "wrong_type",
            Self::Revoked => "revoked",
            Self::KeysUnavailable { .. } => "keys_unavailable",
            Self::RevocationUnavailable { .. } => "revocation_unavailable",
            Self::InsufficientRole { .. } => "insufficient_role",
            Self::InsufficientGroup { .. } => "insufficient_group",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::NotAuthenticated => "not_authenticated",
            Self::MissingAgentToken => "missing_agent_token",
            Self::InvalidAgentToken => "invalid_agent_token",
            Self::InsufficientAgentScope { .. } => "insufficient_agent_scope",
            Self::NotEnforced => "not_enforced",
            Self::ClaimsRejected { .. } => "claims_rejected",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::DpopRequired => "dpop_required",
            Self::UnsupportedConfirmation => "unsupported_confirmation",
            Self::ReplayStoreUnavailable { .. } => "dpop_replay_unavailable",
        }
    }

    /// The fixed public text of the `{"detail": ...}` body.
    ///
    /// pico-client-auth's exact wording where it has one; otherwise a short category text.
    pub fn detail(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::MissingToken => "Missing or invalid Authorization header",
            Self::InvalidRequest => "Invalid Authorization header",
            Self::TokenSourceNotAllowed => "Token must be sent in the Authorization header",
            Self::WrongClient => "Token client not accepted",
            Self::WrongClaimValue => "Token claims not accepted",
            Self::TokenTooLarge => "Token too large",
            Self::Malformed(_) => "Malformed token",
            Self::UnsupportedCritical => "Unsupported critical header parameter",
            Self::DisallowedAlgorithm => "Token algorithm not allowed",
            Self::UnknownKey => "Unknown signing key",
            Self::KeyMismatch => "Token algorithm does not match its key",
            Self::BadSignature => "Invalid token signature",
            Self::Expired => "Token has expired",
            Self::NotYetValid => "Token is not yet valid",
            Self::IssuedInFuture => "Token issued in the future",
            Self::WrongIssuer => "Invalid token issuer",
            Self::WrongAudience => "Invalid token audience",
            Self::MissingClaim(name) => {
                return Cow::Owned(format!("Token is missing required claim: {name}"))
            }
            Self::WrongType => "Invalid token type",
            Self::Revoked => "Token has been revoked",
            Self::KeysUnavailable { .. }
            | Self::RevocationUnavailable { .. }
            | Self::ReplayStoreUnavailable { .. } => "Authentication service unavailable",
            Self::InvalidDpopProof(_) => "Invalid DPoP proof",
            Self::DpopRequired => "DPoP-bound token and proof required",
            Self::UnsupportedConfirmation => "Token confirmation method not supported",
            Self::InsufficientRole { required, all } => {
                let kind = if *all { "all" } else { "one" };
                return Cow::Owned(format!(
                    "Requires {kind} of roles: {}",
                    python_list(required)
                ));
            }
            Self::InsufficientGroup { required } => {
                return Cow::Owned(format!("Requires one of groups: {}", python_list(required)))
            }
            Self::InsufficientScope { required } => {
                return Cow::Owned(format!("Requires one of scopes: {}", python_list(required)))
            }
            Self::NotAuthenticated => "Not authenticated",
            Self::MissingAgentToken => {
                "Endpoint requires X-Agent-Authorization header (agent token)"
            }
            Self::InvalidAgentToken => "Invalid agent token",
            Self::NotEnforced => "Authentication is not configured for this route",
            Self::ClaimsRejected { forbidden: true } => "Not allowed by token claims",
            Self::ClaimsRejected { forbidden: false } => "Token claims not accepted",
            Self::InsufficientAgentScope { required } => {
                return Cow::Owned(format!(
                    "Agent missing required scope; required one of: {}",
                    python_list(required)
                ))
            }
        })
    }

    fn challenge(&self) -> Option<Challenge> {
        match self {
            Self::MissingToken
            | Self::NotAuthenticated
            | Self::MissingAgentToken
            | Self::TokenSourceNotAllowed => Some(Challenge::Plain),
            Self::InvalidRequest => Some(Challenge::InvalidRequest),
            Self::InsufficientRole { .. }
            | Self::InsufficientGroup { .. }
            | Self::InsufficientScope { .. }
            | Self::InsufficientAgentScope { .. }
            | Self::ClaimsRejected { forbidden: true } => Some(Challenge::InsufficientScope),
            Self::KeysUnavailable { .. }
            | Self::RevocationUnavailable { .. }
            | Self::ReplayStoreUnavailable { .. }
            | Self::NotEnforced => None,
            Self::InvalidDpopProof(_) => Some(Challenge::InvalidDpopProof),
            _ => Some(Challenge::InvalidToken),
        }
    }

    /// The RFC 6750 `WWW-Authenticate` value, if this answer carries one.
    ///
    /// `Bearer` alone when no credentials were sent; `error="invalid_request"` (400),
    /// `error="invalid_token"` (401) or `error="insufficient_scope"` (403) otherwise, each with
    /// the public detail as `error_description`. None for 503.
    pub fn www_authenticate(&self) -> Option<String> {
        let code = match self.challenge()? {
            Challenge::Plain => return Some("Bearer".to_owned()),
            Challenge::InvalidRequest => "invalid_request",
            Challenge::InvalidToken => "invalid_token",
            Challenge::InsufficientScope => "insufficient_scope",
            Challenge::InvalidDpopProof => {
                return Some(format!(
                    "DPoP error=\"invalid_dpop_proof\", error_description=\"{}\"",
                    quoted_string_content(&self.detail())
                ))
            }
        };
        let mut value = format!(
            "Bearer error=\"{code}\", error_description=\"{}\"",
            quoted_string_content(&self.detail())
        );
        if let Self::InsufficientScope { required } | Self::InsufficientAgentScope { required } =
            self
        {
            value.push_str(&format!(
                ", scope=\"{}\"",
                quoted_string_content(&required.join(" "))
            ));
        }
        Some(value)
    }

    /// The `WWW-Authenticate` value of an application that takes DPoP (RFC 9449 §7.1):
    /// `required`, a `DPoP` challenge only; otherwise the `Bearer` challenge followed by a
    /// `DPoP` one. `algs` lists the accepted proof algorithms, space-separated.
    pub fn www_authenticate_dpop(&self, required: bool, algs: &str) -> Option<String> {
        let dpop = |code: Option<&str>| match code {
            Some(code) => format!(
                "DPoP error=\"{code}\", error_description=\"{}\", algs=\"{algs}\"",
                quoted_string_content(&self.detail())
            ),
            None => format!("DPoP algs=\"{algs}\""),
        };
        let code = match (self, self.challenge()?) {
            (Self::InvalidDpopProof(_), _) => return Some(dpop(Some("invalid_dpop_proof"))),
            (Self::DpopRequired, _) => return Some(dpop(Some("invalid_token"))),
            (_, Challenge::Plain) => None,
            (_, Challenge::InvalidRequest) => Some("invalid_request"),
            (_, Challenge::InvalidToken) => Some("invalid_token"),
            (_, Challenge::InsufficientScope) => Some("insufficient_scope"),
            (_, Challenge::InvalidDpopProof) => Some("invalid_dpop_proof"),
        };
        if required {
            Some(dpop(code))
        } else {
            Some(format!("{}, {}", self.www_authenticate()?, dpop(code)))
        }
    }

    /// Seconds for a `Retry-After` header (503 only).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::KeysUnavailable { retry_after }
            | Self::RevocationUnavailable { retry_after }
            | Self::ReplayStoreUnavailable { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The complete, framework-free HTTP answer for this error.
    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse {
            status: self.status(),
            www_authenticate: self.www_authenticate(),
            retry_after: self.retry_after(),
            body: detail_body(&self.detail()),
        }
    }
}

/// An HTTP answer with no framework types in it: adapters copy it field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// Status code (400, 401, 403, 503).
    pub status: u16,
    /// Value of the `WWW-Authenticate` header, when there is one.
    pub www_authenticate: Option<String>,
    /// Value in seconds of the `Retry-After` header, when there is one.
    pub retry_after: Option<u64>,
    /// The JSON body, `{"detail":"..."}`.
    pub body: String,
}

impl ErrorResponse {
    /// The `Content-Type` of [`ErrorResponse::body`].
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// The response headers as `(name, value)` pairs, content type included.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("content-type", Self::CONTENT_TYPE.to_owned())];
        if let Some(value) = &self.www_authenticate {
            headers.push(("www-authenticate", value.clone()));
        }
        if let Some(secs) = self.retry_after {
            headers.push(("retry-after", secs.to_string()));
        }
        headers
    }

    /// The gRPC status code of this answer (gRPC's HTTP mapping): 16 `UNAUTHENTICATED` for a
    /// 401, 7 `PERMISSION_DENIED` for a 403, 14 `UNAVAILABLE` for a 503, 3 `INVALID_ARGUMENT`
    /// for a 400, 13 `INTERNAL` otherwise.
    pub fn grpc_status(&self) -> u8 {
        match self.status {
            401 => 16,
            403 => 7,
            503 => 14,
            400 => 3,
            _ => 13,
        }
    }

    /// The fixed public message of this answer, percent-encoded as `grpc-message` requires
    /// (the same text as the JSON body's `detail`).
    pub fn grpc_message(&self) -> String {
        let detail = serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let mut out = String::with_capacity(detail.len());
        for b in detail.bytes() {
            // gRPC: percent-encode everything outside printable ASCII, and `%` itself.
            if (0x20..=0x7e).contains(&b) && b != b'%' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// The headers of a trailers-only gRPC answer (HTTP 200): `content-type:
    /// application/grpc`, `grpc-status`, `grpc-message` and, where it applies,
    /// `www-authenticate` and `retry-after`.
    pub fn grpc_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("content-type", "application/grpc".to_owned()),
            ("grpc-status", self.grpc_status().to_string()),
            ("grpc-message", self.grpc_message()),
        ];
        if let Some(value) = &self.www_authenticate {
            headers.push(("www-authenticate", value.clone()));
        }
        if let Some(secs) = self.retry_after {
            headers.push(("retry-after", secs.to_string()));
        }
        headers
    }
}

/// `{"detail":"..."}` with proper JSON escaping.
pub(crate) fn detail_body(detail: &str) -> String {
    serde_json::json!({ "detail": detail }).to_string()
}

/// Python's `repr()` of a list of strings: `['a', 'b']` (pico-client-auth's message format).
fn python_list(items: &[String]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|s| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    format!("[{}]", inner.join(", "))
}

/// Content of an RFC 7230 quoted-string: escape `"` and `\`, drop control characters.
fn quoted_string_content(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pico_texts_are_exact() {
        assert_eq!(
            AuthError::MissingToken.to_response().body,
            r#"{"detail":"Missing or invalid Authorization header"}"#
        );
        assert_eq!(AuthError::Expired.detail(), "Token has expired");
        let e = AuthError::InsufficientRole {
            required: roles(&["admin"]),
            all: false,
        };
        assert_eq!(e.detail(), "Requires one of roles: ['admin']");
        assert_eq!(e.status(), 403);
        let e = AuthError::InsufficientGroup {
            required: roles(&["g1", "g2"]),
        };
        assert_eq!(e.detail(), "Requires one of groups: ['g1', 'g2']");
        assert_eq!(AuthError::Revoked.detail(), "Token has been revoked");
    }

    #[test]
    fn challenges_follow_rfc6750() {
        assert_eq!(
            AuthError::MissingToken.www_authenticate().as_deref(),
            Some("Bearer")
        );
        assert_eq!(
            AuthError::Expired.www_authenticate().as_deref(),
            Some(r#"Bearer error="invalid_token", error_description="Token has expired""#)
        );
        assert_eq!(AuthError::InvalidRequest.status(), 400);
        assert!(AuthError::InvalidRequest
            .www_authenticate()
            .is_some_and(|v| v.starts_with(r#"Bearer error="invalid_request""#)));
        let e = AuthError::InsufficientScope {
            required: roles(&["a:b", "c"]),
        };
        assert_eq!(
            e.www_authenticate().as_deref(),
            Some(
                r#"Bearer error="insufficient_scope", error_description="Requires one of scopes: ['a:b', 'c']", scope="a:b c""#
            )
        );
        let role = AuthError::InsufficientRole {
            required: roles(&["admin"]),
            all: true,
        };
        assert!(role
            .www_authenticate()
            .is_some_and(|v| v.contains(r#"error="insufficient_scope""#)));
    }

    #[test]
    fn outage_is_503_with_retry_after_and_no_challenge() {
        let r = AuthError::KeysUnavailable { retry_after: 7 }.to_response();
        assert_eq!(r.status, 503);
        assert_eq!(r.retry_after, Some(7));
        assert_eq!(r.www_authenticate, None);
        assert_eq!(r.body, r#"{"detail":"Authentication service unavailable"}"#);
        assert!(r.headers().contains(&("retry-after", "7".to_owned())));
    }

    #[test]
    fn quoting_cannot_break_out_of_the_header() {
        let e = AuthError::InsufficientRole {
            required: roles(&["a\"b\\c\r\nX-Evil: 1"]),
            all: false,
        };
        let v = e.www_authenticate().unwrap_or_default();
        assert!(!v.contains('\r') && !v.contains('\n'));
        assert!(v.contains(r#"a\"b"#));
    }

    #[test]
    fn every_error_maps_to_a_json_detail_body() {
        let all = [
            AuthError::MissingToken,
            AuthError::TokenTooLarge,
            AuthError::Malformed(Malformed::Base64),
            AuthError::UnsupportedCritical,
            AuthError::DisallowedAlgorithm,
            AuthError::UnknownKey,
            AuthError::KeyMismatch,
            AuthError::BadSignature,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::IssuedInFuture,
            AuthError::WrongIssuer,
            AuthError::WrongAudience,
            AuthError::MissingClaim("sub".into()),
            AuthError::WrongType,
            AuthError::Revoked,
            AuthError::NotAuthenticated,
            AuthError::InvalidDpopProof(crate::dpop::DpopProblem::Replayed),
            AuthError::DpopRequired,
            AuthError::UnsupportedConfirmation,
        ];
        for e in all {
            let r = e.to_response();
            assert_eq!(r.status, 401, "{e:?}");
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            assert!(v["detail"].is_string(), "{e:?}");
            assert!(r.www_authenticate.is_some(), "{e:?}");
        }
    }

    #[test]
    fn dpop_challenges_follow_rfc9449() {
        let algs = "ES256 PS256";
        let proof = AuthError::InvalidDpopProof(crate::dpop::DpopProblem::Signature);
        assert_eq!(
            proof.www_authenticate_dpop(false, algs).as_deref(),
            Some("DPoP error=\"invalid_dpop_proof\", error_description=\"Invalid DPoP proof\", algs=\"ES256 PS256\"")
        );
        assert_eq!(
            AuthError::MissingToken
                .www_authenticate_dpop(false, algs)
                .as_deref(),
            Some("Bearer, DPoP algs=\"ES256 PS256\"")
        );
        assert_eq!(
            AuthError::MissingToken
                .www_authenticate_dpop(true, algs)
                .as_deref(),
            Some("DPoP algs=\"ES256 PS256\"")
        );
        let required = AuthError::DpopRequired
            .www_authenticate_dpop(false, algs)
            .unwrap();
        assert!(
            required.starts_with("DPoP error=\"invalid_token\""),
            "{required}"
        );
        let store = AuthError::ReplayStoreUnavailable { retry_after: 1 };
        assert_eq!((store.status(), store.retry_after()), (503, Some(1)));
        assert_eq!(store.www_authenticate_dpop(true, algs), None);
        // The problem never reaches the answer.
        assert_eq!(proof.detail(), "Invalid DPoP proof");
    }
}
