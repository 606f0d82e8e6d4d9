//! The route matrix: every route of the reference application × callers × spellings of its
//! path × methods, sent byte for byte, with the handler-side oracle armed.
//!
//! Two things are asserted for every request:
//!
//! - **No handler runs for a caller who does not satisfy its requirement**: the oracle of
//!   [`services::respond`](crate::services::respond) never answers
//!   [`ORACLE_STATUS`], and nothing answers 5xx.
//! - **The adapters agree where their frameworks route alike**: for the spellings every
//!   framework routes the same way (the path as declared, in origin or absolute form or
//!   with a query; and the [`Spelling::Unrouted`] ones, which no framework routes), the
//!   answer class is the one [`expected`] derives from the route table and the caller's
//!   claims, for every adapter. Elsewhere the frameworks differ by design (percent-decoding,
//!   trailing slashes, HEAD, the methods of a public path): only the first rule applies
//!   there, and the conformance README lists the differences.
//!
//! With `PORTCULLIS_MATRIX_DUMP=<dir>` set, every answer is written to `<dir>/<adapter>.txt`
//! (one `method target caller status` line each), to compare adapters spelling by spelling.

use crate::harness::{Adapter, App, Harness, KEYS};
use crate::raw::{self, RawReply, RawRequest};
use crate::services::{Route, ORACLE_STATUS};
use portcullis_core::{AgentClaims, Requirement, TokenClaims};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The methods of the matrix: the standard ones and an extension method.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE",
];

/// Paths that no route has.
pub const UNKNOWN_PATHS: &[&str] = &["/api/no/such/route", "/", "/api", "/api/v1"];

/// How a target was spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Spelling {
    /// The path as declared.
    Canonical,
    /// The path as declared, in absolute form (`http://host/path`), this host or another.
    AbsoluteForm,
    /// The path as declared with a query string.
    Query,
    /// A spelling that no framework routes to the declared route: double encoding, `%2F`,
    /// `//`, dot segments, `;params`, `%00`, `%20`, case changes, very long paths.
    Unrouted,
    /// A spelling the frameworks route differently by design: one unreserved character
    /// percent-encoded (actix-web decodes it), a trailing `/` (warp's `path!` accepts it).
    Variant,
    /// The asterisk-form target `*` (RFC 9112 §3.2.4), which matches no route: refused
    /// without a token everywhere.
    Asterisk,
}

