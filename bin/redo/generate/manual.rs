//! The manual's prose: what `--help` cannot say. Written in the markup of
//! `roff::prose`; `man.rs` picks the sections each page carries.

pub const OVERVIEW: &str = "\
ferredo is an implementation of D. J. Bernstein's redo build system, faithful to goredo 2.6:
the same applets, `.do` search rules, out-of-date decisions and `.redo/` state, so a tree
built by goredo can be continued by ferredo and back. It is one program, `redo`, that acts
as the applet it is called as (`redo-ifchange`, `redo-ood`, ...); `redo --install-symlinks DIR`
creates the links.

A target is built by a `.do` file, a shell script that writes the target and declares what
it depends on by calling `redo-ifchange`. `redo` builds its targets unconditionally, one
after another (default `all` at the top level); `redo-ifchange` builds only what is out of
date, in parallel up to the job slots, and records the targets as dependencies of the `.do`
that runs it.";

pub const DOFILES: &str = "\
# THE .DO FILES
A target `dir/base.a.b` is built by the first of these that exists: `dir/base.a.b.do`
(in the target's own directory only), then in `dir` and each parent in turn
`default.a.b.do`, `default.b.do`, `default.do`. The search stops after the directory named
by `REDO_TOP_DIR`, after a directory holding `.redo/top`, or at `/`. The candidates tried
before the one found become ifcreate dependencies (creating one rebuilds the target), the
one found an ifchange dependency. `redo-whichdo` prints the list.

The `.do` runs in its own directory as

    sh -e T.do $1 $2 $3

or directly when it is executable (then its `#!` line chooses the interpreter), with
: $1
the target's path relative to the `.do`'s directory;
: $2
the same without the extension a `default.EXT.do` matched (equal to `$1` for `T.do`);
: $3
a temporary file beside the target, to write the result to.

Targets given on the command line are relative to the current directory.";

pub const OUTPUT: &str = "\
# OUTPUT
What the `.do` writes to `$3` or, if it leaves `$3` alone, to its standard output becomes
the target, atomically (renamed into place when the `.do` exits with status 0, with the mode
the `.do` gave `$3`, or 0666 less the umask for standard output). If it writes neither, no
target file is made and an old one is removed (a target may be a pure action, like `all`).
Writing both is an error, and so is writing `$1` directly; the old target then stays. A
`.do` that fails (non-zero exit) leaves the old target in place.

The `.do`'s standard error goes to redo's standard error, or with `-k` (`REDO_LOGS=1`)
also to `.redo/T.log` for `redo-log`. On a terminal, each finished target is reported on
one line, and the top-level redo keeps a status line below its messages
(`run: 3 wait: 0 done: 41`); `-no-progress` and `-no-status` turn them off.";

pub const JOBSERVER: &str = "\
# PARALLEL BUILDS AND THE JOBSERVER
`-j N` (or `REDO_JOBS`) gives the job slots of the whole process tree: the top-level redo
serves a GNU make jobserver with N slots and every redo, make, cargo or ninja below it
shares them. `-j1` is one job in the whole tree; `-j0` is unlimited (no jobserver is
advertised, as with make's bare `-j`).
## Under make
Call redo from a recipe marked recursive, `+redo all` (or one that mentions `$(MAKE)`):
redo joins make's jobserver, pipe style (make 4.3, or 4.4 with `--jobserver-style=pipe`)
or fifo style (make 4.4's default), and the whole tree runs at most `make -jN` jobs.
Without the `+`, make 4.3 closes the jobserver: redo warns in make's words and builds
serially.
## Over make, cargo and ninja
A top-level `redo -jN` passes its jobserver to every `.do` in `MAKEFLAGS` and
`CARGO_MAKEFLAGS`, so a `make`, `cargo build` or `ninja` run from a `.do` without its own
`-j` shares the same N slots. `--jobserver-style fifo` serves a named fifo instead of a
pipe (make 4.4's style). Every token taken is given back on every exit path; at exit the
top-level redo counts its tokens and warns if some are missing.";

pub const TIMINGS: &str = "\
# A TIMELINE OF THE BUILD
`redo --timings` (or `REDO_TIMINGS=PATH`) at the top level records every job of the whole
build, those of nested redos included, and at the end writes `PATH.html` and `PATH.json`
(default `PATH`: `.redo/timings-DATE` in the current directory) and names them on the last
line. The page needs no script and no network: one row per job slot, each job a bar
(target and `.do`; green built, red failed, blue waited for another process), with the time
it waited for a jobserver slot drawn before it, and a job run on the slot of the `.do` that
started its redo drawn below that `.do`'s bar; above, the slots held over time against the
`-j` limit, jobs waiting for one, and the slots the whole tree holds; below, the slowest
targets and the critical path. Hover over a bar for its details. `PATH.json` holds the same
jobs as Chrome trace events, for Perfetto or chrome://tracing. Jobs that make, cargo or
ninja run inside a `.do` are not redo's: that `.do` is one bar, and the tokens they held
show in the whole tree's curve (sampled from the pipe the top level serves).";

pub const ENVIRONMENT: &str = "\
# ENVIRONMENT
: REDO_JOBS
job slots when `-j` is not given (default 1; 0 = unlimited)
: REDO_TOP_DIR
stop the upward `.do` search at this directory
: REDO_INODE_TRUST
`ctime` (default), `mtime` or `none`: which inode data proves a file unchanged without hashing it
: REDO_STOP_IF_MODIFIED
1: a target modified outside redo is an error (default: warn and skip it)
: REDO_NO_SYNC
1: skip fsync of targets, `.dep` files and directories (faster, less crash-safe)
: REDO_LOGS
1: as `-k`, keep each job's stderr in `.redo/` for `redo-log`
: REDO_SILENT
1: as `-s`, do not show jobs' stderr
: REDO_TRACE
1: as `-xx`, run every `.do` with `sh -ex`
: REDO_DEBUG
1: as `-d`, debug messages (out-of-date reasons, locks, jobserver)
: REDO_LOG_PID
1: prefix jobs' stderr lines with their pid
: REDO_NO_PROGRESS
1: no per-target progress lines (implies no status line)
: REDO_NO_STATUS
1: no status line
: NO_COLOR
non-empty: no colours
: REDO_JOBSERVER_STYLE
`pipe` (default) or `fifo`: the style of jobserver a top-level redo serves to its children
: REDO_TIMINGS
as `--timings=PATH` at the top level: write the build's timeline to `PATH.html` and `PATH.json`
: MAKEFLAGS, CARGO_MAKEFLAGS
carry the jobserver between redo, make, cargo and ninja

Other `REDO_*` variables are internal: set by redo for its children, not meant to be set by hand.";

pub const FILES: &str = "\
# FILES
Each directory holding targets gets a `.redo/` directory:
: .redo/T.dep
what target T was built from (goredo's format v1: ifchange, ifcreate and always records,
with inode data and hashes); the source of truth
: .redo/T.lock
held while T is built, so that two redo processes never build it at once
: .redo/T.log, .redo/T.log-rec
T's stderr and how its `.do` was run, kept with `-k` for `redo-log`
: .redo/top
marks the top of the project: the `.do` search stops here
: .redo/.ferredo/deps
ferredo's per-directory copy of the `.dep` files, only to check faster (goredo ignores it;
deleting it is always safe)
: .redo/timings-DATE.html, .redo/timings-DATE.json
the timeline of a `redo --timings` build (while it runs, `.record` holds its lines)

Temporary outputs are named `.redo.*` beside their targets; `redo-cleanup tmp` removes
what a killed build left.";

pub const EXIT_BUILD: &str = "\
# EXIT STATUS
0 when every target was built or up to date; 1 when a `.do` failed or redo met an error;
2 on a usage error; 128+N when interrupted by signal N.

SIGINT, SIGTERM and SIGHUP stop the build cleanly: each running `.do` and what it started
gets the signal, and no target is half-written. A signal redo was started with ignored
(as a shell without job control starts a background job) stays ignored, in redo and in
its `.do`s, as with make.";

pub const EXIT_RECORD: &str = "\
# EXIT STATUS
0 on success; 1 outside a `.do` (nothing to record into) or when the record cannot be
written; 2 on a usage error.";

pub const EXIT_QUERY: &str = "\
# EXIT STATUS
0 on success; 1 when a state file or directory could not be read (the rest of the
answer is still printed, the problems go to stderr) or the output could not be written;
2 on a usage error.";

pub const RECORD: &str = "\
# NOTES
Run only from a `.do` file: the record goes to the `.dep` of the target being built, through
the descriptor named in `REDO_DEP_FD`.";

pub const EXAMPLES: &str = "\
# EXAMPLES
A C program, with the compiler's header dependencies:

    # all.do
    redo-ifchange prog
    # prog.do
    objs=\"main.o util.o\"
    redo-ifchange $objs
    cc -o \"$3\" $objs
    # default.o.do
    redo-ifchange \"$2.c\"
    cc -MMD -MF \"$3.deps\" -c -o \"$3\" \"$2.c\"
    redo-ifchange $(sed -e '1s/^[^:]*://' -e 's/\\\\$//' \"$3.deps\")
    rm -f \"$3.deps\"

Build with four job slots, shared with a make run by a `.do`:

    redo -j4 all
    # lib.a.do
    make -C lib >&2 && cp lib/lib.a \"$3\"

Ask what is out of date and why, and where the time went:

    redo-ood -d
    redo -k all; redo-log -r all

Compile on other machines with distcc (see the README):

    DISTCC_HOSTS='fast1/8 fast2/8 localhost/2' CC='distcc cc' redo -j18 all";
