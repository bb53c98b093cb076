//! Path arithmetic. Mostly lexical (no symlink resolution), as goredo does
//! with Go's `filepath.Join`/`Clean`/`Rel`: against the logical cwd, and for
//! the paths recorded in .dep files, which [`rel`] and [`abs_join`] turn into
//! each other exactly.
//!
//! Operands given by the user go through [`resolve_join`] instead, so they
//! name what the operating system would open: `a/..` is `.` only when `a` is
//! no symlink (as apenwarr's redo, redo-rs and redo-c do, unlike goredo). It
//! reads one link per `..` that follows a name; paths without `..` cost no
//! system call.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Lexically clean an absolute or relative path: collapse `//`, `.`, and
/// `x/..` (never above `/`). An empty result is `.`.
pub fn clean(p: &Path) -> PathBuf {
    let bytes = p.as_os_str().as_bytes();
    if is_clean(bytes) {
        return p.to_path_buf();
    }
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

/// Already as [`clean`] would make it: no empty, `.` or `..` component
/// (a lone `/` or `.` is clean too). Most paths are; this saves rebuilding them.
fn is_clean(bytes: &[u8]) -> bool {
    match bytes {
        b"/" | b"." => return true,
        [] => return false,
        _ => {}
    }
    let body = bytes.strip_prefix(b"/").unwrap_or(bytes);
    body.split(|&b| b == b'/')
        .all(|c| !matches!(c, b"" | b"." | b".."))
}

/// Join `rel` onto the absolute `base` and clean; an absolute `rel` wins.
pub fn abs_join(base: &Path, rel: &Path) -> PathBuf {
    let r = rel.as_os_str().as_bytes();
    if r.first() == Some(&b'/') {
        return clean(rel);
    }
    let b = base.as_os_str().as_bytes();
    if is_clean(b) && b != b"." && is_clean(r) && r != b"." {
        // Both clean and `rel` names something below: plain concatenation.
        let mut out = Vec::with_capacity(b.len() + 1 + r.len());
        out.extend_from_slice(b);
        if b != b"/" {
            out.push(b'/');
        }
        out.extend_from_slice(r);
        return PathBuf::from(OsString::from_vec(out));
    }
    clean(&base.join(rel))
}

/// Linux's limit on the symbolic links followed in one path (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Join `rel` onto the absolute clean `base`, naming the file the operating
/// system would open: each `..` after a name is applied to the directory the
/// name physically is. Only a `..` costs a system call (one `readlink`).
pub fn resolve_join(base: &Path, rel: &Path) -> PathBuf {
    resolve_join_with(base, rel, &mut |p| std::fs::read_link(p).ok())
}

/// [`resolve_join`] with `read_link` giving the target of a symbolic link
/// (`None` for anything else, a missing file included: `..` is then lexical).
fn resolve_join_with(
    base: &Path,
    rel: &Path,
    read_link: &mut dyn FnMut(&Path) -> Option<PathBuf>,
) -> PathBuf {
    let r = rel.as_os_str().as_bytes();
    if !r.split(|&b| b == b'/').any(|c| c == b"..") {
        return abs_join(base, rel);
    }
    let joined = if r.first() == Some(&b'/') {
        rel.to_path_buf()
    } else {
        base.join(rel)
    };
    resolve_dotdots(&joined, read_link)
}

/// Clean the absolute `path`, applying each `..` that follows a name `n` to
/// where `n` physically is: if `n` is a symbolic link, its target replaces it
/// first (the kernel follows any link before `n` itself when reading it). A
/// name that is no link is a directory entry, so its `..` is what precedes it.
fn resolve_dotdots(path: &Path, read_link: &mut dyn FnMut(&Path) -> Option<PathBuf>) -> PathBuf {
    let split = |p: &[u8]| -> Vec<OsString> {
        p.split(|&b| b == b'/')
            .rev()
            .map(|c| OsStr::from_bytes(c).to_os_string())
            .collect()
    };
    let mut todo = split(path.as_os_str().as_bytes());
    let mut done = PathBuf::from("/");
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_bytes() {
            b"" | b"." => {}
            b".." => {
                let at_root = done.as_os_str().len() == 1;
                let target = (!at_root && links < MAX_LINKS)
                    .then(|| read_link(&done))
                    .flatten();
                done.pop();
                if let Some(t) = target {
                    links += 1;
                    // The link's target, then this `..` again.
                    todo.push(c);
                    let t = t.as_os_str().as_bytes();
                    if t.first() == Some(&b'/') {
                        done = PathBuf::from("/");
                    }
                    todo.extend(split(t));
                }
            }
            _ => done.push(&c),
        }
    }
    done
}

