//! Building one target: lock, checks, running its .do, relaying its stderr,
//! and the commit. Runs on its own thread while holding a job slot; it gives
//! the slot back early when it finds another process building the target.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::commit::{self, CommitInput, Produced, Temps};
use super::signals;
use super::Shared;
use crate::dofile;
use crate::paths;
use crate::report::Event;
use crate::state::dep::{self, Dep, Record};
use crate::state::inode::Inode;
use crate::state::lock::{self, Attempt};

pub enum Outcome {
    Built(Produced),
    /// Built earlier in this run (by us or another process).
    AlreadyBuilt,
    /// Externally modified, left alone (a warning was reported).
    Skipped,
}

/// What the scheduler reports about a job besides its outcome.
#[derive(Default)]
pub struct JobInfo {
    /// The `default*.do` used, shown in the completion line.
    pub default_do: Option<PathBuf>,
    /// Whether the .do was started (else an error happened before).
    pub ran: bool,
}

pub struct JobSpec {
    pub target: PathBuf,
    pub force: bool,
    /// `-x`: trace this invocation's .do files.
    pub trace: bool,
}

fn rand_hex() -> String {
    let u = crate::env::new_uuid();
    u[..6].iter().map(|b| format!("{b:02x}")).collect()
}

fn high_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// Build `spec.target`. `release_slot` is called as soon as the job no
/// longer needs its job slot (when it waits for another builder, or when the
/// .do has exited).
pub fn run(
    sh: &Shared,
    spec: &JobSpec,
    release_slot: &mut dyn FnMut(),
    info: &mut JobInfo,
) -> Result<Outcome, String> {
    let target = &spec.target;
    let show = sh.show(target);
    let redo_dir = paths::dir_of(target).join(crate::state::REDO_DIR);
    fs::create_dir_all(&redo_dir).map_err(|e| format!("creating {}: {e}", sh.show(&redo_dir)))?;
    let lock_path = crate::state::lock_path(target);
    let guard = match lock::try_lock(&lock_path).map_err(|e| format!("locking: {e}"))? {
        Attempt::Acquired(g) => g,
        Attempt::Busy { pid } => {
            release_slot();
            sh.reporter.emit(Event::Waiting { target, pid });
            lock::wait_unlocked(&lock_path).map_err(|e| format!("waiting for the lock: {e}"))?;
            return match fs::read(crate::state::dep_path(target)) {
                Ok(b) => match dep::decode_build(&b) {
                    Ok(u) if u == sh.ctx.build_uuid => Ok(Outcome::AlreadyBuilt),
                    _ => Err("was not built: build differs".into()),
                },
                Err(_) => Err("was not built: no .dep".into()),
            };
        }
    };

    let old = match fs::read(crate::state::dep_path(target)) {
        Ok(b) => match Dep::decode(&b) {
            Ok(d) => Some(d),
            Err(e) => {
                sh.reporter.emit(Event::Warning(&format!(
                    "{}: unreadable .dep ({e}): rebuilding",
                    sh.show(&crate::state::dep_path(target))
                )));
                None
            }
        },
        Err(_) => None,
    };
    if !spec.force && old.as_ref().is_some_and(|d| d.build == sh.ctx.build_uuid) {
        return Ok(Outcome::AlreadyBuilt);
    }
    let base = PathBuf::from(paths::base_of(target));
    let before = fs::symlink_metadata(target)
        .ok()
        .map(|m| Inode::from_meta(&m));
    let old_self = old
        .as_ref()
        .and_then(|d| d.self_ifchange(&base))
        .map(|(i, h)| (*i, *h));
    if let (Some((recorded, _)), Some(now)) = (old_self, before) {
        if !recorded.equals(&now, sh.ctx.trust) {
            if sh.ctx.flags.stop_if_modified {
                return Err("externally modified".into());
            }
            sh.reporter.emit(Event::Warning(&format!(
                "{show} externally modified: not redoing"
            )));
            return Ok(Outcome::Skipped);
        }
    }

    let search = dofile::search(target, sh.ctx.top_dir.as_deref());
    let Some(found) = search.found.clone() else {
        return Err("no .do found".into());
    };
    let tdir = paths::dir_of(target).to_path_buf();
    if found.is_default {
        info.default_do = Some(found.do_path.clone());
    }

    // The new .dep starts with the lookup's records.
    let mut head = dep::header(&sh.ctx.build_uuid).to_vec();
    for tried in &search.tried {
        dep::encode_record(&mut head, &Record::Ifcreate(paths::rel(&tdir, tried)))?;
    }
    let do_meta = fs::metadata(&found.do_path)
        .map_err(|e| format!("reading {}: {e}", sh.show(&found.do_path)))?;
    let do_hash = dep::hash_file(&found.do_path)
        .map_err(|e| format!("reading {}: {e}", sh.show(&found.do_path)))?;
    dep::encode_record(
        &mut head,
        &Record::Ifchange {
            inode: Inode::from_meta(&do_meta),
            hash: do_hash,
            path: paths::rel(&tdir, &found.do_path),
        },
    )?;

    let suffix = rand_hex();
    let mut tmp_name = OsString::from(crate::state::TMP_PREFIX);
    tmp_name.push(base.as_os_str());
    tmp_name.push(".");
    tmp_name.push(&suffix);
    let stdout_tmp = tdir.join(&tmp_name);
    let three = paths::with_suffix(&stdout_tmp, ".3");
    let mut dep_tmp_name = OsString::from(crate::state::TMP_PREFIX);
    dep_tmp_name.push(base.as_os_str());
    dep_tmp_name.push(".dep.");
    dep_tmp_name.push(&suffix);
    let temps = Temps {
        stdout: stdout_tmp.clone(),
        three: three.clone(),
        dep: redo_dir.join(dep_tmp_name),
    };

    let mut dep_file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(&temps.dep)
        .map_err(|e| format!("creating {}: {e}", sh.show(&temps.dep)))?;
    dep_file
        .write_all(&head)
        .map_err(|e| format!("writing the .dep: {e}"))?;
    let stdout_file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(&stdout_tmp)
        .map_err(|e| format!("creating {}: {e}", sh.show(&stdout_tmp)))?;

    let dep_fd = high_fd(dep_file.as_raw_fd()).map_err(|e| format!("dup: {e}"))?;
    let arg3 = found.dirprefix.join(&tmp_name).into_os_string();
    let arg3 = paths::with_suffix(Path::new(&arg3), ".3");

    let executable = {
        let c = std::ffi::CString::new(found.do_path.as_os_str().as_bytes()).unwrap_or_default();
        unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
    };
    let mut cmd = if executable {
        let mut c = Command::new(&found.do_path);
        c.arg(&found.arg1).arg(&found.arg2).arg(&arg3);
        c
    } else {
        let mut c = Command::new("/bin/sh");
        c.arg(if spec.trace || sh.ctx.flags.trace_all {
            "-ex"
        } else {
            "-e"
        });
        // A .do named `-x.do` must not be read as an option by sh.
        let script = paths::base_of(&found.do_path);
        if script.as_encoded_bytes().starts_with(b"-") {
            let mut dotted = std::ffi::OsString::from("./");
            dotted.push(script);
            c.arg(dotted);
        } else {
            c.arg(script);
        }
        c.arg(&found.arg1).arg(&found.arg2).arg(&arg3);
        c
    };
    let child_prefix = rand_hex() + &rand_hex()[..4];
    cmd.current_dir(&found.do_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout_file))
        .stderr(Stdio::piped());
    for (k, v) in sh.ctx.child_vars() {
        cmd.env(k, v);
    }
    cmd.env(crate::env::DIRPREFIX, &found.dirprefix)
        .env(crate::env::DEP_FD, dep_fd.as_raw_fd().to_string())
        .env(crate::env::DEP_CWD, &found.do_dir)
        .env(crate::env::STDERR_PREFIX, &child_prefix);
    let mut chain = sh.ctx.chain.clone();
    chain.push(target.clone());
    cmd.env(crate::env::CHAIN, crate::env::encode_chain(&chain));
    for (k, v) in &sh.child_env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut inherit: Vec<RawFd> = sh.child_fds.clone();
    inherit.push(dep_fd.as_raw_fd());
    unsafe {
        cmd.pre_exec(move || {
            signals::reset_in_child();
            for &fd in &inherit {
                signals::clear_cloexec(fd);
            }
            Ok(())
        });
    }

    let started = Instant::now();
    let started_wall = SystemTime::now();
    let log = if sh.ctx.flags.logs {
        File::create(crate::state::log_path(target)).ok()
    } else {
        None
    };
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("running {}: {e}", sh.show(&found.do_path)))?;
    drop(dep_fd);
    info.ran = true;
    let pid = child.id();
    signals::register_child(pid as i32);
    sh.reporter.emit(Event::Started { target, pid });
    let stderr = child.stderr.take();
    relay(sh, target, pid, stderr, &child_prefix, log);
    let status = child.wait();
    signals::unregister_child(pid as i32);
    if signals::requested().is_some() {
        signals::await_group(pid as i32, Duration::from_secs(5));
    }
    release_slot();
    let status = status.map_err(|e| format!("waiting for the .do: {e}"))?;

    let result = if status.success() {
        commit::commit(CommitInput {
            target,
            temps: &temps,
            dep_file: &mut dep_file,
            before,
            old_hash: old_self.map(|(_, h)| h),
            trust: sh.ctx.trust,
            sync: !sh.ctx.flags.no_sync,
        })
    } else if let Some(sig) = status.signal() {
        Err(format!("killed by signal {sig}"))
    } else {
        Err(format!("exit status {}", status.code().unwrap_or(-1)))
    };
    if sh.ctx.flags.logs {
        write_log_rec(
            sh,
            target,
            &found,
            &cmd,
            pid,
            started_wall,
            started.elapsed(),
            &status,
            result.is_ok(),
        );
    }
    drop(guard);
    let produced = result?;
    if let Ok(b) = fs::read(crate::state::dep_path(target)) {
        if let Ok(d) = Dep::decode(&b) {
            warn_simultaneous(sh, target, &d);
        }
    }
    Ok(Outcome::Built(produced))
}

