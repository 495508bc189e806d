//! `sso-bench`: what `make bench` (bench/run.sh) needs besides nginx and wrk.
//!
//! ```text
//! sso-bench cookie  --secret-file F --app CLIENT_ID --keys DIR --issuer URL
//!                   the value of a valid sealed session cookie (sso_core::session), with a
//!                   typical identity and the RS256 ID token a login keeps
//! sso-bench token   --keys DIR --alg ALG --issuer URL --aud CLIENT_ID [--jti N]
//!                   one signed JWT with the claims of a typical authentik user
//! sso-bench tokens  --keys DIR --alg ALG --issuer URL --aud CLIENT_ID --count N --out FILE
//!                   N distinct tokens (distinct `jti`), one per line, signed on every core
//! sso-bench memload --addr HOST:PORT --path P --keys DIR --issuer URL --aud CLIENT_ID
//!                   --count N [--conns 8] [--depth 4] [--max-seconds 240]
//!                   sends N requests, each with a fresh HS256 bearer token (minted on the
//!                   fly: a million tokens never touch the disk), over C keep-alive
//!                   connections with D requests pipelined; prints a JSON summary
//! ```
//! Keys are the files of tests/nginx/keys (`rsa-1.pem`, `ec-p256.pem`, `ec-p384.pem`,
//! `ed-1.pem`: PKCS#8 PEM; `hmac.key`: base64url), the kids those of its `jwks.json`.

#[path = "../../claims.rs"]
mod bench_claims;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine;
use serde_json::{json, Value};
use sso_core::identity::Identity;
use sso_core::session::{Session, SessionKeys};

type Res<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("cookie") => cookie(&Opts::parse(&args[1..])),
        Some("token") => one_token(&Opts::parse(&args[1..])),
        Some("tokens") => many_tokens(&Opts::parse(&args[1..])),
        Some("memload") => memload(&Opts::parse(&args[1..])),
        Some("revocations") => revocations(&Opts::parse(&args[1..])),
        _ => Err(
            "usage: sso-bench cookie|token|tokens|memload|revocations [--option value]... \
                  (see bench/tools/src/main.rs)"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("sso-bench: {e}");
        std::process::exit(1);
    }
}

/// `revocations --issuer I --count N --lifetime SECS --out FILE`: a `sso_shared_zone
/// state=` file holding N revoked sessions (random sids of issuer I, live for SECS), so the
/// benchmark's nginx starts with that many revocations held.
fn revocations(o: &Opts) -> Res<()> {
    use sso_core::revocations::{encode_state, Revocation};
    let issuer = o.get("issuer")?;
    let count: usize = o.get("count")?.parse().map_err(|_| "--count: a number")?;
    let lifetime: u64 = o.get("lifetime")?.parse().map_err(|_| "--lifetime: seconds")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut sid = [0u8; 16];
    let entries: Vec<Revocation> = (0..count)
        .map(|_| {
            aws_lc_rs::rand::fill(&mut sid).expect("CSPRNG");
            Revocation::session(issuer, &sid, now + lifetime)
        })
        .collect();
    std::fs::write(o.get("out")?, encode_state(&entries, now)).map_err(|e| e.to_string())
}

