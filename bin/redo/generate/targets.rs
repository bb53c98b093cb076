//! `redo --complete-targets` (hidden): the names the completion scripts
//! offer as targets, without building or writing anything: the targets redo
//! knows below the current directory (those with a `.redo/X.dep`), and
//! `X` for each `X.do` here (`default.do` and `default.*.do` match many
//! names, so none).

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ferredo::query::{walk, Here, Problems};

pub fn main() -> i32 {
    let Ok(cwd) = crate::logical_cwd() else {
        return 1;
    };
    let here = Here::new(cwd.clone());
    // A completion shows what it can; unreadable state is not its business.
    let mut problems = Problems::default();
    let mut names: BTreeSet<PathBuf> = walk::targets(&here, &mut problems)
        .targets
        .iter()
        .map(|t| here.show(t))
        .collect();
    names.extend(do_targets(&cwd));
    let mut out = crate::query::Out::new();
    for n in &names {
        out.entry(n, false);
    }
    out.finish("redo", &Problems::default())
}

/// `X` for every `X.do` in `dir`, `default.do` and `default.*.do` excluded.
fn do_targets(dir: &std::path::Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let b = name.as_bytes();
            let stem = b.strip_suffix(b".do")?;
            if stem.is_empty() || stem == b"default" || stem.starts_with(b"default.") {
                return None;
            }
            Some(PathBuf::from(std::ffi::OsStr::from_bytes(stem)))
        })
        .collect()
}