/// Every spelling of `path` the matrix sends: the path itself; each unreserved character
/// percent-encoded (lower and upper hex); double encoding; `%2F` for `/`; `//`; a trailing
/// `/`; `/./`; `/x/../`; `;params`; case changes; absolute-form targets with this host and
/// another; very long paths.
pub fn spellings(path: &str, authority: &str) -> Vec<(Spelling, String)> {
    let mut out = vec![(Spelling::Canonical, path.to_owned())];
    out.push((Spelling::AbsoluteForm, format!("http://{authority}{path}")));
    out.push((Spelling::AbsoluteForm, format!("http://evil.example{path}")));
    out.push((Spelling::Query, format!("{path}?x=1")));
    let mut variants = Vec::new();
    let mut unrouted = Vec::new();
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            for escaped in [format!("%{b:02x}"), format!("%{b:02X}")] {
                variants.push(format!("{}{escaped}{}", &path[..i], &path[i + 1..]));
            }
        }
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let mut parts = segments.clone();
        if let Some(first) = segment.bytes().next() {
            let rest = &segment[1..];
            let double = format!("%25{first:02X}{rest}");
            parts[i] = &double;
            unrouted.push(format!("/{}", parts.join("/")));
        }
        // Between this segment and the next.
        if i + 1 < segments.len() {
            let (a, b) = segments.split_at(i + 1);
            let (a, b) = (a.join("/"), b.join("/"));
            for join in ["%2F", "%2f", "//", "/./", "/x/../", ";p=1/"] {
                unrouted.push(format!("/{a}{join}{b}"));
            }
        }
    }
    unrouted.push(format!(
        "/{}",
        path.replace('/', "%2F").trim_start_matches("%2F")
    ));
    unrouted.push(format!("/{path}"));
    variants.push(format!("{path}/"));
    for suffix in ["//", "/.", "/x/..", ";p=1", "%00", "%20"] {
        unrouted.push(format!("{path}{suffix}"));
    }
    unrouted.push(path.to_uppercase());
    unrouted.push(
        path.split('/')
            .map(|s| {
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("/"),
    );
    unrouted.push(format!("/{}{path}", "a".repeat(2000)));
    unrouted.push(format!("{path}/{}", "b".repeat(9000)));
    unrouted.push(format!("{}{path}", "/.".repeat(500)));
    for (kind, mut list) in [
        (Spelling::Variant, variants),
        (Spelling::Unrouted, unrouted),
    ] {
        list.sort();
        list.dedup();
        out.extend(list.into_iter().filter(|v| v != path).map(|v| (kind, v)));
    }
    out
}

/// A caller of the matrix.
#[derive(Clone)]
pub struct Caller {
    /// Its name in failure messages.
    pub name: &'static str,
    /// `Authorization` value, if any.
    pub authorization: Option<String>,
    /// `X-Agent-Authorization` value, if any.
    pub agent_authorization: Option<String>,
    /// The claims of its token when it is valid (the model's view).
    pub claims: Option<TokenClaims>,
    /// The agent's claims, when it sends a valid agent token.
    pub agent: Option<AgentClaims>,
}

/// The callers: no token, an invalid token, `user`, `editor` (also group `team-alpha` and
/// token scope `docs:read`), `admin`, and an agent acting for a `treasury-service` caller.
pub fn callers<A: Adapter>(h: &Harness<A>) -> Vec<Caller> {
    let valid = |name: &'static str, builder: portcullis_core::testkit::TokenBuilder<'_>| {
        let claims = TokenClaims::from_json(Value::Object(builder.claims().clone()));
        Caller {
            name,
            authorization: Some(format!("Bearer {}", builder.sign())),
            agent_authorization: None,
            claims: Some(claims),
            agent: None,
        }
    };
    // A valid admin token with one character of its signature changed.
    let mut tampered = h.with_roles(&["admin"]);
    let last = tampered.pop();
    tampered.push(if last == Some('A') { 'B' } else { 'A' });
    let agent_builder = h
        .token(&KEYS.ec)
        .subject("agent-7")
        .claim("scopes", json!(["treasury:write:*"]));
    let agent_claims = AgentClaims::new(TokenClaims::from_json(Value::Object(
        agent_builder.claims().clone(),
    )));
    let mut agent = valid("agent", h.token(&KEYS.rsa).roles(&["treasury-service"]));
    agent.agent_authorization = Some(format!("Bearer {}", agent_builder.sign()));
    agent.agent = Some(agent_claims);
    vec![
        Caller {
            name: "none",
            authorization: None,
            agent_authorization: None,
            claims: None,
            agent: None,
        },
        Caller {
            name: "invalid",
            authorization: Some(format!("Bearer {tampered}")),
            agent_authorization: None,
            claims: None,
            agent: None,
        },
        valid("user", h.token(&KEYS.rsa).roles(&["user"])),
        valid(
            "editor",
            h.token(&KEYS.rsa)
                .roles(&["editor"])
                .claim("groups", json!(["team-alpha"]))
                .claim("scope", json!("docs:read")),
        ),
        valid("admin", h.token(&KEYS.ec).roles(&["admin"])),
        agent,
    ]
}

/// The answer class: `200` for any 2xx, the status otherwise.
pub fn class(status: u16) -> u16 {
    if (200..300).contains(&status) {
        200
    } else {
        status
    }
}

/// The answer class every adapter gives for `method` on `path` (spelled as declared) by
/// `caller`, or `None` where the frameworks route differently by design.
pub fn expected(method: &str, path: &str, caller: &Caller) -> Option<u16> {
    let at_path: Vec<Route> = Route::ALL
        .iter()
        .copied()
        .filter(|r| r.path() == path)
        .collect();
    let authenticated = caller.claims.is_some();
    if at_path.is_empty() {
        return Some(if authenticated { 404 } else { 401 });
    }
    if method == "HEAD" {
        // axum answers HEAD with the GET handler; actix-web and warp route it as a method
        // of its own.
        return None;
    }
    let Some(route) = at_path.iter().find(|r| r.method() == method) else {
        if at_path == [Route::MacroAdmin] {
            // actix-web's `#[get(..)]` puts the method in a resource guard: another method
            // falls through to the next service (404), where the others answer 405.
            return None;
        }
        if at_path
            .iter()
            .any(|r| r.requirement() == Requirement::Anonymous)
        {
            // Another method on a public path: axum answers from the public method router
            // (405), actix-web falls through to the protected scope, warp refuses (401).
            return None;
        }
        let Some(claims) = &caller.claims else {
            return Some(401);
        };
        let satisfies_all = at_path.iter().all(|r| {
            r.requirement()
                .check_from(Some(claims), caller.agent.as_ref(), BEARER)
                .is_ok()
        });
        // A caller who lacks a requirement of the path: axum and actix-web check it around
        // the whole method router / resource, 405 answer included (403), warp's method
        // filter comes before the marker (405).
        return satisfies_all.then_some(405);
    };
    let requirement = route.requirement();
    if requirement.allows_anonymous() {
        return Some(200);
    }
    let Some(claims) = &caller.claims else {
        return Some(401);
    };
    match requirement.check_from(Some(claims), caller.agent.as_ref(), BEARER) {
        Err(e) => Some(e.status()),
        // The handler's own role check.
        Ok(()) if *route == Route::HandlerCheck && !claims.has_role("auditor") => Some(403),
        Ok(()) => Some(200),
    }
}

/// What a run of the matrix saw.
#[derive(Default)]
pub struct Report {
    /// Requests sent.
    pub requests: usize,
    /// Requests whose class [`expected`] predicts (and that matched it).
    pub predicted: usize,
    /// Answers per class, over every request.
    pub classes: BTreeMap<u16, usize>,
    /// 2xx answers to a spelling the frameworks may route differently (the framework routed
    /// it to a handler, whose requirement then held).
    pub variant_successes: usize,
    /// Failures: breaches, server errors, or classes other than predicted.
    pub failures: Vec<String>,
    answers: Vec<(usize, u16)>,
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("requests", &self.requests)
            .field("predicted", &self.predicted)
            .field("classes", &self.classes)
            .field("variant_successes", &self.variant_successes)
            .field("failures", &self.failures.len())
            .finish()
    }
}