fn warn_simultaneous(sh: &Shared, target: &Path, d: &Dep) {
    let creates: std::collections::HashSet<&Path> = d
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Ifcreate(p) => Some(p.as_path()),
            _ => None,
        })
        .collect();
    let both = d
        .records
        .iter()
        .any(|r| matches!(r, Record::Ifchange { path, .. } if creates.contains(path.as_path())));
    if both {
        sh.reporter.emit(Event::Warning(&format!(
            "simultaneous ifcreate and ifchange records: {}",
            sh.show(target)
        )));
    }
}

/// Relay the .do's stderr line by line until it exits. Lines starting with
/// the child's prefix come from a nested redo and pass through unchanged.
/// A background process that keeps stderr open does not hold us: once the
/// .do itself has exited, what is buffered is drained and we stop.
fn relay(
    sh: &Shared,
    target: &Path,
    pid: u32,
    stderr: Option<std::process::ChildStderr>,
    prefix: &str,
    mut log: Option<File>,
) {
    let Some(mut stderr) = stderr else { return };
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as RawFd;
    let fd = stderr.as_raw_fd();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut exited = false;
    let emit_line = |line: &[u8], log: &mut Option<File>| {
        if let Some(rest) = line.strip_prefix(prefix.as_bytes()) {
            sh.reporter.emit(Event::Relay { line: rest });
        } else {
            if let Some(f) = log.as_mut() {
                let mut l = crate::state::log::tai64n_now().into_bytes();
                l.push(b' ');
                l.extend_from_slice(line);
                l.push(b'\n');
                let _ = f.write_all(&l);
            }
            sh.reporter.emit(Event::JobStderr { target, pid, line });
        }
    };
    loop {
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let nfds = if pidfd >= 0 && !exited { 2 } else { 1 };
        let timeout = if exited { 0 } else { -1 };
        let r = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if nfds == 2 && fds[1].revents != 0 {
            exited = true;
        }
        if fds[0].revents != 0 {
            match stderr.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        emit_line(&line[..line.len() - 1], &mut log);
                    }
                    if pending.len() > 1 << 20 {
                        let line = std::mem::take(&mut pending);
                        emit_line(&line, &mut log);
                    }
                    continue;
                }
            }
        }
        if exited && fds[0].revents == 0 {
            break;
        }
    }
    if !pending.is_empty() {
        emit_line(&pending, &mut log);
    }
    if pidfd >= 0 {
        unsafe { libc::close(pidfd) };
    }
}

