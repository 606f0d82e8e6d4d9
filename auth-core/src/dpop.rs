//! DPoP (RFC 9449): access tokens bound to a key the client holds, proven on every request.
//!
//! A DPoP-bound token carries the thumbprint of the client's public key (`cnf.jkt`). The client
//! sends it as `Authorization: DPoP <token>`, together with a `DPoP` header: a short JWT (the
//! *proof*) signed with that key, naming this request's method and URL, the time, a unique
//! `jti` and the hash of the token (`ath`). A stolen token is useless without the key, and a
//! captured proof is useless for another request, after its time window, or a second time
//! (the [`ReplayStore`] remembers every `jti` until its proof could no longer be accepted).
//!
//! The [`Authenticator`](crate::Authenticator) does all of it for every request when the
//! configuration says `dpop: allowed` or `dpop: required`; [`verify_proof`] is the proof check
//! alone, for code that is not an HTTP server.
//!
//! ```
//! use portcullis_core::dpop::{verify_proof, ProofPolicy, ProofRequest};
//!
//! // RFC 9449, figure 13: the proof sent with `GET /protectedresource` to
//! // resource.example.org, and its access token.
//! let proof = concat!(
//!     "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZ",
//!     "yaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpi",
//!     "VFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9i",
//!     "S2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9w",
//!     "cm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05y",
//!     "V0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemA",
//!     "gR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
//! );
//! let request = ProofRequest {
//!     method: "GET",
//!     path: "/protectedresource",
//!     authority: Some("resource.example.org"),
//!     access_token: Some("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
//!     thumbprint: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
//! };
//! let verified = verify_proof(proof, &request, &ProofPolicy::default(), 1562262618).unwrap();
//! assert_eq!(verified.thumbprint(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
//! assert_eq!(verified.jti(), "e1j3V_bKic8-LAEB");
//! ```

