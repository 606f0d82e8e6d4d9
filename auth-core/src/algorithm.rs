//! The JWS algorithms portcullis knows, and which key types each one needs.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518 names).
///
/// `none` is deliberately not representable: an unsigned token can never verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// HMAC with SHA-256 (shared secret).
    HS256,
    /// HMAC with SHA-384 (shared secret).
    HS384,
    /// HMAC with SHA-512 (shared secret).
    HS512,
    /// ML-DSA-65 (FIPS 204), post-quantum; JWK `kty: AKP`. Needs the `ml-dsa` feature.
    MlDsa65,
    /// ML-DSA-87 (FIPS 204), post-quantum; JWK `kty: AKP`. Needs the `ml-dsa` feature.
    MlDsa87,
}

/// The family of key an algorithm verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// RSA public key (`kty: RSA`).
    Rsa,
    /// Elliptic-curve public key on the named curve (`kty: EC`).
    Ec(Curve),
    /// Ed25519 public key (`kty: OKP`, `crv: Ed25519`).
    Ed25519,
    /// Shared secret (`kty: oct`).
    Symmetric,
    /// ML-DSA-65 public key (`kty: AKP`, `alg: ML-DSA-65`).
    MlDsa65,
    /// ML-DSA-87 public key (`kty: AKP`, `alg: ML-DSA-87`).
    MlDsa87,
}

/// Elliptic curves usable for ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (`crv: P-256`).
    P256,
    /// NIST P-384 (`crv: P-384`).
    P384,
}

impl Algorithm {
    /// Every algorithm, in a stable order (used in messages).
    pub const ALL: [Algorithm; 14] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::MlDsa65,
        Self::MlDsa87,
    ];

    /// The registered JWS name, e.g. `"RS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::MlDsa65 => "ML-DSA-65",
            Self::MlDsa87 => "ML-DSA-87",
        }
    }

    /// The kind of key this algorithm verifies with.
    pub const fn key_family(self) -> KeyFamily {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyFamily::Rsa
            }
            Self::ES256 => KeyFamily::Ec(Curve::P256),
            Self::ES384 => KeyFamily::Ec(Curve::P384),
            Self::EdDSA => KeyFamily::Ed25519,
            Self::HS256 | Self::HS384 | Self::HS512 => KeyFamily::Symmetric,
            Self::MlDsa65 => KeyFamily::MlDsa65,
            Self::MlDsa87 => KeyFamily::MlDsa87,
        }
    }

    /// Whether this is an HMAC (shared-secret) algorithm.
    pub const fn is_symmetric(self) -> bool {
        matches!(self.key_family(), KeyFamily::Symmetric)
    }

    /// For HMAC algorithms, the minimum secret length in bytes (the hash size, RFC 7518 §3.2).
    pub const fn min_secret_len(self) -> Option<usize> {
        match self {
            Self::HS256 => Some(32),
            Self::HS384 => Some(48),
            Self::HS512 => Some(64),
            _ => None,
        }
    }

    /// Whether this build can verify the algorithm (ML-DSA needs the `ml-dsa` feature).
    pub const fn is_supported(self) -> bool {
        !matches!(self, Self::MlDsa65 | Self::MlDsa87) || cfg!(feature = "ml-dsa")
    }

    /// A compact bit index, used for allowlists.
    pub(crate) const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a JWS algorithm portcullis supports (this includes `none`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported JWS algorithm")]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Exact, case-sensitive match of the registered name (RFC 7515 §4.1.1 names are case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAlgorithm)
    }
}

/// A small set of algorithms (the configured allowlist).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Adds an algorithm.
    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    /// Whether the set holds `alg`.
    pub const fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set, in [`Algorithm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<T: IntoIterator<Item = Algorithm>>(iter: T) -> Self {
        let mut set = Self::empty();
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
        assert!("rs256".parse::<Algorithm>().is_err());
        for none in ["none", "None", "NONE", "nOnE"] {
            assert!(
                none.parse::<Algorithm>().is_err(),
                "{none} must never parse"
            );
        }
    }

    #[test]
    fn set_membership() {
        let set: AlgorithmSet = [Algorithm::RS256, Algorithm::ES256].into_iter().collect();
        assert!(set.contains(Algorithm::RS256));
        assert!(!set.contains(Algorithm::HS256));
        assert_eq!(set.iter().count(), 2);
        assert!(AlgorithmSet::empty().is_empty());
    }
}
