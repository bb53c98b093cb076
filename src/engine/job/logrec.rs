//! `.redo/T.log-rec` (`-k`): the recfile goredo writes about a job, which
//! `redo-log -c` shows: what reproduces it (command, arguments, directory,
//! the whole environment) and what it did.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use super::super::Shared;
use crate::dofile;
use crate::state::dep::{Dep, Record};
use crate::target::Target;

/// What one run of a `.do` was, for its record.
pub(super) struct Run<'a> {
    pub args: &'a [OsString],
    /// `K=V`, sorted.
    pub env: &'a [&'a [u8]],
    pub pid: u32,
    pub started: SystemTime,
    pub elapsed: Duration,
    pub status: &'a std::process::ExitStatus,
    /// The target and its `.dep` were committed (the record lists its ifchanges).
    pub committed: bool,
}

pub(super) fn write_log_rec(sh: &Shared, target: &Target, found: &dofile::Found, run: &Run<'_>) {
    use crate::state::log::tai64n;
    let Run {
        args,
        env,
        pid,
        started,
        elapsed,
        status,
        committed,
    } = *run;
    let mut s = String::new();
    let mut field = |k: &str, v: &[u8]| {
        s.push_str(k);
        s.push_str(": ");
        // recfile continuation for embedded newlines
        s.push_str(&String::from_utf8_lossy(v).replace('\n', "\n+ "));
        s.push('\n');
    };
    field(
        "Build",
        crate::build_id::format(&sh.ctx.build_uuid).as_bytes(),
    );
    field("PPID", std::process::id().to_string().as_bytes());
    field("Cwd", found.do_dir.as_os_str().as_bytes());
    field("PID", pid.to_string().as_bytes());
    field("Started", tai64n(started).as_bytes());
    field("Finished", tai64n(started + elapsed).as_bytes());
    field("Duration", elapsed.as_nanos().to_string().as_bytes());
    field("Cmd", args[0].as_bytes());
    for a in &args[1..] {
        field("Arg", a.as_bytes());
    }
    for kv in env {
        field("Env", kv);
    }
    if !status.success() {
        field(
            "ExitCode",
            status.code().unwrap_or(-1).to_string().as_bytes(),
        );
    }
    if committed {
        if let Ok(b) = crate::state::dep::read_dep(&target.dep_path()) {
            if let Ok(d) = Dep::decode(&b) {
                for r in &d.records {
                    if let Record::Ifchange { path, .. } = r {
                        field("Ifchange", path.as_os_str().as_bytes());
                    }
                }
            }
        }
    }
    let _ = fs::write(target.log_rec_path(), s);
}