use crate::algorithm::{Algorithm, AlgorithmSet, KeyFamily};
use crate::AuthError;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How an application takes DPoP (`auth_client.dpop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// No DPoP: `Authorization: DPoP` is not a credential, and a DPoP-bound token (one with
    /// `cnf.jkt`) is refused, since its binding cannot be checked.
    #[default]
    Off,
    /// `Bearer` tokens as before, and DPoP-bound tokens with a valid proof.
    Allowed,
    /// Only DPoP-bound tokens with a valid proof.
    Required,
}

impl DpopMode {
    /// The configuration's spelling: `off`, `allowed`, `required`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Allowed => "allowed",
            Self::Required => "required",
        }
    }
}

/// What exactly was wrong with a DPoP proof or its binding: for logs, metrics and tests. The
/// public answer is always the same (`invalid_dpop_proof`, "Invalid DPoP proof").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopProblem {
    /// No `DPoP` header with a `DPoP` credential.
    Missing,
    /// More than one `DPoP` header (RFC 9449 §4.3, check 1).
    Several,
    /// Longer than a proof can reasonably be; not decoded.
    TooLarge,
    /// Not a compact JWS with JSON header and claims (duplicate members included).
    Malformed,
    /// `typ` is not `dpop+jwt`, or the header has `crit`.
    Type,
    /// `alg` is not an asymmetric algorithm of the allowlist (`none` and `HS*` never are).
    Algorithm,
    /// The header's `jwk` is missing, not a usable public key, or not a key for `alg`.
    Key,
    /// The header's `jwk` carries private key material.
    PrivateKey,
    /// The signature does not verify with the header's `jwk`.
    Signature,
    /// `jti`, `htm`, `htu` or `iat` is missing or of the wrong type.
    Claims,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not the request's URL (scheme, host, port and path; query and fragment
    /// ignored), or the request's URL cannot be known.
    Uri,
    /// `iat` is outside the accepted window.
    IssuedAt,
    /// `ath` is missing or is not the hash of the access token sent with the proof.
    TokenHash,
    /// The proof's key is not the key the token is bound to (`cnf.jkt`).
    Thumbprint,
    /// This proof (its key and `jti`) was seen before.
    Replayed,
    /// The token was sent with the `DPoP` scheme but is not DPoP-bound.
    NotBound,
}

impl DpopProblem {
    /// A short, stable category for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Several => "several",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::Type => "type",
            Self::Algorithm => "algorithm",
            Self::Key => "key",
            Self::PrivateKey => "private_key",
            Self::Signature => "signature",
            Self::Claims => "claims",
            Self::Method => "method",
            Self::Uri => "uri",
            Self::IssuedAt => "iat",
            Self::TokenHash => "ath",
            Self::Thumbprint => "thumbprint",
            Self::Replayed => "replayed",
            Self::NotBound => "not_bound",
        }
    }
}

impl fmt::Display for DpopProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest proof read (an RSA-4096 proof is under 2 KiB).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// The longest `jti` accepted.
pub const MAX_JTI_BYTES: usize = 256;

/// The proof algorithms accepted unless configured otherwise: every asymmetric one.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
];

/// The rules a proof is checked against (from the configuration's `dpop_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPolicy {
    /// Accepted proof algorithms; symmetric ones are never accepted, listed or not.
    pub algorithms: AlgorithmSet,
    /// How old a proof's `iat` may be, in seconds.
    pub max_age_seconds: u64,
    /// Clock skew allowed on `iat`, both ways, in seconds.
    pub leeway_seconds: u64,
    /// The public origins (`https://api.example.com`) the application is reached at, as
    /// clients write them in `htu`. Empty: `htu` must name the request's own `Host` (with
    /// `http` or `https`).
    pub origins: Vec<String>,
}

impl Default for ProofPolicy {
    fn default() -> Self {
        Self {
            algorithms: DEFAULT_ALGORITHMS.into_iter().collect(),
            max_age_seconds: 60,
            leeway_seconds: 5,
            origins: Vec::new(),
        }
    }
}

/// The request a proof must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofRequest<'a> {
    /// The request method as sent (`GET`).
    pub method: &'a str,
    /// The request path as sent, before any percent-decoding, without the query.
    pub path: &'a str,
    /// The request's authority (`Host` header or HTTP/2 `:authority`), used when the policy
    /// names no origins.
    pub authority: Option<&'a str>,
    /// The access token sent with the proof: its hash must be the proof's `ath`. `None` only
    /// for proofs sent without a token (to a token endpoint).
    pub access_token: Option<&'a str>,
    /// The thumbprint the token is bound to (`cnf.jkt`): a proof by any other key is refused
    /// before its signature is checked (an attacker's key never costs a verification).
    /// `None`: compare [`VerifiedProof::thumbprint`] yourself.
    pub thumbprint: Option<&'a str>,
}

/// A proof that passed every check of RFC 9449 §4.3 but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    thumbprint: String,
    jti: String,
    issued_at: i64,
}

impl VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key (what `cnf.jkt` must be).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }
    /// The proof's `iat` (rounded down).
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }
    /// The key under which this proof is remembered by a [`ReplayStore`]: a digest of the
    /// proof key's thumbprint and the `jti`, so that no client can spend another's `jti`.
    pub fn replay_key(&self) -> ReplayKey {
        ReplayKey::new(&self.thumbprint, &self.jti)
    }
}