struct Case {
    method: &'static str,
    spelling: Spelling,
    path: String,
    target: String,
    caller: usize,
}

/// Runs the matrix against `app` (the adapter's reference application).
pub async fn run<A: Adapter>(h: &Harness<A>, app: &App) -> Report {
    let callers = Arc::new(callers(h));
    let authority = app.addr().to_string();
    let mut paths: Vec<&str> = Route::ALL.iter().map(|r| r.path()).collect();
    paths.extend_from_slice(UNKNOWN_PATHS);
    paths.sort_unstable();
    paths.dedup();
    let mut cases = Vec::new();
    for path in paths {
        for (spelling, target) in spellings(path, &authority) {
            for &method in METHODS {
                for caller in 0..callers.len() {
                    cases.push(Case {
                        method,
                        spelling,
                        path: path.to_owned(),
                        target: target.clone(),
                        caller,
                    });
                }
            }
        }
    }
    for &method in METHODS {
        for caller in 0..callers.len() {
            cases.push(Case {
                method,
                spelling: Spelling::Asterisk,
                path: "*".to_owned(),
                target: "*".to_owned(),
                caller,
            });
        }
    }
    let cases = Arc::new(cases);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let addr = app.addr();
    let workers: Vec<_> = (0..12)
        .map(|_| {
            let (cases, callers, next) = (cases.clone(), callers.clone(), next.clone());
            tokio::spawn(async move {
                let mut report = Report::default();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let caller = &callers[case.caller];
                    let reply = raw::send(addr, &request(case, caller)).await;
                    check(&mut report, case, caller, &reply);
                    report.answers.push((i, reply.status));
                }
                report
            })
        })
        .collect();
    let mut total = Report::default();
    for worker in workers {
        let r = worker.await.expect("matrix worker");
        total.requests += r.requests;
        total.predicted += r.predicted;
        total.variant_successes += r.variant_successes;
        for (k, v) in r.classes {
            *total.classes.entry(k).or_default() += v;
        }
        total.failures.extend(r.failures);
        total.answers.extend(r.answers);
    }
    total.failures.sort();
    if let Some(dir) = std::env::var_os("PORTCULLIS_MATRIX_DUMP") {
        dump(&dir, A::NAME, &cases, &callers, &mut total.answers);
    }
    total
}

