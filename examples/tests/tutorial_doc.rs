//! `docs/tutorial.md` says what the application answers; these tests hold it to it.
//!
//! - Every `$ curl ...` line of a ```` ```console ```` block, with the answer below it (status
//!   line, headers, blank line, body), is sent to the `protected-api` binary in each framework,
//!   started on free loopback ports as the tutorial starts it. `$ADMIN_TOKEN` and the like are
//!   the tokens the binary prints, taken from the lines the tutorial's token table names; the
//!   claims in that table are checked against the tokens.
//! - The `$ cargo run ... protected-api` block is checked against what the binary prints.
//! - The fail-fast transcript (`--config broken.yaml`) runs with the tutorial's `broken.yaml`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOC: &str = include_str!("../../docs/tutorial.md");
const BIN: &str = env!("CARGO_BIN_EXE_protected-api");
/// The base URL and issuer the tutorial uses (the binary's defaults).
const DOC_BASE: &str = "http://127.0.0.1:8000";
const DOC_ISSUER: &str = "http://127.0.0.1:9400";

/// A fenced block: its info string, the 1-based line of its first content line, its lines.
struct Block {
    info: String,
    line: usize,
    lines: Vec<String>,
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in DOC.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => {
                    current = Some(Block {
                        info: info.trim().to_owned(),
                        line: i + 2,
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(block) = &mut current {
            block.lines.push(line.to_owned());
        }
    }
    assert!(
        current.is_none(),
        "an unclosed code block in docs/tutorial.md"
    );
    out
}

/// One `$ command` of a console block and the output the document shows for it.
struct Transcript {
    line: usize,
    command: String,
    output: Vec<String>,
}

fn transcripts() -> Vec<Transcript> {
    let mut out: Vec<Transcript> = Vec::new();
    for block in blocks().into_iter().filter(|b| b.info == "console") {
        let mut current: Option<Transcript> = None;
        for (i, line) in block.lines.iter().enumerate() {
            if let Some(command) = line.strip_prefix("$ ") {
                out.extend(current.take());
                current = Some(Transcript {
                    line: block.line + i,
                    command: command.to_owned(),
                    output: Vec::new(),
                });
            } else {
                let t = current.as_mut().unwrap_or_else(|| {
                    panic!(
                        "docs/tutorial.md:{}: output before any `$ ` command",
                        block.line + i
                    )
                });
                t.output.push(line.clone());
            }
        }
        out.extend(current);
    }
    out
}

/// Splits a shell command line into words (double and single quotes, no escapes).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quote in `{line}`");
    if in_word {
        words.push(word);
    }
    words
}

/// Replaces `$NAME` by the token of that name; an unknown name is an error.
fn substitute(text: &str, tokens: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let name: String = rest[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let token = tokens
            .get(&name)
            .ok_or_else(|| format!("${name} is not in the tutorial's token table"))?;
        out.push_str(token);
        rest = &rest[at + 1 + name.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A `curl` request as the document writes it.
struct CurlRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

fn parse_curl(command: &str, tokens: &HashMap<String, String>) -> Result<CurlRequest, String> {
    let words = shell_words(command);
    let mut words = words.into_iter();
    if words.next().as_deref() != Some("curl") {
        return Err("not a curl command".into());
    }
    let (mut method, mut url, mut headers, mut include) = ("GET".to_owned(), None, vec![], false);
    while let Some(word) = words.next() {
        match word.as_str() {
            "-i" => include = true,
            "-s" => {}
            "-X" => method = words.next().ok_or("-X without a method")?,
            "-H" => {
                let header = substitute(&words.next().ok_or("-H without a header")?, tokens)?;
                let (name, value) = header.split_once(':').ok_or("a header without `:`")?;
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            w if w.starts_with("http") => url = Some(w.to_owned()),
            other => return Err(format!("curl option `{other}` is not understood")),
        }
    }
    if !include {
        return Err("use `curl -i` so that the status line is shown".into());
    }
    let url = url.ok_or("no URL")?;
    let path = url
        .strip_prefix(DOC_BASE)
        .ok_or_else(|| format!("the URL must start with {DOC_BASE}"))?;
    Ok(CurlRequest {
        method,
        path: path.to_owned(),
        headers,
    })
}

/// The answer a transcript shows: status code and reason, headers, body.
struct Expected {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_expected(output: &[String]) -> Result<Expected, String> {
    let mut lines = output.iter();
    let status_line = lines.next().ok_or("no output shown")?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .ok_or_else(|| format!("`{status_line}` is not an HTTP/1.1 status line"))?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = code.parse().map_err(|_| format!("bad status `{code}`"))?;
    let mut headers = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("`{line}` is not a header line"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let body = lines.cloned().collect::<Vec<_>>().join("\n");
    Ok(Expected {
        status,
        reason: reason.to_owned(),
        headers,
        body: body.trim_end().to_owned(),
    })
}

/// The token table of step 7: variable, the printed line it follows, and its claims.
struct TokenRow {
    variable: String,
    after: String,
    claims: Vec<(String, String)>,
}

fn token_table() -> Vec<TokenRow> {
    let rows: Vec<Vec<String>> = DOC
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect();
    let header = rows
        .iter()
        .position(|r| r.first().map(String::as_str) == Some("variable"))
        .expect("the token table (a `| variable | the line after | ...` table)");
    let names = rows[header].clone();
    rows[header + 1..]
        .iter()
        .skip_while(|r| r.iter().all(|c| c.chars().all(|ch| ch == '-')))
        .take_while(|r| r.first().is_some_and(|c| c.ends_with("_TOKEN")))
        .map(|r| TokenRow {
            variable: r[0].clone(),
            after: r[1].clone(),
            claims: names[2..]
                .iter()
                .cloned()
                .zip(r[2..].iter().cloned())
                .collect(),
        })
        .collect()
}

/// Base64url without padding, for reading a token's payload.
fn base64url(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url: {c}"),
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in text.bytes() {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn payload(token: &str) -> serde_json::Value {
    let part = token.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&base64url(part)).expect("a JSON payload")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The running binary; killed when dropped.
struct Running {
    child: Child,
    base: String,
    issuer: String,
    stdout: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `protected-api --framework NAME` on free ports and reads its banner and curl block.
fn start(framework: &str) -> Running {
    let (port, issuer_port) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .args(["--framework", framework])
        .args(["--port", &port.to_string()])
        .args(["--issuer-port", &issuer_port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run protected-api");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut running = Running {
        child,
        base: format!("http://127.0.0.1:{port}"),
        issuer: format!("http://127.0.0.1:{issuer_port}"),
        stdout: Vec::new(),
    };
    // The curl block ends with the editor line.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running
        .stdout
        .iter()
        .any(|l| l.starts_with("curl") && l.ends_with("/api/editor/drafts"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => running.stdout.push(line),
            Err(_) => panic!(
                "{framework}: no curl block printed; got {:?}",
                running.stdout
            ),
        }
    }
    running
}

async fn wait_until_up(base: &str) {
    for _ in 0..500 {
        if let Ok(r) = reqwest::get(format!("{base}/api/health")).await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{base} did not answer");
}

/// The tokens of the table, each taken from the printed line after its comment; the claims
/// the table gives them are checked.
fn tokens_from(running: &Running, table: &[TokenRow]) -> HashMap<String, String> {
    let mut tokens = HashMap::new();
    for row in table {
        let at = running
            .stdout
            .iter()
            .position(|l| l == &row.after)
            .unwrap_or_else(|| {
                panic!(
                    "the binary printed no line `{}` (token table, {})",
                    row.after, row.variable
                )
            });
        let next = running.stdout.get(at + 1).expect("a curl line");
        let token = next
            .split("Bearer ")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap_or_else(|| panic!("no bearer token in `{next}`"));
        let claims = payload(token);
        for (name, value) in &row.claims {
            let actual = match &claims[name.as_str()] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            assert_eq!(
                &actual, value,
                "{}: the tutorial's table says {name} = {value}, the token has {actual}",
                row.variable
            );
        }
        tokens.insert(row.variable.clone(), token.to_owned());
    }
    tokens
}

/// Sends one transcript's request; `Err` describes how the answer differs from the document.
async fn check(
    transcript: &Transcript,
    base: &str,
    tokens: &HashMap<String, String>,
) -> Result<(), String> {
    let request = parse_curl(&transcript.command, tokens)?;
    let expected = parse_expected(&transcript.output)?;
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = reqwest::Client::new().request(method, format!("{base}{}", request.path));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    if status.as_u16() != expected.status {
        problems.push(format!("status {} (document: {})", status, expected.status));
    }
    if status.canonical_reason().unwrap_or("") != expected.reason {
        problems.push(format!(
            "reason {:?} (document: {:?})",
            status.canonical_reason(),
            expected.reason
        ));
    }
    for (name, value) in &expected.headers {
        let actual: Vec<_> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .collect();
        if !actual.iter().any(|a| a == value) {
            problems.push(format!("header {name}: {actual:?} (document: {value:?})"));
        }
    }
    if body != expected.body {
        problems.push(format!("body {body:?} (document: {:?})", expected.body));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_curl_transcript_is_what_each_framework_answers() {
    let curls: Vec<Transcript> = transcripts()
        .into_iter()
        .filter(|t| t.command.starts_with("curl"))
        .collect();
    assert!(
        curls.len() >= 8,
        "expected the tutorial's curl transcripts, found {}",
        curls.len()
    );
    let table = token_table();
    assert_eq!(
        table
            .iter()
            .map(|r| r.variable.as_str())
            .collect::<Vec<_>>(),
        ["ADMIN_TOKEN", "USER_TOKEN", "EDITOR_TOKEN"],
        "the token table"
    );
    let mut failures = Vec::new();
    for framework in ["axum", "actix", "warp"] {
        let running = start(framework);
        wait_until_up(&running.base).await;
        let tokens = tokens_from(&running, &table);
        // The comparison does fail on a divergence: a changed body, a changed status.
        let mut wrong = Transcript {
            line: 0,
            command: format!("curl -i {DOC_BASE}/api/health"),
            output: vec![
                "HTTP/1.1 200 OK".into(),
                String::new(),
                r#"{"status":"down"}"#.into(),
            ],
        };
        assert!(check(&wrong, &running.base, &tokens).await.is_err());
        wrong.output = vec!["HTTP/1.1 401 Unauthorized".into()];
        assert!(check(&wrong, &running.base, &tokens).await.is_err());
        for t in &curls {
            if let Err(e) = check(t, &running.base, &tokens).await {
                failures.push(format!(
                    "docs/tutorial.md:{} ({framework}) `$ {}`: {e}",
                    t.line, t.command
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Replaces every token (`eyJ` and what follows, up to a quote) by `eyJ...`.
fn elide_tokens(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("eyJ") {
        out.push_str(&rest[..at]);
        out.push_str("eyJ...");
        let end = rest[at..].find('"').map_or(rest.len(), |e| at + e);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_transcript_is_what_the_binary_prints() {
    let run = transcripts()
        .into_iter()
        .find(|t| t.command == "cargo run -p portcullis-examples --bin protected-api")
        .expect("the `$ cargo run -p portcullis-examples --bin protected-api` transcript");
    let running = start("axum");
    let printed: Vec<String> = running
        .stdout
        .iter()
        .map(|l| {
            elide_tokens(l)
                .replace(&running.base, DOC_BASE)
                .replace(&running.issuer, DOC_ISSUER)
        })
        .collect();
    // The document's lines, in order, at the start of what the binary prints.
    let shown: Vec<&String> = run.output.iter().collect();
    assert!(shown.len() >= 10, "the run transcript is too short");
    for (i, line) in shown.iter().enumerate() {
        assert_eq!(
            printed.get(i),
            Some(*line),
            "docs/tutorial.md:{}: the binary printed {:?}",
            run.line + 1 + i,
            printed
        );
    }
}

#[test]
fn the_fail_fast_transcript_is_what_the_binary_prints() {
    let transcript = transcripts()
        .into_iter()
        .find(|t| t.command.ends_with("--config broken.yaml"))
        .expect("the `--config broken.yaml` transcript");
    let yaml = blocks()
        .into_iter()
        .find(|b| b.info == "yaml" && b.lines.first().map(String::as_str) == Some("# broken.yaml"))
        .expect("a yaml block starting with `# broken.yaml`");
    let path = std::env::temp_dir().join(format!("tutorial-broken-{}.yaml", std::process::id()));
    std::fs::write(&path, yaml.lines.join("\n")).expect("write broken.yaml");
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .args(["--port", &free_port().to_string()])
        .args(["--issuer-port", &free_port().to_string()])
        .output()
        .expect("run protected-api");
    let _ = std::fs::remove_file(&path);
    assert!(
        !output.status.success(),
        "a broken configuration must not start"
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        printed.trim_end(),
        transcript.output.join("\n").trim_end(),
        "docs/tutorial.md:{}",
        transcript.line
    );
}

#[test]
fn a_transcript_without_its_status_line_or_with_an_unknown_token_is_refused() {
    assert!(parse_curl("curl http://127.0.0.1:8000/api/me", &HashMap::new()).is_err());
    assert!(parse_curl(
        "curl -i -H \"Authorization: Bearer $NOPE\" http://127.0.0.1:8000/api/me",
        &HashMap::new()
    )
    .is_err());
    assert!(parse_expected(&[r#"{"status":"ok"}"#.into()]).is_err());
}
