//! Unit tests of the jobserver: the protocol against real pipes and fifos.

use super::*;
use makeflags::ParsedFlags;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::io::{Seek, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

type Env = HashMap<String, OsString>;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect()
}

fn start(e: &Env, jobs: Option<u32>, top: bool) -> io::Result<(Jobserver, Vec<Warning>)> {
    start_style(e, jobs, top, Style::Pipe)
}

fn start_style(
    e: &Env,
    jobs: Option<u32>,
    top: bool,
    style: Style,
) -> io::Result<(Jobserver, Vec<Warning>)> {
    let get = |k: &str| e.get(k).cloned();
    Jobserver::from_env(
        &get,
        &Request {
            explicit_jobs: jobs,
            top_level: top,
            style,
        },
    )
}

fn ok(e: &Env, jobs: Option<u32>, top: bool) -> Jobserver {
    let (js, w) = start(e, jobs, top).unwrap();
    assert!(w.is_empty(), "unexpected warnings {w:?}");
    js
}

fn cenv(js: &Jobserver) -> HashMap<String, Option<String>> {
    js.child_env().into_iter().collect()
}

fn mf(js: &Jobserver) -> String {
    cenv(js)["MAKEFLAGS"].clone().unwrap()
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

fn inode(fd: RawFd) -> client::Ino {
    client::ino(&client::fstat_raw(fd).unwrap())
}

/// A foreign jobserver pipe holding `tokens`, inheritable (no CLOEXEC) like one
/// handed down by make.
fn foreign(tokens: &[u8]) -> (OwnedFd, OwnedFd) {
    let (r, w) = pipe();
    for fd in [&r, &w] {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
    }
    if !tokens.is_empty() {
        nix::unistd::write(&w, tokens).unwrap();
    }
    (r, w)
}

fn auth(r: &OwnedFd, w: &OwnedFd) -> String {
    format!("--jobserver-auth={},{}", r.as_raw_fd(), w.as_raw_fd())
}

fn take(js: &Jobserver) -> Token {
    js.try_acquire().unwrap().expect("a token")
}

/// Drain a pipe's read end (non-blocking private reopen) into a Vec.
fn drain(r: &OwnedFd) -> Vec<u8> {
    let (_, w2) = pipe();
    let id = inode(r.as_raw_fd());
    let path = format!("/proc/self/fd/{}", r.as_raw_fd());
    let fd = client::open_high(Path::new(&path), libc::O_RDONLY | libc::O_NONBLOCK).unwrap();
    assert_eq!(inode(fd.as_raw_fd()), id);
    drop(w2);
    let mut out = Vec::new();
    let mut b = [0u8; 256];
    while let Ok(n @ 1..) = nix::unistd::read(&fd, &mut b) {
        out.extend_from_slice(&b[..n]);
    }
    out
}

fn assert_serial_env(js: &Jobserver) {
    let c = cenv(js);
    let m = c["MAKEFLAGS"].clone().unwrap();
    assert!(!m.contains("jobserver"), "{m}");
    assert!(m.contains("-j1"), "{m}");
    assert_eq!(c["CARGO_MAKEFLAGS"].as_deref(), Some(m.as_str()));
    assert!(!c["MFLAGS"].clone().unwrap().contains("jobserver"));
    assert_eq!(c["REDO_JS_FD"], None);
    assert!(js.child_fds().is_empty());
    assert_eq!(js.slots(), Some(1));
}

use std::path::Path;

/// Run a test body that could hang if the code under test is wrong (a blocking
/// acquire): fail after 20 s instead of hanging the test run.
fn timed(f: fn()) {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => h.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("timed out: hang"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p)
            }
        }
    }
}

#[test]
fn jobserver_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Jobserver>();
    check::<Token>();
}

// ---- serving ----------------------------------------------------------------------