/// The path of `target` relative to the directory `from`; both must be
/// absolute and clean. Like Go's `filepath.Rel`.
pub fn rel(from: &Path, target: &Path) -> PathBuf {
    if let Some(rest) = below(from, target) {
        return PathBuf::from(OsStr::from_bytes(rest));
    }
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

/// [`rel`] in the common case, `target` strictly below `from` (both
/// absolute and clean): the rest of its bytes, borrowed.
pub fn below<'a>(from: &Path, target: &'a Path) -> Option<&'a [u8]> {
    let (f, t) = (from.as_os_str().as_bytes(), target.as_os_str().as_bytes());
    if f.first() != Some(&b'/') {
        return None;
    }
    let rest = if f == b"/" {
        t.strip_prefix(b"/")
    } else {
        t.strip_prefix(f)?.strip_prefix(b"/")
    }?;
    (!rest.is_empty()).then_some(rest)
}

/// The bytes of a path split at its last `/`, when its last component is a
/// plain name (what `Path::parent`/`file_name` give then, without their
/// component parsing, which is slow on hot paths).
fn split_plain(p: &Path) -> Option<(&[u8], &[u8])> {
    let b = p.as_os_str().as_bytes();
    let cut = b.iter().rposition(|&c| c == b'/')?;
    let name = &b[cut + 1..];
    if matches!(name, b"" | b"." | b"..") {
        return None;
    }
    // `a//b` or `/./b` style: leave it to the standard library.
    let dir = &b[..cut];
    if dir.ends_with(b"/") || dir.ends_with(b"/.") || dir == b"." {
        return None;
    }
    Some((if dir.is_empty() { b"/" } else { dir }, name))
}

/// Parent directory of an absolute clean path (`/` for `/x`).
pub fn dir_of(p: &Path) -> &Path {
    match split_plain(p) {
        Some((dir, _)) => Path::new(OsStr::from_bytes(dir)),
        None => p.parent().unwrap_or(Path::new("/")),
    }
}

