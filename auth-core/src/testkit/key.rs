//! Generated key pairs with a `kid`.

use crate::algorithm::Algorithm;
use crate::b64;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::fmt;

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
    #[cfg(feature = "ml-dsa")]
    MlDsa(signature::PqdsaKeyPair),
}

/// A generated key pair (or HMAC secret) with a `kid` and its default algorithm.
pub struct TestKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
}

impl TestKey {
    /// A 2048-bit RSA key for `RS256`.
    pub fn rsa(kid: &str) -> Self {
        Self::rsa_for(kid, Algorithm::RS256)
    }

    /// A 2048-bit RSA key whose default algorithm is `alg` (RS* or PS*).
    ///
    /// # Panics
    /// If `alg` is not an RSA algorithm, or key generation fails.
    pub fn rsa_for(kid: &str, alg: Algorithm) -> Self {
        assert!(
            matches!(alg.key_family(), crate::KeyFamily::Rsa),
            "{alg} is not an RSA algorithm"
        );
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        Self {
            kid: kid.to_owned(),
            alg,
            pair: Pair::Rsa(pair),
        }
    }

    /// A P-256 key for `ES256`.
    pub fn ec_p256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("EC key generation");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            pair: Pair::Ec(pair),
        }
    }

    /// A P-384 key for `ES384`.
    pub fn ec_p384(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
            .expect("EC key generation");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES384,
            pair: Pair::Ec(pair),
        }
    }

    /// An Ed25519 key for `EdDSA`.
    pub fn ed25519(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            pair: Pair::Ed(pair),
        }
    }

    /// An ML-DSA-65 key (feature `ml-dsa`).
    #[cfg(feature = "ml-dsa")]
    pub fn ml_dsa_65(kid: &str) -> Self {
        let pair = signature::PqdsaKeyPair::generate(&signature::ML_DSA_65_SIGNING)
            .expect("ML-DSA key generation");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::MlDsa65,
            pair: Pair::MlDsa(pair),
        }
    }

    /// An ML-DSA-87 key (feature `ml-dsa`).
    #[cfg(feature = "ml-dsa")]
    pub fn ml_dsa_87(kid: &str) -> Self {
        let pair = signature::PqdsaKeyPair::generate(&signature::ML_DSA_87_SIGNING)
            .expect("ML-DSA key generation");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::MlDsa87,
            pair: Pair::MlDsa(pair),
        }
    }

    /// An HMAC secret for `alg` (HS256 / HS384 / HS512).
    ///
    /// # Panics
    /// If `alg` is not an HMAC algorithm.
    pub fn hmac(kid: &str, alg: Algorithm, secret: &[u8]) -> Self {
        assert!(alg.is_symmetric(), "{alg} is not an HMAC algorithm");
        Self {
            kid: kid.to_owned(),
            alg,
            pair: Pair::Hmac(secret.to_vec()),
        }
    }

    /// The private key as PKCS#8 v1 DER, to store a development key (`None` for HMAC and
    /// ML-DSA keys).
    pub fn private_pkcs8(&self) -> Option<Vec<u8>> {
        let der = match &self.pair {
            Pair::Rsa(pair) => AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(pair)
                .ok()?
                .as_ref()
                .to_vec(),
            Pair::Ec(pair) => pair.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Pair::Ed(pair) => pair.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Pair::Hmac(_) => return None,
            #[cfg(feature = "ml-dsa")]
            Pair::MlDsa(_) => return None,
        };
        Some(der)
    }

    /// A key from a PKCS#8 DER private key (as [`private_pkcs8`](Self::private_pkcs8) wrote
    /// it) with `alg` as its default algorithm (RS*, PS*, ES256, ES384 or EdDSA).
    ///
    /// # Errors
    /// When the key does not parse, or does not fit `alg`.
    pub fn from_pkcs8(kid: &str, alg: Algorithm, der: &[u8]) -> Result<Self, crate::KeyError> {
        let bad = |_| crate::KeyError("not a PKCS#8 private key for this algorithm");
        let pair = match alg {
            a if matches!(a.key_family(), crate::KeyFamily::Rsa) => {
                Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(bad)?)
            }
            Algorithm::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(bad)?,
            ),
            Algorithm::ES384 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der)
                    .map_err(bad)?,
            ),
            Algorithm::EdDSA => Pair::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?),
            _ => return Err(crate::KeyError("no PKCS#8 keys for this algorithm")),
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The default algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (`kty`, `kid`, `alg`, `use: sig` and the key members). An HMAC key
    /// gives its `oct` JWK, secret included: only for hostile-set tests.
    pub fn jwk(&self) -> Value {
        let mut jwk = match &self.pair {
            Pair::Rsa(pair) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64::encode(&c.n), "e": b64::encode(&c.e)})
            }
            Pair::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                let crv = if size == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64::encode(&point[1..=size]), "y": b64::encode(&point[size + 1..])})
            }
            Pair::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(pair.public_key().as_ref())})
            }
            Pair::Hmac(secret) => json!({"kty": "oct", "k": b64::encode(secret)}),
            #[cfg(feature = "ml-dsa")]
            Pair::MlDsa(pair) => {
                json!({"kty": "AKP", "pub": b64::encode(pair.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        jwk
    }

    /// The RFC 7638 thumbprint of the public key (what a DPoP-bound token's `cnf.jkt` holds).
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        jwk.as_object()
            .and_then(crate::dpop::jwk_thumbprint)
            .unwrap_or_default()
    }

    /// A DPoP proof signed by this key ([`TokenBuilder::dpop_proof`](super::TokenBuilder::dpop_proof)).
    pub fn dpop_proof(&self, method: &str, htu: &str) -> super::TokenBuilder<'_> {
        super::TokenBuilder::dpop_proof(self, method, htu)
    }

    /// A JWKS document of these keys' public JWKs.
    pub fn jwks(keys: &[&TestKey]) -> String {
        json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
    }

    /// The public key as DER `SubjectPublicKeyInfo` (`None` for HMAC).
    pub fn public_der(&self) -> Option<Vec<u8>> {
        let der = match &self.pair {
            Pair::Rsa(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Pair::Ec(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Pair::Ed(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Pair::Hmac(_) => return None,
            #[cfg(feature = "ml-dsa")]
            Pair::MlDsa(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
        };
        Some(der)
    }

    /// The public key as PEM `-----BEGIN PUBLIC KEY-----` (`None` for HMAC).
    pub fn public_pem(&self) -> Option<String> {
        let b64 = STANDARD.encode(self.public_der()?);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        Some(format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        ))
    }

    /// Signs `message` with the key's default algorithm.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.sign_as(self.alg, message)
    }

    /// Signs `message` with `alg` (an RSA key can sign any RS*/PS*).
    ///
    /// # Panics
    /// If the key cannot sign with `alg`.
    pub fn sign_as(&self, alg: Algorithm, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    other => panic!("an RSA key cannot sign {other}"),
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut sig)
                    .expect("RSA signing");
                sig
            }
            Pair::Ec(pair) => pair
                .sign(&rng, message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
            Pair::Hmac(secret) => hmac_sign(alg, secret, message),
            #[cfg(feature = "ml-dsa")]
            Pair::MlDsa(pair) => {
                let mut sig = vec![0; pair.algorithm().signature_len()];
                let n = pair.sign(message, &mut sig).expect("ML-DSA signing");
                sig.truncate(n);
                sig
            }
        }
    }
}

/// An HMAC tag over `message` (also used to forge key-confusion tokens).
pub(crate) fn hmac_sign(alg: Algorithm, secret: &[u8], message: &[u8]) -> Vec<u8> {
    let h = match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        other => panic!("{other} is not an HMAC algorithm"),
    };
    hmac::sign(&hmac::Key::new(h, secret), message)
        .as_ref()
        .to_vec()
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}
