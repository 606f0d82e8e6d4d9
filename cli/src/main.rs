//! `portcullis`: the portcullis core on the command line. Ask why a token is refused
//! (`verify`), look inside one without trusting it (`inspect`), make development keys and
//! tokens (`keygen`, `mint`), check a configuration (`check-config`), and run a development
//! issuer (`dev-issuer`). Every command takes `--json`. A token given as an argument is never
//! printed in full: output names it by a short fingerprint.

mod check_config;
mod dev_issuer;
mod inspect;
mod keys;
mod output;
mod verify;

use clap::{Parser, Subcommand};
use output::{Failure, Output};
use std::process::ExitCode;

/// portcullis: verify, inspect and mint OAuth2 / OIDC bearer tokens.
#[derive(Parser)]
#[command(name = "portcullis", version, about, long_about = None)]
struct Cli {
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a token exactly as the adapters do; on refusal, say why and what to check.
    Verify(verify::Args),
    /// Decode a token WITHOUT verifying it; flag dangerous headers.
    Inspect(inspect::Args),
    /// Generate a development key pair: a private key and its public JWKS.
    Keygen(keys::KeygenArgs),
    /// Mint a development token with a key made by `keygen`.
    Mint(keys::MintArgs),
    /// Sign a DPoP proof (RFC 9449) for one request with a key made by `keygen`.
    DpopProof(keys::DpopProofArgs),
    /// Validate a configuration file as the application would at start-up.
    CheckConfig(check_config::Args),
    /// Run a development issuer on loopback (discovery, JWKS, a token endpoint).
    DevIssuer(dev_issuer::Args),
}

/// Usage errors quote the offending argument: when that argument is a token (given in the
/// wrong place), print its fingerprint instead.
fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|error| {
        use clap::error::ErrorKind;
        if matches!(
            error.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        ) {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        let text = error.render().to_string();
        let redacted: String = text
            .split_inclusive(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .map(|piece| {
                let word =
                    piece.trim_end_matches(|c: char| c.is_whitespace() || c == '\'' || c == '"');
                if output::looks_like_token(word) {
                    piece.replacen(word, &output::fingerprint(word), 1)
                } else {
                    piece.to_owned()
                }
            })
            .collect();
        eprint!("{redacted}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return out.fail(&Failure::input(format!("cannot start: {e}"))),
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Verify(args) => verify::run(args, &out).await,
            Command::Inspect(args) => inspect::run(&args, &out),
            Command::Keygen(args) => keys::keygen(&args, &out),
            Command::Mint(args) => keys::mint(&args, &out),
            Command::DpopProof(args) => keys::dpop_proof(&args, &out),
            Command::CheckConfig(args) => check_config::run(&args, &out),
            Command::DevIssuer(args) => dev_issuer::run(args, &out).await,
        }
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => out.fail(&failure),
    }
}