/// Last component as raw bytes-preserving OsStr.
pub fn base_of(p: &Path) -> &OsStr {
    match split_plain(p) {
        Some((_, name)) => OsStr::from_bytes(name),
        None => p.file_name().unwrap_or(OsStr::new("")),
    }
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
            ("/a/b", "/a/b"),
            ("a", "a"),
            ("/a/", "/a"),
            ("./a", "a"),
            ("a/.", "a"),
            ("..", ".."),
            (".", "."),
        ] {
            assert_eq!(clean(Path::new(i)), PathBuf::from(o), "{i}");
        }
    }

    #[test]
    fn dir_of_and_base_of_agree_with_std() {
        for p in [
            "/a/b",
            "/a",
            "/",
            "a/b",
            "a",
            "/a/b/",
            "/a/.",
            "/a/..",
            "a//b",
            "/a/./b",
            "./a",
            "/a/b.c",
            "..",
            ".",
            "",
            "/x y/z\u{e9}",
        ] {
            let path = Path::new(p);
            assert_eq!(
                dir_of(path),
                path.parent().unwrap_or(Path::new("/")),
                "{p:?}"
            );
            assert_eq!(
                base_of(path),
                path.file_name().unwrap_or(OsStr::new("")),
                "{p:?}"
            );
        }
    }

    #[test]
    fn abs_join_cases() {
        for (b, r, o) in [
            ("/a/b", "c", "/a/b/c"),
            ("/a/b", "c/d", "/a/b/c/d"),
            ("/", "x", "/x"),
            ("/a/b", "../c", "/a/c"),
            ("/a/b", ".", "/a/b"),
            ("/a/b", "./c/", "/a/b/c"),
            ("/a/b", "/x/../y", "/y"),
            ("/a/b", "..", "/a"),
            ("/", "..", "/"),
        ] {
            assert_eq!(
                abs_join(Path::new(b), Path::new(r)),
                PathBuf::from(o),
                "{b} {r}"
            );
        }
    }

    type Links<'a> = &'a [(&'a str, &'a str)];

    /// The target of `p` if it is one of `links` (given by physical paths)
    /// once the links before it are followed, as readlink(2) does.
    fn fake_read_link(links: Links, p: &Path) -> Option<PathBuf> {
        let real = fake_real(links, dir_of(p)).join(base_of(p));
        let found = links.iter().find(|(l, _)| Path::new(l) == real);
        found.map(|(_, t)| PathBuf::from(t))
    }

    /// The physical path of the absolute `p`, following every link.
    fn fake_real(links: Links, p: &Path) -> PathBuf {
        let comps = |p: &Path| p.iter().map(PathBuf::from).collect::<Vec<_>>();
        let mut todo = comps(p);
        todo.reverse();
        let mut done = PathBuf::from("/");
        while let Some(c) = todo.pop() {
            match c.to_str() {
                Some(".") => {}
                Some("/") => done = PathBuf::from("/"),
                Some("..") => _ = done.pop(),
                _ => done.push(&c),
            }
            if let Some((_, t)) = links.iter().find(|(l, _)| Path::new(l) == done) {
                done.pop();
                todo.extend(comps(Path::new(t)).into_iter().rev());
            }
        }
        done
    }

    /// [`resolve_join_with`] over a fake tree whose links are `links`,
    /// counting the links read.
    fn resolve_in(links: Links, base: &str, rel: &str) -> (PathBuf, usize) {
        let mut reads = 0;
        let out = resolve_join_with(Path::new(base), Path::new(rel), &mut |p| {
            reads += 1;
            fake_read_link(links, p)
        });
        (out, reads)
    }

    #[test]
    fn resolve_join_without_links_is_abs_join() {
        for (b, r, o, reads) in [
            ("/a/b", "c", "/a/b/c", 0),
            ("/a/b", "./c//d/", "/a/b/c/d", 0),
            ("/a/b", "/x/./y", "/x/y", 0),
            ("/a/b", "/../x", "/x", 0),
            ("/", "..", "/", 0),
            ("/a/b", "../c", "/a/c", 1),
            ("/a/b", "c/../../d", "/a/d", 2),
            ("/a/b", "/x/y/..", "/x", 1),
        ] {
            let got = resolve_in(&[], b, r);
            assert_eq!(got, (PathBuf::from(o), reads), "{b} {r}");
            assert_eq!(got.0, abs_join(Path::new(b), Path::new(r)), "{b} {r}");
        }
    }

    #[test]
    fn resolve_join_applies_dotdot_to_the_link_target() {
        let self_link = [("/p/y/x", ".")];
        for (links, b, r, o) in [
            // y/x -> . : y/x/x/x is y, so its `..` is p.
            (&self_link[..], "/p", "y/x/x/x/../f", "/p/f"),
            (&self_link[..], "/p/y/x/x/x", "../f", "/p/f"),
            (&self_link[..], "/p/y/x/x/x", "/p/y/x/x/x/../f", "/p/f"),
            // The link before a `..` is read, not those before it.
            (&[("/p/l", "/q/r")][..], "/p", "l/s/../f", "/p/l/f"),
            (&[("/p/l", "/q/r")][..], "/p", "l/../f", "/q/f"),
            (&[("/p/l", "s/t")][..], "/p", "l/../f", "/p/s/f"),
            (&[("/p/l", "../u")][..], "/p/d", "../l/../f", "/f"),
            // Links in the link's target are followed too.
            (
                &[("/p/l", "m"), ("/p/m", "/z/w")][..],
                "/p",
                "l/../f",
                "/z/f",
            ),
        ] {
            assert_eq!(
                resolve_in(links, b, r).0,
                PathBuf::from(o),
                "{links:?} {b} {r}"
            );
        }
    }

    #[test]
    fn resolve_join_stops_following_a_link_loop() {
        let (out, reads) = resolve_in(&[("/p/l", "l")], "/p", "l/../f");
        assert_eq!(reads, MAX_LINKS);
        assert_eq!(out, PathBuf::from("/p/f"));
    }

    #[test]
    fn rel_cases() {
        for (f, t, o) in [
            ("/a/b", "/a/b/c", "c"),
            ("/a/b", "/a/x", "../x"),
            ("/a/b", "/a/b", "."),
            ("/", "/x/y", "x/y"),
            ("/a/b/c", "/usr/include/x.h", "../../../usr/include/x.h"),
            ("/a/b", "/a/bc/d", "../bc/d"),
            ("/a/b", "/a/b/c/d", "c/d"),
            ("/", "/", "."),
        ] {
            assert_eq!(rel(Path::new(f), Path::new(t)), PathBuf::from(o));
        }
    }
}
