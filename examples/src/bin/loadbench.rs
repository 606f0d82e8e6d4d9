//! Requests per second of the Protected API's `GET /api/me`, side by side: each adapter with
//! portcullis (verified-token cache on, and off) and the same application without any auth,
//! on loopback, each server with one worker, driven by an in-process HTTP/1.1 load generator
//! with keep-alive connections. Rounds are interleaved (every target once per round) and the
//! medians are printed, with the ratios that `BENCHMARKS.md` quotes.
//!
//! `cargo run --release -p portcullis-examples --bin loadbench -- [--seconds 3] [--rounds 5]
//! [--connections 16]`
//!
//! The generator is written here rather than taken from `oha` or `wrk` so that the command
//! needs nothing installed and every target is driven by exactly the same client code.

use clap::Parser;
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, Authenticator, StaticKeys};
use portcullis_examples::apps;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISSUER: &str = "https://issuer.loadbench";
const AUDIENCE: &str = "api";

/// Load test of the Protected API in each framework, with and without portcullis.
#[derive(Parser)]
#[command(name = "loadbench", version, about)]
struct Args {
    /// Seconds each target is driven in each round.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Rounds (every target once per round; medians over rounds are printed).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Concurrent keep-alive connections (at most 256).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    connections: u16,
    /// Only the targets whose name contains this (e.g. `axum`), for profiling one of them.
    #[arg(long)]
    only: Option<String>,
}

/// One server under test.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// Whether it checks tokens (a 200 is then proof of a verified caller).
    authenticated: bool,
}

