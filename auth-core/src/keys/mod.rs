//! Verification keys: each parsed once, bound to the algorithms it may verify, and the
//! [`KeySet`] that finds one by `kid`.

mod jwk;
mod pem;
mod source;

pub(crate) use jwk::parse_public_jwk;
pub use jwk::{JwksError, SkippedKey, MAX_KEYS};
pub use source::{KeySource, KeyStatus, KeysUnavailable, RefreshFuture, StaticKeys};

use crate::algorithm::{Algorithm, Curve, KeyFamily};
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use aws_lc_rs::{hmac, signature::VerificationAlgorithm};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// The public material of a key, as published.
enum Material {
    /// RSA modulus and exponent, big-endian without leading zeros.
    RsaComponents { n: Vec<u8>, e: Vec<u8> },
    /// RSA key as DER (PKCS#1 or SubjectPublicKeyInfo).
    RsaDer(Vec<u8>),
    /// An EC or Ed25519 key, parsed once (it can verify exactly one algorithm).
    Single(ParsedPublicKey),
    /// An HMAC secret.
    Secret(Vec<u8>),
}

/// A ready-to-use verifier for one algorithm.
enum Verifier {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// One verification key: its `kid`, the algorithms it may verify and the parsed key.
///
/// Parsing happens once per (key, algorithm), the first time it is needed; after that,
/// verification reuses the parsed key with no lock.
pub struct VerifyingKey {
    kid: Option<String>,
    family: KeyFamily,
    /// The JWK `alg`, when the publisher bound the key to one algorithm.
    alg: Option<Algorithm>,
    material: Material,
    verifiers: [OnceLock<Option<Verifier>>; Algorithm::ALL.len()],
}

/// The key cannot be used (bad encoding, too small, wrong type for the algorithm, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable key: {0}")]
pub struct KeyError(pub(crate) &'static str);

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

impl VerifyingKey {
    /// An RSA key from its JWK members `n` and `e` (big-endian bytes).
    pub fn rsa(
        kid: Option<String>,
        alg: Option<Algorithm>,
        n: &[u8],
        e: &[u8],
    ) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_len(n);
        if bits < MIN_RSA_BITS {
            return Err(KeyError("RSA modulus below 2048 bits"));
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError("RSA modulus above 8192 bits"));
        }
        if e.is_empty() {
            return Err(KeyError("RSA exponent missing"));
        }
        check_rsa_exponent(e)?;
        check_rsa_modulus(n)?;
        let material = Material::RsaComponents {
            n: n.to_vec(),
            e: e.to_vec(),
        };
        Self::checked(kid, KeyFamily::Rsa, alg, material)
    }

