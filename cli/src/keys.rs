//! `portcullis keygen` and `portcullis mint`: development keys and tokens.

use crate::output::{Failure, Output, OK};
use base64::Engine;
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::Algorithm;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const PRIVATE: &str = "private.pem";
const PUBLIC: &str = "jwks.json";

/// Arguments of `keygen`.
#[derive(clap::Args)]
pub(crate) struct KeygenArgs {
    /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA.
    #[arg(long, default_value = "RS256")]
    alg: String,
    /// The key id (default: `dev-` and the algorithm, e.g. `dev-es256`).
    #[arg(long)]
    kid: Option<String>,
    /// Where to write `private.pem` (PKCS#8) and `jwks.json` (the public key set).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Arguments of `mint`.
#[derive(clap::Args)]
pub(crate) struct MintArgs {
    /// A directory written by `keygen`.
    #[arg(long, value_name = "DIR")]
    key: PathBuf,
    /// `iss`.
    #[arg(long)]
    iss: String,
    /// `aud`.
    #[arg(long)]
    aud: String,
    /// `sub`.
    #[arg(long)]
    sub: String,
    /// Roles, comma-separated (`roles` claim).
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
    /// Any claim, `name=value` (the value is JSON if it parses as JSON, a string otherwise).
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// Lifetime, e.g. `15m`, `1h`, `30s`.
    #[arg(long, default_value = "15m")]
    ttl: String,
    /// Bind the token to the key in this `keygen` directory (DPoP, RFC 9449: `cnf.jkt`); it
    /// is then accepted only with a proof by that key (`portcullis dpop-proof`).
    #[arg(long, value_name = "DIR")]
    bind_to: Option<PathBuf>,
}

/// Arguments of `dpop-proof`.
#[derive(clap::Args)]
pub(crate) struct DpopProofArgs {
    /// The client's key: a directory written by `keygen` (ES256, EdDSA, RS256, ...).
    #[arg(long, value_name = "DIR")]
    key: PathBuf,
    /// The request's method (`htm`).
    #[arg(long, default_value = "GET")]
    method: String,
    /// The request's URL (`htu`), e.g. `https://api.example.com/api/me`.
    #[arg(long)]
    url: String,
    /// The access token the proof goes with (`ath`), or `-` to read it from standard input.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn unpem(text: &str) -> Option<Vec<u8>> {
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn generate(alg: Algorithm, kid: &str) -> Result<TestKey, Failure> {
    Ok(match alg {
        Algorithm::ES256 => TestKey::ec_p256(kid),
        Algorithm::ES384 => TestKey::ec_p384(kid),
        Algorithm::EdDSA => TestKey::ed25519(kid),
        a if matches!(a.key_family(), portcullis_core::KeyFamily::Rsa) => TestKey::rsa_for(kid, a),
        other => {
            return Err(Failure::input(format!(
                "keygen makes public-key pairs; {other} is not one (use RS*, PS*, ES256, ES384 or EdDSA)"
            )))
        }
    })
}

pub(crate) fn keygen(args: &KeygenArgs, out: &Output) -> Result<u8, Failure> {
    let alg: Algorithm = args
        .alg
        .parse()
        .map_err(|_| Failure::input(format!("unknown algorithm {:?}", args.alg)))?;
    let kid = args
        .kid
        .clone()
        .unwrap_or_else(|| format!("dev-{}", alg.as_str().to_ascii_lowercase()));
    let key = generate(alg, &kid)?;
    let der = key
        .private_pkcs8()
        .ok_or_else(|| Failure::input("this key cannot be exported"))?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::input(format!("cannot create {}: {e}", args.out.display())))?;
    let private = args.out.join(PRIVATE);
    write_private(&private, &pem("PRIVATE KEY", &der))?;
    let public = args.out.join(PUBLIC);
    std::fs::write(&public, TestKey::jwks(&[&key]))
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", public.display())))?;
    let value = json!({
        "kid": kid,
        "alg": alg.as_str(),
        "private_key": private,
        "jwks": public,
    });
    let text = format!(
        "generated {} key {kid:?}\n  private key  {} (keep it secret)\n  public JWKS  {} (publish it, or verify with --jwks)\n",
        alg.as_str(),
        private.display(),
        public.display()
    );
    out.print(&value, &text);
    Ok(OK)
}

fn write_private(path: &Path, pem: &str) -> Result<(), Failure> {
    std::fs::write(path, pem)
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

fn load(dir: &Path) -> Result<TestKey, Failure> {
    let jwks_path = dir.join(PUBLIC);
    let jwks: Value = std::fs::read_to_string(&jwks_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            Failure::input(format!(
                "{} is not a key set written by keygen",
                jwks_path.display()
            ))
        })?;
    let jwk = &jwks["keys"][0];
    let kid = jwk["kid"].as_str().unwrap_or_default();
    let alg: Algorithm = jwk["alg"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Failure::input(format!("{} names no algorithm", jwks_path.display())))?;
    let private_path = dir.join(PRIVATE);
    let der = std::fs::read_to_string(&private_path)
        .ok()
        .and_then(|t| unpem(&t))
        .ok_or_else(|| {
            Failure::input(format!(
                "{} is not a PEM private key",
                private_path.display()
            ))
        })?;
    TestKey::from_pkcs8(kid, alg, &der)
        .map_err(|e| Failure::input(format!("{}: {e}", private_path.display())))
}

pub(crate) fn mint(args: &MintArgs, out: &Output) -> Result<u8, Failure> {
    let key = load(&args.key)?;
    let ttl = humantime::parse_duration(&args.ttl)
        .map_err(|e| Failure::input(format!("--ttl {:?}: {e}", args.ttl)))?;
    // At most ten years: a development token, not a credential for the ages.
    if ttl.as_secs() > 10 * 366 * 86_400 {
        return Err(Failure::input(format!(
            "--ttl {:?}: at most ten years",
            args.ttl
        )));
    }
    let seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let mut builder = TokenBuilder::new(&key)
        .issuer(&args.iss)
        .audience(&args.aud)
        .subject(&args.sub)
        .lifetime(seconds);
    if !args.roles.is_empty() {
        let roles: Vec<&str> = args.roles.iter().map(String::as_str).collect();
        builder = builder.roles(&roles);
    }
    for claim in &args.claims {
        let (name, value) = claim
            .split_once('=')
            .ok_or_else(|| Failure::input(format!("--claim {claim:?}: expected NAME=VALUE")))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        builder = builder.claim(name, value);
    }
    if let Some(holder) = &args.bind_to {
        builder = builder.bound_to(&load(holder)?);
    }
    let token = builder.sign();
    out.print(
        &json!({ "token": token, "kid": key.kid(), "alg": key.algorithm().as_str(), "expires_in": seconds }),
        &format!("{token}\n"),
    );
    Ok(OK)
}

pub(crate) fn dpop_proof(args: &DpopProofArgs, out: &Output) -> Result<u8, Failure> {
    let key = load(&args.key)?;
    let url = url::Url::parse(&args.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Failure::input(format!("--url {:?}: not an http(s) URL", args.url)))?;
    // `htu` without query and fragment (RFC 9449 §4.2).
    let mut htu = url.clone();
    htu.set_query(None);
    htu.set_fragment(None);
    let mut builder = key
        .dpop_proof(&args.method, htu.as_str())
        .without_claim("exp");
    if let Some(token) = &args.token {
        builder = builder.access_token(&crate::output::read_token(token)?);
    }
    let proof = builder.sign();
    out.print(
        &json!({ "proof": proof, "jkt": key.thumbprint(), "htm": args.method, "htu": htu.as_str() }),
        &format!("{proof}\n"),
    );
    Ok(OK)
}