/// Members of a JWK that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Checks a DPoP proof (RFC 9449 §4.3) against `request` at time `now` (Unix seconds):
/// exactly one well-formed JWT; `typ: dpop+jwt`; an allowed asymmetric `alg`; a public `jwk`
/// in the header (never a private one) that verifies the signature; `jti`, `htm`, `htu`, `iat`;
/// `htm` and `htu` naming this request; `iat` within the window; `ath` the hash of the access
/// token. What it does not check: that the token is bound to this key (compare
/// [`VerifiedProof::thumbprint`] with `cnf.jkt`) and that the proof is new (a [`ReplayStore`]).
pub fn verify_proof(
    proof: &str,
    request: &ProofRequest<'_>,
    policy: &ProofPolicy,
    now: i64,
) -> Result<VerifiedProof, DpopProblem> {
    use DpopProblem as P;
    if proof.len() > MAX_PROOF_BYTES {
        return Err(P::TooLarge);
    }
    let mut parts = proof.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(P::Malformed);
    };
    let object = |segment: &str| {
        crate::b64::decode_segment(segment)
            .and_then(|bytes| crate::strict_json::object_without_duplicates(&bytes))
            .ok_or(P::Malformed)
    };
    let header = object(header_b64)?;
    // RFC 9449 §4.2: `typ` is `dpop+jwt`, a media type (RFC 7515 §4.1.9: compared
    // case-insensitively, `application/` implied).
    match header.get("typ") {
        Some(Value::String(t)) if crate::authenticator::typ_matches(t, "dpop+jwt") => {}
        _ => return Err(P::Type),
    }
    if header.contains_key("crit") {
        return Err(P::Type);
    }
    let alg = match header.get("alg") {
        Some(Value::String(name)) => name.parse::<Algorithm>().map_err(|_| P::Algorithm)?,
        _ => return Err(P::Algorithm),
    };
    if !policy.algorithms.contains(alg) || alg.key_family() == KeyFamily::Symmetric {
        return Err(P::Algorithm);
    }
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(P::Key);
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(P::PrivateKey);
    }
    let thumbprint = jwk_thumbprint(jwk).ok_or(P::Key)?;
    if request.thumbprint.is_some_and(|bound| bound != thumbprint) {
        return Err(P::Thumbprint);
    }
    let key = crate::keys::parse_public_jwk(&Value::Object(jwk.clone())).map_err(|_| P::Key)?;
    if !key.allows(alg) {
        return Err(P::Key);
    }
    let signature = crate::b64::decode_segment(signature_b64).ok_or(P::Malformed)?;
    let signing_input = &proof[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(alg, signing_input.as_bytes(), &signature) {
        return Err(P::Signature);
    }
    let claims = object(payload_b64)?;
    let text = |name: &str| match claims.get(name) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(P::Claims),
    };
    let (jti, htm, htu) = (text("jti")?, text("htm")?, text("htu")?);
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(P::Claims);
    }
    let Some(iat) = claims.get("iat").and_then(Value::as_f64) else {
        return Err(P::Claims);
    };
    if htm != request.method {
        return Err(P::Method);
    }
    if !htu_matches(htu, request, &policy.origins) {
        return Err(P::Uri);
    }
    // The window, with a fractional `iat` rounded towards refusal on each side.
    let leeway = i64::try_from(policy.leeway_seconds).unwrap_or(i64::MAX);
    let max_age = i64::try_from(policy.max_age_seconds).unwrap_or(i64::MAX);
    let oldest = now.saturating_sub(max_age).saturating_sub(leeway);
    let newest = now.saturating_add(leeway);
    if !iat.is_finite() || iat.floor() < oldest as f64 || iat.ceil() > newest as f64 {
        return Err(P::IssuedAt);
    }
    if let Some(token) = request.access_token {
        match claims.get("ath") {
            Some(Value::String(ath)) if *ath == access_token_hash(token) => {}
            _ => return Err(P::TokenHash),
        }
    }
    Ok(VerifiedProof {
        thumbprint,
        jti: jti.to_owned(),
        issued_at: iat.floor() as i64,
    })
}

/// `ath`: the base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    crate::b64::encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref(),
    )
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK (`EC`, `RSA` or `OKP`): its required
/// members, in lexicographic order, with no whitespace. `None` for any other key type or a
/// required member that is not a string.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&format!("\"{name}\":"));
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(crate::b64::encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref(),
    ))
}

/// Whether `htu` names the request: `http(s)`, no user info, one of `origins` (or, with none,
/// the request's own authority), and the same path once both are normalised (RFC 3986 §6.2.2:
/// percent-encoding case and unreserved characters; the URL's dot segments). Query and
/// fragment are ignored (RFC 9449 §4.3, check 9).
fn htu_matches(htu: &str, request: &ProofRequest<'_>, origins: &[String]) -> bool {
    let Ok(url) = url::Url::parse(htu) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    if origins.is_empty() {
        let Some(authority) = request.authority else {
            return false;
        };
        let mut authority = authority.trim().to_ascii_lowercase();
        let default_port = if url.scheme() == "https" {
            ":443"
        } else {
            ":80"
        };
        if let Some(stripped) = authority.strip_suffix(default_port) {
            authority = stripped.to_owned();
        }
        let expected = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        if authority != expected {
            return false;
        }
    } else {
        let origin = url.origin().ascii_serialization();
        if !origins.contains(&origin) {
            return false;
        }
    }
    normalize_path(url.path()) == normalize_path(request.path)
}

