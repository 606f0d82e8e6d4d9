//! [`Authenticator`]: from an `Authorization` header to verified [`TokenClaims`], and the
//! per-request decision every adapter delegates to.

use crate::agent::{AgentClaims, Caller};
use crate::algorithm::Algorithm;
use crate::claims::{numeric_date, Rounding, TokenClaims};
use crate::clock::{Clock, SystemClock};
use crate::config::AuthConfig;
use crate::dpop::{DpopMode, DpopProblem, ReplayStore};
use crate::error::{AuthError, ErrorResponse, Malformed};
use crate::jws::{
    bare_token, bearer_credential, check_token68, scheme_credential, AuthorizationHeader,
    CompactJws, RequestCredentials, Scheme, TokenSource,
};
use crate::keys::{KeyLookup, KeySet, KeySource, StaticKeys, VerifyingKey};
use crate::policy::Requirement;
use crate::resolver::{ClaimPathResolver, RoleResolver};
use crate::strict_json::Payload;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Verifies bearer tokens and applies [`Requirement`]s. Cheap to clone; share one per
/// application.
///
/// ```
/// use portcullis_core::testkit::{TestKey, TokenBuilder};
/// use portcullis_core::{AuthConfig, Authenticator, StaticKeys};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A key the issuer publishes; here minted by the test kit.
/// let key = TestKey::rsa("key-1");
/// let jwks = TestKey::jwks(&[&key]);
///
/// let config = AuthConfig::builder()
///     .issuer("https://auth.example.com")
///     .audience("my-api")
///     .build()
///     .unwrap();
/// let auth = Authenticator::builder(config)
///     .key_source(StaticKeys::from_jwks(&jwks).unwrap())
///     .build()
///     .unwrap();
///
/// // Plain non-HTTP code: a token from a message, a job, a CLI argument...
/// let token = TokenBuilder::new(&key)
///     .issuer("https://auth.example.com")
///     .audience("my-api")
///     .subject("user-123")
///     .claim("roles", serde_json::json!(["admin"]))
///     .sign();
/// let claims = auth.verify_token(&token).await.unwrap();
/// assert_eq!(claims.sub(), Some("user-123"));
/// assert!(claims.has_role("admin"));
///
/// let err = auth.verify_token("not.a.token").await.unwrap_err();
/// assert_eq!(err.status(), 401);
/// # }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

/// Shapes the JSON body of an error answer (status and `WWW-Authenticate` stay the core's).
type BodyRenderer = dyn Fn(&AuthError) -> String + Send + Sync;
type ClaimsValidator = dyn Fn(&TokenClaims) -> Result<(), AuthError> + Send + Sync;

struct Inner {
    config: AuthConfig,
    body: Option<Arc<BodyRenderer>>,
    validate: Option<Arc<ClaimsValidator>>,
    keys: Arc<dyn KeySource>,
    resolver: Arc<dyn RoleResolver>,
    clock: Arc<dyn Clock>,
    cache: Option<crate::cache::VerifiedCache>,
    #[cfg(feature = "remote")]
    revocation: Option<crate::remote::RevocationList>,
    /// The issuers trusted besides the configuration's own (`issuers:`), each with its own
    /// settings, keys and claim mapping.
    others: Vec<Issuer>,
    /// The configuration's own issuer, shared by the claims it verifies (no copy per token).
    issuer_name: Arc<str>,
    /// Where DPoP proofs are remembered (DPoP on only).
    replay: Option<Arc<dyn ReplayStore>>,
    /// `algs` of the DPoP challenge, built once.
    dpop_algs: String,
}

/// One more trusted issuer.
struct Issuer {
    name: Arc<str>,
    config: AuthConfig,
    keys: Arc<dyn KeySource>,
    resolver: Arc<dyn RoleResolver>,
}

/// What verifies a token of one issuer.
#[derive(Clone, Copy)]
struct IssuerRef<'a> {
    index: usize,
    name: &'a Arc<str>,
    config: &'a AuthConfig,
    keys: &'a Arc<dyn KeySource>,
    resolver: &'a Arc<dyn RoleResolver>,
}

/// Assembles an [`Authenticator`]; every part but the configuration has a default.
pub struct AuthenticatorBuilder {
    config: AuthConfig,
    body: Option<Arc<BodyRenderer>>,
    validate: Option<Arc<ClaimsValidator>>,
    keys: Option<Arc<dyn KeySource>>,
    resolver: Option<Arc<dyn RoleResolver>>,
    clock: Option<Arc<dyn Clock>>,
    #[cfg(feature = "remote")]
    fetcher: Option<crate::remote::HttpFetcher>,
    replay: Option<Arc<dyn ReplayStore>>,
}

/// The authenticator cannot be assembled from this configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The configured key file or secret cannot be used.
    #[error("auth_client key material is unusable: {0}")]
    Keys(String),
    /// The configuration asks for keys from the network, but the `remote` feature is off
    /// and no source was given.
    #[error(
        "auth_client needs a key source: remote key sets (jwks_endpoint / OIDC discovery) need the `remote` feature or a KeySource; set jwks_file or shared_secret for static keys"
    )]
    NoKeySource,
    /// The DPoP replay store cannot be set up (an unusable `dpop_replay_redis_url`).
    #[error("auth_client.dpop_replay_redis_url is unusable: {0}")]
    ReplayStore(&'static str),
}

impl AuthenticatorBuilder {
    /// Where keys come from. Without it: `shared_secret` or `jwks_file` of the configuration.
    pub fn key_source(mut self, source: impl KeySource) -> Self {
        self.keys = Some(Arc::new(source));
        self
    }

