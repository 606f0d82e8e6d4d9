//! PEM public keys (`-----BEGIN PUBLIC KEY-----`, `-----BEGIN RSA PUBLIC KEY-----`).

use super::{KeyError, VerifyingKey};
use crate::algorithm::{Algorithm, Curve};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

impl VerifyingKey {
    /// A public key from PEM. The key type is read from the key itself; `alg` binds it to one
    /// algorithm (recommended for RSA, whose key could otherwise verify RS* and PS*).
    pub fn from_pem(
        kid: Option<String>,
        alg: Option<Algorithm>,
        pem: &str,
    ) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem).ok_or(KeyError("not a PEM document"))?;
        match label.as_str() {
            "RSA PUBLIC KEY" => Self::rsa_der(kid, alg, &der),
            "PUBLIC KEY" => Self::rsa_der(kid.clone(), alg, &der)
                .or_else(|_| Self::ec(kid.clone(), Curve::P256, alg, &der))
                .or_else(|_| Self::ec(kid.clone(), Curve::P384, alg, &der))
                .or_else(|_| Self::ed25519(kid, alg, &der))
                .map_err(|_| {
                    KeyError("unsupported or invalid public key (or `alg` does not fit it)")
                }),
            _ => Err(KeyError("PEM label is not a public key")),
        }
    }
}

/// The label and DER bytes of the first PEM block.
fn decode_pem(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_owned();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker)?;
    let body: String = rest
        .get(body_start..body_end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some((label, STANDARD.decode(body).ok()?))
}