    /// An RSA key from DER: PKCS#1 `RSAPublicKey` or X.509 `SubjectPublicKeyInfo`.
    pub fn rsa_der(
        kid: Option<String>,
        alg: Option<Algorithm>,
        der: &[u8],
    ) -> Result<Self, KeyError> {
        let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(
            &aws_lc_rs::rsa::PublicKey::from_der(der)
                .map_err(|_| KeyError("not an RSA public key"))?,
        );
        let bits = bit_len(strip_leading_zeros(&public.n));
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyError("RSA modulus outside 2048..=8192 bits"));
        }
        check_rsa_exponent(strip_leading_zeros(&public.e))?;
        check_rsa_modulus(strip_leading_zeros(&public.n))?;
        Self::checked(kid, KeyFamily::Rsa, alg, Material::RsaDer(der.to_vec()))
    }

    /// An ECDSA key from its uncompressed point (`0x04 || x || y`) or SubjectPublicKeyInfo DER.
    pub fn ec(
        kid: Option<String>,
        curve: Curve,
        alg: Option<Algorithm>,
        point_or_der: &[u8],
    ) -> Result<Self, KeyError> {
        let verification: &'static dyn VerificationAlgorithm = match curve {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        };
        let parsed = ParsedPublicKey::new(verification, point_or_der)
            .map_err(|_| KeyError("invalid EC public key for its curve"))?;
        Self::checked(kid, KeyFamily::Ec(curve), alg, Material::Single(parsed))
    }

    /// An Ed25519 key from its 32 raw bytes or SubjectPublicKeyInfo DER.
    pub fn ed25519(
        kid: Option<String>,
        alg: Option<Algorithm>,
        key: &[u8],
    ) -> Result<Self, KeyError> {
        if key.len() == 32 && is_small_order_ed25519(key) {
            return Err(KeyError("Ed25519 public key of small order"));
        }
        let parsed = ParsedPublicKey::new(&signature::ED25519, key)
            .map_err(|_| KeyError("invalid Ed25519 public key"))?;
        Self::checked(kid, KeyFamily::Ed25519, alg, Material::Single(parsed))
    }

    /// An ML-DSA public key (`alg` is `ML-DSA-65` or `ML-DSA-87`) from its raw encoding (JWK
    /// `pub`) or SubjectPublicKeyInfo DER. Needs the `ml-dsa` feature.
    #[cfg(feature = "ml-dsa")]
    pub fn ml_dsa(kid: Option<String>, alg: Algorithm, key: &[u8]) -> Result<Self, KeyError> {
        let (family, verification): (KeyFamily, &'static dyn VerificationAlgorithm) = match alg {
            Algorithm::MlDsa65 => (KeyFamily::MlDsa65, &signature::ML_DSA_65),
            Algorithm::MlDsa87 => (KeyFamily::MlDsa87, &signature::ML_DSA_87),
            _ => return Err(KeyError("not an ML-DSA algorithm")),
        };
        let parsed = ParsedPublicKey::new(verification, key)
            .map_err(|_| KeyError("invalid ML-DSA public key"))?;
        Self::checked(kid, family, Some(alg), Material::Single(parsed))
    }

    /// An HMAC shared secret (for `HS256`/`HS384`/`HS512` only).
    pub fn shared_secret(kid: Option<String>, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError("shared secret shorter than 32 bytes"));
        }
        Self::checked(
            kid,
            KeyFamily::Symmetric,
            None,
            Material::Secret(secret.to_vec()),
        )
    }

    fn checked(
        kid: Option<String>,
        family: KeyFamily,
        alg: Option<Algorithm>,
        material: Material,
    ) -> Result<Self, KeyError> {
        if let Some(alg) = alg {
            if alg.key_family() != family {
                return Err(KeyError("JWK `alg` does not fit the key type"));
            }
        }
        let key = Self {
            kid,
            family,
            alg,
            material,
            verifiers: Default::default(),
        };
        // Parse now for the key's own (or first possible) algorithm so a bad key is refused
        // when the set is loaded, not when a request arrives.
        let probe = alg.unwrap_or(match family {
            KeyFamily::Rsa => Algorithm::RS256,
            KeyFamily::Ec(Curve::P256) => Algorithm::ES256,
            KeyFamily::Ec(Curve::P384) => Algorithm::ES384,
            KeyFamily::Ed25519 => Algorithm::EdDSA,
            KeyFamily::Symmetric => Algorithm::HS256,
            KeyFamily::MlDsa65 => Algorithm::MlDsa65,
            KeyFamily::MlDsa87 => Algorithm::MlDsa87,
        });
        if key.verifier(probe).is_none() {
            return Err(KeyError("key material rejected by the crypto library"));
        }
        Ok(key)
    }

    /// The key id, if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the publisher bound this key to (JWK `alg`), if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether this key may verify `alg`: same key family, and the JWK `alg` (if any) agrees.
    pub fn allows(&self, alg: Algorithm) -> bool {
        alg.key_family() == self.family && self.alg.is_none_or(|bound| bound == alg)
    }

    /// Verifies `signature` over `message` with `alg`. `false` for any failure, including an
    /// algorithm this key does not allow.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        match self.verifier(alg) {
            Some(Verifier::Public(key)) => key.verify_sig(message, signature).is_ok(),
            Some(Verifier::Hmac(key)) => hmac::verify(key, message, signature).is_ok(),
            None => false,
        }
    }

    fn verifier(&self, alg: Algorithm) -> Option<&Verifier> {
        self.verifiers[alg as usize]
            .get_or_init(|| self.make_verifier(alg))
            .as_ref()
    }

    fn make_verifier(&self, alg: Algorithm) -> Option<Verifier> {
        if alg.key_family() != self.family {
            return None;
        }
        match &self.material {
            Material::RsaComponents { n, e } => RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(rsa_params(alg)?)
                .ok()
                .map(Verifier::Public),
            Material::RsaDer(der) => ParsedPublicKey::new(rsa_params(alg)?, der)
                .ok()
                .map(Verifier::Public),
            Material::Single(parsed) => Some(Verifier::Public(parsed.clone())),
            Material::Secret(secret) => {
                let h = match alg {
                    Algorithm::HS256 => hmac::HMAC_SHA256,
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                    _ => return None,
                };
                (secret.len() >= alg.min_secret_len()?)
                    .then(|| Verifier::Hmac(Box::new(hmac::Key::new(h, secret))))
            }
        }
    }
}

