//! Reading bearer credentials and the JWS compact serialization, before any key is touched.

use crate::algorithm::Algorithm;
use crate::error::{AuthError, Malformed};
use serde::Deserialize;

/// The `Authorization` header(s) of a request, as the adapter received them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthorizationHeader<'a> {
    /// No `Authorization` header.
    #[default]
    Absent,
    /// Exactly one, as raw bytes (it may not be valid UTF-8).
    One(&'a [u8]),
    /// More than one: an RFC 6750 `invalid_request`.
    Several,
}

impl<'a> AuthorizationHeader<'a> {
    /// From every value of the `Authorization` header, in any framework's types.
    pub fn from_values<I: IntoIterator<Item = &'a [u8]>>(values: I) -> Self {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(one), None) => Self::One(one),
            (Some(_), Some(_)) => Self::Several,
        }
    }
}

impl<'a> From<Option<&'a str>> for AuthorizationHeader<'a> {
    fn from(value: Option<&'a str>) -> Self {
        value.map_or(Self::Absent, |v| Self::One(v.as_bytes()))
    }
}

impl<'a> From<&'a str> for AuthorizationHeader<'a> {
    fn from(value: &'a str) -> Self {
        Self::One(value.as_bytes())
    }
}

/// The credentials of one request: its `Authorization` and `X-Agent-Authorization`
/// headers, as the adapter received them, and the token found in the application's other
/// configured places, if any ([`TokenSources`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCredentials<'a> {
    /// The `Authorization` header(s).
    pub authorization: AuthorizationHeader<'a>,
    /// The `X-Agent-Authorization` header(s).
    pub agent_authorization: AuthorizationHeader<'a>,
    /// The bare token found in the configured header, cookie or query parameter:
    /// [`AuthorizationHeader::Several`] when more than one was found (across sources, or twice
    /// in one), which is an RFC 6750 `invalid_request`, as is a token here together with an
    /// `Authorization` header.
    pub other_token: AuthorizationHeader<'a>,
    /// Where `other_token` came from, when it is exactly one token.
    pub other_source: Option<TokenSource>,
    /// What a DPoP proof is checked against: the `DPoP` header(s), method, path, authority.
    pub dpop: DpopRequest<'a>,
}

/// The parts of a request a DPoP proof (RFC 9449) names, as the adapter received them.
/// Anything unknown (`None`) fails a proof check: a proof is never accepted for a request
/// whose method or URL portcullis cannot see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DpopRequest<'a> {
    /// The `DPoP` header(s).
    pub proofs: AuthorizationHeader<'a>,
    /// The method as sent.
    pub method: Option<&'a str>,
    /// The path as sent (before percent-decoding), without the query.
    pub path: Option<&'a str>,
    /// The authority: HTTP/2 `:authority` or the one `Host` header.
    pub authority: Option<&'a str>,
}

impl<'a> RequestCredentials<'a> {
    /// Both headers.
    pub fn new(
        authorization: AuthorizationHeader<'a>,
        agent_authorization: AuthorizationHeader<'a>,
    ) -> Self {
        Self {
            authorization,
            agent_authorization,
            other_token: AuthorizationHeader::Absent,
            other_source: None,
            dpop: DpopRequest::default(),
        }
    }

