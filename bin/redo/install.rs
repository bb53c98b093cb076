//! Applet links: `redo --install-symlinks DIR`, and the private link
//! directory the top-level redo puts on its children's PATH when the applets
//! are not there (so a bare `cargo install` works).

use std::path::{Path, PathBuf};

use crate::APPLETS;

pub fn symlinks(dir: &Path) -> i32 {
    use std::io::Write;
    // A closed stdout must not stop the installation half-way.
    let mut out = std::io::stdout().lock();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("redo: cannot find my own executable: {e}");
            return 1;
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("redo: creating {}: {e}", dir.display());
        return 1;
    }
    let mut code = 0;
    for name in APPLETS {
        let link = dir.join(name);
        if link.symlink_metadata().is_ok() {
            if std::fs::read_link(&link).ok().as_deref() == Some(exe.as_path()) {
                let _ = writeln!(out, "{} <- {}", exe.display(), link.display());
                continue;
            }
            if *name == "redo" && same_file(&link, &exe) {
                continue;
            }
            let _ = std::fs::remove_file(&link);
        }
        match std::os::unix::fs::symlink(&exe, &link) {
            Ok(()) => {
                let _ = writeln!(out, "{} <- {}", exe.display(), link.display());
            }
            Err(e) => {
                eprintln!("redo: linking {}: {e}", link.display());
                code = 1;
            }
        }
    }
    code
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// PATH for children: unchanged (None) when `redo-ifchange` is on PATH;
/// otherwise a private directory of links to this executable, first.
pub fn child_path() -> Option<String> {
    if on_path("redo-ifchange") {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let uid = nix::unistd::getuid().as_raw();
    let tmp = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let tag = ferredo::state::dep::hash_bytes(exe.as_os_str().as_encoded_bytes());
    let tag: String = tag[..6].iter().map(|b| format!("{b:02x}")).collect();
    let dir = tmp.join(format!("ferredo-applets-{uid}-{tag}"));
    let ready = APPLETS
        .iter()
        .all(|n| std::fs::read_link(dir.join(n)).ok().as_deref() == Some(exe.as_path()));
    if !ready {
        let staging = tmp.join(format!(
            "ferredo-applets-{uid}-{tag}.{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).ok()?;
        for n in APPLETS {
            std::os::unix::fs::symlink(&exe, staging.join(n)).ok()?;
        }
        if std::fs::rename(&staging, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&dir);
            if std::fs::rename(&staging, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&staging);
            }
        }
    }
    let mut path = dir.into_os_string();
    if let Some(old) = std::env::var_os("PATH") {
        path.push(":");
        path.push(old);
    }
    Some(path.to_string_lossy().into_owned())
}
