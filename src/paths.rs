//! Lexical path arithmetic (no symlink resolution), as goredo does with Go's
//! `filepath.Join`/`Clean`/`Rel`: targets are resolved against the logical cwd,
//! so `a/../b` names `b` even when `a` is a symlink.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Lexically clean an absolute or relative path: collapse `//`, `.`, and
/// `x/..` (never above `/`). An empty result is `.`.
pub fn clean(p: &Path) -> PathBuf {
    let bytes = p.as_os_str().as_bytes();
    let absolute = bytes.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in bytes.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if matches!(parts.last(), Some(last) if *last != b"..") {
                    parts.pop();
                } else if !absolute {
                    parts.push(comp);
                }
            }
            _ => parts.push(comp),
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    if absolute {
        out.push(b'/');
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    PathBuf::from(OsString::from_vec(out))
}

/// Join `rel` onto the absolute `base` and clean; an absolute `rel` wins.
pub fn abs_join(base: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().as_bytes().first() == Some(&b'/') {
        clean(rel)
    } else {
        clean(&base.join(rel))
    }
}

/// The path of `target` relative to the directory `from`; both must be
/// absolute and clean. Like Go's `filepath.Rel`.
pub fn rel(from: &Path, target: &Path) -> PathBuf {
    let split = |p: &Path| -> Vec<Vec<u8>> {
        p.as_os_str()
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .map(|c| c.to_vec())
            .collect()
    };
    let f = split(from);
    let t = split(target);
    let common = f.iter().zip(t.iter()).take_while(|(a, b)| a == b).count();
    let mut out: Vec<u8> = Vec::new();
    for _ in common..f.len() {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(b"..");
    }
    for comp in &t[common..] {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(comp);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    PathBuf::from(OsString::from_vec(out))
}

/// Parent directory of an absolute clean path (`/` for `/x`).
pub fn dir_of(p: &Path) -> &Path {
    p.parent().unwrap_or(Path::new("/"))
}

/// Last component as raw bytes-preserving OsStr.
pub fn base_of(p: &Path) -> &OsStr {
    p.file_name().unwrap_or(OsStr::new(""))
}

/// Append a string suffix to a path's bytes without touching separators.
pub fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut b = p.as_os_str().as_bytes().to_vec();
    b.extend_from_slice(suffix.as_bytes());
    PathBuf::from(OsString::from_vec(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_cases() {
        for (i, o) in [
            ("/a/b/../c", "/a/c"),
            ("/../x", "/x"),
            ("a/./b//c/", "a/b/c"),
            ("../a/..", ".."),
            ("", "."),
            ("/", "/"),
            ("a/..", "."),
        ] {
            assert_eq!(clean(Path::new(i)), PathBuf::from(o), "{i}");
        }
    }

    #[test]
    fn rel_cases() {
        for (f, t, o) in [
            ("/a/b", "/a/b/c", "c"),
            ("/a/b", "/a/x", "../x"),
            ("/a/b", "/a/b", "."),
            ("/", "/x/y", "x/y"),
            ("/a/b/c", "/usr/include/x.h", "../../../usr/include/x.h"),
        ] {
            assert_eq!(rel(Path::new(f), Path::new(t)), PathBuf::from(o));
        }
    }
}