    /// Same as [`key_source`](Self::key_source), for an already shared source.
    pub fn shared_key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.keys = Some(source);
        self
    }

    /// How roles, groups and scopes are read. Default: [`ClaimPathResolver`] from the
    /// configuration's claim paths.
    pub fn role_resolver(mut self, resolver: impl RoleResolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Shapes the JSON body of every error answer, in every adapter. Status,
    /// `WWW-Authenticate` and `Retry-After` stay the core's, so clients and RFC 6750 tooling
    /// keep working. Use only the error's public parts ([`AuthError::detail`],
    /// [`AuthError::reason`], [`AuthError::status`]): never token data.
    ///
    /// ```
    /// # use portcullis_core::{AuthConfig, Authenticator, AuthError, StaticKeys, KeySet};
    /// # let config = AuthConfig::builder().issuer("https://a.example").audience("api").build().unwrap();
    /// let auth = Authenticator::builder(config)
    ///     # .key_source(StaticKeys::new(KeySet::new()))
    ///     .error_body(|e: &AuthError| {
    ///         serde_json::json!({"error": {"code": e.reason(), "message": e.detail()}}).to_string()
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let r = auth.error_response(&AuthError::Expired);
    /// assert_eq!(r.status, 401);
    /// assert_eq!(r.body, r#"{"error":{"code":"expired","message":"Token has expired"}}"#);
    /// ```
    pub fn error_body(
        mut self,
        render: impl Fn(&AuthError) -> String + Send + Sync + 'static,
    ) -> Self {
        self.body = Some(Arc::new(render));
        self
    }

    /// Your own rules for a caller's verified claims, run after every built-in check (a
    /// tenant on a blocklist, a claim your API needs). Refuse with
    /// [`AuthError::ClaimsRejected`]: `forbidden: false` answers 401 `Token claims not
    /// accepted`, `forbidden: true` 403 `Not allowed by token claims`; both fixed public
    /// texts (log your reason yourself). Agent tokens are not passed to it.
    ///
    /// ```
    /// # use portcullis_core::{AuthConfig, Authenticator, AuthError, StaticKeys, KeySet, TokenClaims};
    /// # let config = AuthConfig::builder().issuer("https://a.example").audience("api").build().unwrap();
    /// let auth = Authenticator::builder(config)
    ///     # .key_source(StaticKeys::new(KeySet::new()))
    ///     .validate_claims(|claims: &TokenClaims| {
    ///         match claims.claim::<String>("tenant").as_deref() {
    ///             Some("blocked") => Err(AuthError::ClaimsRejected { forbidden: true }),
    ///             Some(_) => Ok(()),
    ///             None => Err(AuthError::ClaimsRejected { forbidden: false }),
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = auth;
    /// ```
    pub fn validate_claims(
        mut self,
        rule: impl Fn(&TokenClaims) -> Result<(), AuthError> + Send + Sync + 'static,
    ) -> Self {
        self.validate = Some(Arc::new(rule));
        self
    }

    /// The clock (tests inject a manual one). Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The HTTP client for discovery, key sets and the revocation list (one for all).
    /// Default: [`HttpFetcher::new`](crate::remote::HttpFetcher::new) with
    /// `http_timeout_seconds`.
    #[cfg(feature = "remote")]
    pub fn http_fetcher(mut self, fetcher: crate::remote::HttpFetcher) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// The DPoP replay store (default: a [`RedisReplayStore`](crate::dpop::RedisReplayStore)
    /// when `dpop_replay_redis_url` is set, else an in-memory one bounded by
    /// `dpop_replay_max_entries`). Instances of one service share a store to catch a proof
    /// replayed against another instance.
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// Assembles the authenticator. Logs a warning when authentication is disabled.
    ///
    /// Without an explicit key source, keys come from the configuration: `shared_secret`,
    /// `jwks_file`, else (feature `remote`) `jwks_endpoint` or OIDC discovery, fetched in the
    /// background from the start; an unreachable issuer does not stop the application.
    pub fn build(self) -> Result<Authenticator, SetupError> {
        let config = self.config;
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        #[cfg(feature = "remote")]
        let fetcher = self
            .fetcher
            .unwrap_or_else(|| crate::remote::HttpFetcher::new(config.http_timeout()));
        let keys: Arc<dyn KeySource> = match self.keys {
            Some(keys) => keys,
            None if !config.enabled() => Arc::new(StaticKeys::new(KeySet::new())),
            None => keys_for(
                &config,
                #[cfg(feature = "remote")]
                &fetcher,
                &clock,
            )?,
        };
        let mut others = Vec::new();
        if config.enabled() {
            for other in &config.others {
                others.push(Issuer {
                    name: Arc::from(other.issuer()),
                    config: other.clone(),
                    keys: keys_for(
                        other,
                        #[cfg(feature = "remote")]
                        &fetcher,
                        &clock,
                    )?,
                    resolver: self
                        .resolver
                        .clone()
                        .unwrap_or_else(|| Arc::new(ClaimPathResolver::from_config(other))),
                });
            }
        }
        #[cfg(feature = "remote")]
        let revocation = if config.enabled() {
            crate::remote::RevocationList::with_clock(&config, fetcher, Arc::clone(&clock))
        } else {
            None
        };
        let resolver = self
            .resolver
            .unwrap_or_else(|| Arc::new(ClaimPathResolver::from_config(&config)));
        if config.enabled() {
            tracing::info!(issuer = config.issuer(), audiences = ?config.audiences(), algorithms = ?config.algorithms(), "portcullis authentication enabled");
            for warning in config.never_matching() {
                tracing::warn!("{warning}");
            }
        } else {
            tracing::warn!("AUTHENTICATION IS DISABLED (auth_client.enabled: false): every request passes anonymously and no route requirement is enforced");
            loud("WARNING: AUTHENTICATION IS DISABLED (auth_client.enabled: false): every request passes anonymously and no route requirement is enforced");
        }
        let issuer_name = Arc::from(config.issuer());
        let replay = match (config.dpop_mode(), self.replay) {
            (DpopMode::Off, _) => None,
            (_, Some(store)) => Some(store),
            (_, None) => Some(default_replay_store(&config)?),
        };
        if config.dpop_mode() != DpopMode::Off && config.dpop_replay_fail_open() {
            tracing::warn!("dpop_replay_fail_open: while the DPoP replay store is unreachable, a captured proof can be replayed");
        }
        let dpop_algs = config
            .dpop_policy()
            .algorithms
            .iter()
            .map(Algorithm::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let cache =
            crate::cache::VerifiedCache::new(config.cache_max_entries(), config.cache_max_bytes());
        Ok(Authenticator {
            inner: Arc::new(Inner {
                config,
                body: self.body,
                validate: self.validate,
                keys,
                resolver,
                clock,
                cache,
                #[cfg(feature = "remote")]
                revocation,
                others,
                issuer_name,
                replay,
                dpop_algs,
            }),
        })
    }
}

/// The replay store a configuration describes: Redis where `dpop_replay_redis_url` is set
/// (feature `redis`), in memory otherwise.
fn default_replay_store(config: &AuthConfig) -> Result<Arc<dyn ReplayStore>, SetupError> {
    match config.dpop_replay_redis_url() {
        #[cfg(feature = "redis")]
        Some(url) => Ok(Arc::new(
            crate::dpop::RedisReplayStore::new(url.expose().trim())
                .map_err(|e| SetupError::ReplayStore(e.reason()))?,
        )),
        #[cfg(not(feature = "redis"))]
        Some(_) => Err(SetupError::ReplayStore("needs the `redis` feature")),
        None => Ok(Arc::new(crate::dpop::MemoryReplayStore::new(
            config.dpop_replay_max_entries(),
        ))),
    }
}

/// The key source a configuration describes: `shared_secret`, `jwks_file`, else (feature
/// `remote`) `jwks_endpoint` or OIDC discovery, fetched in the background from the start.
fn keys_for(
    config: &AuthConfig,
    #[cfg(feature = "remote")] fetcher: &crate::remote::HttpFetcher,
    clock: &Arc<dyn Clock>,
) -> Result<Arc<dyn KeySource>, SetupError> {
    let _ = clock;
    if let Some(secret) = config.shared_secret() {
        let key = VerifyingKey::shared_secret(None, secret.expose().as_bytes())
            .map_err(|e| SetupError::Keys(e.to_string()))?;
        return Ok(Arc::new(StaticKeys::new(KeySet::new().with(key))));
    }
    if let Some(path) = config.jwks_file() {
        return Ok(Arc::new(
            StaticKeys::from_jwks_file(path).map_err(|e| SetupError::Keys(e.to_string()))?,
        ));
    }
    #[cfg(feature = "remote")]
    {
        Ok(Arc::new(crate::remote::RemoteKeys::with_clock(
            config,
            fetcher.clone(),
            Arc::clone(clock),
        )))
    }
    #[cfg(not(feature = "remote"))]
    Err(SetupError::NoKeySource)
}

impl Authenticator {
    /// Starts assembling an authenticator for `config`.
    pub fn builder(config: AuthConfig) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            config,
            body: None,
            validate: None,
            keys: None,
            resolver: None,
            clock: None,
            #[cfg(feature = "remote")]
            fetcher: None,
            replay: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// The HTTP answer for an error: what every adapter sends.
    pub fn error_response(&self, error: &AuthError) -> ErrorResponse {
        let mut response = error.to_response();
        let mode = self.inner.config.dpop_mode();
        if mode != DpopMode::Off {
            response.www_authenticate =
                error.www_authenticate_dpop(mode == DpopMode::Required, &self.inner.dpop_algs);
        }
        if let Some(render) = &self.inner.body {
            response.body = render(error);
        }
        response
    }

    /// The decision for one request from its `Authorization` header only (see
    /// [`authorize_request`](Self::authorize_request)).
    pub async fn authorize<'h>(
        &self,
        authorization: impl Into<AuthorizationHeader<'h>>,
        requirement: &Requirement,
    ) -> Result<Option<TokenClaims>, AuthError> {
        let credentials =
            RequestCredentials::new(authorization.into(), AuthorizationHeader::Absent);
        self.authorize_request(credentials, requirement)
            .await
            .map(|caller| caller.user)
    }

    /// The decision for one request: the [`Caller`] to install around the handler
    /// ([`Caller::scope`]), or the error to answer with.
    ///
    /// - Auth disabled: always an anonymous caller (requirements are not enforced).
    /// - [`Requirement::Anonymous`]: a valid token gives its caller; a missing or invalid one
    ///   gives an anonymous caller (optional authentication never rejects).
    /// - Anything else: the token must verify and the requirement must hold; the agent token
    ///   is verified only when the requirement asks for an agent scope (other routes ignore
    ///   `X-Agent-Authorization`).
    pub async fn authorize_request(
        &self,
        credentials: RequestCredentials<'_>,
        requirement: &Requirement,
    ) -> Result<Caller, AuthError> {
        if !self.inner.config.enabled() {
            return Ok(Caller::disabled());
        }
        if requirement.allows_anonymous() {
            return Ok(self.authenticate_optional(credentials).await);
        }
        let (user, source) = self.authenticate_from(&credentials).await?;
        let agent = if requirement.needs_agent() {
            Some(self.agent_of(credentials).await?)
        } else {
            None
        };
        if let Err(e) = requirement.check_from(Some(&user), agent.as_ref(), Some(source)) {
            count_decision("denied", e.reason());
            tracing::info!(
                outcome = "denied",
                reason = e.reason(),
                sub = user.sub(),
                kid = user.key_id(),
                "request denied"
            );
            return Err(e);
        }
        Ok(Caller::new(Some(user), agent).with_source(source))
    }

    /// What a gate decides for every request before the framework hands it to a handler:
    /// the bearer token must verify (the error to answer with otherwise). An agent token
    /// (`X-Agent-Authorization`), when one is sent, is verified too; if it does not verify,
    /// the failure is kept in the [`Caller`] for a route that asks for an agent scope, and
    /// every other route ignores it. Route requirements are checked afterwards, next to the
    /// handler, with [`SecurityContext::enforce`](crate::SecurityContext::enforce).
    ///
    /// Authentication disabled: an anonymous caller for whom every requirement passes.
    pub async fn authenticate_request(
        &self,
        credentials: RequestCredentials<'_>,
    ) -> Result<Caller, AuthError> {
        if !self.inner.config.enabled() {
            return Ok(Caller::disabled());
        }
        let (user, source) = self.authenticate_from(&credentials).await?;
        let caller = Caller::new(Some(user), None).with_source(source);
        if credentials.agent_authorization == AuthorizationHeader::Absent {
            return Ok(caller);
        }
        // Boxed, as the proof check: what few requests need stays out of every future.
        Ok(match Box::pin(self.agent_of(credentials)).await {
            Ok(agent) => Caller::new(caller.user, Some(agent)).with_source(source),
            Err(e) => caller.with_agent_error(e),
        })
    }

    /// The agent of a request whose caller verified. The caller's own token sent again as
    /// the agent's is not an agent: refused as [`AuthError::InvalidAgentToken`].
    async fn agent_of(
        &self,
        credentials: RequestCredentials<'_>,
    ) -> Result<AgentClaims, AuthError> {
        let max = self.inner.config.max_token_bytes();
        if let (Ok(user), Ok(agent)) = (
            caller_token(&credentials, max, true),
            bearer_credential(credentials.agent_authorization, max),
        ) {
            // Compared by what was signed, not by the whole string: an ECDSA signature can
            // be re-encoded (s into n - s) by anyone, making a second valid token of the
            // same header and claims.
            let signed = |t: &str| t.rsplit_once('.').map_or(t.len(), |(input, _)| input.len());
            if user[..signed(user)] == agent[..signed(agent)] {
                tracing::info!(
                    outcome = "denied",
                    reason = "agent_token_is_caller_token",
                    "the caller's own token was sent as the agent token"
                );
                return Err(AuthError::InvalidAgentToken);
            }
        }
        self.authenticate_agent(credentials.agent_authorization)
            .await
    }

    /// Optional authentication, for public routes: a valid token gives its caller, anything
    /// else (no token, an invalid one, keys unavailable) an anonymous caller. Never refuses.
    pub async fn authenticate_optional(&self, credentials: RequestCredentials<'_>) -> Caller {
        if !self.inner.config.enabled() {
            return Caller::disabled();
        }
        if credentials.authorization == AuthorizationHeader::Absent
            && credentials.other_token == AuthorizationHeader::Absent
        {
            return Caller::default();
        }
        match self.authenticate_from(&credentials).await {
            Ok((user, source)) => Caller::new(Some(user), None).with_source(source),
            Err(_) => Caller::default(),
        }
    }

    /// Verifies an agent token (`X-Agent-Authorization`): 401
    /// [`AuthError::MissingAgentToken`] when absent, [`AuthError::InvalidAgentToken`] when it
    /// does not verify (503 errors pass through: an outage is not the agent's fault).
    pub async fn authenticate_agent(
        &self,
        header: AuthorizationHeader<'_>,
    ) -> Result<AgentClaims, AuthError> {
        let verified = match bearer_credential(header, self.inner.config.max_token_bytes()) {
            Ok(token) => self.verify(token, TokenKind::Agent).await,
            Err(e) => {
                log_rejection(&e, None);
                Err(e)
            }
        };
        match verified {
            // An agent token bound to a key cannot show its proof in `X-Agent-Authorization`.
            Ok(claims)
                if !matches!(
                    crate::dpop::confirmation(claims.member("cnf")),
                    crate::dpop::Confirmation::None
                ) =>
            {
                Err(AuthError::InvalidAgentToken)
            }
            Ok(claims) => Ok(AgentClaims::new(claims)),
            Err(AuthError::MissingToken) => Err(AuthError::MissingAgentToken),
            Err(
                e @ (AuthError::KeysUnavailable { .. } | AuthError::RevocationUnavailable { .. }),
            ) => Err(e),
            Err(_) => Err(AuthError::InvalidAgentToken),
        }
    }

    /// Verifies the bearer token of an `Authorization` header (`None`: no header).
    pub async fn authenticate<'h>(
        &self,
        authorization: impl Into<AuthorizationHeader<'h>>,
    ) -> Result<TokenClaims, AuthError> {
        let token = bearer_credential(authorization.into(), self.inner.config.max_token_bytes())
            .inspect_err(|e| log_rejection(e, None))?;
        self.verify_token(token).await
    }

    /// Verifies the caller's token of a request, wherever the configuration lets it be
    /// (`Authorization: Bearer`, or a configured header, cookie or query parameter). More than
    /// one token in one request is [`AuthError::InvalidRequest`] (RFC 6750 §2: one method).
    pub async fn authenticate_credentials(
        &self,
        credentials: &RequestCredentials<'_>,
    ) -> Result<TokenClaims, AuthError> {
        self.authenticate_from(credentials)
            .await
            .map(|(claims, _)| claims)
    }

    /// [`authenticate_credentials`](Self::authenticate_credentials) and where the token was.
    async fn authenticate_from(
        &self,
        credentials: &RequestCredentials<'_>,
    ) -> Result<(TokenClaims, TokenSource), AuthError> {
        let config = &self.inner.config;
        let dpop = config.dpop_mode() != DpopMode::Off;
        let (token, source, scheme) =
            caller_token_from(credentials, config.max_token_bytes(), dpop)
                .inspect_err(|e| log_rejection(e, None))?;
        let claims = self.verify(token, TokenKind::Caller).await?;
        self.check_binding(&claims, token, scheme, credentials)
            .await
            .inspect_err(|e| log_rejection(e, claims.key_id()))?;
        Ok((claims, source))
    }

    /// The token's sender binding (`cnf`): a DPoP-bound token needs the `DPoP` scheme and a
    /// valid, new proof by its key; a bearer token is accepted unless DPoP is required; a
    /// binding portcullis cannot check is refused.
    async fn check_binding(
        &self,
        claims: &TokenClaims,
        token: &str,
        scheme: Scheme,
        credentials: &RequestCredentials<'_>,
    ) -> Result<(), AuthError> {
        use crate::dpop::{confirmation, refused, Confirmation};
        match (scheme, confirmation(claims.member("cnf"))) {
            (_, Confirmation::Unsupported) => Err(AuthError::UnsupportedConfirmation),
            (Scheme::Dpop, Confirmation::Jkt(jkt)) => {
                Box::pin(self.check_proof(token, jkt, credentials)).await
            }
            (Scheme::Dpop, Confirmation::None) => Err(refused(DpopProblem::NotBound)),
            (Scheme::Bearer, Confirmation::Jkt(_)) => Err(AuthError::DpopRequired),
            (Scheme::Bearer, Confirmation::None) => {
                if self.inner.config.dpop_mode() == DpopMode::Required {
                    Err(AuthError::DpopRequired)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// RFC 9449 §4.3 and §7.1 for one request: the proof, its key being the token's, and
    /// its `jti` never seen before (recorded last, so that only a valid proof by the token's
    /// holder takes room in the store).
    async fn check_proof(
        &self,
        token: &str,
        jkt: &str,
        credentials: &RequestCredentials<'_>,
    ) -> Result<(), AuthError> {
        use crate::dpop::refused;
        let request = &credentials.dpop;
        let proof = match request.proofs {
            AuthorizationHeader::Absent => return Err(refused(DpopProblem::Missing)),
            AuthorizationHeader::Several => return Err(refused(DpopProblem::Several)),
            AuthorizationHeader::One(raw) => {
                std::str::from_utf8(raw).map_err(|_| refused(DpopProblem::Malformed))?
            }
        };
        let (Some(method), Some(path)) = (request.method, request.path) else {
            return Err(refused(DpopProblem::Uri));
        };
        let policy = self.inner.config.dpop_policy();
        let now = self.inner.clock.now_unix();
        let target = crate::dpop::ProofRequest {
            method,
            path,
            authority: request.authority,
            access_token: Some(token),
            thumbprint: Some(jkt),
        };
        let verified = crate::dpop::verify_proof(proof, &target, policy, now).map_err(refused)?;
        let Some(store) = &self.inner.replay else {
            return Err(AuthError::ReplayStoreUnavailable { retry_after: 1 });
        };
        // Remembered until the proof's `iat` leaves the window (after that, its age refuses
        // it), and a leeway more: a store forgets on its own clock, and the wall clock that
        // judges `iat` may step back by up to the leeway.
        let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let until = verified
            .issued_at()
            .saturating_add(secs(policy.max_age_seconds))
            .saturating_add(secs(policy.leeway_seconds).saturating_mul(2))
            .saturating_add(1);
        let ttl = u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1);
        match store
            .first_use(&verified.replay_key(), std::time::Duration::from_secs(ttl))
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(refused(DpopProblem::Replayed)),
            Err(e) if self.inner.config.dpop_replay_fail_open() && !e.is_full() => {
                tracing::warn!(
                    reason = e.reason(),
                    "DPoP replay store unavailable; proof admitted unchecked (dpop_replay_fail_open)"
                );
                Ok(())
            }
            Err(e) => {
                tracing::warn!(reason = e.reason(), "DPoP replay store unavailable");
                Err(AuthError::ReplayStoreUnavailable { retry_after: 1 })
            }
        }
    }

    /// Verifies a bare token (no `Bearer ` prefix), e.g. one carried in a queue message.
    ///
    /// A token bound to its holder (`cnf`, e.g. DPoP) is refused here: without the request
    /// and its proof the binding cannot be checked. Use
    /// [`authenticate_credentials`](Self::authenticate_credentials) with the request's
    /// [`DpopRequest`](crate::DpopRequest) for those.
    pub async fn verify_token(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let claims = self.verify(token, TokenKind::Caller).await?;
        let refusal = match crate::dpop::confirmation(claims.member("cnf")) {
            crate::dpop::Confirmation::None => return Ok(claims),
            crate::dpop::Confirmation::Jkt(_) => AuthError::DpopRequired,
            crate::dpop::Confirmation::Unsupported => AuthError::UnsupportedConfirmation,
        };
        log_rejection(&refusal, claims.key_id());
        Err(refusal)
    }

    async fn verify(&self, token: &str, kind: TokenKind) -> Result<TokenClaims, AuthError> {
        use tracing::field::Empty;
        use tracing::Instrument as _;
        // At debug level: a service logging at info would otherwise build this span for
        // every request, and print nothing of it for the accepted ones (+1.5 µs a request,
        // `cargo bench -p portcullis-axum --bench gate`). Refusals are info events anyway.
        let span = tracing::debug_span!(
            "portcullis.verify",
            kind = kind.as_str(),
            issuer = Empty,
            outcome = Empty,
            reason = Empty,
            kid = Empty,
            sub = Empty,
            cached = Empty,
        );
        // The usual request, a token seen before, is answered without awaiting anything:
        // what only a miss or a revocation check needs runs boxed, so that neither its state
        // nor the span's bookkeeping is part of every caller's future (copied on every
        // request).
        match span.in_scope(|| self.lookup(token, kind)) {
            Lookup::Done(result) => result,
            #[cfg(feature = "remote")]
            Lookup::Revocation(entry) => {
                Box::pin(self.check_revocation(entry).instrument(span)).await
            }
            Lookup::Miss => Box::pin(self.verify_uncached(token, kind).instrument(span)).await,
        }
    }

    /// What can be answered without awaiting: a token too large, or one verified before
    /// (the cache).
    fn lookup(&self, token: &str, kind: TokenKind) -> Lookup {
        if token.len() > self.inner.config.max_token_bytes() {
            log_rejection(&AuthError::TokenTooLarge, None);
            return Lookup::Done(Err(AuthError::TokenTooLarge));
        }
        if kind != TokenKind::Caller {
            return Lookup::Miss;
        }
        let Some(entry) = self.cached(token) else {
            return Lookup::Miss;
        };
        #[cfg(feature = "remote")]
        if self.inner.revocation.is_some() {
            return Lookup::Revocation(entry);
        }
        Lookup::Done(self.cache_hit(entry))
    }

    /// A cached token, once the revocation list has it not revoked.
    #[cfg(feature = "remote")]
    async fn check_revocation(&self, entry: crate::cache::Entry) -> Result<TokenClaims, AuthError> {
        if let Some(revocation) = &self.inner.revocation {
            let jti = entry
                .claims
                .jti()
                .ok_or(AuthError::MissingClaim(Cow::Borrowed("jti")))?;
            revocation
                .check(jti)
                .await
                .inspect_err(|e| log_rejection(e, entry.claims.key_id()))?;
        }
        self.cache_hit(entry)
    }

    /// A cached token whose revocation (if configured) was checked: the application's rule,
    /// then accepted.
    fn cache_hit(&self, entry: crate::cache::Entry) -> Result<TokenClaims, AuthError> {
        self.apply_rule(&entry.claims)
            .inspect_err(|e| log_rejection(e, entry.claims.key_id()))?;
        accepted(&entry.claims, true);
        tracing::debug!(
            outcome = "accepted",
            sub = entry.claims.sub(),
            kid = entry.claims.key_id(),
            cached = true,
            "token verified"
        );
        Ok(entry.claims)
    }

    /// The full check of a token ([`verify`](Self::verify) once the cache has missed).
    async fn verify_uncached(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<TokenClaims, AuthError> {
        // A token that is not `token68` never verifies (base64url is stricter); it is told
        // apart only on the way out, so that the check costs nothing on the success path.
        let not_token68 = |e: AuthError| {
            if check_token68(token).is_err() {
                AuthError::Malformed(Malformed::NotToken68)
            } else {
                e
            }
        };
        let mut jws = CompactJws::parse(token)
            .map_err(not_token68)
            .inspect_err(|e| log_rejection(e, None))?;
        match self.verify_jws(&mut jws, kind).await.map_err(not_token68) {
            Ok((claims, key, issuer)) => {
                if kind == TokenKind::Caller {
                    self.apply_rule(&claims)
                        .inspect_err(|e| log_rejection(e, claims.key_id()))?;
                }
                accepted(&claims, false);
                tracing::debug!(
                    outcome = "accepted",
                    sub = claims.sub(),
                    kid = claims.key_id(),
                    "token verified"
                );
                if let (TokenKind::Caller, Some(cache), Some(exp)) =
                    (kind, &self.inner.cache, claims.expires_at())
                {
                    cache.insert(
                        token,
                        crate::cache::Entry {
                            exp,
                            not_before: claims.not_before(),
                            issued_at: claims.issued_at(),
                            key,
                            issuer,
                            bytes: claims.weight(),
                            claims: claims.clone(),
                        },
                    );
                }
                Ok(claims)
            }
            Err(e) => {
                log_rejection(&e, jws.kid.as_deref());
                Err(e)
            }
        }
    }

    /// A token verified before, if what can change since without a fetch still holds: not
    /// expired, its key still the key set's. `None`: not cached (or no longer usable), verify
    /// it in full. Revocation and the application's rule are checked by the caller.
    fn cached(&self, token: &str) -> Option<crate::cache::Entry> {
        let cache = self.inner.cache.as_ref()?;
        let Some(entry) = cache.get(token) else {
            metrics::counter!("portcullis_cache_misses_total").increment(1);
            return None;
        };
        metrics::counter!("portcullis_cache_hits_total").increment(1);
        let leeway = i64::try_from(self.inner.config.leeway_seconds()).unwrap_or(i64::MAX);
        let now = self.inner.clock.now_unix();
        let future = |t: Option<i64>| t.is_some_and(|t| t > now.saturating_add(leeway));
        if now >= entry.exp.saturating_add(leeway)
            || future(entry.not_before)
            || future(entry.issued_at)
        {
            // Out of its time window (a clock can step back too): the full check answers.
            cache.remove(token);
            return None;
        }
        let still_the_key = self
            .issuer_at(entry.issuer)
            .keys
            .current()
            .ok()
            .is_some_and(|keys| {
                entry.claims.algorithm().is_some_and(|alg| {
                    matches!(
                        keys.find(entry.claims.key_id(), alg),
                        KeyLookup::Found(key) if Arc::ptr_eq(key, &entry.key)
                    )
                })
            });
        if !still_the_key {
            cache.remove(token);
            return None;
        }
        Some(entry)
    }

    /// The application's claims rule ([`AuthenticatorBuilder::validate_claims`]).
    fn apply_rule(&self, claims: &TokenClaims) -> Result<(), AuthError> {
        match self.inner.validate.as_ref().map(|rule| rule(claims)) {
            None | Some(Ok(())) => Ok(()),
            Some(Err(e @ AuthError::ClaimsRejected { .. })) => Err(e),
            // Any other error from a rule is a refusal of the token, not its text.
            Some(Err(_)) => Err(AuthError::ClaimsRejected { forbidden: false }),
        }
    }

    /// Whether this authenticator can verify tokens now, for a readiness endpoint: keys
    /// loaded and fresh (within their time to live, last refresh successful) and, where
    /// revocation is configured, the revocation list current. A probe also starts a refresh
    /// that is due, so a recovered issuer is noticed by the next probes.
    ///
    /// Mind what a readiness probe does with it: during an issuer outage every instance turns
    /// not ready at once, although cached keys still verify (up to `jwks_max_stale_seconds`;
    /// [`Readiness::keys_usable`]). Serve `ready` where that is what you want, `keys_usable`
    /// where it is not.
    pub fn readiness(&self) -> Readiness {
        let enabled = self.inner.config.enabled();
        // Every trusted issuer's keys: ready only when all of them are.
        let mut keys = self.inner.keys.status();
        for other in &self.inner.others {
            let status = other.keys.status();
            keys.loaded &= status.loaded;
            keys.fresh &= status.fresh;
            keys.age_seconds = keys.age_seconds.max(status.age_seconds);
            if let Some(e) = status.last_error {
                let e = format!("{}: {e}", other.config.issuer());
                keys.last_error = Some(match keys.last_error.take() {
                    Some(first) => format!("{first}; {e}"),
                    None => e,
                });
            }
        }
        #[cfg(feature = "remote")]
        let revocation = self.inner.revocation.as_ref().map(|r| r.is_current());
        #[cfg(not(feature = "remote"))]
        let revocation = None;
        let replay = self.inner.replay.as_ref().map(|store| store.reachable());
        // Only where every request needs the store does an unreachable one make the instance
        // unready; with bearer tokens still taken, it answers those.
        let replay_needed = self.inner.config.dpop_mode() == DpopMode::Required
            && !self.inner.config.dpop_replay_fail_open();
        Readiness {
            enabled,
            ready: !enabled
                || (keys.fresh
                    && revocation != Some(false)
                    && !(replay_needed && replay == Some(false))),
            keys,
            revocation_current: revocation,
            dpop_replay_reachable: replay,
        }
    }

    /// The number of verified tokens cached now (for monitoring; 0 without a cache).
    pub fn cached_tokens(&self) -> usize {
        self.inner
            .cache
            .as_ref()
            .map_or(0, crate::cache::VerifiedCache::len)
    }

    /// The issuer at `index` (0: the configuration's own).
    fn issuer_at(&self, index: usize) -> IssuerRef<'_> {
        match index.checked_sub(1).and_then(|i| self.inner.others.get(i)) {
            Some(o) => IssuerRef {
                index,
                name: &o.name,
                config: &o.config,
                keys: &o.keys,
                resolver: &o.resolver,
            },
            None => IssuerRef {
                index: 0,
                name: &self.inner.issuer_name,
                config: &self.inner.config,
                keys: &self.inner.keys,
                resolver: &self.inner.resolver,
            },
        }
    }

    /// The trusted issuer whose identifier is exactly `iss`.
    fn issuer_named(&self, iss: &str) -> Option<IssuerRef<'_>> {
        (0..=self.inner.others.len())
            .map(|i| self.issuer_at(i))
            .find(|i| i.config.issuer() == iss)
    }

    /// The signature and every claim check; the claims take the header's `kid` and `typ`
    /// (the application's rule is the caller's to apply).
    async fn verify_jws(
        &self,
        jws: &mut CompactJws<'_>,
        kind: TokenKind,
    ) -> Result<(TokenClaims, Arc<VerifyingKey>, usize), AuthError> {
        // Several issuers: the unverified `iss` only selects whose settings and keys apply;
        // an unknown one is refused here, before any key is looked up or fetched.
        let (issuer, parsed) = if self.inner.others.is_empty() {
            (self.issuer_at(0), None)
        } else {
            let claims = parse_payload(jws)?;
            let issuer = match claims.member("iss") {
                None | Some(Value::Null) => {
                    return Err(AuthError::MissingClaim(Cow::Borrowed("iss")))
                }
                Some(Value::String(iss)) => self.issuer_named(iss),
                Some(_) => None,
            }
            .ok_or(AuthError::WrongIssuer)?;
            (issuer, Some(claims))
        };
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("issuer", issuer.config.issuer());
        }
        let config = issuer.config;
        // Algorithm allowlist before any key lookup: `none`, unknown names and anything not
        // configured stop here.
        let alg = jws
            .algorithm()
            .filter(|a| config.algorithms().contains(*a))
            .ok_or(AuthError::DisallowedAlgorithm)?;
        // RFC 7515 §4.1.11: portcullis understands no extension, so any `crit` is fatal.
        if jws.has_crit {
            return Err(AuthError::UnsupportedCritical);
        }
        // The signature decoded before any key is looked up: garbage never reaches the keys.
        // The usual case (the key set holds the key) is checked at once; the buffer never
        // lives across an await, so the future stays small.
        let verify_with = |key: Option<&VerifyingKey>| {
            let (mut buf, mut heap) = ([0u8; 512], Vec::new());
            let signature =
                crate::b64::decode_segment_buffered(jws.signature_b64, &mut buf, &mut heap)
                    .ok_or(AuthError::Malformed(Malformed::Base64))?;
            // `None`: only whether it is well-formed.
            match key {
                Some(key) if !key.verify(alg, jws.signing_input.as_bytes(), signature) => {
                    Err(AuthError::BadSignature)
                }
                _ => Ok(()),
            }
        };
        let key = match key_now(issuer.keys, jws.kid.as_deref(), alg)? {
            Some(key) => {
                verify_with(Some(&key))?;
                key
            }
            None => {
                // Well-formed before anything is fetched for it.
                verify_with(None)?;
                let key = self.find_key(issuer.keys, jws.kid.as_deref(), alg).await?;
                verify_with(Some(&key))?;
                key
            }
        };
        let claims = match parsed {
            Some(claims) => claims,
            None => parse_payload(jws)?,
        };
        self.check_claims(config, &claims, jws.typ.as_deref(), kind)?;
        self.check_kind(&claims, jws.typ.as_deref(), kind)?;
        #[cfg(feature = "remote")]
        if let Some(revocation) = &self.inner.revocation {
            // `jti` is a required claim whenever revocation is configured.
            let jti = claims
                .member("jti")
                .and_then(Value::as_str)
                .ok_or(AuthError::MissingClaim(Cow::Borrowed("jti")))?;
            revocation.check(jti).await?;
        }
        let claims = TokenClaims::build_lazy(
            claims,
            issuer.resolver,
            jws.kid.take(),
            Some(alg),
            jws.typ.take(),
        )
        .verified_by(issuer.name);
        Ok((claims, key, issuer.index))
    }

    async fn find_key(
        &self,
        source: &Arc<dyn KeySource>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, AuthError> {
        let keys = match source.current() {
            Ok(keys) => keys,
            // No keys at all: the source may fetch (or join a fetch under way), bounded by its
            // timeout and cooldown; otherwise 503.
            Err(unavailable) => source
                .refresh(kid)
                .await
                .ok_or(AuthError::KeysUnavailable {
                    retry_after: unavailable.retry_after,
                })?,
        };
        match keys.find(kid, alg) {
            KeyLookup::Found(key) => return Ok(Arc::clone(key)),
            KeyLookup::Mismatch => return Err(AuthError::KeyMismatch),
            KeyLookup::Unknown => {}
        }
        // Unknown kid: the source may refresh (rate-limited on its side) and try once more.
        let Some(fresh) = source.refresh(kid).await else {
            // Another request's fetch may have brought the key between our look and the
            // refresh (which then declined, within its cooldown): look once more.
            if let Ok(now) = source.current() {
                if !Arc::ptr_eq(&now, &keys) {
                    if let KeyLookup::Found(key) = now.find(kid, alg) {
                        return Ok(Arc::clone(key));
                    }
                }
            }
            return Err(AuthError::UnknownKey);
        };
        match fresh.find(kid, alg) {
            KeyLookup::Found(key) => Ok(Arc::clone(key)),
            KeyLookup::Mismatch => Err(AuthError::KeyMismatch),
            KeyLookup::Unknown => Err(AuthError::UnknownKey),
        }
    }

    /// Agent tokens and callers' tokens kept apart, where the configuration says how.
    fn check_kind(
        &self,
        claims: &Payload,
        typ: Option<&str>,
        kind: TokenKind,
    ) -> Result<(), AuthError> {
        let config = &self.inner.config;
        let is_agent_typ = |want: &str| typ.is_some_and(|t| typ_matches(t, want));
        match (kind, config.agent_require_typ()) {
            (TokenKind::Caller, Some(agent_typ)) if is_agent_typ(agent_typ) => {
                return Err(AuthError::WrongType)
            }
            (TokenKind::Agent, Some(agent_typ)) if !is_agent_typ(agent_typ) => {
                return Err(AuthError::WrongType)
            }
            _ => {}
        }
        if kind == TokenKind::Agent {
            require_present(claims, config.agent_required_claims())?;
        }
        Ok(())
    }

    fn check_claims(
        &self,
        config: &AuthConfig,
        claims: &Payload,
        typ: Option<&str>,
        kind: TokenKind,
    ) -> Result<(), AuthError> {
        require_present(claims, config.required_claims())?;
        let now = self.inner.clock.now_unix();
        let leeway = i64::try_from(config.leeway_seconds()).unwrap_or(i64::MAX);
        // Fractions round toward refusal: `exp` down, `nbf` and `iat` up.
        let [exp, nbf, iat, iss, aud] =
            ["exp", "nbf", "iat", "iss", "aud"].map(|n| claims.member(n));
        let time = |value: Option<&Value>, rounding: Rounding| -> Result<Option<i64>, AuthError> {
            match value {
                None | Some(Value::Null) => Ok(None),
                Some(v) => numeric_date(v, rounding)
                    .map(Some)
                    .ok_or(AuthError::Malformed(Malformed::ClaimType)),
            }
        };
        let exp =
            time(exp, Rounding::Down)?.ok_or(AuthError::MissingClaim(Cow::Borrowed("exp")))?;
        // Saturating: a huge `exp` or `leeway` must not wrap around (jsonwebtoken regression).
        if now >= exp.saturating_add(leeway) {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = time(nbf, Rounding::Up)? {
            if nbf > now.saturating_add(leeway) {
                return Err(AuthError::NotYetValid);
            }
        }
        if let Some(iat) = time(iat, Rounding::Up)? {
            if iat > now.saturating_add(leeway) {
                return Err(AuthError::IssuedInFuture);
            }
        }
        match iss {
            None | Some(Value::Null) => return Err(AuthError::MissingClaim(Cow::Borrowed("iss"))),
            Some(Value::String(iss)) if iss == config.issuer() => {}
            Some(Value::String(iss))
                if iss.trim_end_matches('/') == config.issuer().trim_end_matches('/') =>
            {
                // The commonest misconfiguration (Auth0 issues `https://tenant/`): say so to
                // whoever reads the logs, never in the response.
                tracing::debug!(
                    configured = config.issuer(),
                    "token issuer differs from auth_client.issuer only by a trailing slash; \
                     issuers are compared exactly: write auth_client.issuer as your tokens do"
                );
                return Err(AuthError::WrongIssuer);
            }
            Some(_) => return Err(AuthError::WrongIssuer),
        }
        // No audience configured: the client rule below decides (validation guarantees one
        // of the two). A token that names an audience all the same (an ID token names its
        // client) must name one of those clients: a token for another API is not ours.
        let wanted = if config.audiences().is_empty() {
            config.client_ids()
        } else {
            config.audiences()
        };
        let audience_ok = match aud {
            None | Some(Value::Null) if config.audiences().is_empty() => true,
            None | Some(Value::Null) => return Err(AuthError::MissingClaim(Cow::Borrowed("aud"))),
            Some(Value::String(aud)) => wanted.iter().any(|a| a == aud),
            Some(Value::Array(auds)) => {
                // RFC 7519 §4.1.3: an array of strings; anything else in it is malformed,
                // not skipped.
                let mut names = Vec::with_capacity(auds.len());
                for aud in auds {
                    names.push(
                        aud.as_str()
                            .ok_or(AuthError::Malformed(Malformed::ClaimType))?,
                    );
                }
                names.iter().any(|aud| wanted.iter().any(|a| a == aud))
            }
            Some(_) => false,
        };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }
        if !config.client_ids().is_empty() {
            // The first client-id claim the token carries names its client.
            let client = config
                .client_id_claims()
                .iter()
                .find_map(|name| claims.member(name));
            match client {
                None | Some(Value::Null) => return Err(AuthError::WrongClient),
                Some(Value::String(id)) if config.client_ids().iter().any(|c| c == id) => {}
                Some(_) => return Err(AuthError::WrongClient),
            }
        }
        for (name, want) in config.required_claim_values() {
            let holds = match claims.member(name) {
                Some(Value::String(v)) => v == want,
                Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(want)),
                Some(Value::Bool(b)) => b.to_string() == *want,
                Some(Value::Number(n)) => n.to_string() == *want,
                _ => false,
            };
            if !holds {
                tracing::debug!(
                    claim = name.as_str(),
                    "a required claim value does not match"
                );
                return Err(AuthError::WrongClaimValue);
            }
        }
        // `require_typ` is the callers' type; an agent token's is `agent_require_typ` when
        // one is set (checked in `check_kind`).
        let checked_as_agent = kind == TokenKind::Agent && config.agent_require_typ().is_some();
        if let Some(required) = config.require_typ().filter(|_| !checked_as_agent) {
            if !typ.is_some_and(|t| typ_matches(t, required)) {
                return Err(AuthError::WrongType);
            }
        }
        Ok(())
    }
}