/// Writes every answer as `method target caller status` lines to `<dir>/<adapter>.txt`, to
/// compare adapters spelling by spelling.
fn dump(
    dir: &std::ffi::OsStr,
    adapter: &str,
    cases: &[Case],
    callers: &[Caller],
    answers: &mut [(usize, u16)],
) {
    answers.sort_unstable();
    let lines: Vec<String> = answers
        .iter()
        .map(|&(i, status)| {
            let case = &cases[i];
            let target: String = case.target.chars().take(120).collect();
            format!(
                "{} {target} {} {status}",
                case.method, callers[case.caller].name
            )
        })
        .collect();
    let path = std::path::Path::new(dir).join(format!("{adapter}.txt"));
    if let Err(e) = std::fs::write(&path, lines.join("\n") + "\n") {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn request(case: &Case, caller: &Caller) -> RawRequest {
    let mut headers = Vec::new();
    if let Some(a) = &caller.authorization {
        headers.push(("authorization".to_owned(), a.clone()));
    }
    if let Some(a) = &caller.agent_authorization {
        headers.push(("x-agent-authorization".to_owned(), a.clone()));
    }
    let body = if matches!(case.method, "GET" | "HEAD" | "OPTIONS") {
        Vec::new()
    } else {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        b"{}".to_vec()
    };
    RawRequest {
        method: case.method.to_owned(),
        target: case.target.clone(),
        headers,
        body,
    }
}

fn check(report: &mut Report, case: &Case, caller: &Caller, reply: &RawReply) {
    report.requests += 1;
    let got = class(reply.status);
    *report.classes.entry(got).or_default() += 1;
    let what = format!(
        "{} {} as {} -> {}",
        case.method, case.target, caller.name, reply.status
    );
    let shown = |s: &str| s.chars().take(160).collect::<String>();
    if reply.status == ORACLE_STATUS || reply.body.contains("\"oracle\"") {
        report
            .failures
            .push(format!("BREACH {}: {}", shown(&what), shown(&reply.body)));
        return;
    }
    if reply.status >= 500 || reply.status == 0 {
        report
            .failures
            .push(format!("server error {}", shown(&what)));
        return;
    }
    let declared = Route::ALL.iter().any(|r| r.path() == case.path);
    let prediction = match case.spelling {
        Spelling::Canonical | Spelling::AbsoluteForm | Spelling::Query => {
            expected(case.method, &case.path, caller)
        }
        // A path with a parameter takes odd spellings of its last segment as a value.
        Spelling::Unrouted if declared && !case.path.starts_with("/api/items/") => {
            Some(if caller.claims.is_some() { 404 } else { 401 })
        }
        Spelling::Asterisk => caller.claims.is_none().then_some(401),
        Spelling::Unrouted | Spelling::Variant => None,
    };
    if got == 200 && matches!(case.spelling, Spelling::Variant | Spelling::Unrouted) {
        report.variant_successes += 1;
    }
    if let Some(want) = prediction {
        if got == want {
            report.predicted += 1;
        } else {
            report
                .failures
                .push(format!("class {got}, expected {want}: {}", shown(&what)));
        }
    }
}

/// Every matrix request carries its token in `Authorization`.
const BEARER: Option<portcullis_core::TokenSource> =
    Some(portcullis_core::TokenSource::AuthorizationHeader);
