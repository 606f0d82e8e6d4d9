//! JWKS documents (RFC 7517): every usable key is taken, every unusable one is skipped with
//! a reason (RFC 7517 §5), and symmetric keys are never taken from a published set.

use super::{KeySet, VerifyingKey};
use crate::algorithm::{Algorithm, Curve};
use crate::b64::decode_member;
use serde::Deserialize;
use serde_json::Value;

/// The document is not a JWKS at all (not JSON, or no `keys` array).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// Not a JSON object.
    #[error("key set is not a JSON object")]
    NotJson,
    /// No `keys` array.
    #[error("key set has no `keys` array")]
    NoKeys,
    /// The file could not be read.
    #[error("key set file cannot be read: {0}")]
    Io(String),
}

/// A key of the document that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its `kid`, if it had a readable one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: &'static str,
}

#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    #[serde(rename = "pub")]
    #[cfg_attr(not(feature = "ml-dsa"), allow(dead_code))]
    public: Option<String>,
}

impl KeySet {
    /// Parses a JWKS document, skipping (and logging) keys that cannot be used.
    pub fn from_jwks(json: &str) -> Result<Self, JwksError> {
        let (set, skipped) = Self::from_jwks_report(json)?;
        for s in &skipped {
            if s.reason == ENCRYPTION_KEY {
                // Issuers publish encryption keys next to signing keys (Keycloak always
                // does): expected, not a warning.
                tracing::debug!(kid = ?s.kid, reason = s.reason, "skipping encryption key in key set");
            } else {
                tracing::warn!(kid = ?s.kid, reason = s.reason, "skipping unusable key in key set");
            }
        }
        Ok(set)
    }

    /// Parses a JWKS document and reports which keys were skipped and why.
    pub fn from_jwks_report(json: &str) -> Result<(Self, Vec<SkippedKey>), JwksError> {
        let doc: Value = serde_json::from_str(json).map_err(|_| JwksError::NotJson)?;
        let keys = doc
            .as_object()
            .ok_or(JwksError::NotJson)?
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::NoKeys)?;
        let mut set = KeySet::new();
        let mut skipped = Vec::new();
        for raw in keys {
            let kid = raw.get("kid").and_then(Value::as_str).map(str::to_owned);
            if set.len() >= MAX_KEYS {
                skipped.push(SkippedKey {
                    kid,
                    reason: "more usable keys in the set than the limit (100)",
                });
                continue;
            }
            match parse_jwk(raw) {
                Ok(key) => {
                    set.insert(key);
                }
                Err(reason) => skipped.push(SkippedKey { kid, reason }),
            }
        }
        Ok((set, skipped))
    }

    /// Reads a JWKS file (see [`from_jwks`](Self::from_jwks)).
    pub fn from_jwks_file(path: impl AsRef<std::path::Path>) -> Result<Self, JwksError> {
        // The same bound as a fetched key set.
        let text = crate::config::read_bounded(path.as_ref(), 1024 * 1024)
            .map_err(|e| JwksError::Io(e.to_string()))?
            .ok_or_else(|| JwksError::Io("larger than 1 MiB".to_owned()))?;
        Self::from_jwks(&text)
    }
}

/// Algorithm Key Pair (draft-ietf-cose-dilithium): `alg` names the scheme, `pub` the key.
#[cfg(feature = "ml-dsa")]
fn akp(
    kid: Option<String>,
    alg: Option<Algorithm>,
    jwk: &Jwk,
) -> Result<VerifyingKey, &'static str> {
    let alg = alg.ok_or("AKP key without `alg`")?;
    let public = decode_member(jwk.public.as_deref().ok_or("AKP key without `pub`")?)
        .ok_or("member is not base64url")?;
    VerifyingKey::ml_dsa(kid, alg, &public).map_err(|e| e.0)
}

#[cfg(not(feature = "ml-dsa"))]
fn akp(
    _kid: Option<String>,
    _alg: Option<Algorithm>,
    _jwk: &Jwk,
) -> Result<VerifyingKey, &'static str> {
    Err("AKP (ML-DSA) keys need the `ml-dsa` feature")
}

/// The most usable keys one key set holds: real issuers publish a handful; a set of
/// thousands is a mistake or an attack, and costs memory and lookups.
pub const MAX_KEYS: usize = 100;

const ENCRYPTION_KEY: &str = "`use` is not `sig`";

/// One public JWK as a verifying key (a DPoP proof's `jwk`), with every check a key set's
/// keys get; symmetric keys are refused.
pub(crate) fn parse_public_jwk(raw: &Value) -> Result<VerifyingKey, &'static str> {
    parse_jwk(raw)
}

fn parse_jwk(raw: &Value) -> Result<VerifyingKey, &'static str> {
    let jwk = Jwk::deserialize(raw).map_err(|_| "member of the wrong JSON type")?;
    if let Some(u) = &jwk.use_ {
        if u != "sig" {
            return Err(ENCRYPTION_KEY);
        }
    }
    if let Some(ops) = &jwk.key_ops {
        if !ops.iter().any(|op| op == "verify") {
            return Err("`key_ops` does not include `verify`");
        }
    }
    let alg = match jwk.alg.as_deref() {
        None => None,
        Some(name) => Some(name.parse::<Algorithm>().map_err(|_| "unsupported `alg`")?),
    };
    let member = |m: &Option<String>, what: &'static str| -> Result<Vec<u8>, &'static str> {
        decode_member(m.as_deref().ok_or(what)?).ok_or("member is not base64url")
    };
    let kid = jwk.kid.clone();
    match jwk.kty.as_deref() {
        Some("RSA") => {
            let n = member(&jwk.n, "RSA key without `n`")?;
            let e = member(&jwk.e, "RSA key without `e`")?;
            VerifyingKey::rsa(kid, alg, &n, &e).map_err(|e| e.0)
        }
        Some("EC") => {
            let (curve, size) = match jwk.crv.as_deref() {
                Some("P-256") => (Curve::P256, 32),
                Some("P-384") => (Curve::P384, 48),
                _ => return Err("unsupported EC curve"),
            };
            let x = member(&jwk.x, "EC key without `x`")?;
            let y = member(&jwk.y, "EC key without `y`")?;
            if x.len() != size || y.len() != size {
                return Err("EC coordinates of the wrong length");
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            VerifyingKey::ec(kid, curve, alg, &point).map_err(|e| e.0)
        }
        Some("OKP") => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            let x = member(&jwk.x, "OKP key without `x`")?;
            VerifyingKey::ed25519(kid, alg, &x).map_err(|e| e.0)
        }
        Some("AKP") => akp(kid, alg, &jwk),
        Some("oct") => Err("symmetric keys are never taken from a key set"),
        Some(_) => Err("unsupported `kty`"),
        None => Err("no `kty`"),
    }
}