/// The payload of a compact JWS: a JSON object, strictly (no duplicate member names).
fn parse_payload(jws: &CompactJws<'_>) -> Result<Payload, AuthError> {
    // On the heap: a zeroed stack buffer of a typical payload's size measured slower here
    // (it is written on every call, in the middle of the signature check's working set);
    // the claims keep it.
    let text = crate::b64::decode_segment(jws.payload_b64)
        .ok_or(AuthError::Malformed(Malformed::Base64))?;
    match Payload::parse(text) {
        Ok(claims) => Ok(claims),
        // Tell a duplicate apart from other garbage, for the log.
        Err(text) => match serde_json::from_slice::<Map<String, Value>>(&text) {
            Ok(_) => Err(AuthError::Malformed(Malformed::DuplicateMember)),
            Err(_) => Err(AuthError::Malformed(Malformed::Payload)),
        },
    }
}

/// The caller's token of a request: from `Authorization: Bearer`, or from the one other
/// configured source that carries one; two tokens in one request are `invalid_request`.
fn caller_token<'a>(
    credentials: &RequestCredentials<'a>,
    max_len: usize,
    dpop: bool,
) -> Result<&'a str, AuthError> {
    caller_token_from(credentials, max_len, dpop).map(|(token, _, _)| token)
}