#[test]
fn top_level_serves_n_minus_1_tokens_and_advertises_them() {
    let js = ok(&env(&[("MAKEFLAGS", "k -j9 -- X=1")]), Some(3), true);
    assert_eq!(js.slots(), Some(3));
    assert!(!js.is_unlimited());
    assert!(
        js.describe().starts_with("serving -j3 (-j): pipe "),
        "{}",
        js.describe()
    );
    let fds = js.child_fds();
    assert_eq!(fds.len(), 2);
    for fd in &fds {
        assert!(*fd >= 10);
        assert_ne!(client::getfd(*fd).unwrap() & libc::FD_CLOEXEC, 0);
    }
    assert_eq!(inode(fds[0]), inode(fds[1]));
    assert_eq!(
        client::getfl(fds[0]).unwrap() & libc::O_ACCMODE,
        libc::O_RDONLY
    );
    assert_eq!(
        client::getfl(fds[1]).unwrap() & libc::O_ACCMODE,
        libc::O_WRONLY
    );
    let rw = format!("{},{}", fds[0], fds[1]);
    let c = cenv(&js);
    assert_eq!(
        c["MAKEFLAGS"].as_deref(),
        Some(&*format!("k -j3 --jobserver-auth={rw} -- X=1"))
    );
    assert_eq!(c["CARGO_MAKEFLAGS"], c["MAKEFLAGS"]);
    assert_eq!(
        c["MFLAGS"].as_deref(),
        Some(&*format!("-k -j3 --jobserver-auth={rw}"))
    );
    assert_eq!(c["REDO_JS_FD"].as_deref(), Some(rw.as_str()));
    assert_eq!(c["REDO_JOBS"], None);
    let (a, b) = (take(&js), take(&js));
    assert_eq!((a.byte(), b.byte()), (b'+', b'+'));
    assert!(js.try_acquire().unwrap().is_none());
    js.release(a);
    js.release(b);
    assert_eq!(js.cleanup_path(), None);
    assert_eq!(js.finish(), None);
}

#[test]
fn default_is_one_slot_with_a_zero_token_jobserver() {
    let js = ok(&env(&[]), None, true);
    assert_eq!(js.slots(), Some(1));
    assert!(js.try_acquire().unwrap().is_none());
    let m = mf(&js);
    assert!(m.starts_with(" -j1 --jobserver-auth="), "{m}");
    assert_eq!(js.finish(), None);
}

#[test]
fn redo_jobs_at_top_level() {
    assert_eq!(ok(&env(&[("REDO_JOBS", "4")]), None, true).slots(), Some(4));
    assert_eq!(ok(&env(&[("REDO_JOBS", "")]), None, true).slots(), Some(1));
    assert!(ok(&env(&[("REDO_JOBS", "0")]), None, true).is_unlimited());
    assert!(ok(&env(&[("REDO_JOBS", "NO")]), None, true).is_unlimited());
    // Explicit -j beats REDO_JOBS.
    assert_eq!(
        ok(&env(&[("REDO_JOBS", "4")]), Some(2), true).slots(),
        Some(2)
    );
    for bad in ["abc", "-1", "4x", "99999999999"] {
        let e = start(&env(&[("REDO_JOBS", bad)]), None, true).unwrap_err();
        assert!(e.to_string().contains("REDO_JOBS"), "{e}");
    }
    // A foreign -jN without an auth is not our -j (goredo reads only -j/REDO_JOBS).
    let js = ok(&env(&[("MAKEFLAGS", " -j2")]), None, true);
    assert_eq!(js.slots(), Some(1));
    assert!(mf(&js).starts_with(" -j1 --jobserver-auth="));
}

#[test]
fn finish_reports_lost_and_extra_tokens_in_makes_words() {
    let js = ok(&env(&[]), Some(3), true);
    let lost = take(&js);
    drop(lost); // never released, as by a client that crashed holding it
    assert_eq!(
        js.finish(),
        Some(Warning(
            "exiting with 2 jobserver tokens available; should be 3".into()
        ))
    );
    let js = ok(&env(&[]), Some(2), true);
    let w = js.child_fds()[1];
    // SAFETY: `js` owns fd `w` and outlives this one write.
    nix::unistd::write(unsafe { BorrowedFd::borrow_raw(w) }, b"+").unwrap();
    assert_eq!(
        js.finish(),
        Some(Warning(
            "exiting with 3 jobserver tokens available; should be 2".into()
        ))
    );
}

#[test]
fn finish_does_not_wait_for_a_writer_that_outlives_us() {
    let js = ok(&env(&[]), Some(4), true);
    // A "daemon" keeps a copy of the write end (and of the read end) open.
    // SAFETY: `js` owns the fd and outlives the dup.
    let daemon = client::dup_high(unsafe { BorrowedFd::borrow_raw(js.child_fds()[1]) }).unwrap();
    let t = Instant::now();
    assert_eq!(js.finish(), None);
    assert!(t.elapsed() < Duration::from_secs(1));
    drop(daemon);
}

#[test]
fn unlimited_advertises_nothing_and_hands_out_dummies() {
    timed(unlimited_advertises_nothing_and_hands_out_dummies_body)
}

