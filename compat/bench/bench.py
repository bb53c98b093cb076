#!/usr/bin/env python3
"""ferredo benchmarks: one build shape, three build descriptions (.do files, a Makefile, a
build.ninja), timed with ferredo, GNU make 4.4.1 and ninja, next to a spawn floor.

Run through compat/bench/run.sh, which builds ferredo, provides the tools and exports
FERREDO_REDO (the release binary), FERREDO_MAKE44 and FERREDO_NINJA.

Shapes (N = 1000 and 10000; --quick: 1000 only, fewer rounds). All but trivial's and
flat's/dirs' targets are `cat` of their inputs, so a change travels up to `all`:
  trivial  N targets tK.t made from nothing by `echo x`: exactly the floor's work per
         target. One change = removing a target (there is no source)
  flat   N targets tK.t, each from its own source tK.in (`echo x`); in redo each .do also
         runs `redo-ifchange $2.in` (a second process per target)
  dirs   flat spread over a base-10 tree of dirs (10 per leaf dir), ONE default.t.do at
         the top (upward .do search)
  deep   a narrow 7-level tree of dirs (fan-out 2 at N=1000, 3 at 10000), 10 targets per
         leaf dir made by ONE default.t.do at the top (each lookup climbs 7 dirs), and a
         sum.ag in every dir concatenating its children's (one change rebuilds a path)
  mixed  sources in src/, targets in out/: out/pK/fI.o <- src/pK/fI.c + src/pK/pkg.h (a
         target next to the sources), out/pK.lib <- the package's .o; default.do files
         at the top, in src/ and in out/
  wide   one target concatenating all N sources (one very wide fan-in)
  narrow N/4 targets concatenating 4 sources each (many small fan-ins)
  chain  a chain of N/10 targets, c1 <- chain.in, cK <- c(K-1). N/10, not N: a redo
         chain keeps one redo+sh per link alive (a 10000-deep process stack)
  tree   fan-in tree: N leaves lK.lf <- lK.in, internal nodes concatenate 10 children

  jobserver  (not N-dependent) the jobserver mix of issue 3: 12 redo targets, a .do
         running `make` (no -j) on 12 recipes and a .do running `cargo build --offline`
         (no -j) on a 4-crate workspace, under `redo -j2` / `-j4` (redo serving the
         jobserver), under `jsserve --strict -jN -- redo all` (redo as a client; jsserve
         counts the tokens left) and, as a reference, the same mix as one Makefile under
         `make -jN`. Leaf jobs (sleeps, and every rustc through RUSTC_WRAPPER) log
         start/end; reported: wall time, ideal = total leaf-job time / N, their ratio,
         the most leaf jobs seen at once, and the tokens at the end.

Every all.do writes output: in redo a target that writes nothing is out of date forever,
and the no-op would then measure a rebuild of `all`.

Every figure is interleaved: the tools take turns round by round (the order rotated each
round), each command started directly from Python, so that a VM whose speed drifts over
minutes moves all tools alike and the ratios stay put. Two tables per shape:

  full build   from a fresh copy, -j1 and -j2, with the spawn floor (N `/bin/sh -c 'echo x
               >f'` from a tiny C spawner; xargs without a C compiler) as one more row;
               ratio rows to the floor and to ninja.
  edit -> build -> build   (-j1) the headline. Each round, each tool in turn: edit one
               source (a new content; trivial: remove a target), time the rebuild
               ("change"), then the no-op right after it ("no-op after"): what a person
               meets. Then rounds of a back-to-back no-op ("settled"), after which
               ferredo runs redo-ood, redo-sources and redo-targets at the top of the tree
               (ratio to ninja's settled no-op). Peak RSS (GNU time %M, the largest single
               process) of the settled no-op, and "check": every target's content
               recomputed from the rules after the full builds and after the loop.

ferredo runs as `redo-ifchange -jJ all`, with REDO_NO_SYNC=1 (ferredo-nosync) or the
default fsyncs (ferredo); make as `make -r -s -jJ all`; ninja as `ninja -jJ all`. A ferredo
tool may name another binary, `ferredo-nosync@/path/to/redo` (`@B` = $FERREDO_REDO_B), for
an A/B run: both binaries in the same rounds, with a ratio row B / A. --check only checks
every shape's builds (full, one change, a no-op rewriting nothing), untimed. --json PATH
keeps every sample. Nothing is asserted: a failing command is reported as FAIL and the
table goes on.
"""
import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

APPLETS = [
    "redo", "redo-ifchange", "redo-ifcreate", "redo-always", "redo-stamp", "redo-whichdo",
    "redo-ood", "redo-sources", "redo-targets", "redo-affects", "redo-log", "redo-dot",
    "redo-cleanup", "redo-depfix", "redo-dep2rec",
]
SCRUB = ("MAKEFLAGS", "MFLAGS", "CARGO_MAKEFLAGS", "GNUMAKEFLAGS", "MAKELEVEL", "MAKEFILES",
         "NO_COLOR")

FLOOR_C = r"""
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
extern char **environ;
/* floor N J DIR: run `/bin/sh -c 'echo x > DIR/fK'` N times, at most J at once. */
int main(int argc, char **argv)
{
	if (argc != 4) { fprintf(stderr, "usage: floor N J DIR\n"); return 2; }
	long n = atol(argv[1]), j = atol(argv[2]), started = 0, running = 0;
	int fail = 0;
	char cmd[4096];
	while (started < n || running > 0) {
		while (started < n && running < j) {
			snprintf(cmd, sizeof cmd, "echo x > '%s/f%ld'", argv[3], started);
			char *av[] = { "/bin/sh", "-c", cmd, NULL };
			pid_t pid;
			if (posix_spawn(&pid, "/bin/sh", NULL, NULL, av, environ)) { perror("spawn"); return 1; }
			started++, running++;
		}
		int st;
		if (wait(&st) < 0) { perror("wait"); return 1; }
		running--;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) fail = 1;
	}
	return fail;
}
"""



# ---- workload generation -------------------------------------------------------------------
#
# A shape is a list of rules (target, [inputs], action), action "echo" (`echo x`, no
# input read) or "cat" (the inputs concatenated, in order), in an order where every
# input comes before the rules that read it. The Makefile and build.ninja are derived
# from the rules; each shape's generator writes its own .do files (that is what the shapes
# are about: where the .do files are and how far up redo must look for them) and may give
# make pattern rules where the old figures used them.

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def leaf_path(j, base, levels):
    """Directory of leaf j in a tree of `levels` levels, `base` children per directory."""
    digits = []
    for _ in range(levels):
        j, r = divmod(j, base)
        digits.append(r)
    return "/".join(f"d{x}" for x in reversed(digits))