/// [`caller_token`] and where it came from.
fn caller_token_from<'a>(
    credentials: &RequestCredentials<'a>,
    max_len: usize,
    dpop: bool,
) -> Result<(&'a str, TokenSource, Scheme), AuthError> {
    match credentials.other_token {
        AuthorizationHeader::Absent => scheme_credential(credentials.authorization, max_len, dpop)
            .map(|(t, scheme)| (t, TokenSource::AuthorizationHeader, scheme)),
        AuthorizationHeader::Several => Err(AuthError::InvalidRequest),
        AuthorizationHeader::One(_) if credentials.authorization != AuthorizationHeader::Absent => {
            Err(AuthError::InvalidRequest)
        }
        AuthorizationHeader::One(value) => {
            // Where exactly one other token was found, its source is known; anything else
            // would be a bug in the adapter: refuse rather than guess.
            let source = credentials.other_source.ok_or(AuthError::InvalidRequest)?;
            bare_token(value, max_len).map(|t| (t, source, Scheme::Bearer))
        }
    }
}

/// The key for `kid` and `alg` in `source`'s key set as it is now: `None` when it must be
/// fetched (no keys yet, or an unknown `kid`), which `Authenticator::find_key` does.
fn key_now(
    source: &Arc<dyn KeySource>,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Option<Arc<VerifyingKey>>, AuthError> {
    let Ok(keys) = source.current() else {
        return Ok(None);
    };
    match keys.find(kid, alg) {
        KeyLookup::Found(key) => Ok(Some(Arc::clone(key))),
        KeyLookup::Mismatch => Err(AuthError::KeyMismatch),
        KeyLookup::Unknown => Ok(None),
    }
}

/// Every one of `names` present and not `null`.
fn require_present(claims: &Payload, names: &[String]) -> Result<(), AuthError> {
    match names
        .iter()
        .find(|name| claims.member(name).is_none_or(Value::is_null))
    {
        Some(name) => Err(AuthError::MissingClaim(Cow::Owned(name.clone()))),
        None => Ok(()),
    }
}

/// What [`Authenticator::lookup`] found.
enum Lookup {
    /// Answered: refused before any check, or a cache hit.
    Done(Result<TokenClaims, AuthError>),
    /// A cache hit whose revocation is still to check.
    #[cfg(feature = "remote")]
    Revocation(crate::cache::Entry),
    /// Verify it in full.
    Miss,
}

/// Which header a token came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// `Authorization` (or a bare token given to `verify_token`).
    Caller,
    /// `X-Agent-Authorization`.
    Agent,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Agent => "agent",
        }
    }
}