    /// Adds the token from the configured [`TokenSources`] of `request` (nothing is read when
    /// none is configured).
    ///
    /// It also takes what a DPoP proof is checked against (the `DPoP` header, method, path and
    /// authority), for applications that take DPoP.
    pub fn with_sources(mut self, sources: &TokenSources, request: impl RequestParts<'a>) -> Self {
        let found = sources.find_found(&request);
        (self.other_token, self.other_source) = (found.0, found.1);
        if !sources.dpop {
            return self;
        }
        self.dpop = DpopRequest {
            proofs: AuthorizationHeader::from_values(request.header_values("dpop")),
            method: Some(request.method()),
            path: request.path(),
            authority: request.authority().or_else(|| {
                match AuthorizationHeader::from_values(request.header_values("host")) {
                    AuthorizationHeader::One(host) => std::str::from_utf8(host).ok(),
                    _ => None,
                }
            }),
        };
        self
    }
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer` (or a bare token given to `verify_token`).
    AuthorizationHeader,
    /// The configured `token_header`.
    Header,
    /// The configured `token_cookie`.
    Cookie,
    /// The configured `token_query` (on a WebSocket upgrade).
    Query,
}

/// What an adapter lets the core read of a request (borrowed for `'a`) to find a token
/// outside `Authorization`.
pub trait RequestParts<'a> {
    /// Every value of the request header `name` (given in lower case), in order.
    fn header_values(&self, name: &str) -> impl Iterator<Item = &'a [u8]>;
    /// The raw query string (after `?`, before any `#`), if the request has one.
    fn query(&self) -> Option<&'a str>;
    /// The request method, upper case as sent (`GET`).
    fn method(&self) -> &'a str;
    /// The request path as sent, before percent-decoding, without the query (for DPoP `htu`).
    /// `None` (the default): unknown, and no DPoP proof is accepted.
    fn path(&self) -> Option<&'a str> {
        None
    }
    /// The request's authority when the request line or HTTP/2 `:authority` carries it
    /// (otherwise the one `Host` header is used).
    fn authority(&self) -> Option<&'a str> {
        None
    }
}

/// Where a caller's token may be besides `Authorization: Bearer`, from the configuration's
/// `token_header`, `token_cookie` and `token_query`. The bare token is expected there (no
/// `Bearer `); it is verified exactly as a bearer token is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSources {
    pub(crate) header: Option<String>,
    pub(crate) cookie: Option<String>,
    pub(crate) query: Option<String>,
    /// Whether the application takes DPoP: only then is what a proof names read.
    pub(crate) dpop: bool,
}

impl TokenSources {
    /// The custom header, lower case.
    pub fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }
    /// The cookie name.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }
    /// The query parameter, read on WebSocket upgrades (`Upgrade: websocket`) only.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    /// Whether any source besides `Authorization` is configured.
    pub fn any(&self) -> bool {
        self.header.is_some() || self.cookie.is_some() || self.query.is_some()
    }

    /// The token of `request` in these sources: absent, exactly one, or several.
    pub fn find<'a, R: RequestParts<'a>>(&self, request: &R) -> AuthorizationHeader<'a> {
        self.find_found(request).0
    }

    /// The token and, when there is exactly one, its source.
    fn find_found<'a, R: RequestParts<'a>>(&self, request: &R) -> Found<'a> {
        if !self.any() {
            return Found::default();
        }
        let mut found = Found::default();
        // An empty value is no token, in every source.
        if let Some(name) = &self.header {
            for value in request.header_values(name) {
                if !value.trim_ascii().is_empty() {
                    found.push(value, TokenSource::Header);
                }
            }
        }
        if let Some(name) = &self.cookie {
            for header in request.header_values("cookie") {
                // RFC 6265 §4.2.1: `name=value` pairs separated by `;`. Names are compared as
                // the frameworks' own cookie readers see them (trimmed, percent-decoded), so
                // that no spelling hides a second token from us that a handler would read.
                for pair in header.split(|&b| b == b';') {
                    let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                        continue;
                    };
                    let (n, v) = (&pair[..eq], &pair[eq + 1..]);
                    if names_match(n.trim_ascii(), name, false) {
                        let v = strip_quotes(v.trim_ascii());
                        if !v.is_empty() {
                            found.push(v, TokenSource::Cookie);
                        }
                    }
                }
            }
        }
        // The query parameter counts only on a WebSocket upgrade (RFC 6455: a `GET` with
        // `Connection: upgrade` and `Upgrade: websocket`), the one request a browser cannot add
        // a header to; on any other request a token in the URL is no token at all.
        if let (Some(name), Some(query)) = (&self.query, request.query()) {
            if websocket_upgrade(request) {
                for pair in query.split('&') {
                    let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
                    // Names compared decoded, as the frameworks' query parsers see them; the
                    // value is taken as sent (a JWS needs no percent-encoding, and a token
                    // that has any is not `token68` and is refused).
                    if names_match(n.as_bytes(), name, true) && !v.is_empty() {
                        found.push(v.as_bytes(), TokenSource::Query);
                    }
                }
            }
        }
        found
    }
}