def shape_trivial(w, n):
    """N targets made from nothing by `echo x`: exactly the floor's work per target.
    There is no source to edit: the one change removes a target."""
    w.rules = [(f"t{i}.t", [], "echo") for i in range(n)]
    w.root = [r[0] for r in w.rules]
    w.change, w.change_rm = f"t{n // 2}.t", True
    w.dofiles["default.t.do"] = "echo x\n"
    w.make_head, w.make_pattern = ["%.t:", "\techo x > $@"], ".t"


def shape_flat(w, n):
    """N targets tK.t, each from its own source tK.in; the .do also runs redo-ifchange (a
    second process per target)."""
    w.sources = [f"t{i}.in" for i in range(n)]
    w.rules = [(f"t{i}.t", [f"t{i}.in"], "echo") for i in range(n)]
    w.root = [r[0] for r in w.rules]
    w.change = f"t{n // 2}.in"
    w.dofiles["default.t.do"] = 'redo-ifchange "$2.in"\necho x\n'
    w.make_head, w.make_pattern = ["%.t: %.in", "\techo x > $@"], ".t"


def shape_dirs(w, n):
    """flat spread over a base-10 tree of dirs, 10 targets per leaf dir, ONE default.t.do
    at the top (upward .do search, 2-4 levels)."""
    leaves = max(1, n // 10)
    digits = max(1, math.ceil(math.log10(leaves))) if leaves > 1 else 1
    for i in range(n):
        d = leaf_path(i // 10, 10, digits)
        w.sources.append(f"{d}/t{i}.in")
        w.rules.append((f"{d}/t{i}.t", [f"{d}/t{i}.in"], "echo"))
    w.root = [r[0] for r in w.rules]
    w.change = w.sources[n // 2]
    w.dofiles["default.t.do"] = 'redo-ifchange "$2.in"\necho x\n'
    w.make_head, w.make_pattern = ["%.t: %.in", "\techo x > $@"], ".t"


DEEP_LEVELS = 7


def shape_deep(w, n):
    """A narrow, DEEP_LEVELS-deep tree of dirs (fan-out 2 at N=1000, 3 at N=10000), 10
    targets per leaf dir, `cat` of their own source, made by ONE default.t.do at the top:
    each lookup tries two names in every dir on the way up. Every dir has a sum.ag (its own
    sum.ag.do) concatenating its children's, so one change rebuilds a path to the top."""
    leaves = max(1, n // 10)
    base = 2
    while base ** DEEP_LEVELS < leaves:
        base += 1
    sums = {}    # dir -> its inputs (target .t files, or the children's sum.ag)
    for i in range(n):
        d = leaf_path(i // 10, base, DEEP_LEVELS)
        w.sources.append(f"{d}/t{i}.in")
        w.rules.append((f"{d}/t{i}.t", [f"{d}/t{i}.in"], "cat"))
        sums.setdefault(d, []).append(f"{d}/t{i}.t")
    level = sorted(sums)
    for _ in range(DEEP_LEVELS):
        parents = {}
        for d in level:
            w.rules.append((f"{d}/sum.ag", sums[d], "cat"))
            rel = " ".join(os.path.relpath(x, d) for x in sums[d])
            w.dofiles[f"{d}/sum.ag.do"] = f"redo-ifchange {rel}\ncat {rel}\n"
            parent = os.path.dirname(d)
            if parent:
                sums.setdefault(parent, []).append(f"{d}/sum.ag")
                parents[parent] = True
            else:
                w.root.append(f"{d}/sum.ag")
        level = sorted(parents)
    w.change = w.sources[n // 2]
    w.dofiles["default.t.do"] = 'redo-ifchange "$2.in"\ncat "$2.in"\n'
    w.note = f"{len(sums)} dirs, {DEEP_LEVELS} levels, fan-out {base}"


MIXED_FILES = 10    # sources per package


def shape_mixed(w, n):
    """Sources and targets in different trees: out/pK/fI.o <- src/pK/fI.c + src/pK/pkg.h
    (root default.o.do, found 3 dirs up); src/pK/pkg.h <- src/pK/pkg.in (src/default.h.do:
    src/pK holds sources and a target); out/pK.lib <- the package's .o files
    (out/default.lib.do). N/10 packages of 10 sources."""
    pkgs = max(1, n // MIXED_FILES)
    for k in range(pkgs):
        w.sources.append(f"src/p{k}/pkg.in")
        w.rules.append((f"src/p{k}/pkg.h", [f"src/p{k}/pkg.in"], "cat"))
    for k in range(pkgs):
        w.dirs.append(f"out/p{k}")     # neither redo nor make creates an output's dir
        objs = []
        for i in range(MIXED_FILES):
            w.sources.append(f"src/p{k}/f{i}.c")
            w.rules.append((f"out/p{k}/f{i}.o", [f"src/p{k}/f{i}.c", f"src/p{k}/pkg.h"], "cat"))
            objs.append(f"out/p{k}/f{i}.o")
        w.rules.append((f"out/p{k}.lib", objs, "cat"))
        w.root.append(f"out/p{k}.lib")
    w.change = f"src/p{pkgs // 2}/f{MIXED_FILES // 2}.c"
    w.dofiles["default.o.do"] = ('s=src/${2#out/}\nh=${s%/*}/pkg.h\n'
                                 'redo-ifchange "$s.c" "$h"\ncat "$s.c" "$h"\n')
    w.dofiles["src/default.h.do"] = 'redo-ifchange "$2.in"\ncat "$2.in"\n'
    objs = " ".join(f"$2/f{i}.o" for i in range(MIXED_FILES))
    w.dofiles["out/default.lib.do"] = f'o="{objs}"\nredo-ifchange $o\ncat $o\n'
    w.note = f"{pkgs} packages"


def shape_wide(w, n):
    """One target concatenating all N sources (one very wide fan-in). ninja and make pass
    the list in one `sh -c` string, limited to 128 KiB: N up to about 14000."""
    w.sources = [f"w{i}.s" for i in range(n)]
    w.rules = [("wide.out", list(w.sources), "cat")]
    w.root = ["wide.out"]
    w.change = w.sources[n // 2]
    names = " ".join(w.sources)
    w.dofiles["wide.out.do"] = f"redo-ifchange {names}\ncat {names}\n"


def shape_narrow(w, n):
    """N/4 targets gK.g, each concatenating 4 sources (many small fan-ins), one
    default.g.do."""
    for k in range(max(1, n // 4)):
        ins = [f"n{4 * k + i}.s" for i in range(4)]
        w.sources += ins
        w.rules.append((f"g{k}.g", ins, "cat"))
    w.root = [r[0] for r in w.rules]
    w.change = w.sources[len(w.sources) // 2]
    w.dofiles["default.g.do"] = ('i=$((${2#g} * 4))\nins="n$i.s n$((i+1)).s n$((i+2)).s n$((i+3)).s"\n'
                                 'redo-ifchange $ins\ncat $ins\n')


def shape_chain(w, n):
    """A chain of N/10 targets, c1 <- chain.in, cK <- c(K-1) (`cat`). N/10, not N: a redo
    chain keeps one redo+sh per link alive (a 10000-deep process stack)."""
    w.sources = ["chain.in"]
    prev = "chain.in"
    for k in range(1, max(1, n // 10) + 1):
        w.rules.append((f"c{k}.ch", [prev], "cat"))
        prev = f"c{k}.ch"
    w.root = [prev]
    w.change = "chain.in"
    w.dofiles["default.ch.do"] = ('n=${2#c}\nif [ "$n" -gt 1 ]; then dep=c$((n-1)).ch; else dep=chain.in; fi\n'
                                  'redo-ifchange "$dep"\ncat "$dep"\n')


def shape_tree(w, n):
    """Fan-in tree: N leaves lK.lf <- lK.in (one default.lf.do), internal nodes `cat` 10
    children (a .do each), up to one root."""
    level = []
    for i in range(n):
        w.sources.append(f"l{i}.in")
        w.rules.append((f"l{i}.lf", [f"l{i}.in"], "cat"))
        level.append(f"l{i}.lf")
    h = 1
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 10):
            name = f"n{h}_{i // 10}.nd"
            w.rules.append((name, level[i:i + 10], "cat"))
            args = " ".join(level[i:i + 10])
            w.dofiles[name + ".do"] = f"redo-ifchange {args}\ncat {args}\n"
            nxt.append(name)
        level, h = nxt, h + 1
    w.root = level
    w.change = f"l{n // 2}.in"
    w.dofiles["default.lf.do"] = 'redo-ifchange "$2.in"\ncat "$2.in"\n'
    w.make_head, w.make_pattern = ["%.lf: %.in", "\tcat $< > $@"], ".lf"


SHAPES = {"trivial": shape_trivial, "flat": shape_flat, "dirs": shape_dirs,
          "deep": shape_deep, "mixed": shape_mixed, "wide": shape_wide,
          "narrow": shape_narrow, "chain": shape_chain, "tree": shape_tree}
MAKE_CMD = {"echo": "echo x > $@", "cat": "cat $^ > $@"}
NINJA_CMD = {"echo": "echo x > $out", "cat": "cat $in > $out"}


class Workload:
    """One shape at one N: its rules, sources, the targets `all` depends on, what a
    one-change round edits (or removes), and the three build descriptions."""

    def __init__(self, kind, n):
        self.kind, self.n = kind, n
        self.rules, self.sources, self.root, self.dirs = [], [], [], []
        self.dofiles = {}
        self.change, self.change_rm = None, False
        self.make_head, self.make_pattern = [], None   # make_pattern: suffix the head covers
        self.note = ""
        SHAPES[kind](self, n)

    def describe(self):
        what = "remove" if self.change_rm else "edit"
        note = f" ({self.note})" if self.note else ""
        return (f"{len(self.rules)} targets, {len(self.sources)} sources{note}; "
                f"one change = {what} {self.change}")

    def gen_sources(self, d):
        for s in self.sources:
            write(os.path.join(d, s), s + "\n")
        for x in self.dirs:
            os.makedirs(os.path.join(d, x), exist_ok=True)

    def gen_redo(self, d):
        self.gen_sources(d)
        # `all` must write output: in redo a target that produces nothing is out of date
        # forever, and the no-op would measure a rebuild of `all`.
        write(os.path.join(d, "all.do"), "redo-ifchange " + " ".join(self.root) + "\necho done\n")
        for path, text in self.dofiles.items():
            write(os.path.join(d, path), text)

    def gen_make(self, d):
        self.gen_sources(d)
        out = [".SUFFIXES:", ".PHONY: all", "all: " + " ".join(self.root)] + self.make_head
        for tgt, ins, act in self.rules:
            if not (self.make_pattern and tgt.endswith(self.make_pattern)):
                out += [f"{tgt}: {' '.join(ins)}".rstrip(), "\t" + MAKE_CMD[act]]
        write(os.path.join(d, "Makefile"), "\n".join(out) + "\n")

    def gen_ninja(self, d):
        self.gen_sources(d)
        out = [f"rule {a}\n  command = {c}" for a, c in NINJA_CMD.items()]
        for tgt, ins, act in self.rules:
            out.append(f"build {tgt}: {act} {' '.join(ins)}".rstrip())
        out += ["build all: phony " + " ".join(self.root), "default all"]
        write(os.path.join(d, "build.ninja"), "\n".join(out) + "\n")

    def edit(self, d, tag):
        """Make the one change in tree d: a new content for the source, or the target gone."""
        p = os.path.join(d, self.change)
        if self.change_rm:
            if os.path.exists(p):
                os.unlink(p)
        else:
            with open(p, "w") as f:
                f.write(f"{self.change} {tag}\n")

    def verify(self, d):
        """Targets of tree d whose content is not what the rules make of d's sources: []
        when the build is right. Catches a tool variant that does less work than the
        others (a missing target, a stale one after a change)."""
        want, wrong = {}, []
        for tgt, ins, act in self.rules:
            if act == "echo":
                want[tgt] = b"x\n"
            else:
                parts = []
                for i in ins:
                    if i not in want:
                        try:
                            with open(os.path.join(d, i), "rb") as f:
                                want[i] = f.read()
                        except OSError:
                            want[i] = None
                    parts.append(want[i] or b"")
                want[tgt] = b"".join(parts)
            try:
                with open(os.path.join(d, tgt), "rb") as f:
                    if f.read() != want[tgt]:
                        wrong.append(tgt)
            except OSError:
                wrong.append(tgt)
        return wrong

    def mtimes(self, d):
        out = {}
        for tgt, _, _ in self.rules:
            try:
                out[tgt] = os.stat(os.path.join(d, tgt)).st_mtime_ns
            except OSError:
                out[tgt] = None
        return out

# ---- the jobserver mix (issue 3) ---------------------------------------------------------

JS_LEAF = 0.25          # seconds each sleeping leaf job takes
JS_REDO_JOBS = 12       # redo targets r1..rK, one leaf job each
JS_MAKE_JOBS = 12       # recipes of the make sub-build, one leaf job each
JS_CRATES = ("a", "b", "c")   # library crates; the binary crate `app` depends on all

# Leaf job: compat/kit/job's log format, in sh (a python start costs ~15 ms per job).
JS_BJOB = """#!/bin/sh
# bjob ID SECS: append "start <ns> ID" to $BENCH_LOG, sleep SECS, append "end <ns> ID".
echo "start $(date +%s%N) $1" >>"$BENCH_LOG"
sleep "$2"
echo "end $(date +%s%N) $1" >>"$BENCH_LOG"
"""
# cargo's RUSTC_WRAPPER: every rustc cargo runs is a logged leaf job.
JS_RLOG = """#!/bin/sh
id=rustc.$$
echo "start $(date +%s%N) $id" >>"$BENCH_LOG"
st=0
"$@" || st=$?
echo "end $(date +%s%N) $id" >>"$BENCH_LOG"
exit $st
"""


def gen_js(d):
    """The mix as .do files (top: all.do), plus the same mix as a Makefile (top.mk) as a
    reference: JS_REDO_JOBS sleeping targets, a make sub-build of JS_MAKE_JOBS sleeping
    recipes (make without -j, so it joins the jobserver), a cargo workspace build (cargo
    without -j, likewise). Every .do writes output (a target that writes nothing is
    out of date forever in redo)."""
    for name, text in (("bjob", JS_BJOB), ("rlog", JS_RLOG)):
        write(os.path.join(d, name), text)
        os.chmod(os.path.join(d, name), 0o755)
    rs = " ".join(f"r{i}.r" for i in range(1, JS_REDO_JOBS + 1))
    # cargo and make first: they have internal order (cargo: libs, then app), start them early.
    write(os.path.join(d, "all.do"), f"redo-ifchange cargo.out make.out {rs}\necho done\n")
    write(os.path.join(d, "default.r.do"), f'./bjob "$2" {JS_LEAF} >&2\necho "$2"\n')
    write(os.path.join(d, "make.out.do"),
          'redo-ifchange sub.mk\n"${MAKE:-make}" -s -f sub.mk >&2\necho done\n')
    ms = " ".join(f"m{i}" for i in range(1, JS_MAKE_JOBS + 1))
    write(os.path.join(d, "sub.mk"),
          f"all: {ms}\n{ms}:\n\t@./bjob $@ {JS_LEAF}\n.PHONY: all {ms}\n")
    members = list(JS_CRATES) + ["app"]
    write(os.path.join(d, "cargo.out.do"),
          "redo-ifchange Cargo.toml " + " ".join(f"{c}/Cargo.toml" for c in members) + "\n"
          'CARGO_TARGET_DIR="$PWD/target" RUSTC_WRAPPER="$PWD/rlog" '
          "cargo build --offline --quiet >&2\necho done\n")
    write(os.path.join(d, "Cargo.toml"),
          "[workspace]\nresolver = \"2\"\nmembers = [" + ", ".join(f'"{m}"' for m in members) + "]\n")
    for c in JS_CRATES:
        write(os.path.join(d, c, "Cargo.toml"),
              f'[package]\nname = "{c}"\nversion = "0.1.0"\nedition = "2021"\n')
        write(os.path.join(d, c, "src", "lib.rs"),
              f"pub fn {c}(x: u64) -> u64 {{\n    (1..=x).map(|i| i * i % 7919).sum()\n}}\n")
    write(os.path.join(d, "app", "Cargo.toml"),
          '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
          + "".join(f'{c} = {{ path = "../{c}" }}\n' for c in JS_CRATES))
    write(os.path.join(d, "app", "src", "main.rs"),
          "fn main() {\n    println!(\"{}\", " + " + ".join(f"{c}::{c}(100)" for c in JS_CRATES)
          + ");\n}\n")
    # The same mix with make on top (reference): `+` passes make's jobserver on.
    write(os.path.join(d, "top.mk"),
          f"all: cargo.out make.out {rs}\n"
          f"%.r:\n\t@./bjob $* {JS_LEAF} && echo $* >$@\n"
          "make.out: sub.mk\n\t+@$(MAKE) -s -f sub.mk && echo done >$@\n"
          'cargo.out:\n\t+@CARGO_TARGET_DIR="$$PWD/target" RUSTC_WRAPPER="$$PWD/rlog" '
          "cargo build --offline --quiet && echo done >$@\n"
          ".PHONY: all\n")


def js_log(path):
    """(max overlap, jobs, total job seconds, {kind: jobs}) of a bjob/rlog log, or an error."""
    events, bad = [], 0
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) != 3 or p[0] not in ("start", "end") or not p[1].isdigit():
                bad += 1
                continue
            events.append((int(p[1]), 0 if p[0] == "end" else 1, p[2]))
    events.sort()
    running, cur, best, jobs, total, kinds = {}, 0, 0, 0, 0, {}
    for t, kind, ident in events:
        if kind == 1:
            if ident in running:
                return f"{ident} started twice"
            running[ident] = t
            cur += 1
            best = max(best, cur)
        else:
            if ident not in running:
                return f"{ident} ended without start"
            total += t - running.pop(ident)
            cur -= 1
            jobs += 1
            k = "rustc" if ident.startswith("rustc.") else ident[0]
            kinds[k] = kinds.get(k, 0) + 1
    if running or bad:
        return f"unbalanced {sorted(running)} bad lines {bad}"
    return best, jobs, total / 1e9, kinds


def js_bench(bench, env, redo_env, make, jsserve, runs, tools):
    tmpl = os.path.join(bench, "js-tmpl")
    shutil.rmtree(tmpl, ignore_errors=True)
    gen_js(tmpl)
    cargo = shutil.which("cargo", path=env.get("PATH"))
    if not cargo:
        print("== jobserver mix: skipped, no cargo on PATH")
        return []
    subprocess.run([cargo, "generate-lockfile", "--offline", "--quiet"], cwd=tmpl, env=env,
                   check=True, stdin=subprocess.DEVNULL)
    work = os.path.join(bench, "js-work")
    log = os.path.join(bench, "js.log")
    base_env = dict(env, BENCH_LOG=log, MAKE=make)

    def one(cmd, extra):
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["cp", "-a", tmpl, work], check=True)
        open(log, "w").close()
        e = dict(base_env, **extra)
        t0 = time.perf_counter()
        r = subprocess.run(["bash", "-c", cmd], cwd=work, env=e, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        return r, wall, js_log(log)

    configs = []
    for n in (2, 4):
        if "ferredo" in tools or "ferredo-nosync" in tools:
            configs.append((f"redo -j{n} all", n, "redo", f"redo -j{n} all", redo_env))
            configs.append((f"jsserve -j{n} -- redo all", n, "jsserve",
                            f"{shlex.quote(jsserve)} --strict -j{n} -- redo all", redo_env))
        if "make" in tools:
            configs.append((f"make 4.4.1 -j{n} (top.mk)", n, "make",
                            f"{shlex.quote(make)} -s -j{n} -f top.mk", {}))
    one(configs[0][3], configs[0][4])   # warm-up: rustc and the page cache
    print(f"== jobserver mix: {JS_REDO_JOBS} redo targets + make sub-build ({JS_MAKE_JOBS} "
          f"recipes) + cargo workspace ({len(JS_CRATES)} libs + 1 bin, debug), leaf jobs sleep "
          f"{JS_LEAF}s; rustc runs logged through RUSTC_WRAPPER  ({runs} run(s), median)")
    print(f"{'top-level command':<30}{'wall':>9}{'ideal':>9}{'wall/ideal':>11}{'overlap':>9}"
          f"{'jobs':>6}  tokens at the end")
    out = []
    for label, n, kind, cmd, extra in configs:
        walls, ratios, ideals, overlaps, tokens, notes, jobs = [], [], [], [], [], set(), None
        for _ in range(runs):
            r, wall, parsed = one(cmd, extra)
            err = r.stderr
            if r.returncode != 0 and kind != "jsserve":
                print(f"    FAIL ({r.returncode}): {cmd}\n      " + "\n      ".join(err.strip().splitlines()[-5:]),
                      file=sys.stderr)
            if isinstance(parsed, str):
                notes.add("bad log: " + parsed)
                continue
            mx, nj, total, kinds = parsed
            ideal = total / n
            walls.append(wall)
            ideals.append(ideal)
            ratios.append(wall / ideal)
            overlaps.append(mx)
            jobs = f"{nj}"
            if kind == "jsserve":
                m = [l for l in err.splitlines() if l.startswith("jsserve: tokens left=")]
                tokens.append(m[-1][len("jsserve: "):] if m else f"no count (exit {r.returncode})")
            else:
                warn = [l for l in err.splitlines() if "INTERNAL" in l or "tokens" in l]
                tokens.append("warning: " + warn[0] if warn else
                              ("no missing-token warning" if kind == "redo" else "-"))
            for l in err.splitlines():
                if "jobserver" in l and not l.startswith("jsserve: tokens"):
                    notes.add(l.strip())
        if not walls:
            print(f"{label:<30}{'FAIL':>9}  {'; '.join(sorted(notes))}")
            continue
        ov = f"{min(overlaps)}" if min(overlaps) == max(overlaps) else f"{min(overlaps)}-{max(overlaps)}"
        tok = "; ".join(sorted(set(tokens)))
        print(f"{label:<30}{fmt_t(statistics.median(walls)):>9}{fmt_t(statistics.median(ideals)):>9}"
              f"{statistics.median(ratios):>10.2f}x{ov + '/' + str(n):>9}{jobs:>6}  {tok}", flush=True)
        for note in sorted(notes):
            print(f"    note: {note}")
        out.append({"label": label, "n": n, "walls": walls, "ideals": ideals,
                    "overlaps": overlaps, "tokens": tokens, "notes": sorted(notes)})
    print(f"  ideal = total logged leaf-job time / N; overlap = most leaf jobs running at once "
          f"over the runs / N (cargo's rustc may also take tokens for its own threads, unlogged)\n")
    return out



# ---- tools and running ---------------------------------------------------------------------

QUERIES = ("redo-ood", "redo-sources", "redo-targets")
TOOL_NAMES = ("ferredo-nosync", "ferredo", "make", "ninja")
LABELS = {"ferredo-nosync": "ferredo nosync", "ferredo": "ferredo fsync",
          "make": "GNU make 4.4.1", "ninja": "ninja"}


class Binaries:
    """The redo binaries under test: A ($FERREDO_REDO), B ($FERREDO_REDO_B), then C, D, ...
    for other paths. Each gets a bin dir of applet symlinks, first on PATH for its tools:
    the .do files run redo-ifchange."""

    def __init__(self, bench, default):
        self.bench, self.default, self.all = bench, default, []

    def get(self, sel):
        b_path = os.environ.get("FERREDO_REDO_B")
        if sel == "B" and not b_path:
            sys.exit("bench.py: @B needs $FERREDO_REDO_B")
        path = os.path.abspath(self.default if not sel else b_path if sel == "B" else sel)
        for b in self.all:
            if b.path == path:
                return b
        if not os.access(path, os.X_OK):
            sys.exit(f"bench.py: {path}: not an executable")
        named = {os.path.abspath(self.default): "A"}
        if b_path:
            named[os.path.abspath(b_path)] = "B"
        taken = {b.letter for b in self.all}
        letter = named.get(path) or next(c for c in "CDEFGHIJ" if c not in taken)
        bindir = os.path.join(self.bench, "bin-" + letter)
        os.makedirs(bindir, exist_ok=True)
        for a in APPLETS:
            link = os.path.join(bindir, a)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(path, link)
        b = types.SimpleNamespace(path=path, letter=letter, bindir=bindir)
        self.all.append(b)
        return b


class Tool:
    """A row of the tables. spec: ferredo-nosync | ferredo | make | ninja; a ferredo one may
    end in @PATH (another redo binary; @B = $FERREDO_REDO_B), for A/B runs."""

    def __init__(self, spec, binaries, env, make, ninja):
        name, _, sel = spec.partition("@")
        if name not in TOOL_NAMES:
            sys.exit(f"bench.py: unknown tool {spec!r} (know {', '.join(TOOL_NAMES)})")
        self.spec, self.name, self.make, self.ninja = spec, name, make, ninja
        self.kind = "redo" if name.startswith("ferredo") else name
        self.env, self.binary = dict(env), None
        if self.kind == "redo":
            self.binary = binaries.get(sel)
            self.env["PATH"] = self.binary.bindir + ":" + env.get("PATH", "")
            if name == "ferredo-nosync":
                self.env["REDO_NO_SYNC"] = "1"
        elif sel:
            sys.exit(f"bench.py: {spec}: only ferredo tools take @binary")
        self.label = LABELS[name]

    def argv(self, jobs, d=None):
        if self.kind == "redo":
            return [os.path.join(self.binary.bindir, "redo-ifchange"), f"-j{jobs}", "all"]
        if self.kind == "make":
            return [self.make, "-r", "-s", f"-j{jobs}", "all"]
        return [self.ninja, f"-j{jobs}", "all"]

    def query(self, q):
        return [os.path.join(self.binary.bindir, q)]


class Floor:
    """The spawn floor as a row of the full-build table: one `/bin/sh -c 'echo x >f'` per
    target from a tiny C spawner (xargs if there is no C compiler)."""
    spec, name, kind, label = "floor", "floor", "floor", "spawn floor (sh -c)"

    def __init__(self, bench, env, count):
        self.env, self.count, self.bin = env, count, None
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc:
            src = os.path.join(bench, "floor.c")
            write(src, FLOOR_C)
            self.bin = os.path.join(bench, "floor")
            subprocess.run([cc, "-O2", "-o", self.bin, src], check=True)

    def argv(self, jobs, d):
        if self.bin:
            return [self.bin, str(self.count), str(jobs), d]
        return ["bash", "-c", f"seq 0 {self.count - 1} | xargs -P {jobs} -I{{}} "
                f"/bin/sh -c 'echo x > {shlex.quote(d)}/f{{}}'"]


class Runner:
    def __init__(self, bench):
        self.bench = bench
        self.gnutime = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

    def run(self, argv, cwd, env):
        """Seconds one run of argv takes, started directly (no shell in the figure), or
        None when it failed: reported, and the bench goes on."""
        t0 = time.perf_counter()
        r = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t = time.perf_counter() - t0
        if r.returncode != 0:
            tail = "\n      ".join(r.stderr.strip().splitlines()[-5:])
            print(f"    FAIL ({r.returncode}): {' '.join(argv)[:200]} in {cwd}\n      {tail}",
                  file=sys.stderr, flush=True)
            return None
        return t

    def rss(self, argv, cwd, env):
        """Peak RSS in KiB of the largest single process of argv (GNU time %M), or None."""
        if not self.gnutime:
            return None
        with tempfile.NamedTemporaryFile("r", dir=self.bench, suffix=".rss") as f:
            r = subprocess.run([self.gnutime, "-f", "%M", "-o", f.name] + argv, cwd=cwd, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                return None
            return int(f.read().strip().splitlines()[-1])


def rotate(xs, r):
    """Round r's order: each tool goes first in turn, so none always runs right after the
    same other one (or always first, on a cold cache)."""
    k = r % len(xs)
    return xs[k:] + xs[:k]


def fresh(src, d):
    shutil.rmtree(d, ignore_errors=True)
    if src:
        subprocess.run(["cp", "-a", src, d], check=True)
    else:
        os.makedirs(d)


def med(xs):
    """Median of a cell's samples; None (FAIL) if any run failed, "-" if none were taken."""
    if not xs:
        return "-"
    if any(x is None for x in xs):
        return None
    return statistics.median(xs)


# ---- the phases of one shape ---------------------------------------------------------------

def full_phase(ctx, w, base, tmpl):
    """Full builds from a fresh copy at -j1 and -j2, tools and floor taking turns round by
    round. Leaves every tool's tree built (by -j2); returns {spec: {1: [s], 2: [s]}}."""
    rows = ctx.tools + [ctx.floor]
    got = {t.spec: {1: [], 2: []} for t in rows}
    if ctx.runs_full == 0:    # --runs-full 0: the loop's trees, built untimed
        for t in ctx.tools:
            d = ctx.workdir(base, t)
            fresh(tmpl.get(t.kind), d)
            ctx.runner.run(t.argv(2, d), d, t.env)
        return None
    for r in range(ctx.runs_full):
        for t in rotate(rows, r):
            d = ctx.workdir(base, t)
            for j in (1, 2):
                fresh(tmpl.get(t.kind), d)
                got[t.spec][j].append(ctx.runner.run(t.argv(j, d), d, t.env))
    return got


def loop_phase(ctx, w, base):
    """The edit -> build -> build loop, then the settled no-op and the queries. Each
    round every tool, in turn, gets the same change: its source edited (or target removed),
    its rebuild timed ("change"), then the no-op right after it ("no-op after"), with
    nothing of the other tools in between: the state a person meets. Then rounds of a
    back-to-back no-op ("settled") and, for ferredo, redo-ood/-sources/-targets at the top."""
    got = {t.spec: {c: [] for c in LOOP_COLS} for t in ctx.tools}
    # Round -1 is not timed: the first change after a full build is not the one a person
    # meets after editing for a while (caches a build leaves get their first rewrite).
    for r in range(-1, ctx.runs):
        for t in rotate(ctx.tools, r):
            d = ctx.workdir(base, t)
            w.edit(d, f"round {r} {time.time_ns()}")
            change = ctx.runner.run(t.argv(1), d, t.env)
            noop = ctx.runner.run(t.argv(1), d, t.env)
            if r >= 0:
                got[t.spec]["change"].append(change)
                got[t.spec]["noop_after"].append(noop)
    for t in ctx.tools:    # one no-op untimed: the first after a rebuild may write caches
        ctx.runner.run(t.argv(1), ctx.workdir(base, t), t.env)
    for r in range(ctx.runs):
        for t in rotate(ctx.tools, r):
            d = ctx.workdir(base, t)
            got[t.spec]["noop"].append(ctx.runner.run(t.argv(1), d, t.env))
            if t.kind == "redo":
                for q in QUERIES:
                    got[t.spec][q].append(ctx.runner.run(t.query(q), d, t.env))
    return got


LOOP_COLS = ("change", "noop_after", "noop") + QUERIES
LOOP_HEADS = ("change", "no-op after", "settled", "ood", "sources", "targets")


def check_word(w, d):
    wrong = w.verify(d)
    return "ok" if not wrong else f"WRONG {len(wrong)} (e.g. {wrong[0]})"


def bench_shape(ctx, wk, n):
    w = Workload(wk, n)
    base = os.path.join(ctx.bench, f"{wk}-{n}")
    tmpl = {}
    for kind in sorted({t.kind for t in ctx.tools}):
        tmpl[kind] = os.path.join(base, "tmpl-" + kind)
        shutil.rmtree(tmpl[kind], ignore_errors=True)
        getattr(w, "gen_" + kind)(tmpl[kind])
    ctx.floor.count = len(w.rules)
    print(f"== {wk}, N={n}: {w.describe()}", flush=True)
    full = full_phase(ctx, w, base, tmpl)
    checks = {t.spec: {"full": check_word(w, ctx.workdir(base, t))} for t in ctx.tools}
    if full is not None:
        print_full(ctx, full)
    loop = loop_phase(ctx, w, base)
    rss = {}
    for t in ctx.tools:
        d = ctx.workdir(base, t)
        checks[t.spec]["loop"] = check_word(w, d)
        rss[t.spec] = ctx.runner.rss(t.argv(1), d, t.env)
    print_loop(ctx, loop, rss, checks)
    print()
    if not ctx.args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return {"shape": wk, "n": n, "targets": len(w.rules), "sources": len(w.sources),
            "describe": w.describe(), "full": full, "loop": loop, "rss_noop_kib": rss,
            "check": checks,
            "medians": {s: {c: med(v) for c, v in cols.items()} for s, cols in loop.items()}}


# ---- tables --------------------------------------------------------------------------------

def print_table(heads, rows, ratios):
    """rows: [(label, [cell text])]; ratios: [(label, [numerator], [denominator])]."""
    print(f"{'':<30}" + "".join(f"{h:>12}" for h in heads))
    for label, cells in rows:
        print(f"{label:<30}" + "".join(f"{c:>12}" for c in cells))
    for label, a, b in ratios:
        print(f"{'  ' + label:<30}" + "".join(f"{ratio(x, y):>12}" for x, y in zip(a, b)))


def print_full(ctx, full):
    rows = ctx.tools + [ctx.floor]
    m = {t.spec: [med(full[t.spec][1]), med(full[t.spec][2])] for t in rows}
    print(f"full build from a fresh copy: {ctx.runs_full} interleaved round(s), median")
    ratios = []
    for ref in ("floor", "ninja"):
        if ref in m:
            ratios += [(f"{t.label_ab} / {ref}", m[t.spec], m[ref]) for t in rows
                       if t.spec not in (ref, "floor")]
    print_table(("-j1", "-j2"), [(t.label_ab, [fmt_t(x) for x in m[t.spec]]) for t in rows], ratios)


def print_loop(ctx, loop, rss, checks):
    print(f"edit -> build -> build (-j1): {ctx.runs} interleaved rounds, median; settled = "
          f"back-to-back no-op; ood/sources/targets ratio to ninja's settled no-op")
    m = {t.spec: [med(loop[t.spec][c]) for c in LOOP_COLS] for t in ctx.tools}
    rows = []
    for t in ctx.tools:
        c = checks[t.spec]
        check = c["full"] if c["full"] == c["loop"] else f"full {c['full']}, after loop {c['loop']}"
        rows.append((t.label_ab, [fmt_t(x) for x in m[t.spec]] + [fmt_kib(rss[t.spec]), check]))
    ratios = []
    if "ninja" in m:
        ninja = m["ninja"][:3] + [m["ninja"][2]] * len(QUERIES)
        ratios += [(f"{t.label_ab} / ninja", m[t.spec], ninja) for t in ctx.tools if t.spec != "ninja"]
    for t in ctx.tools:    # A/B: each other binary against A's same tool
        a = ctx.tool_a(t)
        if a:
            ratios.append((f"{t.label_ab} / {a.binary.letter}", m[t.spec], m[a.spec]))
    print_table(LOOP_HEADS + ("RSS no-op", "check"), rows, ratios)


# ---- the quick self-check (--check) ----------------------------------------------------------

def check_shape(ctx, wk, n):
    """Build every tool's tree and say whether it is right: after a full build, after one
    change (and how many targets that rewrote: the same count for every tool, or one does
    less work), and that a no-op then rewrites no target; plus how many lines the queries
    print. Nothing timed."""
    w = Workload(wk, n)
    base = os.path.join(ctx.bench, f"check-{wk}-{n}")
    print(f"== check {wk}, N={n}: {w.describe()}", flush=True)
    for t in ctx.tools:
        tmpl = os.path.join(base, "tmpl-" + t.kind)
        if not os.path.isdir(tmpl):
            getattr(w, "gen_" + t.kind)(tmpl)
        d = ctx.workdir(base, t)
        fresh(tmpl, d)
        notes = []
        ok = ctx.runner.run(t.argv(2), d, t.env) is not None
        notes.append("full " + (check_word(w, d) if ok else "FAIL"))
        w.edit(d, "check")
        before = w.mtimes(d)
        ok = ctx.runner.run(t.argv(1), d, t.env) is not None
        after = w.mtimes(d)
        redone = sum(1 for k in before if before[k] != after[k])
        notes.append(f"change {check_word(w, d)}, rewrote {redone}" if ok else "change FAIL")
        before = after
        ok = ctx.runner.run(t.argv(1), d, t.env) is not None
        after = w.mtimes(d)
        redone = sum(1 for k in before if before[k] != after[k])
        notes.append(f"no-op rewrote {redone}" if ok else "no-op FAIL")
        if t.kind == "redo":
            for q in QUERIES:
                r = subprocess.run(t.query(q), cwd=d, env=t.env, capture_output=True, text=True)
                notes.append(f"{q} {len(r.stdout.splitlines())} lines"
                             + ("" if r.returncode == 0 else f" (exit {r.returncode})"))
        print(f"  {t.label_ab:<28}" + "; ".join(notes), flush=True)
    if not ctx.args.keep:
        shutil.rmtree(base, ignore_errors=True)


def fmt_t(s):
    if s is None:
        return "FAIL"
    if s == "-":
        return "-"
    return f"{s * 1000:.1f}ms" if s < 1 else f"{s:.2f}s"


def fmt_kib(k):
    return "-" if k is None else f"{k / 1024:.1f}MiB"


def ratio(a, b):
    if not isinstance(a, float) or not isinstance(b, float) or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def create_probe(d):
    """One line: the filesystem of the scratch dir and what creating a file costs there."""
    fs = "?"
    try:
        fs = subprocess.run(["stat", "-f", "-c", "%T", d], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    p = os.path.join(d, "probe")
    os.makedirs(p, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(1000):
        os.close(os.open(os.path.join(p, f"f{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    us = (time.perf_counter() - t0) * 1000
    shutil.rmtree(p, ignore_errors=True)
    return f"scratch {d} on {fs}: creating a file costs {us:.0f} us"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_line():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    u = os.uname()
    return (f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {u.nodename}: {os.cpu_count()} CPUs ({model}), "
            f"{u.sysname} {u.release}")




def scratch_dir(args):
    # tmpfs by default: on a disk filesystem the cost of creating a file depends on the
    # filesystem's history (ext4 without a journal scans every inode deleted in the last
    # few minutes on each creation, see RESULTS.md), which swamps the tools' own costs
    # and favours the tool that creates the fewest files. The probe line shows it.
    shm = "/dev/shm"
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
        return args.dir
    if not args.disk and os.path.isdir(shm) and os.access(shm, os.W_OK):
        return tempfile.mkdtemp(prefix="ferredo-bench-", dir=shm)
    return tempfile.mkdtemp(prefix="ferredo-bench-")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="N=1000 only, fewer rounds")
    ap.add_argument("--n", default=None, help="comma list of N (default 1000,10000)")
    ap.add_argument("--workloads", "--shapes", default=",".join(list(SHAPES) + ["jobserver"]),
                    help="comma list of shapes; jobserver = the redo/make/cargo mix under -j2 "
                         "and -j4 (N-independent)")
    ap.add_argument("--tools", default="ferredo-nosync,ferredo,make,ninja",
                    help="comma list of ferredo-nosync, ferredo, make, ninja; a ferredo tool "
                         "may end in @PATH, another redo binary (@B = $FERREDO_REDO_B)")
    ap.add_argument("--runs", type=int, default=None,
                    help="rounds of the edit/build/build loop and of the settled no-op "
                         "(default 10, quick 5)")
    ap.add_argument("--runs-full", type=int, default=None,
                    help="rounds of full builds (default 3 at N<=1000, 1 above; quick 1; "
                         "0: no full-build table, the trees are built untimed)")
    ap.add_argument("--runs-js", type=int, default=None, help="runs of the jobserver mix (default 3, quick 1)")
    ap.add_argument("--check", action="store_true",
                    help="only check that every tool builds every shape right (full, one "
                         "change, no-op rewrites nothing); nothing timed")
    ap.add_argument("--json", default=None, help="write all samples there (default: results.json "
                                                  "in the scratch dir)")
    ap.add_argument("--dir", default=None,
                    help="scratch dir (default: a new dir in /dev/shm when it is a writable "
                         "tmpfs, else in $TMPDIR)")
    ap.add_argument("--disk", action="store_true",
                    help="scratch dir in $TMPDIR even when /dev/shm is there")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir")
    return ap.parse_args()


def make_context(args, redo, make, ninja):
    """The scratch dir, the tools (each with its work dir name and label) and the floor."""
    bench = scratch_dir(args)
    env = {k: v for k, v in os.environ.items() if k not in SCRUB and not k.startswith("REDO_")}
    binaries = Binaries(bench, redo)
    tools = [Tool(s, binaries, env, make, ninja) for s in args.tools.split(",")]
    for i, t in enumerate(tools):
        t.dirname = f"work{i}-{t.name}"
        ab = t.binary and (t.binary.letter != "A" or len(binaries.all) > 1)
        t.label_ab = t.label + (f" [{t.binary.letter}]" if ab else "")
    floor = Floor(bench, env, 0)
    floor.dirname, floor.label_ab = "floor", floor.label

    def tool_a(t):
        """The same tool on binary A, when t runs another binary (A/B rows)."""
        if not t.binary or t.binary.letter == "A":
            return None
        return next((a for a in tools if a.name == t.name and a.binary and a.binary.letter == "A"), None)

    return types.SimpleNamespace(
        args=args, bench=bench, env=env, binaries=binaries, tools=tools, floor=floor,
        runner=Runner(bench), tool_a=tool_a, runs=args.runs or (5 if args.quick else 10),
        runs_full=None, redo=redo, make=make, ninja=ninja,
        workdir=lambda base, t: os.path.join(base, t.dirname))


def print_header(ctx):
    print(f"ferredo benchmarks in {ctx.bench}  (own interleaved timing loop; "
          f"RSS: {'GNU time %M' if ctx.runner.gnutime else 'n/a'})")
    for b in sorted(ctx.binaries.all, key=lambda b: b.letter):
        rev = f" (built from {os.environ.get('FERREDO_REV', '?')})" if b.letter == "A" else ""
        print(f"redo {b.letter} = {b.path}{rev}")
    print(f"make={ctx.make}\nninja={ctx.ninja}")
    print(machine_line())
    print(create_probe(ctx.bench))
    print(f"load average at start: {loadavg()}\n", flush=True)


def run_jobserver(ctx):
    kit = os.environ.get("FERREDO_KIT") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "kit")
    env = dict(ctx.env, PATH=ctx.binaries.get("").bindir + ":" + ctx.env.get("PATH", ""))
    runs = ctx.args.runs_js or (1 if ctx.args.quick else 3)
    return js_bench(ctx.bench, env, {}, ctx.make, os.path.join(kit, "jsserve"), runs,
                    [t.name for t in ctx.tools])


def main():
    args = parse_args()
    ns = [int(x) for x in (args.n or ("1000" if args.quick else "1000,10000")).split(",")]
    workloads = args.workloads.split(",")
    js_wanted = "jobserver" in workloads
    workloads = [w for w in workloads if w != "jobserver"]
    for wk in workloads:
        if wk not in SHAPES:
            sys.exit(f"bench.py: unknown shape {wk!r} (know {', '.join(SHAPES)}, jobserver)")
    redo = os.environ.get("FERREDO_REDO")
    make = os.environ.get("FERREDO_MAKE44")
    ninja = os.environ.get("FERREDO_NINJA")
    for var, val in (("FERREDO_REDO", redo), ("FERREDO_MAKE44", make), ("FERREDO_NINJA", ninja)):
        if not val:
            sys.exit(f"bench.py: ${var} is not set: run compat/bench/run.sh")
    ctx = make_context(args, redo, make, ninja)
    print_header(ctx)

    if args.check:
        for n in ns:
            for wk in workloads:
                check_shape(ctx, wk, n)
        if not args.keep and not args.dir:
            shutil.rmtree(ctx.bench, ignore_errors=True)
        return
    results = []
    for n in ns:
        ctx.runs_full = (args.runs_full if args.runs_full is not None
                         else (1 if (args.quick or n > 1000) else 3))
        for wk in workloads:
            results.append(bench_shape(ctx, wk, n))
    js = run_jobserver(ctx) if js_wanted else []
    print(f"load average at end: {loadavg()}   ({time.strftime('%Y-%m-%d %H:%M:%S %Z')})")
    out = args.json or os.path.join(ctx.bench, "results.json")
    meta = {"machine": machine_line(), "rev": os.environ.get("FERREDO_REV"),
            "binaries": {b.letter: b.path for b in ctx.binaries.all}, "tools": args.tools,
            "make": make, "ninja": ninja}
    with open(out, "w") as f:
        json.dump({"meta": meta, "shapes": results, "jobserver": js}, f, indent=1)
    print(f"\nresults: {out}")
    if args.json and not args.keep and not args.dir:   # nothing left there worth keeping
        shutil.rmtree(ctx.bench, ignore_errors=True)


if __name__ == "__main__":
    main()