fn unlimited_advertises_nothing_and_hands_out_dummies_body() {
    let js = ok(
        &env(&[("MAKEFLAGS", "k -j3 --jobserver-auth=-2,-2")]),
        Some(0),
        true,
    );
    assert!(js.is_unlimited());
    assert_eq!(js.slots(), None);
    let t = take(&js);
    js.release(t);
    let (ir, _iw) = pipe();
    assert!(matches!(
        js.acquire(ir.as_fd()).unwrap(),
        Acquired::Token(_)
    ));
    let c = cenv(&js);
    assert_eq!(c["MAKEFLAGS"].as_deref(), Some("k -j"));
    assert_eq!(c["CARGO_MAKEFLAGS"].as_deref(), Some("k -j"));
    assert_eq!(c["MFLAGS"].as_deref(), Some("-k -j"));
    assert_eq!(c["REDO_JOBS"].as_deref(), Some("NO"));
    assert_eq!(c["REDO_JS_FD"], None);
    assert!(js.child_fds().is_empty());
    assert_eq!(js.finish(), None);
}

#[test]
fn redo_jobs_no_below_top_level_is_unlimited_unless_a_jobserver_is_inherited() {
    let js = ok(
        &env(&[("REDO_JOBS", "NO"), ("MAKEFLAGS", " -j")]),
        None,
        false,
    );
    assert!(js.is_unlimited());
    let (r, w) = foreign(b"+");
    let e = env(&[
        ("REDO_JOBS", "NO"),
        ("MAKEFLAGS", &format!(" -j2 {}", auth(&r, &w))),
    ]);
    let js = ok(&e, None, false);
    assert!(!js.is_unlimited());
    assert_eq!(cenv(&js)["REDO_JOBS"], None);
}

#[test]
fn below_top_level_without_any_jobserver_is_silently_serial() {
    timed(below_top_level_without_any_jobserver_is_silently_serial_body)
}

fn below_top_level_without_any_jobserver_is_silently_serial_body() {
    let js = ok(&env(&[("REDO_JOBS", "8"), ("MAKEFLAGS", "s")]), None, false);
    assert_serial_env(&js);
    assert_eq!(mf(&js), "s -j1");
    assert!(js.try_acquire().unwrap().is_none());
    // Serial acquire waits for the interrupt; it does not return at once.
    let (ir, iw) = pipe();
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(60));
            nix::unistd::write(&iw, b"x").unwrap();
        });
        assert!(matches!(
            js.acquire(ir.as_fd()).unwrap(),
            Acquired::Interrupted
        ));
    });
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert_eq!(js.finish(), None);
}

#[test]
fn fifo_style_serves_a_0600_fifo_in_tmpdir_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().to_str().unwrap();
    let e = env(&[("TMPDIR", tmp)]);
    let (js, w) = start_style(&e, Some(3), true, Style::Fifo).unwrap();
    assert!(w.is_empty(), "{w:?}");
    let path = js.cleanup_path().unwrap();
    assert_eq!(path.parent().unwrap(), dir.path());
    assert!(js.child_fds().is_empty());
    let c = cenv(&js);
    assert_eq!(
        c["MAKEFLAGS"].as_deref(),
        Some(&*format!(" -j3 --jobserver-auth=fifo:{}", path.display()))
    );
    assert_eq!(c["REDO_JS_FD"], None);
    // A child joins through the path and shares the tokens.
    let child = ok(
        &env(&[("MAKEFLAGS", c["MAKEFLAGS"].as_deref().unwrap())]),
        None,
        false,
    );
    assert_eq!(child.slots(), Some(3));
    assert_eq!(cenv(&child)["MAKEFLAGS"], c["MAKEFLAGS"]);
    assert_eq!(child.cleanup_path(), None);
    let (a, b) = (take(&child), take(&js));
    assert!(child.try_acquire().unwrap().is_none());
    child.release(a);
    js.release(b);
    assert_eq!(child.finish(), None);
    assert!(path.exists());
    assert_eq!(js.finish(), None);
    assert!(!path.exists());
    // Drop removes it too.
    let (js, _) = start_style(&e, Some(2), true, Style::Fifo).unwrap();
    let path = js.cleanup_path().unwrap();
    assert!(path.exists());
    drop(js);
    assert!(!path.exists());
}

#[test]
fn fifo_style_falls_back_to_a_pipe_when_tmpdir_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = env(&[("TMPDIR", missing.to_str().unwrap())]);
    let (js, w) = start_style(&e, Some(2), true, Style::Fifo).unwrap();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].0.starts_with("cannot create jobserver fifo in "),
        "{w:?}"
    );
    assert_eq!(js.child_fds().len(), 2);
    assert_eq!(js.cleanup_path(), None);
    assert_eq!(js.finish(), None);
}

