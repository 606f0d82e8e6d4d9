//! What the benches share.

use portcullis_core::testkit::TestKey;
use portcullis_core::Algorithm;

/// jsonwebtoken 11 with a `DecodingKey` made once, expecting `issuer` and audience `api`
/// (RS256, ES256, EdDSA).
pub(crate) fn jsonwebtoken_setup(
    key: &TestKey,
    issuer: &str,
) -> Option<(jsonwebtoken::DecodingKey, jsonwebtoken::Validation)> {
    let jwk = key.jwk();
    let (decoding, alg) = match key.algorithm() {
        Algorithm::RS256 => (
            jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str()?, jwk["e"].as_str()?)
                .ok()?,
            jsonwebtoken::Algorithm::RS256,
        ),
        Algorithm::ES256 => (
            jsonwebtoken::DecodingKey::from_ec_components(jwk["x"].as_str()?, jwk["y"].as_str()?)
                .ok()?,
            jsonwebtoken::Algorithm::ES256,
        ),
        Algorithm::EdDSA => (
            jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str()?).ok()?,
            jsonwebtoken::Algorithm::EdDSA,
        ),
        _ => return None,
    };
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&["api"]);
    validation.set_issuer(&[issuer]);
    Some((decoding, validation))
}
