//! The `.dep` file: goredo's binary dependency record, format version 1.
//!
//! ```text
//! header: "GOREDO" || 0x01 || BuildUUID (16 raw bytes)                 23 bytes
//! chunk:  LEN (u16 BE, the whole chunk incl. LEN and TYPE) || TYPE || payload
//!   0x01 ifcreate              target
//!   0x02 ifchange              size inode ctime_s ctime_ns mtime_s mtime_ns
//!                              (6 x u64 BE) || BLAKE3-256 hash || target
//!   0x03 always                (nothing)
//!   0x04 stamp                 hash
//!   0x05 ifchange-nonexistent  target
//! ```
//!
//! Invariants: every `target` is relative to the directory holding the target
//! (the parent of `.redo/`), the target's own record (ifchange, or ifcreate
//! when it produced nothing) comes last, and files are byte-identical to the
//! ones goredo writes, so a tree moves between the two without a rebuild.
//! A chunk is at most 65535 bytes, so a dependency path longer than
//! 65535 - 83 bytes cannot be recorded; encoding refuses it.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::inode::Inode;

pub const MAGIC: &[u8; 6] = b"GOREDO";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 23;
pub const HASH_LEN: usize = 32;

pub const T_IFCREATE: u8 = 1;
pub const T_IFCHANGE: u8 = 2;
pub const T_ALWAYS: u8 = 3;
pub const T_STAMP: u8 = 4;
pub const T_IFCHANGE_NONEX: u8 = 5;

pub type Hash = [u8; HASH_LEN];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Ifcreate(PathBuf),
    Ifchange {
        inode: Inode,
        hash: Hash,
        path: PathBuf,
    },
    Always,
    Stamp(Hash),
    IfchangeNonexistent(PathBuf),
}

impl Record {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Record::Ifcreate(p) | Record::IfchangeNonexistent(p) => Some(p),
            Record::Ifchange { path, .. } => Some(path),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub build: [u8; 16],
    pub records: Vec<Record>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooShort,
    BadMagic,
    BadVersion(u8),
    BadChunk { offset: usize, why: &'static str },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooShort => f.write_str("shorter than the 23-byte header"),
            DecodeError::BadMagic => f.write_str("does not start with GOREDO"),
            DecodeError::BadVersion(v) => write!(f, "unknown format version {v}"),
            DecodeError::BadChunk { offset, why } => write!(f, "bad chunk at byte {offset}: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

pub fn header(build: &[u8; 16]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..6].copy_from_slice(MAGIC);
    h[6] = VERSION;
    h[7..].copy_from_slice(build);
    h
}

/// Read only the BuildUUID of a .dep's bytes.
pub fn decode_build(b: &[u8]) -> Result<[u8; 16], DecodeError> {
    if b.len() < HEADER_LEN {
        return Err(DecodeError::TooShort);
    }
    if &b[..6] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if b[6] != VERSION {
        return Err(DecodeError::BadVersion(b[6]));
    }
    let mut u = [0u8; 16];
    u.copy_from_slice(&b[7..HEADER_LEN]);
    Ok(u)
}

/// A record too long for a chunk's 16-bit length (a path near 64 KiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong(pub usize);

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record of {} bytes exceeds 65535", self.0)
    }
}

impl std::error::Error for TooLong {}

impl From<TooLong> for crate::error::JobError {
    fn from(e: TooLong) -> Self {
        crate::error::JobError::Record(e.to_string())
    }
}

fn chunk(out: &mut Vec<u8>, typ: u8, payload_parts: &[&[u8]]) -> Result<(), TooLong> {
    let len: usize = 3 + payload_parts.iter().map(|p| p.len()).sum::<usize>();
    let len16 = u16::try_from(len).map_err(|_| TooLong(len))?;
    out.extend_from_slice(&len16.to_be_bytes());
    out.push(typ);
    for p in payload_parts {
        out.extend_from_slice(p);
    }
    Ok(())
}

