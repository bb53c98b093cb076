#!/usr/bin/env bash
# ferredo benchmarks against GNU make 4.4.1, ninja and a spawn floor.
#
#   bash compat/bench/run.sh [--quick] [bench.py options]
#
#   --n 1000,10000        sizes (--quick: 1000 only, fewer rounds)
#   --workloads trivial,flat,dirs,deep,mixed,wide,narrow,chain,tree,jobserver
#   --tools ferredo-nosync,ferredo,make,ninja
#   --runs K              rounds of the edit -> build -> build loop and settled no-op
#   --runs-full K         rounds of full builds
#   --check               only check every tool builds every shape right (untimed)
#   --json PATH           keep every sample there
#   --keep                keep the scratch dir
#
# A/B of two ferredo binaries in the same interleaved rounds (a ratio row B / A):
#   FERREDO_REDO_B=/path/to/other/redo bash compat/bench/run.sh \
#       --tools ferredo-nosync,ferredo-nosync@B,ninja --workloads flat,deep --n 10000
# (or ferredo-nosync@/path/to/other/redo; A is the binary this script builds).
#
# Builds ferredo (release), provides make 4.4.1 and ninja (compat/tools.sh: venv from
# PyPI), installs GNU time from Debian when missing and we are root (else no RSS
# column), then runs compat/bench/bench.py, which prints the tables (its docstring
# says what each shape and column is). Not part of the tests; it never asserts on timing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
say() { printf 'bench: %s\n' "$*" >&2; }
source "$root/compat/tools.sh"

# GNU time for the RSS column (hyperfine is no longer used: it cannot interleave tools).
if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ]; then
        ( apt_install time ) || say "could not install time; going on without it"
    else
        say "time missing (not root): going on without it"
    fi
fi

say "cargo build --release"
cargo build --release </dev/null >&2
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
export FERREDO_REDO=$target/release/redo
# Which sources the binary was built from (the tree may have uncommitted changes).
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- src bin Cargo.toml Cargo.lock 2>/dev/null | wc -l)
export FERREDO_REV="$rev${dirty:+ (+$dirty uncommitted files in src/ bin/)}"
[ "$dirty" = 0 ] && FERREDO_REV=$rev
exec python3 "$root/compat/bench/bench.py" "$@"
