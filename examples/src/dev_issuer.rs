//! The embedded DEVELOPMENT issuer: portcullis's test issuer on a fixed loopback port, with a
//! key generated at start. Never use it for anything real: anyone can mint its tokens.

use portcullis_core::testkit::{TestIssuer, TestKey};
use serde_json::json;

/// The issuer URL that makes the example start the embedded issuer.
pub const DEV_ISSUER: &str = "http://127.0.0.1:9400";

/// A running development issuer and its signing key.
pub struct DevIssuer {
    issuer: TestIssuer,
    key: TestKey,
}

impl DevIssuer {
    /// Starts the issuer on `127.0.0.1:port` (9400 in the example's configuration).
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let key = TestKey::rsa("dev-key-1");
        let issuer = TestIssuer::start_on(listener, &[&key]);
        Ok(Self { issuer, key })
    }

    /// A fresh token for `sub` with `roles`, valid for an hour.
    pub fn token(&self, audience: &str, sub: &str, email: &str, roles: &[&str]) -> String {
        self.issuer
            .token(&self.key, audience)
            .lifetime(3600)
            .subject(sub)
            .claim("email", json!(email))
            .claim("org_id", json!("org-1"))
            .roles(roles)
            .sign()
    }

    /// The `curl` transcript of `docs/tutorial.md`, with fresh tokens, for a server at `base`.
    pub fn curl_lines(&self, base: &str, audience: &str) -> String {
        let user = self.token(audience, "user-456", "plain@example.com", &["user"]);
        let editor = self.token(audience, "user-789", "editor@example.com", &["editor"]);
        let admin = self.token(audience, "user-123", "user@example.com", &["admin"]);
        format!(
            "\
# Public endpoint - works without token
curl {base}/api/health
# Protected endpoint - 401 without token
curl -i {base}/api/me
# With a valid token (admin)
curl -H \"Authorization: Bearer {admin}\" {base}/api/me
# Admin endpoint with non-admin token - 403
curl -i -H \"Authorization: Bearer {user}\" {base}/api/admin/stats
# Editor endpoint with an editor token - 200
curl -H \"Authorization: Bearer {editor}\" {base}/api/editor/drafts
"
        )
    }
}
