//! `portcullis dev-issuer`: a development issuer on loopback. Never for anything real:
//! anyone who can reach it can mint its tokens.

use crate::output::{Failure, Output, OK};
use portcullis_core::testkit::{TestIssuer, TestKey};
use serde_json::json;

/// Arguments of `dev-issuer`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The loopback port (0: any free port).
    #[arg(long, default_value_t = 9400)]
    port: u16,
    /// The audience of the tokens its token endpoint mints.
    #[arg(long, default_value = "my-api")]
    audience: String,
}

pub(crate) async fn run(args: Args, out: &Output) -> Result<u8, Failure> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| Failure::input(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let key = TestKey::rsa("dev-key-1");
    let issuer = TestIssuer::start_on(listener, &[&key]);
    issuer.serve_tokens(key, &args.audience);
    let base = issuer.issuer();
    let value = json!({
        "issuer": base,
        "discovery": format!("{base}/.well-known/openid-configuration"),
        "jwks_uri": issuer.jwks_url(),
        "token_endpoint": issuer.token_url(),
        "audience": args.audience,
    });
    let text = format!(
        "DEVELOPMENT issuer (anyone who can reach it can mint tokens)\n  issuer     {base}\n  discovery  {base}/.well-known/openid-configuration\n  jwks       {}\n  tokens     curl '{}?sub=user-1&roles=admin'\n  configure  auth_client: {{issuer: {base}, audience: {}}}\nCtrl-C stops it.\n",
        issuer.jwks_url(),
        issuer.token_url(),
        args.audience
    );
    out.print(&value, &text);
    let _ = tokio::signal::ctrl_c().await;
    Ok(OK)
}