#[test]
fn huge_j_works_or_fails_fast_never_hangs() {
    for n in [70_000u32, 200_000] {
        let t = Instant::now();
        match start(&env(&[]), Some(n), true) {
            Ok((js, _)) => {
                assert_eq!(js.slots(), Some(n));
                assert_eq!(js.finish(), None);
            }
            Err(e) => assert!(e.to_string().contains("pipe"), "{e}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    let e = start(&env(&[]), Some(u32::MAX), true).unwrap_err();
    assert!(e.to_string().contains(&format!("-j{}", u32::MAX)), "{e}");
}

// ---- joining a pipe -------------------------------------------------------------

#[test]
fn joined_pipe_round_trips_the_same_byte_and_re_exports_foreign_flags() {
    let (r, w) = foreign(b"x");
    let (fr, fw) = (
        client::getfl(r.as_raw_fd()).unwrap(),
        client::getfl(w.as_raw_fd()).unwrap(),
    );
    let e = env(&[(
        "MAKEFLAGS",
        &format!(
            "k -j4 {} --jobserver-auth=-2,-2 {} -l3 -- V=--jobserver-auth=7,8",
            auth(&w, &r),
            auth(&r, &w)
        ),
    )]);
    let js = ok(&e, None, false);
    assert_eq!(js.slots(), Some(4));
    let t = take(&js);
    assert_eq!(t.byte(), b'x');
    assert!(js.try_acquire().unwrap().is_none());
    js.release(t);
    assert_eq!(drain(&r), b"x");
    // Children get our >= 10 copies of the same pipe; foreign words are kept.
    let fds = js.child_fds();
    assert!(fds.iter().all(|fd| *fd >= 10));
    assert_eq!(inode(fds[0]), inode(r.as_raw_fd()));
    assert_eq!(inode(fds[1]), inode(r.as_raw_fd()));
    let rw = format!("{},{}", fds[0], fds[1]);
    let c = cenv(&js);
    assert_eq!(
        c["MAKEFLAGS"].as_deref(),
        Some(&*format!(
            "k -j4 -l3 --jobserver-auth={rw} -- V=--jobserver-auth=7,8"
        ))
    );
    assert_eq!(c["CARGO_MAKEFLAGS"], c["MAKEFLAGS"]);
    assert_eq!(c["REDO_JS_FD"].as_deref(), Some(rw.as_str()));
    // The inherited descriptions' flags are untouched; the inherited fds are CLOEXEC.
    assert_eq!(client::getfl(r.as_raw_fd()).unwrap(), fr);
    assert_eq!(client::getfl(w.as_raw_fd()).unwrap(), fw);
    assert_ne!(client::getfd(r.as_raw_fd()).unwrap() & libc::FD_CLOEXEC, 0);
    // Joined: no leak check of our own.
    assert_eq!(js.finish(), None);
}

#[test]
fn joined_pipe_without_minus_j_advertises_bare_j() {
    let (r, w) = foreign(b"");
    let js = ok(
        &env(&[("MAKEFLAGS", &format!(" {}", auth(&r, &w)))]),
        None,
        true,
    );
    assert_eq!(js.slots(), None);
    assert!(mf(&js).starts_with(" -j --jobserver-auth="), "{}", mf(&js));
}

#[test]
fn foreign_nonblocking_pipe_works_and_keeps_its_flags() {
    timed(foreign_nonblocking_pipe_works_and_keeps_its_flags_body)
}

fn foreign_nonblocking_pipe_works_and_keeps_its_flags_body() {
    let (r, w) = foreign(b"");
    let fl = client::getfl(r.as_raw_fd()).unwrap();
    fcntl(
        &r,
        FcntlArg::F_SETFL(OFlag::from_bits_retain(fl | libc::O_NONBLOCK)),
    )
    .unwrap();
    let fl = client::getfl(r.as_raw_fd()).unwrap();
    let js = ok(
        &env(&[("MAKEFLAGS", &format!(" -j2 {}", auth(&r, &w)))]),
        None,
        false,
    );
    let (ir, _iw) = pipe();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            nix::unistd::write(&w, b"m").unwrap();
        });
        match js.acquire(ir.as_fd()).unwrap() {
            Acquired::Token(t) => {
                assert_eq!(t.byte(), b'm');
                js.release(t);
            }
            Acquired::Interrupted => panic!("interrupted"),
        }
    });
    assert_eq!(client::getfl(r.as_raw_fd()).unwrap(), fl);
    assert_eq!(drain(&r), b"m");
}

