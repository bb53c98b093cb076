//! The multi-call `redo` binary: chooses the applet from the file name of
//! argv[0] (`redo`, `redo-ifchange`, ... as goredo does), owns argv parsing,
//! the terminal, signals and exit codes. The engine is `ferredo` (src/).

mod args;
mod build;
mod install;
mod output;
mod query;
mod record;

use std::ffi::OsString;
use std::path::PathBuf;

/// mimalloc (v2) rather than glibc's malloc: a check allocates a few small
/// memos per file from several threads, and glibc grows each thread's arena
/// one page at a time (an `mprotect` each, ~2000 per no-op over 10000
/// targets). Measured on the 10000-target no-op: 85 -> 59 ms (tree),
/// 96 -> 69 ms (flat); see compat/bench/RESULTS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    // Exported by the mimalloc the crate links; the typed binding needs the
    // `extended` feature of libmimalloc-sys, which pulls in more than this.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc v2's `mi_option_abandoned_page_purge`: give the free pages of
/// exited threads (the parallel check's workers) back at once rather than
/// after the purge delay. Without it the peak RSS of a no-op that rewrites
/// the `.dep` caches rises by 10-15 MB; with it no measurable cost.
const MI_OPTION_ABANDONED_PAGE_PURGE: std::ffi::c_int = 12;

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
/// `os.Getwd` does, so targets are resolved lexically like goredo.
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
    // SAFETY: sets a process-wide allocator option before any thread exists.
    unsafe { mi_option_set(MI_OPTION_ABANDONED_PAGE_PURGE, 1) };
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
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let code = match applet {
        "redo" | "redo-ifchange" => build::main(applet, argv),
        "redo-ifcreate" | "redo-always" | "redo-stamp" => record::main(applet, argv),
        other => query::main(other, argv),
    };
    std::process::exit(code);
}