/// Append one record's chunk to `out`. Fails only for over-long paths.
pub fn encode_record(out: &mut Vec<u8>, r: &Record) -> Result<(), TooLong> {
    match r {
        Record::Ifcreate(p) => chunk(out, T_IFCREATE, &[p.as_os_str().as_bytes()]),
        Record::IfchangeNonexistent(p) => chunk(out, T_IFCHANGE_NONEX, &[p.as_os_str().as_bytes()]),
        Record::Always => chunk(out, T_ALWAYS, &[]),
        Record::Stamp(h) => chunk(out, T_STAMP, &[h]),
        Record::Ifchange { inode, hash, path } => {
            encode_ifchange(out, inode, hash, path.as_os_str().as_bytes())
        }
    }
}

/// Append an ifchange record's chunk (what [`encode_record`] writes for
/// one), from borrowed parts.
pub fn encode_ifchange(
    out: &mut Vec<u8>,
    inode: &Inode,
    hash: &Hash,
    path: &[u8],
) -> Result<(), TooLong> {
    let mut fields = [0u8; 48];
    for (i, v) in inode.fields().iter().enumerate() {
        fields[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    chunk(out, T_IFCHANGE, &[&fields, hash, path])
}

impl Dep {
    pub fn encode(&self) -> Result<Vec<u8>, TooLong> {
        let mut out = header(&self.build).to_vec();
        for r in &self.records {
            encode_record(&mut out, r)?;
        }
        Ok(out)
    }

    pub fn decode(b: &[u8]) -> Result<Dep, DecodeError> {
        let build = decode_build(b)?;
        let records = decode_records(&b[HEADER_LEN..], HEADER_LEN)?;
        Ok(Dep { build, records })
    }

    /// The target's own record (goredo writes it last): the ifchange or
    /// ifcreate whose path is the target's basename.
    /// Paths compare as bytes, as goredo compares them (and far faster than
    /// `Path`'s component-wise equality).
    pub fn self_record(&self, base: &Path) -> Option<&Record> {
        let base = base.as_os_str();
        self.records
            .iter()
            .rev()
            .find(|r| r.path().is_some_and(|p| p.as_os_str() == base))
    }

    pub fn self_ifchange(&self, base: &Path) -> Option<(&Inode, &Hash)> {
        let base = base.as_os_str();
        self.records.iter().rev().find_map(|r| match r {
            Record::Ifchange { inode, hash, path } if path.as_os_str() == base => {
                Some((inode, hash))
            }
            _ => None,
        })
    }

    /// Is this the `.dep` of a commit that did not finish, the target `base`
    /// possibly half changed (see `engine::commit`)? A finished commit's
    /// last record is the target's own: its self-record, or the ifcreate of
    /// itself when it produced nothing. The commit renames the `.dep` into
    /// place before the target changes and appends the self-record after,
    /// so a `.dep` that ends otherwise was cut short in between. (Before,
    /// ferredo wrote a separate intent `.dep` whose self-record had all-zero
    /// inode data, [`Inode::INTENT`]: still recognised.)
    pub fn is_intent(&self, base: &Path) -> bool {
        let mut b = Vec::new();
        let last = self
            .records
            .last()
            .and_then(|r| encode_record(&mut b, r).ok())
            .and_then(|()| Some((*b.get(2)?, b.get(3..)?)));
        ends_as_intent(last, base.as_os_str().as_bytes())
    }

    pub fn has_always(&self) -> bool {
        self.records.iter().any(|r| matches!(r, Record::Always))
    }
}

/// Walk a sequence of chunks, checking each one's framing, type and payload
/// length, and hand each (type, payload) to `each`.
pub(super) fn walk_chunks<'a>(
    mut b: &'a [u8],
    base_offset: usize,
    mut each: impl FnMut(u8, &'a [u8]),
) -> Result<(), DecodeError> {
    let mut off = base_offset;
    while !b.is_empty() {
        if b.len() < 3 {
            return Err(DecodeError::BadChunk {
                offset: off,
                why: "truncated chunk header",
            });
        }
        let len = u16::from_be_bytes([b[0], b[1]]) as usize;
        if len < 3 || len > b.len() {
            return Err(DecodeError::BadChunk {
                offset: off,
                why: "length out of range",
            });
        }
        let typ = b[2];
        let payload = &b[3..len];
        let fits = match typ {
            T_IFCREATE | T_IFCHANGE_NONEX => true,
            T_ALWAYS => payload.is_empty(),
            T_STAMP => payload.len() == HASH_LEN,
            T_IFCHANGE => payload.len() >= 48 + HASH_LEN,
            _ => {
                return Err(DecodeError::BadChunk {
                    offset: off,
                    why: "unknown chunk type",
                })
            }
        };
        if !fits {
            return Err(DecodeError::BadChunk {
                offset: off,
                why: "wrong payload length",
            });
        }
        each(typ, payload);
        b = &b[len..];
        off += len;
    }
    Ok(())
}

/// An ifchange payload (already length-checked): inode data, hash, path.
fn ifchange_fields(payload: &[u8]) -> (Inode, Hash, &[u8]) {
    let u = |i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&payload[i * 8..i * 8 + 8]);
        u64::from_be_bytes(x)
    };
    let inode = Inode::from_fields(std::array::from_fn(u));
    let mut hash = [0u8; HASH_LEN];
    hash.copy_from_slice(&payload[48..48 + HASH_LEN]);
    (inode, hash, &payload[48 + HASH_LEN..])
}