#[test]
fn blocking_inherited_pipe_stays_blocking() {
    timed(blocking_inherited_pipe_stays_blocking_body)
}

fn blocking_inherited_pipe_stays_blocking_body() {
    let (r, w) = foreign(b"++");
    let js = ok(
        &env(&[("MAKEFLAGS", &format!(" -j3 {}", auth(&r, &w)))]),
        None,
        false,
    );
    let (ir, _iw) = pipe();
    let t1 = match js.acquire(ir.as_fd()).unwrap() {
        Acquired::Token(t) => t,
        Acquired::Interrupted => panic!(),
    };
    let t2 = take(&js);
    js.release(t1);
    js.release(t2);
    assert_eq!(client::getfl(r.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
    assert_eq!(client::getfl(w.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
    assert_eq!(drain(&r), b"++");
}

#[test]
fn acquire_is_interrupted_by_the_callers_fd_and_the_interrupt_wins() {
    timed(acquire_is_interrupted_by_the_callers_fd_and_the_interrupt_wins_body)
}

fn acquire_is_interrupted_by_the_callers_fd_and_the_interrupt_wins_body() {
    let (r, w) = foreign(b"");
    let js = ok(
        &env(&[("MAKEFLAGS", &format!(" -j2 {}", auth(&r, &w)))]),
        None,
        false,
    );
    let (ir, iw) = pipe();
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(60));
            nix::unistd::write(&iw, b"!").unwrap();
        });
        assert!(matches!(
            js.acquire(ir.as_fd()).unwrap(),
            Acquired::Interrupted
        ));
    });
    assert!(t.elapsed() >= Duration::from_millis(50));
    // Interrupt readable and a token available: the interrupt wins, the token stays.
    nix::unistd::write(&w, b"+").unwrap();
    assert!(matches!(
        js.acquire(ir.as_fd()).unwrap(),
        Acquired::Interrupted
    ));
    assert_eq!(drain(&r), b"+");
}

#[test]
fn a_sniped_token_means_poll_again() {
    timed(a_sniped_token_means_poll_again_body)
}

fn a_sniped_token_means_poll_again_body() {
    let (r, w) = foreign(b"+");
    let js = ok(
        &env(&[("MAKEFLAGS", &format!(" -j3 {}", auth(&r, &w)))]),
        None,
        false,
    );
    let (ir, _iw) = pipe();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(80));
            nix::unistd::write(&w, b"s").unwrap();
        });
        client::SNIPE.with(|c| c.set(true));
        match js.acquire(ir.as_fd()).unwrap() {
            Acquired::Token(t) => {
                assert_eq!(t.byte(), b's', "the first token was sniped");
                js.release(t);
            }
            Acquired::Interrupted => panic!("a snipe is not an interrupt"),
        }
        assert!(!client::SNIPE.with(|c| c.get()), "the hook ran");
    });
    assert!(js.take_warnings().is_empty());
    assert_eq!(drain(&r), b"s");
}

#[test]
fn acquire_blocks_until_a_token_is_released_by_someone_else() {
    timed(acquire_blocks_until_a_token_is_released_by_someone_else_body)
}

fn acquire_blocks_until_a_token_is_released_by_someone_else_body() {
    let js = ok(&env(&[]), Some(2), true);
    let held = take(&js);
    let (ir, _iw) = pipe();
    std::thread::scope(|s| {
        let h = s.spawn(|| js.acquire(ir.as_fd()).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!h.is_finished());
        js.release(held);
        match h.join().unwrap() {
            Acquired::Token(t) => js.release(t),
            Acquired::Interrupted => panic!(),
        }
    });
    assert_eq!(js.finish(), None);
}

#[test]
fn competing_clients_conserve_tokens() {
    timed(competing_clients_conserve_tokens_body)
}