/// RFC 7515 §4.1.9: media types compare case-insensitively and `application/` may be omitted.
pub(crate) fn typ_matches(got: &str, want: &str) -> bool {
    let strip = |s: &str| -> String {
        let lower = s.to_ascii_lowercase();
        lower
            .strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(lower)
    };
    strip(got) == strip(want)
}

/// A token's `kid` as it may appear in a log: token data, so bounded and printable.
fn loggable(kid: Option<&str>) -> Option<String> {
    kid.map(|k| {
        let mut shown: String = k
            .chars()
            .take(64)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        if k.chars().count() > 64 {
            shown.push('…');
        }
        shown
    })
}

/// Writes `message` to standard error when the application has installed no `tracing`
/// subscriber, so that what must not go unnoticed (authentication disabled, keys that cannot
/// be loaded) is seen even then. With a subscriber, the `tracing` event says it.
pub(crate) fn loud(message: &str) {
    if !tracing::dispatcher::has_been_set() {
        eprintln!("portcullis: {message}");
    }
}

/// What [`Authenticator::readiness`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// Ready to verify tokens (always `true` when authentication is disabled).
    pub ready: bool,
    /// `auth_client.enabled`.
    pub enabled: bool,
    /// The state of the key source.
    pub keys: crate::keys::KeyStatus,
    /// Whether the revocation list is current; `None` without revocation.
    pub revocation_current: Option<bool>,
    /// Whether the DPoP replay store answered its last call; `None` without DPoP. With
    /// `dpop: required` (and no fail-open), an unreachable store makes the instance unready.
    pub dpop_replay_reachable: Option<bool>,
}