/// Decode a sequence of chunks (the body of a .dep, or what children appended).
pub fn decode_records(b: &[u8], base_offset: usize) -> Result<Vec<Record>, DecodeError> {
    let mut out = Vec::new();
    let path = |p: &[u8]| PathBuf::from(OsString::from_vec(p.to_vec()));
    walk_chunks(b, base_offset, |typ, payload| {
        out.push(match typ {
            T_IFCREATE => Record::Ifcreate(path(payload)),
            T_IFCHANGE_NONEX => Record::IfchangeNonexistent(path(payload)),
            T_ALWAYS => Record::Always,
            T_STAMP => {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(payload);
                Record::Stamp(h)
            }
            _ => {
                let (inode, hash, p) = ifchange_fields(payload);
                Record::Ifchange {
                    inode,
                    hash,
                    path: path(p),
                }
            }
        })
    })?;
    Ok(out)
}

/// What a build needs of a target's old `.dep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfView {
    pub build: [u8; 16],
    /// The target's own ifchange record ([`Dep::self_ifchange`]).
    pub self_rec: Option<(Inode, Hash)>,
    /// The commit that wrote it was cut short ([`Dep::is_intent`]).
    pub intent: bool,
}

/// The [`SelfView`] of a `.dep`'s bytes, checked as [`Dep::decode`] checks
/// them but without building the records: a fan-in's `.dep` holds
/// thousands.
pub fn decode_self(b: &[u8], base: &Path) -> Result<SelfView, DecodeError> {
    let build = decode_build(b)?;
    let base = base.as_os_str().as_bytes();
    let mut self_rec = None;
    let mut last = None;
    walk_chunks(&b[HEADER_LEN..], HEADER_LEN, |typ, payload| {
        if typ == T_IFCHANGE && payload[48 + HASH_LEN..] == *base {
            let (inode, hash, _) = ifchange_fields(payload);
            self_rec = Some((inode, hash));
        }
        last = Some((typ, payload));
    })?;
    Ok(SelfView {
        build,
        self_rec,
        intent: ends_as_intent(last, base),
    })
}

/// The rule of [`Dep::is_intent`], on the last chunk of a `.dep` (its type
/// and checked payload), if it has one, of the target named `base`.
pub(super) fn ends_as_intent(last: Option<(u8, &[u8])>, base: &[u8]) -> bool {
    match last {
        Some((T_IFCHANGE, p)) if p[48 + HASH_LEN..] == *base => ifchange_fields(p).0.is_intent(),
        Some((T_IFCREATE, p)) => p != base,
        _ => true,
    }
}

/// Does a `.dep` (whole file) name one path both as ifcreate and as
/// ifchange? Without building its records: most have no ifcreate but the
/// `.do` lookup's few, and a fan-in's holds thousands of ifchanges.
pub fn creates_and_changes(b: &[u8]) -> Result<bool, DecodeError> {
    decode_build(b)?;
    let body = &b[HEADER_LEN..];
    let mut creates = std::collections::HashSet::new();
    walk_chunks(body, HEADER_LEN, |typ, payload| {
        if typ == T_IFCREATE {
            creates.insert(payload);
        }
    })?;
    let mut both = false;
    if !creates.is_empty() {
        walk_chunks(body, HEADER_LEN, |typ, payload| {
            both |= typ == T_IFCHANGE && creates.contains(&payload[48 + HASH_LEN..]);
        })?;
    }
    Ok(both)
}