fn competing_clients_conserve_tokens_body() {
    // One server with a single token (-j2) and four clients joined through the
    // advertised fds, racing for it: wake-ups that find the pipe empty again must
    // just mean "poll again" (the deterministic version is a_sniped_token_means_poll_again),
    // never Interrupted, an error, a changed byte or a lost token.
    let server = ok(&env(&[]), Some(2), true);
    let m = mf(&server);
    let clients: Vec<Jobserver> = (0..4)
        .map(|_| ok(&env(&[("MAKEFLAGS", &m)]), None, false))
        .collect();
    let (ir, _iw) = pipe();
    std::thread::scope(|s| {
        for c in &clients {
            let ir = ir.as_fd();
            s.spawn(move || {
                for i in 0..400 {
                    match c.acquire(ir).unwrap() {
                        Acquired::Token(t) => {
                            assert_eq!(t.byte(), b'+');
                            if i % 7 == 0 {
                                std::thread::yield_now();
                            }
                            c.release(t)
                        }
                        Acquired::Interrupted => panic!("interrupted without interrupt"),
                    }
                    if let Some(t) = c.try_acquire().unwrap() {
                        c.release(t);
                    }
                }
            });
        }
    });
    for c in clients {
        assert!(c.take_warnings().is_empty());
        assert_eq!(c.finish(), None);
    }
    assert_eq!(server.finish(), None);
}

#[test]
fn cargo_makeflags_is_used_only_when_makeflags_has_no_auth() {
    let (r, w) = foreign(b"c");
    let cargo = format!(
        "-j --jobserver-fds={0},{1} --jobserver-auth={0},{1}",
        r.as_raw_fd(),
        w.as_raw_fd()
    );
    let js = ok(
        &env(&[("MAKEFLAGS", "k"), ("CARGO_MAKEFLAGS", &cargo)]),
        None,
        false,
    );
    assert_eq!(take(&js).byte(), b'c');
    let fds = js.child_fds();
    let m = mf(&js);
    assert_eq!(m, format!("k -j --jobserver-auth={},{}", fds[0], fds[1]));
    assert_eq!(cenv(&js)["CARGO_MAKEFLAGS"].as_deref(), Some(m.as_str()));
    // An auth-less CARGO_MAKEFLAGS is no source: REDO_JS_FD is still consulted.
    let (r3, w3) = foreign(b"e");
    let e = env(&[
        ("MAKEFLAGS", " -j2"),
        ("CARGO_MAKEFLAGS", "-j4"),
        (
            "REDO_JS_FD",
            &format!("{},{}", r3.as_raw_fd(), w3.as_raw_fd()),
        ),
    ]);
    assert_eq!(take(&ok(&e, None, false)).byte(), b'e');
    // An empty CARGO_MAKEFLAGS does not shadow a valid MAKEFLAGS.
    let (r2, w2) = foreign(b"d");
    let e = env(&[
        ("MAKEFLAGS", &format!(" -j2 {}", auth(&r2, &w2))),
        ("CARGO_MAKEFLAGS", ""),
    ]);
    assert_eq!(take(&ok(&e, None, false)).byte(), b'd');
    // make's kill switch in MAKEFLAGS is not overridden by a valid CARGO_MAKEFLAGS.
    let e = env(&[
        ("MAKEFLAGS", " -j2 --jobserver-auth=-2,-2"),
        ("CARGO_MAKEFLAGS", &cargo),
    ]);
    let (js, w) = start(&e, None, false).unwrap();
    assert_eq!(w, vec![Warning(UNAVAILABLE.into())]);
    assert_serial_env(&js);
}

#[test]
fn goredo_redo_js_fd_is_joined_last() {
    let (r, w) = foreign(b"g");
    let e = env(&[(
        "REDO_JS_FD",
        &format!("{},{}", r.as_raw_fd(), w.as_raw_fd()),
    )]);
    let js = ok(&e, None, false);
    assert_eq!(take(&js).byte(), b'g');
    let fds = js.child_fds();
    assert_eq!(
        cenv(&js)["REDO_JS_FD"],
        Some(format!("{},{}", fds[0], fds[1]))
    );
    let (js, w) = start(&env(&[("REDO_JS_FD", "junk")]), None, false).unwrap();
    assert_eq!(
        w,
        vec![Warning(
            "invalid REDO_JS_FD string 'junk'; using -j1".into()
        )]
    );
    assert_serial_env(&js);
}

