//! The gRPC example: `greet.Greeter` behind the portcullis gate, with an embedded development
//! issuer that prints ready tokens.
//!
//! `cargo run -p portcullis-examples --bin grpc-api -- [--port 50051] [--issuer-port 9401]`

use clap::Parser;
use portcullis_core::{AuthConfig, Authenticator};
use portcullis_examples::dev_issuer::DevIssuer;
use portcullis_examples::grpc;

/// greet.Greeter over gRPC, protected by portcullis.
#[derive(Parser)]
#[command(name = "grpc-api", version, about)]
struct Args {
    /// The loopback port of the gRPC server.
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// The port of the embedded development issuer.
    #[arg(long, default_value_t = 9401)]
    issuer_port: u16,
}

const AUDIENCE: &str = "greeter";

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dev = DevIssuer::start(args.issuer_port)
        .await
        .unwrap_or_else(|e| {
            eprintln!(
                "cannot start the development issuer on port {}: {e}",
                args.issuer_port
            );
            std::process::exit(1);
        });
    let config = AuthConfig::builder()
        .issuer(format!("http://127.0.0.1:{}", args.issuer_port))
        .audience(AUDIENCE)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1);
        });
    let authenticator = Authenticator::builder(config).build().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    let address = format!("127.0.0.1:{}", args.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {address}: {e} (choose another with --port)");
            std::process::exit(1);
        });
    println!("greet.Greeter (gRPC) listening on {address}");
    println!(
        "*** DEVELOPMENT ISSUER on 127.0.0.1:{} — for local testing only ***",
        args.issuer_port
    );
    for (who, roles) in [
        ("user", &[][..]),
        ("admin", &["admin"][..]),
        ("editor", &["editor"][..]),
    ] {
        let token = dev.token(
            AUDIENCE,
            &format!("{who}-1"),
            &format!("{who}@example.com"),
            roles,
        );
        println!("{who:<7} token: {token}");
    }
    println!(
        "call it with any gRPC client, the token in the `authorization: Bearer <token>` metadata: \
         SayHello needs a token, AdminStats the admin role, Countdown (streaming) editor or admin"
    );
    if let Err(e) = grpc::serve(authenticator, listener).await {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
