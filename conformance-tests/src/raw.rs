//! A raw HTTP/1.1 client: sends the request target exactly as given (percent-escapes, dot
//! segments, absolute form, odd methods), which no URL-normalising client does.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request, sent byte for byte.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The method token (any, including extension methods).
    pub method: String,
    /// The request target, unchanged (origin or absolute form).
    pub target: String,
    /// Extra header lines (`name`, `value`).
    pub headers: Vec<(String, String)>,
    /// The body (sent with `Content-Length` when not empty).
    pub body: Vec<u8>,
}

/// What came back: the status (0 when the server closed without an answer) and the body
/// bytes (chunked framing left in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// The status code, 0 for no answer.
    pub status: u16,
    /// Everything after the header block.
    pub body: String,
}

/// Sends `request` to `addr` on a new connection (`Connection: close`) and reads the whole
/// answer, within 10 seconds.
///
/// # Panics
/// When the server cannot be reached or does not answer in time.
pub async fn send(addr: SocketAddr, request: &RawRequest) -> RawReply {
    tokio::time::timeout(Duration::from_secs(10), exchange(addr, request))
        .await
        .unwrap_or_else(|_| panic!("no answer within 10 s to {request:?}"))
}

async fn exchange(addr: SocketAddr, request: &RawRequest) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
        request.method, request.target
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.body.is_empty() {
        head.push_str(&format!("content-length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);
    // A server may answer and close before reading everything (an over-long target): what
    // it answered is still read below.
    let _ = stream.write_all(&bytes).await;
    // Read until the answer is complete (its framing says when), not until the server
    // closes: a server may linger before closing a connection whose request body it did not
    // read.
    let head_only = request.method == "HEAD";
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if complete(&answer, head_only) {
            break;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    parse(&answer)
}

/// Whether `answer` holds a whole response (headers, and the body its framing announces).
fn complete(answer: &[u8], head_only: bool) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let body = &answer[end + 4..];
    let status = parse(answer).status;
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return true;
    }
    for line in head.lines() {
        if let Some(length) = line.strip_prefix("content-length:") {
            return length
                .trim()
                .parse::<usize>()
                .is_ok_and(|n| body.len() >= n);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return body.ends_with(b"0\r\n\r\n");
        }
    }
    false
}

fn parse(answer: &[u8]) -> RawReply {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    RawReply { status, body }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_status_and_body() {
        let r = parse(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\n{}");
        assert_eq!((r.status, r.body.as_str()), (403, "{}"));
        assert_eq!(parse(b"").status, 0);
        assert_eq!(parse(b"garbage").status, 0);
    }
}
