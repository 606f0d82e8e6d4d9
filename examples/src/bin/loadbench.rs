//! Requests per second of the Protected API's `GET /api/me`, side by side: each adapter with
//! portcullis (verified-token cache on, and off) and the same application without any auth,
//! on loopback, each server with one worker, driven by an in-process HTTP/1.1 load generator
//! with keep-alive connections. Rounds are interleaved (every target once per round) and the
//! medians are printed, with the ratios that `BENCHMARKS.md` quotes.
//!
//! `cargo run --release -p portcullis-examples --bin loadbench -- [--seconds 3] [--rounds 5]
//! [--connections 16] [--pico PYTHON] [--jwt-authorizer BINARY]`
//!
//! With `--pico`, the tutorial's original (Python, pico-client-auth 0.7.1 on FastAPI and
//! uvicorn, one worker, on the servers' core) is driven too, against a JWKS served here:
//! `examples/bench/pico/setup.sh` makes the interpreter (`target/pico-venv/bin/python`).
//! With `--jwt-authorizer`, the same route behind jwt-authorizer 0.15 (axum 0.7, jsonwebtoken
//! 9, no cache) is driven too: `examples/bench/jwt-authorizer/setup.sh` builds its server
//! outside the workspace, since its dependencies are not ours.
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
/// The name of the Python target.
const PICO: &str = "python pico-client-auth";
/// The name of the jwt-authorizer target.
const JWT_AUTHORIZER: &str = "axum + jwt-authorizer 0.15";

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
    /// Also drive the tutorial's application on Python pico-client-auth 0.7.1, run by this
    /// interpreter (`examples/bench/pico/setup.sh` makes one: `target/pico-venv/bin/python`).
    #[arg(long)]
    pico: Option<std::path::PathBuf>,
    /// Also drive the same route behind jwt-authorizer 0.15, the axum JWT middleware most
    /// used, served by this binary (`examples/bench/jwt-authorizer/setup.sh` builds it:
    /// `target/peer/release/loadbench-jwt-authorizer`).
    #[arg(long)]
    jwt_authorizer: Option<std::path::PathBuf>,
}

/// One server under test.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// The server's own threads (their Linux `schedstat` files), whose CPU time is its cost.
    threads: Vec<String>,
}

impl Target {
    /// Starts a server and notes the threads it started.
    fn start(name: &'static str, start: impl FnOnce() -> SocketAddr) -> Self {
        let before = cpu::threads();
        let addr = start();
        // Let the server spawn its workers (actix does so when it starts running).
        std::thread::sleep(Duration::from_millis(300));
        let threads = cpu::threads()
            .into_iter()
            .filter(|t| !before.contains(t))
            .map(|t| format!("/proc/self/task/{t}/schedstat"))
            .collect();
        Self {
            name,
            addr,
            threads,
        }
    }
}

/// What one round of one target measured.
#[derive(Clone, Copy)]
struct Sample {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// Server CPU time per request (all of the server's threads), in microseconds.
    cpu_us: f64,
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
        // pico-client-auth's default resolver reads this one claim.
        .claim("role", serde_json::json!("admin"))
        .lifetime(24 * 3600)
        .sign();

    let pico = args
        .pico
        .as_deref()
        .map(|python| external::pico(python, &jwks));
    let peer = args
        .jwt_authorizer
        .as_deref()
        .map(|binary| external::jwt_authorizer(binary, &jwks));
    let mut targets = vec![
        Target::start("axum, no auth", servers::axum_baseline),
        Target::start("axum + portcullis, cache", || {
            servers::axum(authenticator(true))
        }),
        Target::start("axum + portcullis, no cache", || {
            servers::axum(authenticator(false))
        }),
        Target::start("actix, no auth", servers::actix_baseline),
        Target::start("actix + portcullis, cache", || {
            servers::actix(authenticator(true))
        }),
        Target::start("warp, no auth", servers::warp_baseline),
        Target::start("warp + portcullis, cache", || {
            servers::warp(authenticator(true))
        }),
    ];
    for (name, process) in [(JWT_AUTHORIZER, &peer), (PICO, &pico)] {
        if let Some(process) = process {
            targets.push(Target {
                name,
                addr: process.addr,
                threads: process.threads.clone(),
            });
        }
    }

