//! Minting tokens, well-formed or hostile.

use super::key::{hmac_sign, TestKey};
use crate::algorithm::Algorithm;
use crate::b64;
use crate::clock::{Clock, SystemClock};
use serde_json::{json, Map, Value};

#[derive(Clone)]
enum Signature {
    /// Sign with the key, using the header's algorithm.
    Key,
    /// Sign with the key using this algorithm, whatever the header says.
    KeyAs(Algorithm),
    /// No signature at all (empty third segment).
    Empty,
    /// These exact bytes.
    Bytes(Vec<u8>),
    /// An HMAC of the signing input with this secret (key-confusion attacks).
    Hmac(Algorithm, Vec<u8>),
}

/// Builds a compact JWS. Defaults: header `{"alg": <key alg>, "typ": "JWT", "kid": <key kid>}`,
/// claims `iat` = now and `exp` = now + 300.
#[derive(Clone)]
pub struct TokenBuilder<'k> {
    key: &'k TestKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    now: i64,
    signature: Signature,
    tamper_payload: bool,
    tamper_signature: bool,
}

impl<'k> TokenBuilder<'k> {
    /// A token signed by `key`, valid for five minutes from the system time.
    pub fn new(key: &'k TestKey) -> Self {
        let mut header = Map::new();
        header.insert("alg".into(), json!(key.algorithm().as_str()));
        header.insert("typ".into(), json!("JWT"));
        header.insert("kid".into(), json!(key.kid()));
        let mut me = Self {
            key,
            header,
            claims: Map::new(),
            now: 0,
            signature: Signature::Key,
            tamper_payload: false,
            tamper_signature: false,
        };
        me = me.now(SystemClock.now_unix());
        me
    }

    /// Re-bases `iat` and `exp` (now + 300) on `unix_seconds`, e.g. a
    /// [`ManualClock`](super::ManualClock)'s time.
    pub fn now(mut self, unix_seconds: i64) -> Self {
        self.now = unix_seconds;
        self.claims.insert("iat".into(), json!(unix_seconds));
        self.claims.insert("exp".into(), json!(unix_seconds + 300));
        self
    }

    /// `exp` = now + `seconds` (negative for an already expired token).
    pub fn lifetime(mut self, seconds: i64) -> Self {
        self.claims
            .insert("exp".into(), json!(self.now.saturating_add(seconds)));
        self
    }

    /// A DPoP proof (RFC 9449) signed by `key` for `method` and `htu`: header `typ:
    /// dpop+jwt`, the key's `alg` and public `jwk`; claims a random `jti`, `htm`, `htu` and
    /// `iat` now. Add the access token's hash with [`access_token`](Self::access_token);
    /// every other method makes it hostile (a private `jwk`, `alg: none`, an old `iat`, ...).
    pub fn dpop_proof(key: &'k TestKey, method: &str, htu: &str) -> Self {
        let mut jwk = key.jwk();
        if let Some(members) = jwk.as_object_mut() {
            for name in ["kid", "alg", "use"] {
                members.remove(name);
            }
        }
        let mut random = [0u8; 16];
        aws_lc_rs::rand::fill(&mut random).expect("system randomness");
        Self::new(key)
            .without_header("kid")
            .header("typ", json!("dpop+jwt"))
            .header("jwk", jwk)
            .without_claim("exp")
            .claim("jti", json!(b64::encode(&random)))
            .claim("htm", json!(method))
            .claim("htu", json!(htu))
    }

    /// `ath`: the hash of the access token a DPoP proof is sent with.
    pub fn access_token(self, token: &str) -> Self {
        self.claim("ath", json!(crate::dpop::access_token_hash(token)))
    }

    /// `cnf.jkt`: binds the token to `holder`'s key (RFC 9449 §6), so that it is only
    /// accepted with a proof that key signs.
    pub fn bound_to(self, holder: &TestKey) -> Self {
        self.claim("cnf", json!({ "jkt": holder.thumbprint() }))
    }

    /// `iss`.
    pub fn issuer(self, iss: &str) -> Self {
        self.claim("iss", json!(iss))
    }
    /// `aud` as a string.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", json!(aud))
    }
    /// `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", json!(sub))
    }
    /// `roles` as an array.
    pub fn roles(self, roles: &[&str]) -> Self {
        self.claim("roles", json!(roles))
    }
    /// Any claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }
    /// Removes a claim (e.g. `exp`).
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }
    /// Any header member (`jku`, `x5u`, `jwk`, `crit`, `typ`, ...).
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }
    /// Removes a header member (e.g. `kid`).
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }
    /// Claims `alg` in the header while the key still signs with its own algorithm.
    pub fn header_alg(self, alg: &str) -> Self {
        let real = self.key.algorithm();
        let mut me = self.header("alg", json!(alg));
        me.signature = Signature::KeyAs(real);
        me
    }
    /// Signs with `alg` and says so in the header (an RSA key signing PS256, say).
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.header.insert("alg".into(), json!(alg.as_str()));
        self.signature = Signature::KeyAs(alg);
        self
    }
    /// `alg: <name>` with an empty signature (`none` in any casing).
    pub fn unsigned(mut self, alg_name: &str) -> Self {
        self.header.insert("alg".into(), json!(alg_name));
        self.signature = Signature::Empty;
        self
    }
    /// Uses these exact signature bytes (e.g. all zeros, CVE-2022-21449).
    pub fn signature_bytes(mut self, bytes: Vec<u8>) -> Self {
        self.signature = Signature::Bytes(bytes);
        self
    }
    /// `alg: <alg>` (HS*) with an HMAC keyed by `secret`: the key-confusion attack when
    /// `secret` is the issuer's public key.
    pub fn hmac_with_secret(mut self, alg: Algorithm, secret: &[u8]) -> Self {
        self.header.insert("alg".into(), json!(alg.as_str()));
        self.signature = Signature::Hmac(alg, secret.to_vec());
        self
    }
    /// After signing, changes the payload (the signature no longer matches).
    pub fn tamper_payload(mut self) -> Self {
        self.tamper_payload = true;
        self
    }
    /// After signing, flips a bit of the signature.
    pub fn tamper_signature(mut self) -> Self {
        self.tamper_signature = true;
        self
    }

    /// The claims as they will be signed.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The compact token.
    pub fn sign(self) -> String {
        let header = b64::encode(Value::Object(self.header.clone()).to_string().as_bytes());
        let payload = b64::encode(Value::Object(self.claims.clone()).to_string().as_bytes());
        let input = format!("{header}.{payload}");
        let mut sig = match &self.signature {
            Signature::Key => {
                let alg = self
                    .header
                    .get("alg")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse().ok());
                self.key
                    .sign_as(alg.unwrap_or(self.key.algorithm()), input.as_bytes())
            }
            Signature::KeyAs(alg) => self.key.sign_as(*alg, input.as_bytes()),
            Signature::Empty => Vec::new(),
            Signature::Bytes(b) => b.clone(),
            Signature::Hmac(alg, secret) => hmac_sign(*alg, secret, input.as_bytes()),
        };
        if self.tamper_signature {
            if let Some(last) = sig.last_mut() {
                *last ^= 0x01;
            }
        }
        let payload = if self.tamper_payload {
            let mut claims = self.claims.clone();
            claims.insert("tampered".into(), json!(true));
            b64::encode(Value::Object(claims).to_string().as_bytes())
        } else {
            payload
        };
        format!("{header}.{payload}.{}", b64::encode(&sig))
    }
}
