#!/usr/bin/env bash
# The README's first command: build ferredo, then build and run the bundled demo with
# it, in a scratch copy (the source tree stays clean).
#
#   bash compat/demo/run.sh [-jN]     (default -j4; KEEP=1 keeps the scratch copy;
#                                      FERREDO_REDO=/path/to/redo skips the cargo build;
#                                      DEMO_TIMINGS=PATH puts the timeline elsewhere)
#
# The demo: a C program (prog) whose .do files compile with a generated version.h and
# run make on a Makefile sub-project (makepart/), and a tiny Rust crate (crate/) that
# hello-rs.do builds with cargo. Steps:
#   1. cargo build --release; `redo --install-symlinks` into a scratch bin/ on PATH;
#   2. redo -jN --timings=PATH all from scratch: redo serves a jobserver with N slots and
#      make and cargo join it (no -j of their own), so at most N compilers run at once in
#      the whole tree; the build's timeline goes to PATH.html and PATH.json (default
#      target/demo-timings, outside the scratch copy, so that it stays);
#   3. run both programs; redo -jN all again, which rebuilds nothing;
#   4. bump VERSION: only version.h, the objects including it and prog rebuild;
#   5. the other direction: redo clean, then make -jN on the demo's Makefile, whose `+`
#      recipes run two redo sub-builds that join make's jobserver (and pass it on).
# CC and cargo's RUSTC_WRAPPER point to ./logjob, which logs each compiler's start and
# end; after each build the script prints how many ran at once (compat/kit/maxconc) and
# fails if that ever exceeds N.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jobs=${1:--j4}
case $jobs in
    -j[1-9]*) n=${jobs#-j} ;;
    *) echo "usage: run.sh [-jN] (N >= 1)" >&2; exit 2 ;;
esac
step() { printf '\n==> %s\n' "$*"; }
die() { echo "run.sh: error: $*" >&2; exit 1; }
# Start clean of any jobserver we were run under: this demo serves its own.
unset MAKEFLAGS MFLAGS GNUMAKEFLAGS CARGO_MAKEFLAGS MAKELEVEL MAKEFILES
for v in $(compgen -e); do case $v in REDO_*) unset "$v" ;; esac; done
cd "$root"

target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
if [ -n "${FERREDO_REDO:-}" ]; then
    redo_bin=$FERREDO_REDO
else
    step "cargo build --release"
    cargo build --release
    redo_bin=$target/release/redo
fi
timings=${DEMO_TIMINGS:-$target/demo-timings}
make=${MAKE:-make}
command -v "$make" >/dev/null || die "no make on PATH (the demo runs make; apt-get install make)"
command -v cargo >/dev/null || die "no cargo on PATH"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ferredo-demo.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
    trap 'echo "(kept $scratch)"' EXIT
else
    trap 'rm -rf "$scratch"' EXIT
fi
mkdir "$scratch/bin"
step "redo --install-symlinks $scratch/bin"
(cd "$scratch/bin" && "$redo_bin" --install-symlinks "$scratch/bin") >/dev/null
ls "$scratch/bin" | tr '\n' ' '
echo
export PATH=$scratch/bin:$PATH

# The demo's sources, without the outputs of any in-tree build.
cp -R "$root/compat/demo" "$scratch/demo"
cd "$scratch/demo"
find . -name .redo -type d -prune -exec rm -rf {} +
rm -rf prog hello-rs all version.h ./*.o ./*.a ./*.tmp ./*.deps makepart/*.o makepart/*.a \
    crate/target run.sh

# Every compiler (cc from the .do files and from make, rustc from cargo) runs through
# ./logjob, which appends start/end lines to $DEMO_LOG.
export DEMO_LOG=$scratch/jobs.log
export CC="$PWD/logjob cc" RUSTC_WRAPPER=$PWD/logjob
: >"$DEMO_LOG"
concurrency() {
    local out max count
    out=$("$root/compat/kit/maxconc" "$DEMO_LOG") || die "inconsistent job log: $out"
    max=${out#max=}; max=${max%% *}
    count=${out##*jobs=}
    echo "compilers at once (cc, rustc): max $max, limit $n ($count compiler runs logged)"
    [ "$max" -le "$n" ] || die "more than $n compilers ran at once"
    : >"$DEMO_LOG"
}
stamp() { stat -c '%i %Y.%y' "$@"; }

step "redo $jobs all   (from scratch, in $scratch/demo; make and cargo join redo's jobserver)"
echo "$($make --version | sed -n 1p), $(cargo --version)"
time redo "$jobs" --timings="$timings" all
concurrency
echo "timeline of this build: $timings.html (open it in a browser; $timings.json loads in"
echo "  https://ui.perfetto.dev): one row per job slot, a bar per .do, orange where a job"
echo "  waited for a slot; make's and cargo's own jobs show as the .do that ran them"

step "./prog; ./hello-rs"
./prog
./hello-rs

step "redo $jobs all   (again: everything is up to date)"
before=$(stamp prog hello-rs)
redo "$jobs" all
[ "$(stamp prog hello-rs)" = "$before" ] || die "prog or hello-rs rebuilt although nothing changed"
echo "prog and hello-rs not rebuilt: up to date"
# `all` writes no output file, and a target that does not exist is always out of date:
# redo-ood lists it and nothing else.
out_of_date=$(redo-ood | grep -vx all || true)
[ -z "$out_of_date" ] || die "redo-ood lists targets after a full build: $out_of_date"
echo "redo-ood: nothing out of date (but 'all', which has no output file)"
: >"$DEMO_LOG"

step "echo 1.1.0 >VERSION; redo $jobs all   (version.h, the objects including it, prog)"
before=$(stamp hello-rs)
echo 1.1.0 >VERSION
redo "$jobs" all
[ "$(stamp hello-rs)" = "$before" ] || die "hello-rs rebuilt although VERSION is not its dependency"
./prog | sed -n 1,2p
: >"$DEMO_LOG"

step "redo clean; $make $jobs   (make -> redo: two '+redo-ifchange' recipes join make's jobserver)"
redo clean
time $make "$jobs"
concurrency

step "demo done"
