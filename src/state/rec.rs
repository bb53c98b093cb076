//! The recfile view of a `.dep` (goredo's `dep.rec` schema), used by
//! `redo-dep2rec` and for reading legacy 1.x `.rec` files in `redo-depfix`.

use super::dep::{Dep, Record};
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// Render as recfile text. ifchange-nonexistent is shown as
/// `Type: ifchange-nonexistent` (goredo does not document a rendering).
/// Names are written as they are, bytes not valid UTF-8 included (as
/// goredo writes them): two names never render alike.
pub fn render(dep: &Dep) -> Vec<u8> {
    let mut s = format!("Build: {}\n", crate::build_id::format(&dep.build)).into_bytes();
    for r in &dep.records {
        s.push(b'\n');
        match r {
            Record::Ifcreate(p) => {
                s.extend_from_slice(b"Type: ifcreate\n");
                name_field(&mut s, p.as_os_str().as_bytes());
            }
            Record::IfchangeNonexistent(p) => {
                s.extend_from_slice(b"Type: ifchange-nonexistent\n");
                name_field(&mut s, p.as_os_str().as_bytes());
            }
            Record::Always => s.extend_from_slice(b"Type: always\n"),
            Record::Stamp(h) => {
                s.extend_from_slice(format!("Type: stamp\nHash: {}\n", hex(h)).as_bytes())
            }
            Record::Ifchange { inode, hash, path } => {
                s.extend_from_slice(b"Type: ifchange\n");
                name_field(&mut s, path.as_os_str().as_bytes());
                s.extend_from_slice(
                    format!(
                        "Size: {}\nInodeNum: {}\nCtimeSec: {}\nCtimeNsec: {}\nMtimeSec: {}\nMtimeNsec: {}\nHash: {}\n",
                        inode.size,
                        inode.ino,
                        inode.ctime_sec,
                        inode.ctime_nsec,
                        inode.mtime_sec,
                        inode.mtime_nsec,
                        hex(hash)
                    )
                    .as_bytes(),
                );
            }
        }
    }
    s
}

/// `Target: NAME`, each embedded newline continued on a `+ ` line
/// (recfile's multi-line field syntax).
fn name_field(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(b"Target: ");
    for &b in name {
        out.push(b);
        if b == b'\n' {
            out.extend_from_slice(b"+ ");
        }
    }
    out.push(b'\n');
}

/// Why recfile text could not be read (line numbers from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecError {
    /// A `+` continuation line before any field.
    Continuation { line: usize },
    /// A line that is neither `Name: value`, `+ ...`, a comment nor blank.
    NotAField { line: usize },
    /// A field whose value does not parse (`Build`, a number, `Hash`).
    BadValue { field: &'static str, value: String },
    /// A dependency record of this type without a `Target`.
    NoTarget { typ: String },
    /// A `Type` goredo does not know.
    UnknownType(String),
}

impl std::fmt::Display for RecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecError::Continuation { line } => {
                write!(f, "line {line}: continuation without a field")
            }
            RecError::NotAField { line } => write!(f, "line {line}: not a `Name: value` field"),
            RecError::BadValue { field, value } => write!(f, "bad {field} {value:?}"),
            RecError::NoTarget { typ } => write!(f, "{typ} record without a Target"),
            RecError::UnknownType(t) => write!(f, "unknown Type {t:?}"),
        }
    }
}

impl std::error::Error for RecError {}

/// One recfile record: its fields in order (a name may repeat).
pub type Fields = Vec<(String, String)>;

/// Parse recfile text into records (separated by blank lines). `+ ` lines
/// continue the previous field's value after a newline; `#` lines are
/// comments; a line without `:` is an error naming its line number.
pub fn parse(text: &str) -> Result<Vec<Fields>, RecError> {
    let mut out: Vec<Fields> = Vec::new();
    let mut cur: Fields = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('+') {
            let Some(last) = cur.last_mut() else {
                return Err(RecError::Continuation { line: i + 1 });
            };
            last.1.push('\n');
            last.1.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(RecError::NotAField { line: i + 1 });
        };
        let v = v.strip_prefix(' ').unwrap_or(v);
        cur.push((k.to_string(), v.to_string()));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// The first value of field `name` in a record.
pub fn get<'a>(rec: &'a Fields, name: &str) -> Option<&'a str> {
    rec.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Every value of field `name` in a record, in order.
pub fn get_all<'a>(rec: &'a Fields, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    rec.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut h = [0u8; 32];
    for (i, b) in h.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(h)
}