    // The generator on its own core, as `wrk` would be on another CPU.
    pin(servers::SERVER_CORE + 1);
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
        "\n{:<30} {:>10} {:>10} {:>10} {:>16}",
        "target (GET /api/me)", "req/s", "p50 µs", "p99 µs", "server CPU µs/req"
    );
    for (target, m) in targets.iter().zip(&medians) {
        println!(
            "{:<30} {:>10.0} {:>10.0} {:>10.0} {:>16.2}",
            target.name, m.rps, m.p50_us, m.p99_us, m.cpu_us
        );
    }
    let cpu = |name: &str| {
        targets
            .iter()
            .position(|t| t.name == name)
            .map_or(f64::NAN, |i| medians[i].cpu_us)
    };
    let rps = |name: &str| {
        targets
            .iter()
            .position(|t| t.name == name)
            .map_or(f64::NAN, |i| medians[i].rps)
    };
    println!("\nratios (medians of this run): req/s, and server CPU per request (no auth / auth)");
    for (with, without) in [
        ("axum + portcullis, cache", "axum, no auth"),
        ("axum + portcullis, no cache", "axum, no auth"),
        ("actix + portcullis, cache", "actix, no auth"),
        ("warp + portcullis, cache", "warp, no auth"),
    ] {
        println!(
            "  {with:<30} / {without:<16} {:>6.2} {:>8.2}",
            rps(with) / rps(without),
            cpu(without) / cpu(with)
        );
    }
    if peer.is_some() {
        for with in ["axum + portcullis, no cache", "axum + portcullis, cache"] {
            println!(
                "  {with:<30} / {:<16} {:>6.2} {:>8.2}",
                "jwt-authorizer",
                rps(with) / rps(JWT_AUTHORIZER),
                cpu(JWT_AUTHORIZER) / cpu(with)
            );
        }
    }
    if pico.is_some() {
        for with in ["axum + portcullis, no cache", "axum + portcullis, cache"] {
            println!(
                "  {with:<30} / {:<16} {:>6.2} {:>8.2}",
                "python pico",
                rps(with) / rps(PICO),
                cpu(PICO) / cpu(with)
            );
        }
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

/// Pins the calling thread to `core` where the machine has it (a best effort: unpinned
/// otherwise, and the numbers are noisier).
fn pin(core: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(id) = cores.get(core % cores.len().max(1)) {
        core_affinity::set_for_current(*id);
    }
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
        cpu_us: pick(|s| s.cpu_us),
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
    let cpu_before = cpu::time_ns(&target.threads);
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
    let cpu_ns = cpu::time_ns(&target.threads).saturating_sub(cpu_before);
    if latencies.is_empty() {
        return Err(std::io::Error::other("no request completed"));
    }
    latencies.sort_unstable();
    let at = |q: f64| f64::from(latencies[((latencies.len() - 1) as f64 * q) as usize]);
    Ok(Sample {
        rps: latencies.len() as f64 / elapsed,
        p50_us: at(0.50),
        p99_us: at(0.99),
        cpu_us: cpu_ns as f64 / 1e3 / latencies.len() as f64,
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

/// CPU time of threads of this process (Linux `/proc`; zero elsewhere).
mod cpu {
    /// The ids of this process's threads.
    pub(super) fn threads() -> Vec<u32> {
        std::fs::read_dir("/proc/self/task")
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `schedstat` files of every thread of process `pid`.
    pub(super) fn process_threads(pid: u32) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|dir| {
                dir.filter_map(|e| {
                    let tid = e.ok()?.file_name().to_str()?.to_owned();
                    Some(format!("/proc/{pid}/task/{tid}/schedstat"))
                })
                .collect()
            })
            .unwrap_or_default()
    }

    /// The CPU time the threads have run, in nanoseconds (`schedstat`'s first field).
    pub(super) fn time_ns(threads: &[String]) -> u64 {
        threads
            .iter()
            .filter_map(|t| {
                std::fs::read_to_string(t)
                    .ok()?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }
}

/// The servers, each on its own thread with a one-worker runtime.
mod servers {
    use super::apps;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use axum::routing::get;
    use axum::Json;
    use portcullis_actix::Gate as ActixGate;
    use portcullis_core::Authenticator;
    use portcullis_examples::services;
    use std::net::{SocketAddr, TcpListener};
    use warp::Filter;

    /// Every server runs on this core; the load generator on the next.
    pub(super) const SERVER_CORE: usize = 0;

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
            super::pin(SERVER_CORE);
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

    /// The same application without auth: the same routes and handlers, `/api/me` answering
    /// the profile it would answer for the benchmark's caller.
    pub(super) fn axum_baseline() -> SocketAddr {
        on_tokio_thread(|listener| async move {
            let app = axum::Router::new()
                .route("/api/me", get(|| async { Json(fixed_profile()) }))
                .route(
                    "/api/admin/stats",
                    get(|| async { Json(services::admin_stats()) }),
                )
                .route(
                    "/api/editor/drafts",
                    get(|| async { Json(services::editor_drafts()) }),
                )
                .route("/api/health", get(|| async { Json(services::health()) }));
            let _ = axum::serve(listener, app).await;
        })
    }

    /// A key set served at `GET /jwks` (for the Python target).
    pub(super) fn jwks(jwks: String) -> SocketAddr {
        on_tokio_thread(move |listener| async move {
            let body: serde_json::Value = serde_json::from_str(&jwks).expect("jwks");
            let app = axum::Router::new().route("/jwks", get(move || async move { Json(body) }));
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
            let health = warp::path!("api" / "health")
                .and(warp::get())
                .map(|| warp::reply::json(&services::health()));
            let me = warp::path!("api" / "me")
                .and(warp::get())
                .map(|| warp::reply::json(&fixed_profile()));
            let stats = warp::path!("api" / "admin" / "stats")
                .and(warp::get())
                .map(|| warp::reply::json(&services::admin_stats()));
            let drafts = warp::path!("api" / "editor" / "drafts")
                .and(warp::get())
                .map(|| warp::reply::json(&services::editor_drafts()));
            warp::serve(health.or(me).or(stats).or(drafts))
                .incoming(listener)
                .run()
                .await;
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
            // actix's worker and accept threads inherit this thread's core.
            super::pin(SERVER_CORE);
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
                "/api/health",
                web::get().to(|| async { HttpResponse::Ok().json(services::health()) }),
            )
            .route(
                "/api/me",
                web::get().to(|| async { HttpResponse::Ok().json(fixed_profile()) }),
            )
            .route(
                "/api/admin/stats",
                web::get().to(|| async { HttpResponse::Ok().json(services::admin_stats()) }),
            )
            .route(
                "/api/editor/drafts",
                web::get().to(|| async { HttpResponse::Ok().json(services::editor_drafts()) }),
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

/// Targets that run as another process (another language, or a peer's dependency tree that
/// is not ours): started on the servers' core, their CPU time read from their own threads.
mod external {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// A running server process; stopped when dropped.
    pub(super) struct Process {
        pub(super) addr: SocketAddr,
        pub(super) threads: Vec<String>,
        child: Child,
        /// A temporary directory of its own, removed with it.
        dir: Option<std::path::PathBuf>,
    }

    impl Drop for Process {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            if let Some(dir) = &self.dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// The tutorial's original, in Python: pico-client-auth 0.7.1 on FastAPI, one uvicorn
    /// worker, against `jwks` served on loopback.
    pub(super) fn pico(python: &Path, jwks: &str) -> Process {
        let jwks_addr = super::servers::jwks(jwks.to_owned());
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("loadbench-pico-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        std::fs::write(
            dir.join("application.yaml"),
            format!(
                "fastapi:\n  title: Protected API\n  version: 1.0.0\nauth_client:\n  \
                 issuer: {}\n  audience: {}\n  jwks_endpoint: http://{jwks_addr}/jwks\n",
                super::ISSUER,
                super::AUDIENCE
            ),
        )
        .expect("application.yaml");
        let mut command = Command::new(python);
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/pico/main.py"))
            .arg(port.to_string())
            .arg(&dir);
        start(
            "--pico",
            "run examples/bench/pico/setup.sh",
            command,
            port,
            Some(dir),
        )
    }

    /// The same route behind jwt-authorizer 0.15 (axum 0.7), one worker, against `jwks`
    /// served on loopback.
    pub(super) fn jwt_authorizer(binary: &Path, jwks: &str) -> Process {
        let jwks_addr = super::servers::jwks(jwks.to_owned());
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .arg(port.to_string())
            .arg(format!("http://{jwks_addr}/jwks"))
            .arg(super::ISSUER)
            .arg(super::AUDIENCE);
        start(
            "--jwt-authorizer",
            "run examples/bench/jwt-authorizer/setup.sh",
            command,
            port,
            None,
        )
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port()
    }

    /// Spawns `command` on the servers' core and returns once it answers on `port`.
    fn start(
        flag: &str,
        hint: &str,
        mut command: Command,
        port: u16,
        dir: Option<std::path::PathBuf>,
    ) -> Process {
        command.stdin(Stdio::null()).stdout(Stdio::null());
        // Spawned from a thread pinned to the servers' core: the process inherits it.
        let child = std::thread::spawn(move || {
            super::pin(super::servers::SERVER_CORE);
            command.spawn()
        })
        .join()
        .expect("spawning thread")
        .unwrap_or_else(|e| panic!("{flag}: cannot run it: {e}; {hint}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut process = Process {
            addr,
            threads: Vec::new(),
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers(addr) {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("{flag}: the server exited ({status}); {hint}");
            }
            assert!(
                Instant::now() < deadline,
                "{flag}: the server did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        process.threads = super::cpu::process_threads(process.child.id());
        process
    }

    /// Whether `GET /api/health` answers 200.
    fn answers(addr: SocketAddr) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request =
            format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
    }
}
