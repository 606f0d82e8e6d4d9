//! The verified claims of a caller.

use crate::algorithm::Algorithm;
use crate::resolver::{Authorities, ClaimPathResolver, RoleResolver};
use crate::strict_json::Payload;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// A verified token's claims: the well-known ones typed, every raw claim reachable, and the
/// roles, groups and scopes resolved once. Cloning is cheap (one reference count).
///
/// A verified token's large members (a thousand roles) are checked when it is verified but
/// built on first use, as are the roles, groups and scopes: a request that reads none of them
/// never pays for them.
#[derive(Clone)]
pub struct TokenClaims(Arc<Inner>);

struct Inner {
    claims: Claims,
    /// Roles, groups and scopes: given, or resolved on first use by `resolver` (a request
    /// that checks none of them never pays for them).
    authorities: std::sync::OnceLock<Authorities>,
    resolver: Option<Arc<dyn crate::resolver::RoleResolver>>,
    /// `aud` as a list, made on first use.
    audiences: std::sync::OnceLock<Vec<String>>,
    key_id: Option<String>,
    algorithm: Option<Algorithm>,
    token_type: Option<String>,
    /// The configured issuer whose settings and keys verified the token.
    verified_by: Option<Arc<str>>,
}

/// The claims themselves: a map given by the application, or a verified token's payload.
enum Claims {
    Map(Map<String, Value>),
    Payload(Payload),
}

impl TokenClaims {
    /// Claims from a JSON object and already-resolved authorities.
    ///
    /// Useful in tests of code that reads the [`SecurityContext`](crate::SecurityContext);
    /// verified claims come from [`Authenticator`](crate::Authenticator).
    pub fn new(raw: Map<String, Value>, authorities: Authorities) -> Self {
        Self::build(raw, authorities, None, None, None)
    }

    /// Claims from a JSON value, with roles, groups and scopes read by the default claim
    /// paths (a non-object value gives empty claims).
    pub fn from_json(value: Value) -> Self {
        let raw = match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let authorities = ClaimPathResolver::default().resolve(&raw);
        Self::new(raw, authorities)
    }

    pub(crate) fn build(
        raw: Map<String, Value>,
        authorities: Authorities,
        key_id: Option<String>,
        algorithm: Option<Algorithm>,
        token_type: Option<String>,
    ) -> Self {
        Self(Arc::new(Inner {
            claims: Claims::Map(raw),
            authorities: std::sync::OnceLock::from(authorities),
            resolver: None,
            audiences: std::sync::OnceLock::new(),
            key_id,
            algorithm,
            token_type,
            verified_by: None,
        }))
    }

    /// Verified claims whose authorities `resolver` reads on first use.
    pub(crate) fn build_lazy(
        payload: Payload,
        resolver: &Arc<dyn crate::resolver::RoleResolver>,
        key_id: Option<String>,
        algorithm: Option<Algorithm>,
        token_type: Option<String>,
    ) -> Self {
        Self(Arc::new(Inner {
            claims: Claims::Payload(payload),
            authorities: std::sync::OnceLock::new(),
            resolver: Some(Arc::clone(resolver)),
            audiences: std::sync::OnceLock::new(),
            key_id,
            algorithm,
            token_type,
            verified_by: None,
        }))
    }

    fn authorities(&self) -> &Authorities {
        self.0.authorities.get_or_init(|| match &self.0.resolver {
            Some(resolver) => resolver.resolve_claims(self),
            None => Authorities::default(),
        })
    }

