//! The Protected API of `docs/tutorial.md`.
//!
//! `cargo run -p portcullis-examples --bin protected-api -- [--framework axum|actix|warp]
//! [--port 8000] [--issuer-port 9400] [--config application.yaml]` (`--help` lists them).

use clap::Parser;
use portcullis_core::{AuthConfig, Authenticator};
use portcullis_examples::apps::{self, Framework};
use portcullis_examples::dev_issuer::{DevIssuer, DEV_ISSUER};
use std::path::PathBuf;

/// The Protected API of docs/tutorial.md, protected by portcullis.
#[derive(Parser)]
#[command(name = "protected-api", version, about)]
struct Args {
    /// The web framework to serve it with.
    #[arg(long, value_enum, default_value = "axum")]
    framework: Framework,
    /// The loopback port of the API.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The configuration file (its `auth_client` section).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/application.yaml"))]
    config: PathBuf,
    /// The port of the embedded development issuer (used when the configuration's issuer is
    /// the development one, http://127.0.0.1:9400).
    #[arg(long, default_value_t = 9400)]
    issuer_port: u16,
}

fn main() {
    let args = Args::parse();
    let mut config = AuthConfig::builder().yaml_file(&args.config).env();
    let file_issuer = AuthConfig::load(&args.config).map(|c| c.issuer().to_owned());
    let dev_issuer = format!("http://127.0.0.1:{}", args.issuer_port);
    let uses_dev = file_issuer.as_deref() == Ok(DEV_ISSUER);
    if uses_dev {
        config = config.issuer(&dev_issuer);
    }
    let config = match config.build() {
        Ok(c) => c,
        Err(e) => {
            // Fail fast: no silent authentication bypass.
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dev = if uses_dev {
        match runtime.block_on(DevIssuer::start(args.issuer_port)) {
            Ok(dev) => Some(dev),
            Err(e) => {
                eprintln!("cannot start the development issuer on {dev_issuer}: {e} (choose another with --issuer-port)");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let audience = config.audiences().first().cloned().unwrap_or_default();
    let address = format!("127.0.0.1:{}", args.port);
    let base = format!("http://{address}");
    let std_listener = std::net::TcpListener::bind(&address).unwrap_or_else(|e| {
        eprintln!("cannot listen on {address}: {e} (choose another with --port)");
        std::process::exit(1);
    });
    std_listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    // The banner and the curl block first, whole; logs only after them.
    println!("Protected API ({:?}) listening on {base}", args.framework);
    if let Some(dev) = &dev {
        println!("\n*** DEVELOPMENT ISSUER running in-process at {dev_issuer} — for local testing only ***\n");
        println!("{}", dev.curl_lines(&base, &audience));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let authenticator = {
        let _guard = runtime.enter();
        Authenticator::builder(config).build().unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1);
        })
    };
    let result = match args.framework {
        Framework::Axum => runtime.block_on(async {
            apps::axum::serve(
                authenticator,
                tokio::net::TcpListener::from_std(std_listener)?,
            )
            .await
        }),
        Framework::Warp => runtime.block_on(async {
            apps::warp::serve(
                authenticator,
                tokio::net::TcpListener::from_std(std_listener)?,
            )
            .await;
            Ok(())
        }),
        // actix-web runs its own system; the dev issuer keeps running on the tokio runtime.
        Framework::Actix => apps::actix::serve(authenticator, std_listener),
    };
    if let Err(e) = result {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
