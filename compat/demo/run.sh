#!/usr/bin/env bash
# The README's first command: build ferredo, then build and run the bundled C demo with
# it, in a scratch copy (the source tree stays clean).
#
#   bash compat/demo/run.sh [-jN]        (default -j4; KEEP=1 keeps the scratch copy)
#
# Steps: cargo build --release; `redo --install-symlinks` into a scratch bin/ put first
# on PATH; `redo -j4 all` from scratch; run ./prog; `redo -j4 all` again, which must not
# rebuild anything; bump VERSION and rebuild only what depends on it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jobs=${1:--j4}
step() { printf '\n==> %s\n' "$*"; }
cd "$root"

step "cargo build --release"
cargo build --release
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
redo_bin=$target/release/redo

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ferredo-demo.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
    trap 'echo "(kept $scratch)"' EXIT
else
    trap 'rm -rf "$scratch"' EXIT
fi
mkdir "$scratch/bin"
step "redo --install-symlinks $scratch/bin"
(cd "$scratch/bin" && "$redo_bin" --install-symlinks "$scratch/bin")
export PATH=$scratch/bin:$PATH

# The demo's sources, without the outputs of any in-tree build.
cp -R "$root/compat/demo" "$scratch/demo"
cd "$scratch/demo"
find . -name .redo -type d -prune -exec rm -rf {} +
rm -f prog all version.h ./*.o ./*.a ./*.tmp ./*.deps makepart/*.o makepart/*.a run.sh

stamp() { stat -c '%i %Y.%y' prog; }

step "redo $jobs all   (from scratch, in $scratch/demo)"
time redo "$jobs" all
step "./prog"
./prog

step "redo $jobs all   (again: everything is up to date)"
before=$(stamp)
redo "$jobs" all
if [ "$(stamp)" != "$before" ]; then
    echo "run.sh: error: prog was rebuilt although nothing changed" >&2
    exit 1
fi
echo "prog not rebuilt: up to date"
# `all` writes no output file, and a target that does not exist is always out of date:
# redo-ood lists it and nothing else.
out_of_date=$(redo-ood | grep -vx all || true)
if [ -n "$out_of_date" ]; then
    echo "run.sh: error: redo-ood lists targets after a full build:" >&2
    echo "$out_of_date" >&2
    exit 1
fi
echo "redo-ood: nothing out of date (but 'all', which has no output file)"

step "echo 1.1.0 >VERSION; redo $jobs all   (version.h, the objects including it, prog)"
echo 1.1.0 >VERSION
redo "$jobs" all
./prog | head -n 2
step "demo done"