/// RFC 6455 §4.1: `GET`, `Connection` listing `upgrade`, `Upgrade` listing `websocket`.
fn websocket_upgrade<'a, R: RequestParts<'a>>(request: &R) -> bool {
    let lists = |header: &str, token: &[u8]| {
        request.header_values(header).any(|v| {
            v.split(|&b| b == b',')
                .any(|p| p.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    request.method() == "GET" && lists("connection", b"upgrade") && lists("upgrade", b"websocket")
}

/// Whether `raw` (a cookie or query parameter name as sent) names `configured` once
/// percent-decoded (and, in a query, with `+` as a space).
fn names_match(raw: &[u8], configured: &str, plus_is_space: bool) -> bool {
    if !(raw.contains(&b'%') || plus_is_space && raw.contains(&b'+')) {
        return raw == configured.as_bytes();
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    decoded.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
                    i += 3;
                    continue;
                }
                _ => decoded.push(b'%'),
            },
            b'+' if plus_is_space => decoded.push(b' '),
            b => decoded.push(b),
        }
        i += 1;
    }
    decoded.trim_ascii() == configured.as_bytes()
}

/// A cookie value may be quoted (RFC 6265 `cookie-value`).
fn strip_quotes(value: &[u8]) -> &[u8] {
    value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value)
}

#[derive(Default)]
struct Found<'a>(AuthorizationHeader<'a>, Option<TokenSource>);

impl<'a> Found<'a> {
    fn push(&mut self, value: &'a [u8], source: TokenSource) {
        (self.0, self.1) = match self.0 {
            AuthorizationHeader::Absent => (AuthorizationHeader::One(value), Some(source)),
            _ => (AuthorizationHeader::Several, None),
        };
    }
}

/// A bare token from another source, checked for size (its `token68` syntax is checked when the
/// cache misses, as for a bearer token).
pub(crate) fn bare_token(value: &[u8], max_len: usize) -> Result<&str, AuthError> {
    if value.is_empty() {
        return Err(AuthError::MissingToken);
    }
    if value.len() > max_len {
        return Err(AuthError::TokenTooLarge);
    }
    std::str::from_utf8(value).map_err(|_| AuthError::Malformed(Malformed::NotToken68))
}

/// The token of a `Bearer` credential, checked for size and `token68` syntax.
#[cfg(test)]
pub(crate) fn bearer_token(
    header: AuthorizationHeader<'_>,
    max_len: usize,
) -> Result<&str, AuthError> {
    let token = bearer_credential(header, max_len)?;
    check_token68(token)?;
    Ok(token)
}

/// The scheme a caller's token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer`, or a token from a configured cookie, header or query parameter.
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1).
    Dpop,
}

/// The token of a `Bearer` credential, checked for size; its `token68` syntax is checked by
/// [`check_token68`] once the verified-token cache has missed (a cached token was verified, so
/// it is base64url, a subset of `token68`).
pub(crate) fn bearer_credential(
    header: AuthorizationHeader<'_>,
    max_len: usize,
) -> Result<&str, AuthError> {
    scheme_credential(header, max_len, false).map(|(token, _)| token)
}

/// The token of a `Bearer` credential or, where `dpop` allows it, a `DPoP` one (RFC 9449
/// §7.1: `DPoP 1*SP token68`), with the same checks.
pub(crate) fn scheme_credential(
    header: AuthorizationHeader<'_>,
    max_len: usize,
    dpop: bool,
) -> Result<(&str, Scheme), AuthError> {
    let raw = match header {
        AuthorizationHeader::Absent => return Err(AuthError::MissingToken),
        AuthorizationHeader::Several => return Err(AuthError::InvalidRequest),
        AuthorizationHeader::One(raw) => raw,
    };
    // Size first, before looking at the content at all (scheme and spaces allowed for).
    if raw.len() > max_len.saturating_add(64) {
        return Err(AuthError::TokenTooLarge);
    }
    let value =
        std::str::from_utf8(raw).map_err(|_| AuthError::Malformed(Malformed::NotToken68))?;
    // RFC 6750 §2.1: `Bearer 1*SP b68token`, exactly. HTTP parsers have already removed the
    // whitespace around a field value; a tab is not a separator here, and the token itself
    // is checked as strictly as `verify_token` checks a bare token.
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if dpop && scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(AuthError::MissingToken);
    };
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    if token.len() > max_len {
        return Err(AuthError::TokenTooLarge);
    }
    Ok((token, scheme))
}