/// `--name value` pairs.
struct Opts(Vec<(String, String)>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                out.push((name.to_owned(), it.next().cloned().unwrap_or_default()));
            }
        }
        Opts(out)
    }

    fn get(&self, name: &str) -> Res<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("missing --{name}"))
    }

    fn num(&self, name: &str, default: u64) -> Res<u64> {
        match self.get(name) {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v}")),
            Err(_) => Ok(default),
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Claims of a typical authentik user (bench/claims.rs, shared with the core's
/// micro-benchmarks), valid for an hour; `jti` makes each token distinct.
fn claims(issuer: &str, aud: &str, now: u64, jti: u64) -> Value {
    bench_claims::typical(issuer, aud, now, &format!("bench-{jti:012}"))
}

fn pem_der(path: &Path) -> Res<Vec<u8>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD
        .decode(body)
        .map_err(|e| format!("{}: not PEM: {e}", path.display()))
}

enum Signer {
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(aws_lc_rs::hmac::Key),
}

/// A signer for `alg` and the kid of its key in tests/nginx/keys/jwks.json.
fn signer(keys: &Path, alg: &str) -> Res<(Signer, &'static str)> {
    let rejected = |e: aws_lc_rs::error::KeyRejected| format!("{alg} key rejected: {e}");
    Ok(match alg {
        "RS256" | "PS256" => (
            Signer::Rsa(
                RsaKeyPair::from_pkcs8(&pem_der(&keys.join("rsa-1.pem"))?).map_err(rejected)?,
                if alg == "RS256" {
                    &sig::RSA_PKCS1_SHA256
                } else {
                    &sig::RSA_PSS_SHA256
                },
            ),
            "rsa-1",
        ),
        "ES256" => (
            Signer::Ec(
                EcdsaKeyPair::from_pkcs8(
                    &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &pem_der(&keys.join("ec-p256.pem"))?,
                )
                .map_err(rejected)?,
            ),
            "ec-p256",
        ),
        "ES384" => (
            Signer::Ec(
                EcdsaKeyPair::from_pkcs8(
                    &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                    &pem_der(&keys.join("ec-p384.pem"))?,
                )
                .map_err(rejected)?,
            ),
            "ec-p384",
        ),
        "EdDSA" => (
            Signer::Ed(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem_der(&keys.join("ed-1.pem"))?)
                    .map_err(rejected)?,
            ),
            "ed-1",
        ),
        "HS256" => {
            let path = keys.join("hmac.key");
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let secret = B64
                .decode(text.trim())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            (
                Signer::Hmac(aws_lc_rs::hmac::Key::new(
                    aws_lc_rs::hmac::HMAC_SHA256,
                    &secret,
                )),
                "hmac-1",
            )
        }
        other => return Err(format!("unsupported --alg {other}")),
    })
}

impl Signer {
    fn sign(&self, input: &[u8]) -> Res<Vec<u8>> {
        let rng = SystemRandom::new();
        Ok(match self {
            Signer::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, input, &mut out)
                    .map_err(|_| "RSA signing failed")?;
                out
            }
            Signer::Ec(pair) => pair
                .sign(&rng, input)
                .map_err(|_| "ECDSA signing failed")?
                .as_ref()
                .to_vec(),
            Signer::Ed(pair) => pair.sign(input).as_ref().to_vec(),
            Signer::Hmac(key) => aws_lc_rs::hmac::sign(key, input).as_ref().to_vec(),
        })
    }
}

fn mint(signer: &Signer, alg: &str, kid: &str, claims: &Value) -> Res<String> {
    let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = signer.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", B64.encode(signature)))
}

fn one_token(o: &Opts) -> Res<()> {
    let alg = o.get("alg")?;
    let (signer, kid) = signer(Path::new(o.get("keys")?), alg)?;
    let c = claims(o.get("issuer")?, o.get("aud")?, now(), o.num("jti", 0)?);
    println!("{}", mint(&signer, alg, kid, &c)?);
    Ok(())
}

fn many_tokens(o: &Opts) -> Res<()> {
    let alg = o.get("alg")?.to_owned();
    let keys = PathBuf::from(o.get("keys")?);
    let issuer = o.get("issuer")?.to_owned();
    let aud = o.get("aud")?.to_owned();
    let count = o.num("count", 10_000)?.min(5_000_000);
    let out = PathBuf::from(o.get("out")?);
    let threads = o.num(
        "threads",
        std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
    )?;
    let threads = threads.clamp(1, 64);
    let now = now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (alg, keys, issuer, aud) = (alg.clone(), keys.clone(), issuer.clone(), aud.clone());
            std::thread::spawn(move || -> Res<String> {
                let (signer, kid) = signer(&keys, &alg)?;
                let mut text = String::new();
                let mut jti = t;
                while jti < count {
                    text.push_str(&mint(&signer, &alg, kid, &claims(&issuer, &aud, now, jti))?);
                    text.push('\n');
                    jti += threads;
                }
                Ok(text)
            })
        })
        .collect();
    let mut all = String::new();
    for h in handles {
        all.push_str(&h.join().map_err(|_| "a signing thread panicked")??);
    }
    std::fs::write(&out, all).map_err(|e| format!("{}: {e}", out.display()))
}

