//! The state file of `sso_shared_zone ... state=FILE`: the live revocations, versioned and
//! checksummed, so a corrupt, truncated or foreign file is an error, never a panic.

use super::*;

/// The first bytes of a state file.
pub const STATE_MAGIC: &[u8; 8] = b"SSOREVOC";
/// The state file format written by [`encode_state`].
pub const STATE_VERSION: u32 = 1;
const STATE_HEADER: usize = 8 + 4 + 4 + 8;
const STATE_ENTRY: usize = 1 + 16 + 8 + 8;
const STATE_CHECKSUM: usize = 32;

/// Why a state file was not read. The glue logs it (quoting the file) and starts empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// Shorter than a header and a checksum.
    Truncated { len: usize },
    /// Does not start with [`STATE_MAGIC`].
    NotAStateFile,
    /// Another format version.
    Version { found: u32 },
    /// The length does not match the entry count.
    Length { expected: usize, found: usize },
    /// The SHA-256 at the end does not match the contents.
    Checksum,
    /// Entry `index` has an unknown kind.
    Kind { index: usize },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Truncated { len } => write!(f, "truncated ({len} bytes)"),
            StateError::NotAStateFile => f.write_str("not a revocation state file"),
            StateError::Version { found } => write!(
                f,
                "format version {found}, this module reads version {STATE_VERSION}"
            ),
            StateError::Length { expected, found } => write!(
                f,
                "{found} bytes where its entry count needs {expected} (truncated or corrupt)"
            ),
            StateError::Checksum => f.write_str("checksum mismatch (corrupt)"),
            StateError::Kind { index } => write!(f, "entry {index} has an unknown kind"),
        }
    }
}

impl std::error::Error for StateError {}

/// The state file holding `entries` (from [`Revocations::live`]), written at `written_at`:
/// magic, version (u32), count (u32), time (u64), count × { kind u8 | id [u8; 16] |
/// issued_through u64 | expires u64 }, SHA-256 of everything before; integers
/// little-endian. The glue writes it to a temporary file in the same directory and renames
/// it over the old one.
pub fn encode_state(entries: &[Revocation], written_at: u64) -> Vec<u8> {
    let count = entries.len().min(u32::MAX as usize);
    let mut out = Vec::with_capacity(STATE_HEADER + count * STATE_ENTRY + STATE_CHECKSUM);
    out.extend_from_slice(STATE_MAGIC);
    out.extend_from_slice(&STATE_VERSION.to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out.extend_from_slice(&written_at.to_le_bytes());
    for r in &entries[..count] {
        put_entry(&mut out, r);
    }
    let sum = digest::digest(&digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    out
}

/// The revocations of a state file still live at `now`, in the order written.
pub fn decode_state(bytes: &[u8], now: u64) -> Result<Vec<Revocation>, StateError> {
    if bytes.len() < STATE_MAGIC.len() || &bytes[..STATE_MAGIC.len()] != STATE_MAGIC {
        return Err(
            if bytes.len() < STATE_MAGIC.len() && STATE_MAGIC.starts_with(bytes) {
                StateError::Truncated { len: bytes.len() }
            } else {
                StateError::NotAStateFile
            },
        );
    }
    if bytes.len() < STATE_HEADER + STATE_CHECKSUM {
        return Err(StateError::Truncated { len: bytes.len() });
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap_or([0; 4]));
    let version = u32_at(8);
    if version != STATE_VERSION {
        return Err(StateError::Version { found: version });
    }
    let count = u32_at(12) as usize;
    let expected = count
        .checked_mul(STATE_ENTRY)
        .and_then(|n| n.checked_add(STATE_HEADER + STATE_CHECKSUM))
        .unwrap_or(usize::MAX);
    if bytes.len() != expected {
        return Err(StateError::Length {
            expected,
            found: bytes.len(),
        });
    }
    let (body, sum) = bytes.split_at(bytes.len() - STATE_CHECKSUM);
    if digest::digest(&digest::SHA256, body).as_ref() != sum {
        return Err(StateError::Checksum);
    }
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let o = STATE_HEADER + index * STATE_ENTRY;
        let r = read_entry(&bytes[o..o + STATE_ENTRY]).ok_or(StateError::Kind { index })?;
        if r.expires > now {
            out.push(r);
        }
    }
    Ok(out)
}

/// One entry as the state file stores it: kind u8 | id [u8; 16] | issued_through u64 |
/// expires u64, little-endian.
fn put_entry(out: &mut Vec<u8>, r: &Revocation) {
    out.push(r.id.kind.code() as u8);
    out.extend_from_slice(&r.id.id);
    out.extend_from_slice(&r.issued_through.to_le_bytes());
    out.extend_from_slice(&r.expires.to_le_bytes());
}

/// The entry [`put_entry`] wrote (`bytes` is exactly [`STATE_ENTRY`] long); None for an
/// unknown kind.
fn read_entry(bytes: &[u8]) -> Option<Revocation> {
    if bytes.len() != STATE_ENTRY {
        return None;
    }
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or([0; 8]));
    let kind = Kind::from_code(bytes[0] as u64)?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[1..17]);
    Some(Revocation {
        id: RevocationId { kind, id },
        issued_through: u64_at(17),
        expires: u64_at(25),
    })
}

/// The version byte that starts [`encode_one`]'s encoding.
pub const ONE_VERSION: u8 = 1;
/// Bytes of [`encode_one`]'s encoding.
pub const ONE_LEN: usize = 1 + STATE_ENTRY;

/// One revocation on its own (a Redis value and message, README "Session lifecycle" → many
/// nodes): [`ONE_VERSION`], then the entry as the state file stores it (34 bytes).
pub fn encode_one(r: &Revocation) -> Vec<u8> {
    let mut out = Vec::with_capacity(ONE_LEN);
    out.push(ONE_VERSION);
    put_entry(&mut out, r);
    out
}

/// The revocation [`encode_one`] encoded; None for anything else (another version, another
/// length, an unknown kind).
pub fn decode_one(bytes: &[u8]) -> Option<Revocation> {
    match bytes.split_first() {
        Some((&ONE_VERSION, entry)) => read_entry(entry),
        _ => None,
    }
}
