//! ureq's errors as [`HttpError`]: fixed texts for protocol faults, the control characters of
//! texts from the operating system and the TLS library escaped (module doc: errors safe to
//! log).

use std::fmt;
use std::io;

use super::{HttpError, Target};

/// A reason this module refuses a response (carried through ureq's error type).
#[derive(Debug)]
pub(super) struct Refused(pub(super) &'static str);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

/// A failed name lookup, with the resolver's reason.
#[derive(Debug)]
pub(super) struct ResolveFailed(pub(super) String);

impl fmt::Display for ResolveFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResolveFailed {}

/// ureq's error as ours: fixed texts for protocol faults, escaped texts from the OS and TLS.
pub(super) fn map_error(e: ureq::Error, target: &Target, max_body: usize) -> HttpError {
    let connect = |reason: String| HttpError::Connect {
        host: log_safe(&target.host),
        port: target.port,
        reason: log_safe(&reason),
    };
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => HttpError::ConnectTimeout {
            host: log_safe(&target.host),
            port: target.port,
        },
        ureq::Error::Timeout(_) => HttpError::Timeout,
        ureq::Error::Other(inner) => {
            if let Some(r) = inner.downcast_ref::<ResolveFailed>() {
                HttpError::Resolve {
                    host: log_safe(&target.host),
                    reason: log_safe(&r.0),
                }
            } else if let Some(r) = inner.downcast_ref::<Refused>() {
                HttpError::BadResponse(r.0)
            } else {
                HttpError::Io(log_safe(&lower(&inner)))
            }
        }
        ureq::Error::HostNotFound => HttpError::Resolve {
            host: log_safe(&target.host),
            reason: "no address".to_owned(),
        },
        ureq::Error::Io(e) => {
            if let Some(tls) = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return HttpError::Tls(log_safe(&tls.to_string().to_lowercase()));
            }
            match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HttpError::Timeout,
                io::ErrorKind::UnexpectedEof => {
                    HttpError::BadResponse("connection closed before the response was complete")
                }
                // (HostUnreachable and NetworkUnreachable need Rust 1.83, past our MSRV:
                // those read "i/o error: network is unreachable".)
                io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable => {
                    connect(lower(&e))
                }
                _ => HttpError::Io(log_safe(&lower(&e))),
            }
        }
        ureq::Error::Rustls(tls) => HttpError::Tls(log_safe(&tls.to_string().to_lowercase())),
        ureq::Error::Tls(why) => HttpError::Tls(why.to_lowercase()),
        ureq::Error::Protocol(p) => protocol_error(p),
        ureq::Error::LargeResponseHeader(..) => HttpError::HeadTooLarge,
        ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge { limit: max_body },
        ureq::Error::BadUri(_) => HttpError::BadUrl("refused by the http library"),
        ureq::Error::Http(_) => HttpError::BadHeader("request"),
        other => HttpError::Io(log_safe(&lower(&other))),
    }
}

/// A protocol fault of the response (or, for the request-side ones, of our request).
fn protocol_error(p: ureq_proto::Error) -> HttpError {
    use ureq_proto::Error as P;
    HttpError::BadResponse(match p {
        P::HttpParseTooManyHeaders => return HttpError::HeadTooLarge,
        // httparse's reasons (static texts) as ours.
        P::HttpParseFail(why) => match why.as_str() {
            "invalid header name" => "bad header name",
            "invalid header value" => "bad header value (a control character)",
            "invalid new line" => "bad line ending (a bare cr)",
            "invalid response status" => "bad status line",
            "invalid token" => "bad status line",
            "invalid HTTP version" => "not an http/1.x response",
            _ => "malformed response head",
        },
        P::UnsupportedVersion => "not an http/1.x response",
        P::TooManyContentLengthHeaders => "more than one content-length",
        P::BadContentLengthHeader => "bad content-length",
        P::ChunkLenNotAscii | P::ChunkLenNotANumber => "bad chunk size",
        P::ChunkExpectedCrLf => "chunk not followed by crlf",
        P::HeadersWith100 => "100 continue with header fields",
        P::BadHeader(_)
        | P::TooManyHostHeaders
        | P::BadHostHeader
        | P::BadAuthorizationHeader
        | P::MethodVersionMismatch(..)
        | P::BodyNotAllowed => return HttpError::BadHeader("request"),
        _ => "http protocol error",
    })
}

/// An error's text with a lowercase first letter (OS messages are capitalised).
pub(super) fn lower(e: &dyn fmt::Display) -> String {
    let s = e.to_string();
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => s,
    }
}

/// `s` with control characters escaped (`\r`, `\u{0}`): text from the OS or the TLS library
/// (a certificate's names among it) goes into log lines.
pub(super) fn log_safe(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