impl Readiness {
    /// Keys that can verify a token are available (perhaps stale, within
    /// `jwks_max_stale_seconds`).
    pub fn keys_usable(&self) -> bool {
        !self.enabled || self.keys.loaded
    }

    /// A JSON body for a health endpoint: `{"ready", "enabled", "keys": {"loaded", "fresh",
    /// "age_seconds", "last_error"}, "revocation_current", "dpop_replay_reachable"}`. It
    /// carries no secret.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "ready": self.ready,
            "enabled": self.enabled,
            "keys": {
                "loaded": self.keys.loaded,
                "fresh": self.keys.fresh,
                "age_seconds": self.keys.age_seconds,
                "last_error": self.keys.last_error,
            },
            "revocation_current": self.revocation_current,
            "dpop_replay_reachable": self.dpop_replay_reachable,
        })
    }
}

/// An accepted token: counted, and its `kid` and `sub` on the current span.
fn accepted(claims: &TokenClaims, cached: bool) {
    // Literal labels: the key is static, nothing is allocated on the hot path.
    if cached {
        metrics::counter!("portcullis_decisions_total", "outcome" => "accepted", "reason" => "cached")
            .increment(1);
    } else {
        metrics::counter!("portcullis_decisions_total", "outcome" => "accepted", "reason" => "verified")
            .increment(1);
    }
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    span.record("outcome", "accepted").record("cached", cached);
    if let Some(kid) = loggable(claims.key_id()) {
        span.record("kid", kid.as_str());
    }
    if let Some(sub) = loggable(claims.sub()) {
        span.record("sub", sub.as_str());
    }
}