/// RFC 3986 §6.2.2.1 and §6.2.2.2: percent-encodings in upper case, unreserved characters
/// decoded; an empty path is `/`.
fn normalize_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(bytes.len().max(1));
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = u8::try_from(h * 16 + l).unwrap_or(0);
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(c));
                } else {
                    out.push_str(&format!("%{c:02X}"));
                }
                i += 3;
                continue;
            }
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// What a proof is remembered by ([`VerifiedProof::replay_key`]): a digest of the proof
/// key's thumbprint and the `jti`, and a digest of the thumbprint alone (the *holder*, for
/// stores that share their room fairly between clients).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    digest: [u8; 32],
    holder: [u8; 16],
}

impl ReplayKey {
    /// The key of the proof with `jti` by the key of RFC 7638 thumbprint `thumbprint`.
    pub fn new(thumbprint: &str, jti: &str) -> Self {
        use aws_lc_rs::digest::{digest, Context, SHA256};
        let mut ctx = Context::new(&SHA256);
        ctx.update(thumbprint.as_bytes());
        ctx.update(b"\0");
        ctx.update(jti.as_bytes());
        let mut key = Self {
            digest: [0; 32],
            holder: [0; 16],
        };
        key.digest.copy_from_slice(ctx.finish().as_ref());
        key.holder
            .copy_from_slice(&digest(&SHA256, thumbprint.as_bytes()).as_ref()[..16]);
        key
    }

    /// The digest of thumbprint and `jti`: what the store must remember.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// A digest of the proof key's thumbprint: the same for every proof of one client key.
    pub fn holder(&self) -> &[u8; 16] {
        &self.holder
    }

    /// The digest in lower-case hex, for stores keyed by strings.
    pub fn to_hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayKey({})", &self.to_hex()[..16])
    }
}

/// The store could not say whether a proof is new: unreachable or too slow, or full (no room
/// for a proof that must be remembered). The request is refused with 503; with
/// `dpop_replay_fail_open`, an *unreachable* store admits it, a full one never does (anyone
/// with a bound token could fill it, and every proof admitted unremembered could be replayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("DPoP replay store unavailable ({reason})")]
pub struct ReplayStoreError {
    reason: &'static str,
    full: bool,
}

impl ReplayStoreError {
    /// The store cannot be reached or did not answer in time (`reason`: a short category,
    /// never a URL or a library's message).
    pub const fn unavailable(reason: &'static str) -> Self {
        Self {
            reason,
            full: false,
        }
    }

    /// The store has no room for the proof (or for this client's proofs).
    pub const fn full() -> Self {
        Self {
            reason: "full",
            full: true,
        }
    }

    /// The short category.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Whether the store was reachable but full: never failed open.
    pub fn is_full(&self) -> bool {
        self.full
    }
}

/// What [`ReplayStore::first_use`] returns.
pub type ReplayFuture<'s> =
    Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send + 's>>;

/// Where the `jti` of every accepted proof is remembered until the proof could no longer be
/// accepted anyway. One store shared by every instance of a service (Redis, with the `redis`
/// feature) catches a proof replayed against another instance; the in-memory default
/// ([`MemoryReplayStore`]) only within one process.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` for `ttl`, atomically: `Ok(true)` if it was not recorded (the proof is
    /// new), `Ok(false)` if it was and has not expired (a replay).
    fn first_use<'s>(&'s self, key: &'s ReplayKey, ttl: Duration) -> ReplayFuture<'s>;

    /// Whether the store answered its last call (for readiness; `true` before any call and
    /// for a store in the process's own memory).
    fn reachable(&self) -> bool {
        true
    }
}

