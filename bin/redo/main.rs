//! The multi-call `redo` binary: chooses the applet from the file name of
//! argv[0] (`redo`, `redo-ifchange`, ... as goredo does), owns argv parsing,
//! the terminal, signals and exit codes. The engine is `ferredo` (src/).

mod alloc;
mod args;
mod build;
mod cli;
mod generate;
mod install;
mod output;
mod query;
mod record;
mod status;
mod timings;

use std::ffi::OsString;
use std::path::PathBuf;

pub const APPLETS: &[&str] = &[
    "redo",
    "redo-ifchange",
    "redo-ifcreate",
    "redo-always",
    "redo-stamp",
    "redo-whichdo",
    "redo-ood",
    "redo-sources",
    "redo-targets",
    "redo-affects",
    "redo-log",
    "redo-dot",
    "redo-cleanup",
    "redo-depfix",
    "redo-dep2rec",
];

/// Environment lookup for the engine (the engine never reads it itself).
pub fn env_get(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// The logical cwd: `$PWD` when it names the same directory as ".", as Go's
/// `os.Getwd` does, so targets keep the names the user sees, like goredo's
/// (`paths::resolve_join` still applies a `..` after a symlink physically).
pub fn logical_cwd() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let real = std::env::current_dir()?;
    if let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from) {
        if pwd.is_absolute() {
            if let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata(".")) {
                if a.dev() == b.dev() && a.ino() == b.ino() {
                    return Ok(ferredo::paths::clean(&pwd));
                }
            }
        }
    }
    Ok(real)
}

fn main() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let name = argv
        .first()
        .map(|a| {
            PathBuf::from(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let applet: &'static str = APPLETS
        .iter()
        .copied()
        .find(|a| *a == name)
        .unwrap_or("redo");
    if !matches!(applet, "redo" | "redo-ifchange") {
        // Listing applets stop quietly when their reader goes away
        // (`redo-targets | head`), as C tools do.
        // SAFETY: called before any thread starts; SIG_DFL installs no
        // handler of ours.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let code = match applet {
        "redo" | "redo-ifchange" => build::main(applet, argv),
        "redo-ifcreate" | "redo-always" | "redo-stamp" => record::main(applet, argv),
        other => query::main(other, argv),
    };
    std::process::exit(code);
}