/// Read a dependency record in recfile form (the [`render`] output, and the
/// legacy goredo 1.x `.redo/T.rec` files `redo-depfix` converts).
///
/// Lenient where 1.x files may differ: a missing `Build` gives the nil UUID;
/// missing inode numbers read as 0 and a missing hash as all zeroes (so the
/// record never matches by hash until `redo-depfix` refreshes it from the
/// file). Records without a `Type` (such as a schema record) are skipped.
pub fn parse_dep(text: &str) -> Result<Dep, RecError> {
    use super::inode::Inode;
    use std::path::PathBuf;
    let mut build = [0u8; 16];
    let mut records = Vec::new();
    for rec in parse(text)? {
        if let Some(b) = get(&rec, "Build") {
            build = crate::build_id::parse(b.trim()).ok_or_else(|| RecError::BadValue {
                field: "Build UUID",
                value: b.to_string(),
            })?;
        }
        let Some(typ) = get(&rec, "Type") else {
            continue;
        };
        let target = || -> Result<PathBuf, RecError> {
            get(&rec, "Target")
                .map(PathBuf::from)
                .ok_or_else(|| RecError::NoTarget {
                    typ: typ.to_string(),
                })
        };
        let num = |name: &'static str| -> Result<u64, RecError> {
            match get(&rec, name) {
                None => Ok(0),
                Some(v) => v.trim().parse().map_err(|_| RecError::BadValue {
                    field: name,
                    value: v.to_string(),
                }),
            }
        };
        let hash = || -> Result<[u8; 32], RecError> {
            match get(&rec, "Hash") {
                None => Ok([0; 32]),
                Some(v) => unhex32(v.trim()).ok_or_else(|| RecError::BadValue {
                    field: "Hash",
                    value: v.to_string(),
                }),
            }
        };
        records.push(match typ.trim() {
            "ifcreate" => Record::Ifcreate(target()?),
            "ifchange-nonexistent" => Record::IfchangeNonexistent(target()?),
            "always" => Record::Always,
            "stamp" => Record::Stamp(hash()?),
            "ifchange" => Record::Ifchange {
                inode: Inode {
                    size: num("Size")?,
                    ino: num("InodeNum")?,
                    ctime_sec: num("CtimeSec")?,
                    ctime_nsec: num("CtimeNsec")?,
                    mtime_sec: num("MtimeSec")?,
                    mtime_nsec: num("MtimeNsec")?,
                },
                hash: hash()?,
                path: target()?,
            },
            other => return Err(RecError::UnknownType(other.to_string())),
        });
    }
    Ok(Dep { build, records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::inode::Inode;

    fn sample() -> Dep {
        Dep {
            build: crate::build_id::parse("80143f04-bfff-4673-950c-081d712f573d").unwrap(),
            records: vec![
                Record::Ifcreate("foo.o.do".into()),
                Record::Ifchange {
                    inode: Inode {
                        size: 123,
                        ino: 2345,
                        ctime_sec: 1605721341,
                        ctime_nsec: 253305000,
                        mtime_sec: 1645606823,
                        mtime_nsec: 369936700,
                    },
                    hash: [0xab; 32],
                    path: "default.o.do".into(),
                },
                Record::Always,
                Record::Stamp([0x01; 32]),
                Record::IfchangeNonexistent("two\nlines".into()),
            ],
        }
    }

    #[test]
    fn render_matches_the_documented_layout() {
        let text = String::from_utf8(render(&sample())).unwrap();
        let ab = "ab".repeat(32);
        let one = "01".repeat(32);
        assert_eq!(
            text,
            format!(
                "Build: 80143f04-bfff-4673-950c-081d712f573d\n\nType: ifcreate\nTarget: foo.o.do\n\n\
                 Type: ifchange\nTarget: default.o.do\nSize: 123\nInodeNum: 2345\nCtimeSec: 1605721341\n\
                 CtimeNsec: 253305000\nMtimeSec: 1645606823\nMtimeNsec: 369936700\nHash: {ab}\n\n\
                 Type: always\n\nType: stamp\nHash: {one}\n\n\
                 Type: ifchange-nonexistent\nTarget: two\n+ lines\n"
            )
        );
    }

    #[test]
    fn parse_round_trips_render() {
        let d = sample();
        assert_eq!(
            parse_dep(std::str::from_utf8(&render(&d)).unwrap()).unwrap(),
            d
        );
    }

    #[test]
    fn names_are_rendered_as_their_bytes() {
        let d = Dep {
            build: [0; 16],
            records: vec![
                Record::Ifcreate(std::ffi::OsStr::from_bytes(b"x\xff").into()),
                Record::Ifcreate(std::ffi::OsStr::from_bytes(b"x\xfe").into()),
            ],
        };
        let text = render(&d);
        for name in [&b"Target: x\xff\n"[..], b"Target: x\xfe\n"] {
            assert!(text.windows(name.len()).any(|w| w == name), "{text:?}");
        }
    }

    #[test]
    fn legacy_rec_is_read_leniently() {
        let d = parse_dep("Build: 80143f04-bfff-4673-950c-081d712f573d\n\nType: ifchange\nTarget: a.do\nSize: 5\n").unwrap();
        match &d.records[0] {
            Record::Ifchange { inode, hash, path } => {
                assert_eq!((inode.size, inode.ino, *hash), (5, 0, [0; 32]));
                assert_eq!(path, std::path::Path::new("a.do"));
            }
            r => panic!("{r:?}"),
        }
        assert!(parse_dep("Type: bogus\n").is_err());
        assert!(parse_dep("no colon here\n").is_err());
        assert!(parse_dep("Type: ifchange\nSize: x\nTarget: a\n").is_err());
    }
}