/// The in-memory [`ReplayStore`]: bounded, for one instance. When every slot holds a proof
/// that could still be replayed, a new proof is refused (503) rather than an old one forgotten;
/// one client key may hold at most a quarter of the slots (by default), so that one client
/// alone cannot lock every other out.
pub struct MemoryReplayStore {
    max_entries: usize,
    max_per_holder: usize,
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    /// Truncated digests (128 bits: a collision only refuses a proof, it never admits one).
    seen: HashMap<[u8; 16], Instant>,
    /// Live proofs per client key.
    per_holder: HashMap<[u8; 16], usize>,
    /// In insertion order, to forget expired entries without scanning.
    order: VecDeque<(Instant, [u8; 16], [u8; 16])>,
}

impl MemoryReplayStore {
    /// A store holding at most `max_entries` proofs at once, at most a quarter of them (at
    /// least one) by one client key.
    pub fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self {
            max_entries,
            max_per_holder: (max_entries / 4).max(1),
            inner: Mutex::new(MemoryInner::default()),
        }
    }

    /// At most `max` live proofs of one client key (default: a quarter of the store).
    #[must_use]
    pub fn with_max_per_holder(mut self, max: usize) -> Self {
        self.max_per_holder = max.clamp(1, self.max_entries);
        self
    }

    /// How many proofs are remembered now.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.seen.len())
    }

    /// Whether no proof is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, key: &ReplayKey, ttl: Duration) -> Result<bool, ReplayStoreError> {
        let now = Instant::now();
        let mut short = [0u8; 16];
        short.copy_from_slice(&key.digest()[..16]);
        let holder = *key.holder();
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| ReplayStoreError::unavailable("poisoned"))?;
        let MemoryInner {
            seen,
            per_holder,
            order,
        } = &mut *inner;
        // Forget what has expired. Entries are roughly in expiry order; one that expires
        // later than its successors only delays their removal, never makes one stay valid.
        while let Some(&(expiry, k, h)) = order.front() {
            if expiry > now {
                break;
            }
            order.pop_front();
            if seen.get(&k).is_some_and(|e| *e <= now) {
                seen.remove(&k);
                if let Some(count) = per_holder.get_mut(&h) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        per_holder.remove(&h);
                    }
                }
            }
        }
        if let Some(expiry) = seen.get(&short) {
            if *expiry > now {
                return Ok(false);
            }
        }
        let live = per_holder.get(&holder).copied().unwrap_or(0);
        if seen.len() >= self.max_entries || live >= self.max_per_holder {
            return Err(ReplayStoreError::full());
        }
        let expiry = now + ttl;
        if seen.insert(short, expiry).is_none() {
            *per_holder.entry(holder).or_insert(0) += 1;
        }
        order.push_back((expiry, short, holder));
        Ok(true)
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("max_entries", &self.max_entries)
            .field("max_per_holder", &self.max_per_holder)
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'s>(&'s self, key: &'s ReplayKey, ttl: Duration) -> ReplayFuture<'s> {
        let result = self.record(key, ttl);
        Box::pin(std::future::ready(result))
    }
}

/// A [`ReplayStore`] in Redis (feature `redis`), shared by every instance of a service: one
/// atomic `SET key 1 NX PX ttl` per proof. The connection is made on first use and re-made
/// when lost; every call is bounded by a timeout, after which the store counts as unavailable.
#[cfg(feature = "redis")]
pub struct RedisReplayStore {
    /// Whether the last call was answered.
    answered: std::sync::atomic::AtomicBool,
    client: redis::Client,
    connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    prefix: String,
    timeout: Duration,
}

#[cfg(feature = "redis")]
impl RedisReplayStore {
    /// A store at `url` (`redis://host:port/db`, `rediss://` for TLS). Nothing is connected
    /// yet. The URL may hold a password: it is never logged or shown.
    pub fn new(url: &str) -> Result<Self, ReplayStoreError> {
        let client =
            redis::Client::open(url).map_err(|_| ReplayStoreError::unavailable("invalid URL"))?;
        Ok(Self {
            answered: std::sync::atomic::AtomicBool::new(true),
            client,
            connection: tokio::sync::OnceCell::new(),
            prefix: "portcullis:dpop:".to_owned(),
            timeout: Duration::from_secs(2),
        })
    }