fn cookie(o: &Opts) -> Res<()> {
    let path = o.get("secret-file")?;
    let secret = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let keys = SessionKeys::parse(&secret).map_err(|e| format!("{path}: {e}"))?;
    let app = o.get("app")?;
    let issuer = o.get("issuer")?;
    let now = now();
    let c = claims(issuer, app, now, 0);
    let identity = Identity::from_claims(c.as_object().ok_or("claims")?);
    // A login keeps the (RS256) ID token for id_token_hint when it is not too large.
    let (signer, kid) = signer(Path::new(o.get("keys")?), "RS256")?;
    let id_token = mint(&signer, "RS256", kid, &c)?;
    // `--jwt-header off`: as a login under `sso_jwt_header off` mints it (no ID token, the
    // claims kept instead).
    let jwt_header = o.get("jwt-header").map_or(true, |v| v != "off");
    let lifetime = o.num("lifetime", 86_400)?;
    let mut session = Session::new(identity, now, lifetime, jwt_header.then_some(id_token));
    if !jwt_header {
        session.keep_claims(c.as_object().ok_or("claims")?);
    }
    let binding = sso_core::session::binding(app, issuer);
    let values = keys.seal(&session, &binding).map_err(|e| e.to_string())?;
    if values.len() != 1 {
        return Err(format!(
            "the session needs {} chunks, expected 1",
            values.len()
        ));
    }
    println!("{}", values[0]);
    Ok(())
}

/// Reads one HTTP/1.1 response from `buf`/`stream`; returns its status. `buf` keeps what
/// follows it (pipelined responses).
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Res<u16> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(|_| "response head not UTF-8")?;
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or("no status line")?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or("no Content-Length")?;
            let total = end + 4 + length;
            while buf.len() < total {
                let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed mid-response".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn memload(o: &Opts) -> Res<()> {
    let addr = o.get("addr")?.to_owned();
    let path = o.get("path")?.to_owned();
    let keys = PathBuf::from(o.get("keys")?);
    let issuer = o.get("issuer")?.to_owned();
    let aud = o.get("aud")?.to_owned();
    let count = o.num("count", 1_000_000)?;
    let conns = o.num("conns", 8)?.clamp(1, 64);
    // Deeper pipelines stall on this loopback setup (40 ms delayed-ACK waits); 4 does not.
    let depth = o.num("depth", 4)?.clamp(1, 256);
    let deadline = Instant::now() + Duration::from_secs(o.num("max-seconds", 240)?);
    let first_jti = o.num("first-jti", 1_000_000_000)?;

    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            let (addr, path, keys, issuer, aud) = (
                addr.clone(),
                path.clone(),
                keys.clone(),
                issuer.clone(),
                aud.clone(),
            );
            let (next, ok, other) = (next.clone(), ok.clone(), other.clone());
            std::thread::spawn(move || -> Res<()> {
                let (signer, kid) = signer(&keys, "HS256")?;
                let mut stream = TcpStream::connect(&addr).map_err(|e| format!("{addr}: {e}"))?;
                stream.set_nodelay(true).ok();
                stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let now = now();
                let mut buf = Vec::new();
                let mut requests = String::new();
                while Instant::now() < deadline {
                    let first = next.fetch_add(depth, Ordering::Relaxed);
                    if first >= count {
                        break;
                    }
                    let n = depth.min(count - first);
                    requests.clear();
                    for i in 0..n {
                        let c = claims(&issuer, &aud, now, first_jti + first + i);
                        let token = mint(&signer, "HS256", kid, &c)?;
                        requests.push_str(&format!(
                            "GET {path} HTTP/1.1\r\nHost: bench\r\n\
                             Authorization: Bearer {token}\r\n\r\n"
                        ));
                    }
                    stream
                        .write_all(requests.as_bytes())
                        .map_err(|e| e.to_string())?;
                    for _ in 0..n {
                        match read_response(&mut stream, &mut buf)? {
                            200 => ok.fetch_add(1, Ordering::Relaxed),
                            _ => other.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }
                Ok(())
            })
        })
        .collect();
    let mut errors = Vec::new();
    for h in handles {
        if let Err(e) = h.join().map_err(|_| "a load thread panicked".to_owned())? {
            errors.push(e);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    let other = other.load(Ordering::Relaxed);
    println!(
        "{}",
        json!({"ok": ok, "other": other, "seconds": secs, "rps": (ok + other) as f64 / secs,
               "errors": errors})
    );
    if ok + other < count {
        return Err(format!(
            "only {} of {count} requests answered in time",
            ok + other
        ));
    }
    Ok(())
}
