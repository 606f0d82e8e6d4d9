//! The tutorial's Protected API.
//!
//! `cargo run -p portcullis-examples --bin protected-api -- [--framework axum|actix|warp]
//! [--port 8000] [--config application.yaml]`

use portcullis_core::{AuthConfig, Authenticator};
use portcullis_examples::apps::{self, Framework};
use portcullis_examples::dev_issuer::{DevIssuer, DEV_ISSUER};
use std::path::PathBuf;

struct Args {
    framework: Framework,
    port: u16,
    config: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        framework: Framework::Axum,
        port: 8000,
        config: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/application.yaml")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--framework" => args.framework = value("--framework")?.parse()?,
            "--port" => args.port = value("--port")?.parse().map_err(|_| "--port needs a number".to_owned())?,
            "--config" => args.config = PathBuf::from(value("--config")?),
            "-h" | "--help" => {
                return Err("usage: protected-api [--framework axum|actix|warp] [--port 8000] [--config application.yaml]".into())
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(args)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let config = match AuthConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            // Fail fast: no silent authentication bypass.
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dev = if config.issuer() == DEV_ISSUER {
        match runtime.block_on(DevIssuer::start()) {
            Ok(dev) => Some(dev),
            Err(e) => {
                eprintln!("cannot start the development issuer on {DEV_ISSUER}: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let audience = config.audiences().first().cloned().unwrap_or_default();
    let authenticator = {
        let _guard = runtime.enter();
        Authenticator::builder(config).build().unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1);
        })
    };
    let address = format!("127.0.0.1:{}", args.port);
    let base = format!("http://{address}");
    let std_listener = std::net::TcpListener::bind(&address).unwrap_or_else(|e| {
        eprintln!("cannot listen on {address}: {e}");
        std::process::exit(1);
    });
    std_listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    println!("Protected API ({:?}) listening on {base}", args.framework);
    if let Some(dev) = &dev {
        println!("\n*** DEVELOPMENT ISSUER running in-process at {DEV_ISSUER} — for local testing only ***\n");
        println!("{}", dev.curl_lines(&base, &audience));
    }
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
