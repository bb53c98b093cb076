//! `redo-ifcreate`, `redo-always`, `redo-stamp`: dependency records written
//! by a .do about its own target. Outside a .do they are errors.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

use clap::{Arg, Command};
use ferredo::engine::record;
use ferredo::env::Context;

/// The clap definition of `applet` (argv parsing, manual page, completions).
pub fn command(applet: &'static str) -> Command {
    let about = match applet {
        "redo-ifcreate" => "Rebuild the current target when these files appear.",
        "redo-always" => "Rebuild the current target once in every build run.",
        _ => "Record a hash of stdin for the current target (kept for compatibility; no effect on decisions).",
    };
    let c = Command::new(applet)
        .version(env!("CARGO_PKG_VERSION"))
        .about(about);
    if applet != "redo-ifcreate" {
        return c;
    }
    c.arg(
        Arg::new("targets")
            .value_name("FILE")
            .num_args(0..)
            .value_parser(clap::value_parser!(OsString))
            .trailing_var_arg(true),
    )
}

pub fn main(applet: &'static str, argv: Vec<OsString>) -> i32 {
    let c = command(applet);
    let m = match c.try_get_matches_from(crate::args::normalise(argv)) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let cwd = match crate::logical_cwd() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{applet}: cannot read the current directory: {e}");
            return 1;
        }
    };
    let ctx = match Context::from_env(&crate::env_get, cwd.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{applet}: {e}");
            return 1;
        }
    };
    let targets: Vec<PathBuf> = if applet == "redo-ifcreate" {
        m.get_many::<OsString>("targets")
            .map(|v| {
                v.map(|t| ferredo::paths::resolve_join(&cwd, &PathBuf::from(t)))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if applet == "redo-ifcreate" && targets.is_empty() {
        return 0;
    }
    let (Some(fd), Some(dir)) = (ctx.dep_fd, ctx.dep_dir.clone()) else {
        eprintln!(
            "{applet}: not run from a .do file ({} is not set): it records a dependency of the target being built, so call it inside a .do",
            ferredo::env::DEP_FD
        );
        return 1;
    };
    let res = match applet {
        "redo-ifcreate" => {
            for t in &targets {
                if std::fs::symlink_metadata(t).is_ok() {
                    eprintln!(
                        "{}redo-ifcreate: warning: {} exists already: the target will be rebuilt every run until it is removed",
                        ctx.stderr_prefix.clone().unwrap_or_default(),
                        ferredo::paths::rel(&cwd, t).display()
                    );
                }
            }
            record::ifcreate(fd, &dir, &targets)
        }
        "redo-always" => record::always(fd),
        _ => {
            let mut h = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        h.update(&buf[..n]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        eprintln!("redo-stamp: reading stdin: {e}");
                        return 1;
                    }
                }
            }
            record::stamp(fd, *h.finalize().as_bytes())
        }
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{applet}: writing to {}={fd}: {e}", ferredo::env::DEP_FD);
            1
        }
    }
}