fn rsa_params(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// Partial public-key validation (NIST SP 800-89 §5.3.3): an RSA modulus is odd and has no
/// prime factor below 1,000. A modulus that is a power of a small prime, or has small
/// factors, lets anyone compute the private exponent and forge tokens.
fn check_rsa_modulus(n: &[u8]) -> Result<(), KeyError> {
    if n.last().is_none_or(|b| b & 1 == 0) {
        return Err(KeyError("RSA modulus is even"));
    }
    let has_small_factor = (3u32..1000)
        .filter(|p| (2..*p).take_while(|d| d * d <= *p).all(|d| p % d != 0))
        .any(|p| {
            n.iter()
                .fold(0u32, |r, &byte| (r * 256 + u32::from(byte)) % p)
                == 0
        });
    if has_small_factor {
        return Err(KeyError("RSA modulus has a small prime factor"));
    }
    Ok(())
}

/// The encodings of the Ed25519 points of small order (libsodium's blocklist, sign bit
/// ignored): with such a public key, one signature verifies every message.
fn is_small_order_ed25519(key: &[u8]) -> bool {
    const SMALL_ORDER: [[u8; 32]; 7] = [
        [0; 32],
        [
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0,
        ],
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        [
            0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        [
            0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        [
            0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
    ];
    SMALL_ORDER
        .iter()
        .any(|bad| bad[..31] == key[..31] && bad[31] == key[31] & 0x7f)
}

/// RFC 8017 §3.1: an odd public exponent of at least 3 (with `e = 1` every "signature" is
/// the padded message itself, forgeable by anyone); at most 33 bits, as AWS-LC verifies.
fn check_rsa_exponent(e: &[u8]) -> Result<(), KeyError> {
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    let bits = bit_len(e);
    if !odd || !(2..=33).contains(&bits) {
        return Err(KeyError("RSA exponent not an odd number from 3 to 2^33"));
    }
    Ok(())
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(first) => (be.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never prints key material (a shared secret must not reach a log).
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A set of verification keys, looked up by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<VerifyingKey>>,
    all: Vec<Arc<VerifyingKey>>,
}

/// The result of looking a token's key up.
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// The key to verify with.
    Found(&'a Arc<VerifyingKey>),
    /// The `kid` is not in the set (or, without `kid`, no single key fits the algorithm).
    Unknown,
    /// The key with this `kid` does not allow the token's algorithm.
    Mismatch,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. A second key with an already-present `kid` is ignored (the first wins).
    pub fn insert(&mut self, key: VerifyingKey) -> &mut Self {
        let key = Arc::new(key);
        if let Some(kid) = key.kid() {
            if self.by_kid.contains_key(kid) {
                tracing::warn!(kid, "duplicate kid in key set; keeping the first key");
                return self;
            }
            self.by_kid.insert(kid.to_owned(), Arc::clone(&key));
        }
        self.all.push(key);
        self
    }

    /// Builder-style [`insert`](Self::insert).
    pub fn with(mut self, key: VerifyingKey) -> Self {
        self.insert(key);
        self
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether the set has no key.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<VerifyingKey>> {
        self.all.iter()
    }

    /// Finds the key for a token with this `kid` and algorithm.
    ///
    /// With a `kid`, the key with that `kid` is used (and it must allow `alg`); keys that were
    /// configured without a `kid` (a PEM key, the shared secret) stand in for any `kid`.
    /// Without a `kid`, a key is used only when exactly one key of the set allows `alg`.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> KeyLookup<'_> {
        match kid.map(|kid| self.by_kid.get(kid)) {
            Some(Some(key)) if key.allows(alg) => KeyLookup::Found(key),
            Some(Some(_)) => KeyLookup::Mismatch,
            Some(None) => self.single_fitting(alg, |k| k.kid.is_none()),
            None => self.single_fitting(alg, |_| true),
        }
    }

    fn single_fitting(
        &self,
        alg: Algorithm,
        eligible: impl Fn(&VerifyingKey) -> bool,
    ) -> KeyLookup<'_> {
        let mut fitting = self.all.iter().filter(|k| eligible(k) && k.allows(alg));
        match (fitting.next(), fitting.next()) {
            (Some(key), None) => KeyLookup::Found(key),
            _ => KeyLookup::Unknown,
        }
    }
}