/// Counts one decision: `outcome` is `accepted`, `rejected`, `denied` or `unavailable`.
pub(crate) fn count_decision(outcome: &'static str, reason: &'static str) {
    metrics::counter!("portcullis_decisions_total", "outcome" => outcome, "reason" => reason)
        .increment(1);
}

fn log_rejection(e: &AuthError, kid: Option<&str>) {
    let outcome = match e {
        AuthError::KeysUnavailable { .. } | AuthError::RevocationUnavailable { .. } => {
            "unavailable"
        }
        _ if e.status() == 403 => "denied",
        _ => "rejected",
    };
    count_decision(outcome, e.reason());
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record("outcome", outcome).record("reason", e.reason());
    }
    let kid = loggable(kid);
    let kid = kid.as_deref();
    match e {
        AuthError::KeysUnavailable { .. } | AuthError::RevocationUnavailable { .. } => {
            tracing::warn!(
                outcome = "unavailable",
                reason = e.reason(),
                kid,
                "no verification keys"
            )
        }
        AuthError::MissingToken => {
            tracing::debug!(outcome = "rejected", reason = e.reason(), "no bearer token")
        }
        // What was wrong with a DPoP proof is logged (a category), never answered.
        AuthError::InvalidDpopProof(problem) => tracing::info!(
            outcome = "rejected",
            reason = e.reason(),
            dpop_problem = problem.as_str(),
            kid,
            "DPoP proof rejected"
        ),
        _ => tracing::info!(
            outcome = "rejected",
            reason = e.reason(),
            kid,
            "token rejected"
        ),
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
