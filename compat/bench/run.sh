#!/usr/bin/env bash
# ferredo benchmarks against GNU make 4.4.1, ninja and a spawn floor.
#
#   bash compat/bench/run.sh [--quick] [bench.py options: --n 1000,10000 --workloads
#                             flat,dirs,chain,tree --tools ... --runs K --keep]
#
# Builds ferredo (release), provides make 4.4.1 and ninja (compat/tools.sh: venv from
# PyPI), installs hyperfine and GNU time from Debian when missing and we are root (else
# falls back to its own timing loop / no RSS column), then runs compat/bench/bench.py,
# which prints the tables. Not part of the tests; it never asserts on timing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
say() { printf 'bench: %s\n' "$*" >&2; }
source "$root/compat/tools.sh"

for pkg in hyperfine time; do
    bin=$pkg
    [ "$pkg" = time ] && bin=/usr/bin/time
    if ! command -v "$bin" >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            ( apt_install "$pkg" ) || say "could not install $pkg; going on without it"
        else
            say "$pkg missing (not root): going on without it"
        fi
    fi
done

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