/// Open a `.dep` file for reading, refusing anything but a regular file: a
/// fifo (or a device) there would otherwise block the `open` or the read
/// for ever. `O_NONBLOCK` changes nothing for a regular file.
pub fn open_dep(path: &Path) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    Ok((f, meta))
}

/// The bytes of a `.dep` file ([`open_dep`]).
pub fn read_dep(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let (mut f, meta) = open_dep(path)?;
    let mut b = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut b)?;
    Ok(b)
}

/// BLAKE3-256 of a file's whole content. Large files are memory-mapped by
/// reading in big blocks; small ones in one read.
pub fn hash_file(path: &Path) -> std::io::Result<Hash> {
    let mut f = std::fs::File::open(path)?;
    let mut h = blake3::Hasher::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(*h.finalize().as_bytes())
}

pub fn hash_bytes(b: &[u8]) -> Hash {
    *blake3::hash(b).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_self_agrees_with_a_full_decode() {
        let rec = |path: &str, n: u64| Record::Ifchange {
            inode: crate::state::inode::sample(n),
            hash: [n as u8; 32],
            path: path.into(),
        };
        let dep = Dep {
            build: [7; 16],
            records: vec![
                Record::Ifcreate("t.do".into()),
                rec("default.do", 1),
                rec("t", 2),
                rec("src", 3),
                Record::Always,
                rec("t", 4),
            ],
        };
        let b = dep.encode().unwrap();
        for base in ["t", "src", "none"] {
            let full = Dep::decode(&b).unwrap();
            let want = full.self_ifchange(Path::new(base)).map(|(i, h)| (*i, *h));
            let got = decode_self(&b, Path::new(base)).unwrap();
            assert_eq!((got.build, got.self_rec), ([7; 16], want), "{base}");
            assert_eq!(got.intent, full.is_intent(Path::new(base)), "{base}");
        }
        assert_eq!(creates_and_changes(&b), Ok(false));
        let mut dep2 = dep.clone();
        dep2.records.push(Record::Ifcreate("src".into()));
        assert_eq!(creates_and_changes(&dep2.encode().unwrap()), Ok(true));
        // Corrupt framing is an error either way.
        let mut bad = b.clone();
        bad.push(9);
        assert!(Dep::decode(&bad).is_err());
        assert!(decode_self(&bad, Path::new("t")).is_err());
        bad.truncate(b.len() - 1);
        bad[HEADER_LEN + 2] = 42;
        assert_eq!(
            decode_self(&bad, Path::new("t")).map(|_| ()),
            Dep::decode(&bad).map(|_| ())
        );
    }

    #[test]
    fn round_trip_and_layout() {
        let dep = Dep {
            build: [7; 16],
            records: vec![
                Record::Ifcreate("foo.o.do".into()),
                Record::Ifchange {
                    inode: crate::state::inode::sample(1),
                    hash: [9; 32],
                    path: "default.o.do".into(),
                },
                Record::Always,
                Record::Stamp([1; 32]),
                Record::IfchangeNonexistent("x".into()),
            ],
        };
        let b = dep.encode().unwrap();
        assert_eq!(&b[..7], b"GOREDO\x01");
        // ifcreate chunk: LEN = 3 + 8
        assert_eq!(&b[23..26], &[0, 11, 1]);
        // ifchange chunk LEN = 83 + len("default.o.do")
        let ic = 23 + 11;
        assert_eq!(u16::from_be_bytes([b[ic], b[ic + 1]]) as usize, 83 + 12);
        assert_eq!(Dep::decode(&b).unwrap(), dep);
    }

    #[test]
    fn corrupt_is_error_not_panic() {
        assert_eq!(Dep::decode(b"GOR"), Err(DecodeError::TooShort));
        let mut b = header(&[0; 16]).to_vec();
        b.extend_from_slice(&[0, 200, 2]);
        assert!(Dep::decode(&b).is_err());
        let mut b = header(&[0; 16]).to_vec();
        b.extend_from_slice(&[0, 3, 9]);
        assert!(Dep::decode(&b).is_err());
    }
}
