//! `portcullis verify`: the adapters' verification, with the reason when it refuses.

use crate::output::{fingerprint, now, read_token, refusal, when, Failure, Output, CONFIG, OK};
use portcullis_core::{AuthConfig, AuthError, Authenticator, TokenClaims};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `verify`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The application's configuration (its `auth_client` section; `AUTH_CLIENT__*`
    /// variables apply too). The other options override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The issuer (`iss`), when no configuration file is given.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// An accepted audience (repeat for several).
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,
    /// Keys from this JWKS file or URL instead of OIDC discovery.
    #[arg(long, value_name = "FILE|URL")]
    jwks: Option<String>,
    /// An accepted algorithm (repeat for several; default RS256).
    #[arg(long = "alg", value_name = "ALG")]
    algorithms: Vec<String>,
    /// A DPoP proof (RFC 9449) to check the token with, sent as `Authorization: DPoP`:
    /// with `--url` (and `--method`), what the request would carry.
    #[arg(long, value_name = "PROOF", requires = "url")]
    dpop_proof: Option<String>,
    /// The request's URL, for `--dpop-proof`.
    #[arg(long)]
    url: Option<String>,
    /// The request's method, for `--dpop-proof`.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The token, or `-` to read it from standard input.
    token: String,
}

fn config(args: &Args) -> Result<AuthConfig, Failure> {
    let mut b = match &args.config {
        Some(path) => AuthConfig::builder().yaml_file(path).env(),
        None => AuthConfig::builder(),
    };
    if let Some(issuer) = &args.issuer {
        b = b.issuer(issuer);
    }
    if !args.audience.is_empty() {
        b = b.audiences(&args.audience);
    }
    if let Some(jwks) = &args.jwks {
        b = if jwks.starts_with("https://") || jwks.starts_with("http://") {
            b.jwks_endpoint(jwks)
        } else {
            b.jwks_file(jwks)
        };
    }
    if !args.algorithms.is_empty() {
        b = b.accepted_algorithms(&args.algorithms);
    }
    if args.dpop_proof.is_some() {
        b = b.dpop(portcullis_core::dpop::DpopMode::Allowed);
    }
    b.build().map_err(|e| Failure {
        code: CONFIG,
        message: format!("invalid configuration: {e}"),
    })
}

pub(crate) async fn run(args: Args, out: &Output) -> Result<u8, Failure> {
    let token = read_token(&args.token)?;
    let config = config(&args)?;
    let issuer = config.issuer().to_owned();
    let authenticator = Authenticator::builder(config)
        .build()
        .map_err(|e| Failure {
            code: CONFIG,
            message: format!("cannot set up verification: {e}"),
        })?;
    let token_name = fingerprint(&token);
    let verified = match (&args.dpop_proof, &args.url) {
        (Some(proof), Some(url)) => {
            let url =
                url::Url::parse(url).map_err(|e| Failure::input(format!("--url {url:?}: {e}")))?;
            let authority = match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_owned(),
                (None, _) => return Err(Failure::input("--url has no host")),
            };
            let authorization = format!("DPoP {token}");
            let mut credentials = portcullis_core::RequestCredentials::new(
                authorization.as_str().into(),
                portcullis_core::AuthorizationHeader::Absent,
            );
            credentials.dpop = portcullis_core::DpopRequest {
                proofs: portcullis_core::AuthorizationHeader::One(proof.as_bytes()),
                method: Some(&args.method),
                path: Some(url.path()),
                authority: Some(&authority),
            };
            authenticator.authenticate_credentials(&credentials).await
        }
        _ => authenticator.verify_token(&token).await,
    };
    match verified {
        Ok(claims) => {
            accepted(out, &claims, &issuer, &token_name);
            Ok(OK)
        }
        Err(error) => {
            refused(out, &error, &issuer, &token_name);
            Ok(refusal(error.reason()).0)
        }
    }
}

fn accepted(out: &Output, claims: &TokenClaims, issuer: &str, token: &str) {
    let now = now();
    let exp = claims.expires_at().map(|e| when(e, now));
    let value = json!({
        "verified": true,
        "token": token,
        "issuer_settings": issuer,
        "sub": claims.sub(),
        "roles": claims.roles(),
        "groups": claims.groups(),
        "scopes": claims.scopes(),
        "expires_at": exp.as_ref().map(|e| &e.0),
        "expires": exp.as_ref().map(|e| &e.1),
        "alg": claims.algorithm().map(|a| a.as_str()),
        "kid": claims.key_id(),
    });
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    let text = format!(
        "VERIFIED  {token}\n  issuer    {issuer} (its settings were used)\n  sub       {}\n  roles     {}\n  groups    {}\n  scopes    {}\n  expires   {}\n  key       {} ({})\n",
        claims.sub().unwrap_or("-"),
        list(claims.roles()),
        list(claims.groups()),
        list(claims.scopes()),
        exp.map_or_else(|| "-".to_owned(), |(date, rel)| format!("{date} ({rel})")),
        claims.key_id().unwrap_or("no kid"),
        claims.algorithm().map_or("-", |a| a.as_str()),
    );
    out.print(&value, &text);
}

fn refused(out: &Output, error: &AuthError, issuer: &str, token: &str) {
    let (code, category, hint) = refusal(error.reason());
    let rfc6750 = error
        .www_authenticate()
        .and_then(|v| {
            v.split("error=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            if error.status() == 503 {
                "none (503)".to_owned()
            } else {
                "none (no credentials)".to_owned()
            }
        });
    let value = json!({
        "verified": false,
        "token": token,
        "issuer_settings": issuer,
        "category": category,
        "reason": error.reason(),
        "rfc6750_error": rfc6750,
        "status": error.status(),
        "detail": error.detail(),
        "check": hint,
        "exit_code": code,
    });
    let text = format!(
        "REFUSED   {token}\n  issuer    {issuer} (its settings were used)\n  category  {category} ({})\n  answer    {} {rfc6750}: {}\n  check     {hint}\n",
        error.reason(),
        error.status(),
        error.detail(),
    );
    out.print(&value, &text);
}