/// RFC 6750 §2.1: the token is a `b64token` (`token68`).
pub(crate) fn check_token68(token: &str) -> Result<(), AuthError> {
    if is_token68(token) {
        Ok(())
    } else {
        Err(AuthError::Malformed(Malformed::NotToken68))
    }
}

/// The bytes of RFC 7235 `token68` before its `=` padding, as a lookup table.
const TOKEN68: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// RFC 7235 `token68`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, in
/// one pass over a lookup table.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| TOKEN68[usize::from(b)])
}

/// The JOSE header members portcullis reads, read in one pass with every member name checked
/// for duplicates. `jku`, `x5u`, `jwk` and `x5c` are deliberately not read: nothing in a
/// token ever chooses where its key comes from.
struct RawHeader {
    /// `None`: a name portcullis does not know (`none` included).
    alg: Option<Algorithm>,
    kid: Option<String>,
    typ: Option<String>,
    /// Present at all, `null` included, counts: RFC 7515 §4.1.11 allows only a non-empty
    /// array, and portcullis understands no extension anyway.
    has_crit: bool,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> serde::de::Visitor<'de> for HeaderVisitor {
    type Value = RawHeader;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        use serde::de::Error;
        let mut seen = crate::strict_json::Seen::new();
        let (mut alg, mut kid, mut typ, mut has_crit) = (None, None, None, false);
        while let Some(name) = map.next_key::<crate::strict_json::Name<'de>>()? {
            if !seen.insert(&name) {
                return Err(A::Error::custom("duplicate member name"));
            }
            match &*name {
                "alg" => {
                    let name = map.next_value::<crate::strict_json::Name<'de>>()?;
                    alg = Some(name.parse::<Algorithm>().ok());
                }
                "kid" => kid = map.next_value::<Option<String>>()?,
                "typ" => typ = map.next_value::<Option<String>>()?,
                "crit" => {
                    map.next_value::<crate::strict_json::Strict>()?;
                    has_crit = true;
                }
                // Read strictly all the same: a duplicate name at any depth is refused.
                _ => {
                    map.next_value::<crate::strict_json::Strict>()?;
                }
            }
        }
        Ok(RawHeader {
            alg: alg.ok_or_else(|| A::Error::missing_field("alg"))?,
            kid,
            typ,
            has_crit,
        })
    }
}

/// A compact JWS split and its header decoded; payload and signature still encoded.
pub(crate) struct CompactJws<'t> {
    /// The header's algorithm, if portcullis knows it (`none` never is).
    pub(crate) alg: Option<Algorithm>,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) has_crit: bool,
    pub(crate) signing_input: &'t str,
    pub(crate) payload_b64: &'t str,
    pub(crate) signature_b64: &'t str,
}

impl<'t> CompactJws<'t> {
    /// Splits `token` and decodes its header (once).
    pub(crate) fn parse(token: &'t str) -> Result<Self, AuthError> {
        let malformed = AuthError::Malformed;
        let mut parts = token.splitn(4, '.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(Malformed::SegmentCount));
        };
        // An empty payload is a valid JWS but not a JWT: it is refused later, as a payload.
        if header_b64.is_empty() {
            return Err(malformed(Malformed::SegmentCount));
        }
        let (mut buf, mut heap) = ([0u8; 512], Vec::new());
        let header_json = crate::b64::decode_segment_buffered(header_b64, &mut buf, &mut heap)
            .ok_or(malformed(Malformed::Base64))?;
        // A JSON object (RFC 7515 §4), every member named once, at any depth.
        // UTF-8 checked once for the whole header, then read as text (no check per string).
        let header: RawHeader = std::str::from_utf8(header_json)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or(malformed(Malformed::Header))?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        Ok(Self {
            alg: header.alg,
            kid: header.kid,
            typ: header.typ,
            has_crit: header.has_crit,
            signing_input,
            payload_b64,
            signature_b64,
        })
    }