    /// The prefix of every key (default `portcullis:dpop:`): services that must not share
    /// their proofs' `jti` space use different prefixes.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The bound on every call, connecting included (default 2 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn record(&self, key: &ReplayKey, ttl: Duration) -> Result<bool, ReplayStoreError> {
        let unavailable = |_| ReplayStoreError::unavailable("unreachable");
        let manager = self
            .connection
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1);
                redis::aio::ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .map_err(unavailable)?;
        let mut connection = manager.clone();
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}{}", self.prefix, key.to_hex()))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }
}

#[cfg(feature = "redis")]
impl ReplayStore for RedisReplayStore {
    fn first_use<'s>(&'s self, key: &'s ReplayKey, ttl: Duration) -> ReplayFuture<'s> {
        Box::pin(async move {
            let result = tokio::time::timeout(self.timeout, self.record(key, ttl))
                .await
                .unwrap_or(Err(ReplayStoreError::unavailable("timeout")));
            self.answered
                .store(result.is_ok(), std::sync::atomic::Ordering::Relaxed);
            result
        })
    }

    fn reachable(&self) -> bool {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(feature = "redis")]
impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The token's `cnf` (RFC 7800) as portcullis understands it: absent, a DPoP key thumbprint,
/// or something it cannot check (another confirmation method, or `jkt` next to another).
pub(crate) enum Confirmation<'c> {
    None,
    Jkt(&'c str),
    Unsupported,
}

/// What a token's `cnf` claim (given) binds it to.
pub(crate) fn confirmation(cnf: Option<&Value>) -> Confirmation<'_> {
    match cnf {
        None => Confirmation::None,
        Some(Value::Object(cnf)) if cnf.len() == 1 => match cnf.get("jkt") {
            Some(Value::String(jkt)) if !jkt.is_empty() => Confirmation::Jkt(jkt),
            _ => Confirmation::Unsupported,
        },
        Some(_) => Confirmation::Unsupported,
    }
}

/// The error for a proof problem.
pub(crate) fn refused(problem: DpopProblem) -> AuthError {
    AuthError::InvalidDpopProof(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_percent_encoding_only() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/a%7eb"), "/a~b");
        assert_eq!(normalize_path("/a%2fb"), "/a%2Fb");
        assert_eq!(normalize_path("/%61pi"), "/api");
        assert_eq!(normalize_path("/a%2"), "/a%2");
        assert_eq!(normalize_path("/a%"), "/a%");
        assert_ne!(normalize_path("/a/../b"), normalize_path("/b"));
    }

    fn key(jkt: &str, jti: &str) -> ReplayKey {
        ReplayKey::new(jkt, jti)
    }

    #[test]
    fn memory_store_refuses_a_second_use_and_when_full() {
        let store = MemoryReplayStore::new(2).with_max_per_holder(2);
        let (a, b, c) = (key("k", "a"), key("k", "b"), key("k", "c"));
        let ttl = Duration::from_secs(60);
        assert_eq!(store.record(&a, ttl), Ok(true));
        assert_eq!(store.record(&a, ttl), Ok(false));
        assert_eq!(store.record(&b, ttl), Ok(true));
        assert_eq!(store.record(&c, ttl), Err(ReplayStoreError::full()));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn one_holder_takes_at_most_its_share() {
        let store = MemoryReplayStore::new(8);
        let ttl = Duration::from_secs(60);
        for jti in ["1", "2"] {
            assert_eq!(store.record(&key("noisy", jti), ttl), Ok(true));
        }
        assert!(store.record(&key("noisy", "3"), ttl).unwrap_err().is_full());
        // Another client still has room; a known proof is still a replay, not "full".
        assert_eq!(store.record(&key("quiet", "1"), ttl), Ok(true));
        assert_eq!(store.record(&key("noisy", "1"), ttl), Ok(false));
    }

    #[test]
    fn memory_store_forgets_expired_entries() {
        let store = MemoryReplayStore::new(1);
        let a = key("k", "a");
        assert_eq!(store.record(&a, Duration::ZERO), Ok(true));
        // Expired at once: a new use of the same key is new, and the slot is free.
        assert_eq!(store.record(&key("k", "b"), Duration::ZERO), Ok(true));
        assert_eq!(store.record(&a, Duration::from_secs(60)), Ok(true));
        assert_eq!(store.record(&a, Duration::from_secs(60)), Ok(false));
    }
}