    /// Records the configured issuer that verified these claims (just built, not shared).
    pub(crate) fn verified_by(mut self, issuer: &Arc<str>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.verified_by = Some(Arc::clone(issuer));
        }
        self
    }

    /// The configured issuer (`auth_client.issuer`, or an entry of `issuers:`) whose settings
    /// and keys verified this token; `None` for claims not made by an
    /// [`Authenticator`](crate::Authenticator).
    pub fn verifying_issuer(&self) -> Option<&str> {
        self.0.verified_by.as_deref()
    }

    /// The top-level claim `name`, as sent.
    pub(crate) fn member(&self, name: &str) -> Option<&Value> {
        match &self.0.claims {
            Claims::Map(map) => crate::strict_json::member(map, name),
            Claims::Payload(payload) => payload.member(name),
        }
    }

    /// What these claims can take in memory once every part of them is built (for the
    /// verified-token cache's bound).
    pub(crate) fn weight(&self) -> u64 {
        match &self.0.claims {
            Claims::Map(map) => 512 + crate::strict_json::map_weight(map),
            Claims::Payload(payload) => payload.weight(),
        }
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.member(name).and_then(Value::as_str)
    }

    fn time_claim(&self, name: &str, rounding: Rounding) -> Option<i64> {
        numeric_date(self.member(name)?, rounding)
    }

    /// `sub`: the subject (user or client id).
    pub fn sub(&self) -> Option<&str> {
        self.str_claim("sub")
    }
    /// `email`.
    pub fn email(&self) -> Option<&str> {
        self.str_claim("email")
    }
    /// `org_id`: the caller's organisation.
    pub fn org_id(&self) -> Option<&str> {
        self.str_claim("org_id")
    }
    /// `cnf.jkt` (RFC 9449): the thumbprint of the key this token is bound to. A caller the
    /// gate admitted with it proved possession of that key on this request.
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        match crate::dpop::confirmation(self.member("cnf")) {
            crate::dpop::Confirmation::Jkt(jkt) => Some(jkt),
            _ => None,
        }
    }
    /// `jti`: the token id.
    pub fn jti(&self) -> Option<&str> {
        self.str_claim("jti")
    }
    /// `client_id` (RFC 9068), falling back to `azp`.
    pub fn client_id(&self) -> Option<&str> {
        ["client_id", "azp", "cid", "appid"]
            .into_iter()
            .find_map(|name| self.str_claim(name))
    }
    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.str_claim("iss")
    }
    /// `aud`, as a list.
    pub fn audiences(&self) -> &[String] {
        self.0.audiences.get_or_init(|| match self.member("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        })
    }
    /// `iat`, seconds since the epoch.
    pub fn issued_at(&self) -> Option<i64> {
        self.time_claim("iat", Rounding::Up)
    }
    /// `exp`, seconds since the epoch.
    pub fn expires_at(&self) -> Option<i64> {
        self.time_claim("exp", Rounding::Down)
    }
    /// `nbf`, seconds since the epoch.
    pub fn not_before(&self) -> Option<i64> {
        self.time_claim("nbf", Rounding::Up)
    }
    /// Resolved roles.
    pub fn roles(&self) -> &[String] {
        &self.authorities().roles
    }
    /// Resolved groups.
    pub fn groups(&self) -> &[String] {
        &self.authorities().groups
    }
    /// Resolved scopes.
    pub fn scopes(&self) -> &[String] {
        &self.authorities().scopes
    }
    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().iter().any(|r| r == role)
    }
    /// Whether the caller is in `group`.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups().iter().any(|g| g == group)
    }
    /// Whether a granted scope satisfies `scope` (wildcard rule of
    /// [`scope_matches`](crate::scope_matches)).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes()
            .iter()
            .any(|g| crate::policy::scope_matches(g, scope))
    }
    /// The `kid` of the key that verified the token.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }
    /// The algorithm the token was verified with.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.0.algorithm
    }
    /// The header `typ` of the verified token (`at+jwt`, `JWT`, ...), if it had one.
    pub fn token_type(&self) -> Option<&str> {
        self.0.token_type.as_deref()
    }
    /// Any claim, converted to `T`; `None` when absent or of another type.
    ///
    /// ```
    /// # use portcullis_core::TokenClaims;
    /// let claims = TokenClaims::from_json(serde_json::json!({"tenant": {"id": 7}, "beta": true}));
    /// assert_eq!(claims.claim::<bool>("beta"), Some(true));
    /// assert_eq!(claims.claim::<u32>("beta"), None);
    /// ```
    pub fn claim<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        T::deserialize(self.member(name)?).ok()
    }
    /// Every claim, as sent.
    pub fn raw(&self) -> &Map<String, Value> {
        match &self.0.claims {
            Claims::Map(map) => map,
            Claims::Payload(payload) => payload.full(),
        }
    }
    /// All claims as your own type: a struct with the claims your application reads.
    ///
    /// # Errors
    /// [`AuthError::ClaimsRejected`](crate::AuthError::ClaimsRejected) (401) when the claims
    /// do not fit `T`: the reason is logged at debug level, never returned.
    ///
    /// ```
    /// # use portcullis_core::TokenClaims;
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Profile {
    ///     sub: String,
    ///     org_id: String,
    ///     #[serde(default)]
    ///     beta: bool,
    /// }
    /// let claims = TokenClaims::from_json(serde_json::json!({"sub": "u1", "org_id": "o7"}));
    /// let p: Profile = claims.deserialize().unwrap();
    /// assert_eq!((p.sub.as_str(), p.org_id.as_str(), p.beta), ("u1", "o7", false));
    /// assert_eq!(TokenClaims::from_json(serde_json::json!({"sub": "u1"}))
    ///     .deserialize::<Profile>().unwrap_err().status(), 401);
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, crate::AuthError> {
        let typed = match &self.0.claims {
            Claims::Map(map) => T::deserialize(&Value::Object(map.clone())),
            // From the text, checked strictly when verified: no map is built or copied.
            Claims::Payload(payload) => serde_json::from_slice(payload.text()),
        };
        typed.map_err(|e| {
            tracing::debug!(error = %e, "token claims do not fit the application's type");
            crate::AuthError::ClaimsRejected { forbidden: false }
        })
    }
}

/// A NumericDate (RFC 7519 §2): integer or fractional seconds, truncated.
pub(crate) fn numeric_date(v: &Value, rounding: Rounding) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let f = v.as_f64()?;
    if !f.is_finite() {
        return None;
    }
    let whole = match rounding {
        Rounding::Down => f.floor(),
        Rounding::Up => f.ceil(),
    };
    // `as` saturates for out-of-range floats, which is what a far-future date should do.
    #[allow(clippy::cast_possible_truncation)]
    Some(whole as i64)
}

/// How a fractional NumericDate becomes whole seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rounding {
    /// Toward the past (`exp`: a token never lives longer than it says).
    Down,
    /// Toward the future (`nbf`, `iat`: a token never starts earlier than it says).
    Up,
}

impl fmt::Debug for TokenClaims {
    /// Shows who the caller is, not the whole token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenClaims")
            .field("sub", &self.sub())
            .field("iss", &self.issuer())
            .field("roles", &self.roles())
            .field("groups", &self.groups())
            .field("scopes", &self.scopes())
            .finish_non_exhaustive()
    }
}