    /// The header's algorithm, if portcullis knows it (`none` never is).
    pub(crate) fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(h: &str) -> Result<&str, AuthError> {
        bearer_token(AuthorizationHeader::from(h), 100)
    }

    #[test]
    fn scheme_is_case_insensitive_and_spaces_separate() {
        assert_eq!(token("Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(token("bearer abc"), Ok("abc"));
        assert_eq!(token("BEARER  abc"), Ok("abc"));
    }

    #[test]
    fn tabs_and_surrounding_whitespace_are_refused() {
        // RFC 6750: one or more spaces, nothing else, between scheme and token.
        assert_eq!(token("Bearer\tabc"), Err(AuthError::MissingToken));
        assert_eq!(
            token("Bearer \tabc"),
            Err(AuthError::Malformed(Malformed::NotToken68))
        );
        assert_eq!(
            token("Bearer abc "),
            Err(AuthError::Malformed(Malformed::NotToken68))
        );
        assert_eq!(
            token("Bearer abc\t"),
            Err(AuthError::Malformed(Malformed::NotToken68))
        );
        assert_eq!(token(" Bearer abc"), Err(AuthError::MissingToken));
    }

    #[test]
    fn missing_or_other_scheme_is_missing_token() {
        assert_eq!(
            bearer_token(AuthorizationHeader::Absent, 100),
            Err(AuthError::MissingToken)
        );
        assert_eq!(token("Basic dXNlcjpwYXNz"), Err(AuthError::MissingToken));
        assert_eq!(token("Bearer"), Err(AuthError::MissingToken));
        assert_eq!(token("Bearer   "), Err(AuthError::MissingToken));
        assert_eq!(token("Bearerabc"), Err(AuthError::MissingToken));
    }

    #[test]
    fn two_headers_are_invalid_request() {
        let h = AuthorizationHeader::from_values([b"Bearer a".as_slice(), b"Bearer b".as_slice()]);
        assert_eq!(bearer_token(h, 100), Err(AuthError::InvalidRequest));
    }

    #[test]
    fn non_token68_and_non_ascii_are_malformed() {
        assert_eq!(
            token("Bearer a b"),
            Err(AuthError::Malformed(Malformed::NotToken68))
        );
        assert_eq!(
            token("Bearer a=b"),
            Err(AuthError::Malformed(Malformed::NotToken68))
        );
        assert_eq!(
            token("Bearer é"),
            Err(AuthError::Malformed(Malformed::NotToken68))
        );
        let raw = AuthorizationHeader::One(b"Bearer \xff\xfe");
        assert_eq!(
            bearer_token(raw, 100),
            Err(AuthError::Malformed(Malformed::NotToken68))
        );
    }

    #[test]
    fn size_limit_applies_before_decoding() {
        let long = format!("Bearer {}", "a".repeat(101));
        assert_eq!(token(&long), Err(AuthError::TokenTooLarge));
        let huge = format!("Bearer {}", "\u{1F600}".repeat(1000));
        assert_eq!(token(&huge), Err(AuthError::TokenTooLarge));
    }

    struct Req<'a>(Vec<(&'a str, &'a str)>, Option<&'a str>);

    impl<'a> RequestParts<'a> for &Req<'a> {
        fn header_values(&self, name: &str) -> impl Iterator<Item = &'a [u8]> {
            let name = name.to_owned();
            self.0
                .iter()
                .filter(move |(n, _)| *n == name)
                .map(|(_, v)| v.as_bytes())
        }
        fn query(&self) -> Option<&'a str> {
            self.1
        }
        fn method(&self) -> &'a str {
            "GET"
        }
    }

    fn sources() -> TokenSources {
        TokenSources {
            dpop: false,
            header: Some("x-api-token".into()),
            cookie: Some("session".into()),
            query: Some("access_token".into()),
        }
    }

    #[test]
    fn token_sources_find_one_token_or_several() {
        use AuthorizationHeader::{Absent, One, Several};
        let find = |headers: Vec<(&'static str, &'static str)>, query| {
            sources().find(&&Req(headers, query))
        };
        assert_eq!(find(vec![], None), Absent);
        assert_eq!(find(vec![("x-api-token", "t")], None), One(b"t"));
        assert_eq!(
            find(vec![("cookie", "a=1; session=t; b=2")], None),
            One(b"t")
        );
        assert_eq!(find(vec![("cookie", "session=\"t\"")], None), One(b"t"));
        assert_eq!(
            find(vec![("cookie", "xsession=t; session_=u")], None),
            Absent
        );
        let ws = ("upgrade", "websocket");
        let conn = ("connection", "Upgrade");
        assert_eq!(find(vec![conn, ws], Some("a=1&access_token=t")), One(b"t"));
        assert_eq!(
            find(
                vec![conn, ("upgrade", "h2c, WebSocket")],
                Some("access_token=t")
            ),
            One(b"t")
        );
        assert_eq!(
            find(vec![conn, ws], Some("xaccess_token=t&access_token_=u")),
            Absent
        );
        // Not a WebSocket upgrade: a token in the URL is no token.
        assert_eq!(find(vec![], Some("access_token=t")), Absent);
        assert_eq!(
            find(vec![conn, ("upgrade", "h2c")], Some("access_token=t")),
            Absent
        );
        // Two anywhere: several, whatever the sources.
        assert_eq!(
            find(vec![("cookie", "session=t"), ("cookie", "session=u")], None),
            Several
        );
        assert_eq!(
            find(vec![("cookie", "session=t; session=t")], None),
            Several
        );
        assert_eq!(
            find(vec![("x-api-token", "t"), conn, ws], Some("access_token=t")),
            Several
        );
        assert_eq!(
            find(vec![conn, ws], Some("access_token=t&access_token=u")),
            Several
        );
        // Upgrade without `Connection: upgrade` is no upgrade.
        assert_eq!(find(vec![ws], Some("access_token=t")), Absent);
        // Spellings a framework's parser reads as the same name are the same name.
        assert_eq!(
            find(vec![conn, ws], Some("access_token=t&access%5Ftoken=u")),
            Several
        );
        assert_eq!(find(vec![conn, ws], Some("%61ccess_token=t")), One(b"t"));
        assert_eq!(
            find(vec![("cookie", "session =u; session=t")], None),
            Several
        );
        assert_eq!(
            find(vec![("cookie", "s%65ssion=u; session=t")], None),
            Several
        );
        // An empty value is no token.
        assert_eq!(find(vec![("cookie", "session=")], None), Absent);
        assert_eq!(find(vec![("cookie", "session=\"\"")], None), Absent);
        assert_eq!(find(vec![("x-api-token", " ")], None), Absent);
        assert_eq!(find(vec![conn, ws], Some("access_token=")), Absent);
        // Nothing configured: nothing read.
        assert_eq!(
            TokenSources::default().find(&&Req(vec![("x-api-token", "t")], Some("access_token=t"))),
            Absent
        );
    }

    #[test]
    fn structure_errors() {
        let seg = |t| CompactJws::parse(t).err();
        assert_eq!(
            seg("a.b"),
            Some(AuthError::Malformed(Malformed::SegmentCount))
        );
        assert_eq!(
            seg("a.b.c.d.e"),
            Some(AuthError::Malformed(Malformed::SegmentCount))
        );
        assert_eq!(seg("!!.b.c"), Some(AuthError::Malformed(Malformed::Base64)));
        // base64url of `not json`
        assert_eq!(
            seg("bm90IGpzb24.b.c"),
            Some(AuthError::Malformed(Malformed::Header))
        );
        // base64url of `{"alg":5}`
        assert_eq!(
            seg("eyJhbGciOjV9.b.c"),
            Some(AuthError::Malformed(Malformed::Header))
        );
    }
}