/// What one round of one target measured.
#[derive(Clone, Copy)]
struct Sample {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

fn main() {
    let args = Args::parse();
    let key = TestKey::rsa("loadbench");
    let jwks = TestKey::jwks(&[&key]);
    let authenticator = |cache: bool| {
        let mut config = AuthConfig::builder().issuer(ISSUER).audience(AUDIENCE);
        if !cache {
            config = config.cache_max_entries(0);
        }
        Authenticator::builder(config.build().expect("configuration"))
            .key_source(StaticKeys::from_jwks(&jwks).expect("jwks"))
            .build()
            .expect("authenticator")
    };
    let token = TokenBuilder::new(&key)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .subject("user-123")
        .claim("email", serde_json::json!("user@example.com"))
        .claim("org_id", serde_json::json!("org-1"))
        .roles(&["admin"])
        .lifetime(24 * 3600)
        .sign();

    let targets = vec![
        Target {
            name: "axum, no auth",
            addr: servers::axum_baseline(),
            authenticated: false,
        },
        Target {
            name: "axum + portcullis, cache",
            addr: servers::axum(authenticator(true)),
            authenticated: true,
        },
        Target {
            name: "axum + portcullis, no cache",
            addr: servers::axum(authenticator(false)),
            authenticated: true,
        },
        Target {
            name: "actix, no auth",
            addr: servers::actix_baseline(),
            authenticated: false,
        },
        Target {
            name: "actix + portcullis, cache",
            addr: servers::actix(authenticator(true)),
            authenticated: true,
        },
        Target {
            name: "warp, no auth",
            addr: servers::warp_baseline(),
            authenticated: false,
        },
        Target {
            name: "warp + portcullis, cache",
            addr: servers::warp(authenticator(true)),
            authenticated: true,
        },
    ];

    let targets: Vec<Target> = match &args.only {
        Some(only) => targets
            .into_iter()
            .filter(|t| t.name.contains(only.as_str()))
            .collect(),
        None => targets,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let duration = Duration::from_secs_f64(args.seconds.max(0.05));
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
    eprintln!(
        "{} targets × {} rounds × {:.1} s, {} connections",
        targets.len(),
        args.rounds,
        duration.as_secs_f64(),
        args.connections
    );
    for round in 0..args.rounds.max(1) {
        for (target, samples) in targets.iter().zip(samples.iter_mut()) {
            let sample = runtime
                .block_on(drive(target, &token, args.connections, duration))
                .unwrap_or_else(|e| panic!("{}: {e}", target.name));
            eprintln!(
                "round {}: {:<30} {:>9.0} req/s",
                round + 1,
                target.name,
                sample.rps
            );
            samples.push(sample);
        }
    }

    let medians: Vec<Sample> = samples.iter().map(|s| median(s)).collect();
    println!(
        "\n{:<30} {:>10} {:>10} {:>10}",
        "target (GET /api/me)", "req/s", "p50 µs", "p99 µs"
    );
    for (target, m) in targets.iter().zip(&medians) {
        println!(
            "{:<30} {:>10.0} {:>10.0} {:>10.0}",
            target.name, m.rps, m.p50_us, m.p99_us
        );
    }
    let rps = |name: &str| {
        targets
            .iter()
            .position(|t| t.name == name)
            .map_or(f64::NAN, |i| medians[i].rps)
    };
    println!("\nratios (req/s, medians of this run):");
    for (with, without) in [
        ("axum + portcullis, cache", "axum, no auth"),
        ("axum + portcullis, no cache", "axum, no auth"),
        ("actix + portcullis, cache", "actix, no auth"),
        ("warp + portcullis, cache", "warp, no auth"),
    ] {
        println!(
            "  {with:<30} / {without:<16} {:>6.2}",
            rps(with) / rps(without)
        );
    }
    let adapters = [
        rps("axum + portcullis, cache"),
        rps("actix + portcullis, cache"),
        rps("warp + portcullis, cache"),
    ];
    let (lo, hi) = adapters
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    println!(
        "  slowest adapter / fastest adapter (cache)      {:>6.2}",
        lo / hi
    );
}

fn median(samples: &[Sample]) -> Sample {
    let pick = |f: fn(&Sample) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Sample {
        rps: pick(|s| s.rps),
        p50_us: pick(|s| s.p50_us),
        p99_us: pick(|s| s.p99_us),
    }
}

/// Drives `target` with `connections` keep-alive connections for `duration`.
async fn drive(
    target: &Target,
    token: &str,
    connections: u16,
    duration: Duration,
) -> std::io::Result<Sample> {
    let request = format!(
        "GET /api/me HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
        target.addr
    )
    .into_bytes();
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let request = request.clone();
        let addr = target.addr;
        tasks.spawn(async move { connection(addr, &request, deadline).await });
    }
    let started = Instant::now();
    let mut latencies: Vec<u32> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let mut one = done.map_err(std::io::Error::other)??;
        latencies.append(&mut one);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if latencies.is_empty() {
        return Err(std::io::Error::other("no request completed"));
    }
    let _ = target.authenticated;
    latencies.sort_unstable();
    let at = |q: f64| f64::from(latencies[((latencies.len() - 1) as f64 * q) as usize]);
    Ok(Sample {
        rps: latencies.len() as f64 / elapsed,
        p50_us: at(0.50),
        p99_us: at(0.99),
    })
}

/// One keep-alive connection: request after request until `deadline`; the latency of each,
/// in microseconds. Anything but a `200` is an error (the token must have been accepted).
async fn connection(
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
) -> std::io::Result<Vec<u32>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut latencies = Vec::with_capacity(4096);
    let mut buf = vec![0u8; 16 * 1024];
    while Instant::now() < deadline {
        let start = Instant::now();
        stream.write_all(request).await?;
        read_response(&mut stream, &mut buf).await?;
        latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    Ok(latencies)
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; its status must be 200.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    let head_end = loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        filled += n;
        if let Some(i) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if filled == buf.len() {
            return Err(std::io::Error::other("response head too large"));
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(std::io::Error::other)?;
    if !head.starts_with("HTTP/1.1 200") {
        let status = head.lines().next().unwrap_or_default().to_owned();
        return Err(std::io::Error::other(format!(
            "unexpected answer: {status}"
        )));
    }
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .ok_or_else(|| std::io::Error::other("no content-length"))?;
    let mut body = filled - head_end;
    while body < length {
        let n = stream.read(&mut buf[..]).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        body += n;
    }
    Ok(())
}

/// The servers, each on its own thread with a one-worker runtime.
mod servers {
    use super::apps;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use axum::routing::get;
    use axum::Json;
    use portcullis_actix::Gate as ActixGate;
    use portcullis_core::Authenticator;
    use std::net::{SocketAddr, TcpListener};
    use warp::Filter;

    /// The body `/api/me` answers without auth: the same shape as the real one.
    fn fixed_profile() -> serde_json::Value {
        serde_json::json!({
            "sub": "user-123", "email": "user@example.com", "org_id": "org-1", "roles": ["admin"]
        })
    }

    fn listener() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        (listener, addr)
    }

    /// Runs `serve` on a new thread with a current-thread tokio runtime.
    fn on_tokio_thread<F, Fut>(serve: F) -> SocketAddr
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (std_listener, addr) = listener();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                serve(listener).await;
            });
        });
        addr
    }

    pub(super) fn axum_baseline() -> SocketAddr {
        on_tokio_thread(|listener| async move {
            let app = axum::Router::new().route("/api/me", get(|| async { Json(fixed_profile()) }));
            let _ = axum::serve(listener, app).await;
        })
    }

    pub(super) fn axum(authenticator: Authenticator) -> SocketAddr {
        on_tokio_thread(move |listener| async move {
            let _ = axum::serve(listener, apps::axum::app(authenticator)).await;
        })
    }

    pub(super) fn warp_baseline() -> SocketAddr {
        on_tokio_thread(|listener| async move {
            let me = warp::path!("api" / "me")
                .and(warp::get())
                .map(|| warp::reply::json(&fixed_profile()));
            warp::serve(me).incoming(listener).run().await;
        })
    }

    pub(super) fn warp(authenticator: Authenticator) -> SocketAddr {
        on_tokio_thread(move |listener| async move {
            apps::warp::serve(authenticator, listener).await;
        })
    }

    /// An actix-web server with one worker, on its own thread.
    fn on_actix_thread<F>(app: F) -> SocketAddr
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let (std_listener, addr) = listener();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || App::new().configure(app.clone()))
                    .workers(1)
                    .listen(std_listener)
                    .expect("listen");
                let _ = server.run().await;
            });
        });
        addr
    }

    pub(super) fn actix_baseline() -> SocketAddr {
        on_actix_thread(|cfg| {
            cfg.route(
                "/api/me",
                web::get().to(|| async { HttpResponse::Ok().json(fixed_profile()) }),
            );
        })
    }

    pub(super) fn actix(authenticator: Authenticator) -> SocketAddr {
        let gate = ActixGate::new(authenticator);
        on_actix_thread(move |cfg| {
            cfg.configure(apps::actix::public(&gate))
                .service(gate.protected().configure(apps::actix::protected(&gate)))
                .default_service(gate.default_service(HttpResponse::NotFound));
        })
    }
}