#[test]
fn explicit_j_under_a_usable_jobserver_starts_a_new_one_with_a_warning() {
    let (r, w) = foreign(b"++");
    let e = env(&[("MAKEFLAGS", &format!(" -j3 {}", auth(&r, &w)))]);
    let (js, warn) = start(&e, Some(2), false).unwrap();
    assert_eq!(
        warn,
        vec![Warning(
            "-j2 forced in sub-redo: starting new jobserver".into()
        )]
    );
    assert_eq!(js.slots(), Some(2));
    let fds = js.child_fds();
    assert_ne!(inode(fds[0]), inode(r.as_raw_fd()));
    assert!(mf(&js).starts_with(" -j2 --jobserver-auth="));
    assert_eq!(drain(&r), b"++", "the inherited pool is untouched");
    assert_eq!(js.finish(), None);
    // Same at top level (redo run from a make recipe), and for -j0.
    let (js, warn) = start(&e, Some(0), true).unwrap();
    assert_eq!(warn.len(), 1);
    assert!(warn[0].0.starts_with("-j0 forced in sub-redo"));
    assert!(js.is_unlimited());
    // An unusable or disabled inherited auth: the -j is simply obeyed, silently.
    for m in [
        " -j3 --jobserver-auth=-2,-2",
        " -j3 --jobserver-auth=2000000000,2000000001",
        " -j3 --jobserver-auth=zz",
    ] {
        let (js, warn) = start(&env(&[("MAKEFLAGS", m)]), Some(2), false).unwrap();
        assert!(warn.is_empty(), "{m}: {warn:?}");
        assert_eq!(js.slots(), Some(2));
    }
}

// ---- bogus inherited jobservers (S14, S19) --------------------------------------

fn bogus(makeflags: &str) -> (Jobserver, Vec<Warning>) {
    let (js, w) = start(&env(&[("MAKEFLAGS", makeflags)]), None, false).unwrap();
    assert_eq!(w.len(), 1, "exactly one warning for {makeflags:?}: {w:?}");
    assert_serial_env(&js);
    assert!(js.try_acquire().unwrap().is_none());
    (js, w)
}

#[test]
fn closed_fds_warn_in_makes_words() {
    let (_, w) = bogus(" -j2 --jobserver-auth=2000000000,2000000001");
    assert_eq!(w[0].0, UNAVAILABLE);
    let (_, w) = bogus(" -j2 --jobserver-fds=2000000000,2000000001");
    assert_eq!(w[0].0, UNAVAILABLE);
}

#[test]
fn disabled_pair_warns_like_make_4_4() {
    let (js, w) = bogus("k -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2 -- X=1");
    assert_eq!(w[0].0, UNAVAILABLE);
    assert_eq!(mf(&js), "k -j1 -- X=1");
}

#[test]
fn garbage_and_invalid_auth_warn_and_are_not_passed_on() {
    let (js, w) = bogus(" -j2 --jobserver-auth=garbage");
    assert_eq!(
        w[0].0,
        "invalid --jobserver-auth string 'garbage'; using -j1"
    );
    assert_eq!(mf(&js), " -j1");
    let (_, w) = bogus(" --jobserver-fds=");
    assert_eq!(w[0].0, "invalid --jobserver-auth string ''; using -j1");
    let (_, w) = bogus(" --jobserver-auth=fifo:");
    assert_eq!(w[0].0, "invalid --jobserver-auth string 'fifo:'; using -j1");
}

#[test]
fn missing_fifo_warns_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nonexist");
    let (_, w) = bogus(&format!(" -j2 --jobserver-auth=fifo:{}", p.display()));
    assert_eq!(
        w[0].0,
        format!(
            "cannot open jobserver {}: No such file or directory; using -j1",
            p.display()
        )
    );
}

#[test]
fn regular_file_given_as_fifo_is_left_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("scratch.txt");
    std::fs::write(&p, b"scratch-content").unwrap();
    let before = std::fs::metadata(&p).unwrap();
    let (_, w) = bogus(&format!(" -j2 --jobserver-auth=fifo:{}", p.display()));
    assert_eq!(
        w[0].0,
        format!(
            "cannot open jobserver {}: not a named pipe (fifo); using -j1",
            p.display()
        )
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"scratch-content");
    let after = std::fs::metadata(&p).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (before.mtime(), before.mtime_nsec()),
        (after.mtime(), after.mtime_nsec())
    );
}

#[test]
fn regular_file_and_unrelated_pipe_as_fds_are_rejected_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("scratch.txt");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(b"scratch-content")
        .unwrap();
    let mut f = std::fs::File::open(&p).unwrap();
    let (_other_r, other_w) = pipe();
    let ffl = client::getfl(f.as_raw_fd()).unwrap();
    let (js, w) = bogus(&format!(
        " -j2 --jobserver-auth={},{}",
        f.as_raw_fd(),
        other_w.as_raw_fd()
    ));
    assert!(js.describe().contains("is not a pipe"), "{}", js.describe());
    assert_eq!(w[0].0, UNAVAILABLE);
    assert_eq!(f.stream_position().unwrap(), 0, "nothing was read");
    assert_eq!(client::getfl(f.as_raw_fd()).unwrap(), ffl);
    assert_eq!(
        client::getfd(f.as_raw_fd()).unwrap() & libc::FD_CLOEXEC,
        libc::FD_CLOEXEC
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"scratch-content");
}