#[allow(clippy::too_many_arguments)]
fn write_log_rec(
    sh: &Shared,
    target: &Path,
    found: &dofile::Found,
    cmd: &Command,
    pid: u32,
    started: SystemTime,
    elapsed: Duration,
    status: &std::process::ExitStatus,
    committed: bool,
) {
    use crate::state::log::tai64n;
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
        crate::env::format_uuid(&sh.ctx.build_uuid).as_bytes(),
    );
    field("PPID", std::process::id().to_string().as_bytes());
    field("Cwd", found.do_dir.as_os_str().as_bytes());
    field("PID", pid.to_string().as_bytes());
    field("Started", tai64n(started).as_bytes());
    field("Finished", tai64n(started + elapsed).as_bytes());
    field("Duration", elapsed.as_nanos().to_string().as_bytes());
    field("Cmd", cmd.get_program().as_bytes());
    for a in cmd.get_args() {
        field("Arg", a.as_bytes());
    }
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            field("Env", &kv);
        }
    }
    if !status.success() {
        field(
            "ExitCode",
            status.code().unwrap_or(-1).to_string().as_bytes(),
        );
    }
    if committed {
        if let Ok(b) = fs::read(crate::state::dep_path(target)) {
            if let Ok(d) = Dep::decode(&b) {
                for r in &d.records {
                    if let Record::Ifchange { path, .. } = r {
                        field("Ifchange", path.as_os_str().as_bytes());
                    }
                }
            }
        }
    }
    let _ = fs::write(crate::state::log_rec_path(target), s);
}

pub fn os(b: Vec<u8>) -> OsString {
    OsString::from_vec(b)
}
