//! `portcullis check-config`: the start-up validation of a configuration file.

use crate::output::{Failure, Output, CONFIG, OK};
use portcullis_core::AuthConfig;
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `check-config`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The configuration file (its `auth_client` section; `AUTH_CLIENT__*` variables apply).
    file: PathBuf,
}

pub(crate) fn run(args: &Args, out: &Output) -> Result<u8, Failure> {
    match AuthConfig::builder().yaml_file(&args.file).env().build() {
        Ok(config) => {
            let keys = |c: &AuthConfig| {
                c.jwks_file().map_or_else(
                    || {
                        c.jwks_endpoint()
                            .map_or("OIDC discovery".to_owned(), |url| {
                                // A key-set URL may carry a credential in its query.
                                portcullis_core::config::redact_url(url)
                            })
                    },
                    |f| f.display().to_string(),
                )
            };
            let issuers: Vec<_> = config
                .issuers()
                .map(|c| {
                    json!({
                        "issuer": c.issuer(),
                        "audiences": c.audiences(),
                        "client_ids": c.client_ids(),
                        "keys": keys(c),
                    })
                })
                .collect();
            // The replay store's URL may hold a password: its host only.
            let replay = config.dpop_replay_redis_url().map_or_else(
                || "in memory".to_owned(),
                |url| {
                    format!(
                        "redis {}",
                        portcullis_core::config::redact_url(url.expose())
                    )
                },
            );
            let dpop = config.dpop_mode();
            let value = json!({
                "valid": true,
                "issuer": config.issuer(),
                "audiences": config.audiences(),
                "keys": keys(&config),
                "issuers": issuers,
                "enabled": config.enabled(),
                "dpop": dpop.as_str(),
                "dpop_replay": (dpop != portcullis_core::dpop::DpopMode::Off).then_some(&replay),
            });
            let mut text = format!("{}: valid\n", args.file.display());
            for c in config.issuers() {
                text.push_str(&format!(
                    "  issuer     {}\n  audiences  {}\n",
                    c.issuer(),
                    c.audiences().join(", ")
                ));
                if !c.client_ids().is_empty() {
                    text.push_str(&format!("  clients    {}\n", c.client_ids().join(", ")));
                }
                text.push_str(&format!("  keys       {}\n", keys(c)));
            }
            text.push_str(&format!("  enabled    {}\n", config.enabled()));
            if dpop != portcullis_core::dpop::DpopMode::Off {
                text.push_str(&format!(
                    "  dpop       {} (replay store: {replay})\n",
                    dpop.as_str()
                ));
            }
            out.print(&value, &text);
            Ok(OK)
        }
        Err(error) => {
            let problems: Vec<_> = error
                .problems()
                .iter()
                .map(|p| json!({ "key": p.key(), "problem": p.message() }))
                .collect();
            let mut text = format!("{}: {} problem(s)\n", args.file.display(), problems.len());
            for p in error.problems() {
                text.push_str(&format!("  {} {}\n", p.key(), p.message()));
            }
            if out.json() {
                println!("{}", json!({ "valid": false, "problems": problems }));
            } else {
                eprint!("{text}");
            }
            Ok(CONFIG)
        }
    }
}