#[test]
fn non_pipe_fds_keep_their_flags() {
    // Stand-ins for fds 0/1 (S14 row 2): a /dev/null reader and writer.
    let n0 = std::fs::File::open("/dev/null").unwrap();
    let n1 = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    // Clear CLOEXEC like inherited stdio.
    for fd in [n0.as_fd(), n1.as_fd()] {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
    }
    let before = [
        client::getfl(n0.as_raw_fd()).unwrap(),
        client::getfl(n1.as_raw_fd()).unwrap(),
    ];
    let (_, w) = bogus(&format!(
        " -j2 --jobserver-auth={},{}",
        n0.as_raw_fd(),
        n1.as_raw_fd()
    ));
    assert_eq!(w[0].0, UNAVAILABLE);
    assert_eq!(
        [
            client::getfl(n0.as_raw_fd()).unwrap(),
            client::getfl(n1.as_raw_fd()).unwrap()
        ],
        before
    );
    assert_eq!(client::getfd(n0.as_raw_fd()).unwrap(), 0);
    assert_eq!(client::getfd(n1.as_raw_fd()).unwrap(), 0);
}

#[test]
fn ends_of_two_different_pipes_are_rejected() {
    let (r1, _w1) = foreign(b"+");
    let (r2, w2) = foreign(b"+");
    let (_, w) = bogus(&format!(
        " -j2 --jobserver-auth={},{}",
        r1.as_raw_fd(),
        w2.as_raw_fd()
    ));
    assert_eq!(w[0].0, UNAVAILABLE);
    // S14: the read end of an empty pipe whose writers are all closed, plus the write
    // end of another pipe: rejected up front (never read, so never an EOF loop).
    let (r3, w3) = pipe();
    drop(w3);
    let t = Instant::now();
    let (_, w) = bogus(&format!(
        " -j2 --jobserver-auth={},{}",
        r3.as_raw_fd(),
        w2.as_raw_fd()
    ));
    assert_eq!(w[0].0, UNAVAILABLE);
    assert!(t.elapsed() < Duration::from_secs(1));
    // Nothing was consumed from or added to either pipe.
    assert_eq!(drain(&r1), b"+");
    assert_eq!(drain(&r2), b"+");
}

#[test]
fn end_of_file_means_broken_warns_once_and_never_spins() {
    timed(end_of_file_means_broken_warns_once_and_never_spins_body)
}

fn end_of_file_means_broken_warns_once_and_never_spins_body() {
    // Validation rejects such a pair, so build the broken state directly: a read end
    // whose writers are all gone.
    let (r, w) = pipe();
    drop(w);
    let (_r2, w2) = pipe();
    let id = inode(r.as_raw_fd());
    let chan = client::Channel {
        read: client::open_high(
            Path::new(&format!("/proc/self/fd/{}", r.as_raw_fd())),
            libc::O_RDONLY | libc::O_NONBLOCK,
        )
        .unwrap(),
        write: client::dup_high(w2.as_fd()).unwrap(),
    };
    assert_eq!(inode(chan.read.as_raw_fd()), id);
    let js = Jobserver::new(
        Mode::Active(Active {
            chan,
            advert: Advert::Pipe {
                r: client::dup_high(r.as_fd()).unwrap(),
                w: client::dup_high(w2.as_fd()).unwrap(),
            },
            jobs_word: Some(Some(2)),
            owner: None,
        }),
        ParsedFlags::default(),
        "test".to_string(),
    );
    let (ir, iw) = pipe();
    assert!(matches!(
        js.acquire(ir.as_fd()).unwrap(),
        Acquired::Interrupted
    ));
    let w = js.take_warnings();
    assert_eq!(w.len(), 1);
    assert!(w[0].0.contains("end of file"), "{w:?}");
    assert!(js.take_warnings().is_empty(), "drained");
    // Serial from now on: children get no auth, try_acquire gives nothing, and
    // acquire waits for the interrupt instead of spinning on EOF.
    assert_serial_env(&js);
    assert!(js.try_acquire().unwrap().is_none());
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(80));
            nix::unistd::write(&iw, b"!").unwrap();
        });
        assert!(matches!(
            js.acquire(ir.as_fd()).unwrap(),
            Acquired::Interrupted
        ));
    });
    assert!(t.elapsed() >= Duration::from_millis(70));
    assert!(js.take_warnings().is_empty(), "warned once");
}
