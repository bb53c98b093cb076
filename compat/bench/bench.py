#!/usr/bin/env python3
"""ferredo benchmarks: one workload, three build descriptions (.do files, a Makefile, a
build.ninja), timed with ferredo, GNU make 4.4.1 and ninja, next to a spawn floor.

Run through compat/bench/run.sh, which builds ferredo, provides the tools and exports
FERREDO_REDO (the release binary), FERREDO_MAKE44 and FERREDO_NINJA.

Workloads (N = 1000 and 10000; --quick: 1000 only, fewer runs):
  trivial  N independent targets tK.t made by `echo x` from nothing: exactly the floor's
         work per target (one `sh -c 'echo x >f'`), plus all
  flat   N independent targets tK.t, each from its own source tK.in (`echo x`), plus all;
         in redo each .do also runs `redo-ifchange $2.in` (a second process per target)
  dirs   the same N targets spread over nested dirs (10 per leaf dir, base-10 tree of
         dirs), built by ONE default.t.do at the top (upward .do search)
  chain  a chain of N/10 targets, c1 <- chain.in, cK <- c(K-1) (`cat`). N/10, not N:
         a redo chain keeps one redo+sh per link alive (a 10000-deep process stack)
  tree   fan-in tree: N leaves lK.lf <- lK.in, internal nodes `cat` 10 children, up to
         one root

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

Columns: full build -j1 and -j2 (from a fresh copy), no-op rebuild, rebuild after
changing the content of one source (all -j1), and peak RSS (the largest single process,
GNU time %M) of the -j2 full build and of the no-op. ferredo runs as `redo-ifchange -jJ
all`, with REDO_NO_SYNC=1 and with the default fsyncs; make as `make -r -s -jJ all`;
ninja as `ninja -jJ all`. The floor is N+internal `/bin/sh -c 'echo x >f'` spawns from a
tiny C spawner (xargs if there is no C compiler). Timing is the median of the runs
(hyperfine when installed, else our own loop). Nothing is asserted: a failing command is
reported as FAIL and the table goes on.
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

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class Workload:
    """Targets and how each is made, independent of the build tool."""

    def __init__(self, kind, n):
        self.kind, self.n = kind, n
        # rules: list of (target, [inputs], action) with action "echo" or "cat"
        self.rules, self.sources, self.root = [], [], None
        getattr(self, "_" + kind)(n)

    def _trivial(self, n):
        for i in range(n):
            self.rules.append((f"t{i}.t", [], "echo"))
        self.root = [r[0] for r in self.rules]
        self.change = None

    def _flat(self, n):
        for i in range(n):
            self.sources.append(f"t{i}.in")
            self.rules.append((f"t{i}.t", [f"t{i}.in"], "echo"))
        self.root = [r[0] for r in self.rules]
        self.change = f"t{n // 2}.in"

    def _dirs(self, n):
        leaves = max(1, n // 10)
        digits = max(1, math.ceil(math.log10(leaves))) if leaves > 1 else 1
        for i in range(n):
            d = "/".join(f"d{c}" for c in str(i // 10).zfill(digits))
            self.sources.append(f"{d}/t{i}.in")
            self.rules.append((f"{d}/t{i}.t", [f"{d}/t{i}.in"], "echo"))
        self.root = [r[0] for r in self.rules]
        self.change = self.sources[n // 2]

    def _chain(self, n):
        length = max(1, n // 10)
        self.sources.append("chain.in")
        prev = "chain.in"
        for k in range(1, length + 1):
            self.rules.append((f"c{k}.ch", [prev], "cat"))
            prev = f"c{k}.ch"
        self.root = [prev]
        self.change = "chain.in"

    def _tree(self, n):
        level = []
        for i in range(n):
            self.sources.append(f"l{i}.in")
            self.rules.append((f"l{i}.lf", [f"l{i}.in"], "cat"))
            level.append(f"l{i}.lf")
        h = 1
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level), 10):
                name = f"n{h}_{i // 10}.nd"
                self.rules.append((name, level[i:i + 10], "cat"))
                nxt.append(name)
            level, h = nxt, h + 1
        self.root = level
        self.change = f"l{n // 2}.in"

    def describe(self):
        return f"{len(self.rules)} targets, {len(self.sources)} sources; change = {self.change}"

    # -- the three descriptions --

    def gen_sources(self, d):
        for s in self.sources:
            write(os.path.join(d, s), s + "\n")

    def gen_redo(self, d):
        self.gen_sources(d)
        # `all` must write output: in redo a target that produces nothing is out of date
        # forever, and the no-op would measure a rebuild of `all`.
        write(os.path.join(d, "all.do"), "redo-ifchange " + " ".join(self.root) + "\necho done\n")
        if self.kind == "trivial":
            write(os.path.join(d, "default.t.do"), "echo x\n")
        elif self.kind in ("flat", "dirs"):
            # One upward default.do serves every dir (the "dirs" workload measures that).
            write(os.path.join(d, "default.t.do"), 'redo-ifchange "$2.in"\necho x\n')
        elif self.kind == "chain":
            write(os.path.join(d, "default.ch.do"),
                  'n=${2#c}\nif [ "$n" -gt 1 ]; then dep=c$((n-1)).ch; else dep=chain.in; fi\n'
                  'redo-ifchange "$dep"\ncat "$dep"\n')
        else:
            write(os.path.join(d, "default.lf.do"), 'redo-ifchange "$2.in"\ncat "$2.in"\n')
            for tgt, ins, _ in self.rules:
                if tgt.endswith(".nd"):
                    args = " ".join(ins)
                    write(os.path.join(d, tgt + ".do"), f"redo-ifchange {args}\ncat {args}\n")

    def gen_make(self, d):
        self.gen_sources(d)
        out = [".SUFFIXES:", ".PHONY: all", "all: " + " ".join(self.root)]
        if self.kind == "trivial":
            out += ["%.t:", "\techo x > $@"]
        elif self.kind in ("flat", "dirs"):
            out += ["%.t: %.in", "\techo x > $@"]
        elif self.kind == "tree":
            out += ["%.lf: %.in", "\tcat $< > $@"]
        for tgt, ins, _ in self.rules:
            if self.kind == "chain" or tgt.endswith(".nd"):
                out += [f"{tgt}: {' '.join(ins)}", "\tcat $^ > $@"]
        write(os.path.join(d, "Makefile"), "\n".join(out) + "\n")

    def gen_ninja(self, d):
        self.gen_sources(d)
        out = ["rule echo", "  command = echo x > $out", "rule cat", "  command = cat $in > $out"]
        for tgt, ins, act in self.rules:
            out.append(f"build {tgt}: {act} {' '.join(ins)}".rstrip())
        out += ["build all: phony " + " ".join(self.root), "default all"]
        write(os.path.join(d, "build.ninja"), "\n".join(out) + "\n")


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


# ---- running and timing ------------------------------------------------------------------

class Runner:
    def __init__(self, args, bench, env):
        self.args, self.bench, self.env = args, bench, env
        self.hyperfine = None if args.no_hyperfine else shutil.which("hyperfine")
        self.gnutime = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

    def _env(self, extra):
        e = dict(self.env)
        e.update(extra or {})
        return e

    def time(self, cmd, runs, prepare=None, extra_env=None):
        """Median seconds of `cmd` (bash), or None if it failed."""
        env = self._env(extra_env)
        if self.hyperfine:
            out = os.path.join(self.bench, "hf.json")
            argv = [self.hyperfine, "--runs", str(runs), "--style", "none", "--shell", "bash",
                    "--export-json", out]
            if prepare:
                argv += ["--prepare", prepare]
            argv.append(cmd)
            r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                self.fail(cmd, r.stderr)
                return None
            with open(out) as f:
                return json.load(f)["results"][0]["median"]
        times = []
        for _ in range(runs):
            if prepare:
                subprocess.run(["bash", "-c", prepare], env=env, check=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            t0 = time.perf_counter()
            r = subprocess.run(["bash", "-c", cmd], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            t = time.perf_counter() - t0
            if r.returncode != 0:
                self.fail(cmd, r.stderr)
                return None
            times.append(t)
        return statistics.median(times)

    def interleaved(self, cases, runs):
        """Median seconds of each case's argv, the cases run in turn, `runs` rounds: on a VM
        whose speed drifts over minutes, a ratio of two tools measured minutes apart moves
        with the drift; taken round by round, it does not. cases: {label: (argv, cwd,
        prepare or None, extra_env)}. None for a case that failed."""
        times = {k: [] for k in cases}
        for _ in range(runs):
            for k, (argv, cwd, prepare, extra) in cases.items():
                if times[k] is None:
                    continue
                env = self._env(extra)
                if prepare:
                    subprocess.run(["bash", "-c", prepare], env=env, check=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                t0 = time.perf_counter()
                r = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                t = time.perf_counter() - t0
                if r.returncode != 0:
                    self.fail(" ".join(argv), r.stderr)
                    times[k] = None
                    continue
                times[k].append(t)
        return {k: (statistics.median(v) if v else None) for k, v in times.items()}

    def rss(self, cmd, prepare=None, extra_env=None):
        """Peak RSS in KiB of the largest process of `cmd` (GNU time %M), or None."""
        if not self.gnutime:
            return None
        env = self._env(extra_env)
        if prepare:
            subprocess.run(["bash", "-c", prepare], env=env, check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        with tempfile.NamedTemporaryFile("r", dir=self.bench, suffix=".rss") as f:
            r = subprocess.run([self.gnutime, "-f", "%M", "-o", f.name, "bash", "-c", cmd],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                return None
            return int(f.read().strip().splitlines()[-1])

    def fail(self, cmd, stderr):
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        print(f"    FAIL: {cmd}\n      {tail}", file=sys.stderr)


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


def fmt_t(s):
    if s is None:
        return "FAIL"
    if s == "-":
        return "-"
    return f"{s * 1000:.1f}ms" if s < 1 else f"{s:.2f}s"


def fmt_kib(k):
    return "-" if k is None else f"{k / 1024:.1f}MB"


def ratio(a, b):
    if not isinstance(a, float) or not isinstance(b, float) or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="N=1000 only, fewer runs")
    ap.add_argument("--n", default=None, help="comma list of N (default 1000,10000)")
    ap.add_argument("--workloads", default="trivial,flat,dirs,chain,tree,jobserver",
                    help="jobserver = the redo/make/cargo mix under -j2 and -j4 (N-independent)")
    ap.add_argument("--tools", default="ferredo-nosync,ferredo,make,ninja")
    ap.add_argument("--runs", type=int, default=None, help="runs for no-op/change (default 5, quick 3)")
    ap.add_argument("--runs-full", type=int, default=None,
                    help="runs for full builds (default 3 at N<=1000, 1 above; quick 1)")
    ap.add_argument("--runs-js", type=int, default=None, help="runs of the jobserver mix (default 3, quick 1)")
    ap.add_argument("--no-hyperfine", action="store_true")
    ap.add_argument("--dir", default=None,
                    help="scratch dir (default: a new dir in /dev/shm when it is a writable "
                         "tmpfs, else in $TMPDIR)")
    ap.add_argument("--disk", action="store_true",
                    help="scratch dir in $TMPDIR even when /dev/shm is there")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = ap.parse_args()

    ns = [int(x) for x in (args.n or ("1000" if args.quick else "1000,10000")).split(",")]
    runs = args.runs or (3 if args.quick else 5)
    workloads = args.workloads.split(",")
    js_wanted = "jobserver" in workloads
    workloads = [w for w in workloads if w != "jobserver"]
    tools = args.tools.split(",")

    redo = os.environ.get("FERREDO_REDO")
    make = os.environ.get("FERREDO_MAKE44")
    ninja = os.environ.get("FERREDO_NINJA")
    for var, val in (("FERREDO_REDO", redo), ("FERREDO_MAKE44", make), ("FERREDO_NINJA", ninja)):
        if not val:
            sys.exit(f"bench.py: ${var} is not set: run compat/bench/run.sh")

    # tmpfs by default: on a disk filesystem the cost of creating a file depends on the
    # filesystem's history (ext4 without a journal scans every inode deleted in the last
    # few minutes on each creation, see RESULTS.md), which swamps the tools' own costs
    # and favours the tool that creates the fewest files. The probe line shows it.
    shm = "/dev/shm"
    if args.dir:
        bench = args.dir
    elif not args.disk and os.path.isdir(shm) and os.access(shm, os.W_OK):
        bench = tempfile.mkdtemp(prefix="ferredo-bench-", dir=shm)
    else:
        bench = tempfile.mkdtemp(prefix="ferredo-bench-")
    os.makedirs(bench, exist_ok=True)
    bindir = os.path.join(bench, "bin")
    os.makedirs(bindir, exist_ok=True)
    for a in APPLETS:
        link = os.path.join(bindir, a)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(redo, link)

    env = {k: v for k, v in os.environ.items() if k not in SCRUB and not k.startswith("REDO_")}
    env["PATH"] = bindir + ":" + env.get("PATH", "")
    runner = Runner(args, bench, env)

    floor_bin = None
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        src = os.path.join(bench, "floor.c")
        write(src, FLOOR_C)
        floor_bin = os.path.join(bench, "floor")
        subprocess.run([cc, "-O2", "-o", floor_bin, src], check=True)

    def floor_cmd(count, jobs, d):
        if floor_bin:
            return f"{floor_bin} {count} {jobs} {d}"
        return f"seq 0 {count - 1} | xargs -P {jobs} -I{{}} /bin/sh -c 'echo x > {d}/f{{}}'"

    kinds = {"ferredo-nosync": "redo", "ferredo": "redo", "make": "make", "ninja": "ninja"}
    labels = {"ferredo-nosync": "ferredo REDO_NO_SYNC=1", "ferredo": "ferredo (fsync)",
              "make": "GNU make 4.4.1", "ninja": "ninja 1.13", "floor": "spawn floor (sh -c)"}
    tool_env = {"ferredo-nosync": {"REDO_NO_SYNC": "1"}}

    def build_cmd(tool, d, jobs):
        k = kinds[tool]
        if k == "redo":
            c = f"redo-ifchange -j{jobs} all"
        elif k == "make":
            c = f"{shlex.quote(make)} -r -s -j{jobs} all"
        else:
            c = f"{shlex.quote(ninja)} -j{jobs} all"
        return f"cd {shlex.quote(d)} && {c}"

    hdr = (f"{'tool':<24}{'full -j1':>10}{'full -j2':>10}{'no-op 1st':>10}{'no-op':>10}{'change-1':>10}"
           f"{'RSS full':>10}{'RSS no-op':>10}")
    print(f"ferredo benchmarks in {bench}  (timer: {'hyperfine' if runner.hyperfine else 'own loop'}, "
          f"median; RSS: {'GNU time %M' if runner.gnutime else 'n/a'})")
    print(f"redo={redo} (built from {os.environ.get('FERREDO_REV', '?')})\nmake={make}\nninja={ninja}")
    print(machine_line())
    print(create_probe(bench))
    print(f"load average at start: {loadavg()}\n", flush=True)
    results = []
    queries = {}
    for n in ns:
        runs_full = args.runs_full or (1 if (args.quick or n > 1000) else 3)
        for wk in workloads:
            w = Workload(wk, n)
            base = os.path.join(bench, f"{wk}-{n}")
            tmpl = {}
            for kind in ("redo", "make", "ninja"):
                if any(kinds[t] == kind for t in tools):
                    tmpl[kind] = os.path.join(base, "tmpl-" + kind)
                    shutil.rmtree(tmpl[kind], ignore_errors=True)
                    getattr(w, "gen_" + kind)(tmpl[kind])
            print(f"== {wk}, N={n}: {w.describe()}  (full builds: {runs_full} run(s), others: {runs})")
            print(hdr)
            rows = {}
            for tool in tools:
                d = os.path.join(base, "work-" + tool)
                fresh = f"rm -rf {shlex.quote(d)} && cp -a {shlex.quote(tmpl[kinds[tool]])} {shlex.quote(d)}"
                extra = tool_env.get(tool)
                row = {}
                row["full1"] = runner.time(build_cmd(tool, d, 1), runs_full, fresh, extra)
                row["rss_full"] = runner.rss(build_cmd(tool, d, 2), fresh, extra)
                row["full2"] = runner.time(build_cmd(tool, d, 2), runs_full, fresh, extra)
                if row["full2"] is not None:
                    # The first no-op after a build, then the steady state (ferredo writes
                    # its per-directory .dep cache in a no-op of a quiet tree).
                    row["noop1"] = runner.time(build_cmd(tool, d, 1), 1, None, extra)
                    row["noop"] = runner.time(build_cmd(tool, d, 1), runs, None, extra)
                    row["rss_noop"] = runner.rss(build_cmd(tool, d, 1), None, extra)
                    if w.change:
                        change = f"date +%s%N > {shlex.quote(os.path.join(d, w.change))}"
                        row["change"] = runner.time(build_cmd(tool, d, 1), runs, change, extra)
                    else:
                        row["change"] = "-"
                else:
                    row.update(noop1=None, noop=None, rss_noop=None, change=None)
                rows[tool] = row
                print(f"{labels[tool]:<24}{fmt_t(row['full1']):>10}{fmt_t(row['full2']):>10}"
                      f"{fmt_t(row['noop1']):>10}{fmt_t(row['noop']):>10}{fmt_t(row['change']):>10}"
                      f"{fmt_kib(row['rss_full']):>10}{fmt_kib(row['rss_noop']):>10}", flush=True)
                if wk == "tree" and tool == "ferredo-nosync" and n == max(ns) and row["full2"] is not None:
                    for q in ("redo-ood", "redo-sources", "redo-targets"):
                        queries[q] = runner.time(f"cd {shlex.quote(d)} && {q} >/dev/null", runs, None, extra)
                if wk == "tree" and tool == "ninja" and n == max(ns) and row["full2"] is not None:
                    queries["ninja no-op"] = row["noop"]
            fd = os.path.join(base, "floor")
            prep = f"rm -rf {fd} && mkdir -p {fd}"
            count = len(w.rules)
            floor = {"full1": runner.time(floor_cmd(count, 1, fd), runs_full, prep),
                     "full2": runner.time(floor_cmd(count, 2, fd), runs_full, prep)}
            rows["floor"] = floor
            print(f"{labels['floor']:<24}{fmt_t(floor['full1']):>10}{fmt_t(floor['full2']):>10}"
                  f"{'-':>10}{'-':>10}{'-':>10}{'-':>10}{'-':>10}")
            for fer in ("ferredo-nosync", "ferredo"):
                if fer not in rows:
                    continue
                for other in ("ninja", "make", "floor"):
                    if other not in rows:
                        continue
                    a, b = rows[fer], rows[other]
                    cells = [ratio(a.get(c), b.get(c)) for c in ("full1", "full2", "noop1", "noop", "change")]
                    rss = [ratio(float(a[c]) if a.get(c) else None, float(b[c]) if b.get(c) else None)
                           for c in ("rss_full", "rss_noop")]
                    name = f"{'nosync' if fer.endswith('nosync') else 'fsync'}/{other}"
                    print(f"{'  ratio ' + name:<24}" + "".join(f"{c:>10}" for c in cells + rss))
            # The same no-op and change, ferredo and ninja in turn (see Runner.interleaved).
            pair = ("ferredo-nosync", "ninja")
            if all(rows.get(t, {}).get("noop") for t in pair):
                def argv(tool):
                    if kinds[tool] == "redo":
                        return ["redo-ifchange", "-j1", "all"]
                    return [ninja, "-j1", "all"]
                wd = {t: os.path.join(base, "work-" + t) for t in pair}
                cases = {("noop", t): (argv(t), wd[t], None, tool_env.get(t)) for t in pair}
                if w.change:
                    for t in pair:
                        prep = f"date +%s%N > {shlex.quote(os.path.join(wd[t], w.change))}"
                        cases[("change", t)] = (argv(t), wd[t], prep, tool_env.get(t))
                # One kind at a time: a no-op right after a change run is not
                # the settled no-op the table measures.
                got = {}
                for kind in ("noop", "change"):
                    part = {k: v for k, v in cases.items() if k[0] == kind}
                    if part:
                        got.update(runner.interleaved(part, max(runs, 10)))
                cells = []
                for c in ("noop", "change"):
                    a, b = got.get((c, pair[0])), got.get((c, pair[1]))
                    if a is not None and b is not None:
                        cells.append(f"{c} {fmt_t(a)} / {fmt_t(b)} = {ratio(a, b)}")
                        rows[pair[0]][c + "_interleaved"] = a
                        rows[pair[1]][c + "_interleaved"] = b
                print(f"  interleaved, ferredo REDO_NO_SYNC=1 / ninja, {max(runs, 10)} rounds: "
                      + "; ".join(cells))
            print()
            results.append({"workload": wk, "n": n, "targets": len(w.rules), "rows": rows})
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)
    js = []
    if js_wanted:
        jsserve = os.path.join(os.environ.get("FERREDO_KIT") or
                               os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kit"),
                               "jsserve")
        js = js_bench(bench, env, {}, make, jsserve, args.runs_js or (1 if args.quick else 3), tools)
    if queries:
        print(f"== queries on the tree workload, N={max(ns)} (after a full build)")
        for q, t in queries.items():
            print(f"{q:<24}{fmt_t(t):>10}   ratio to ninja no-op: {ratio(t, queries.get('ninja no-op'))}")
    print(f"\nload average at end: {loadavg()}   ({time.strftime('%Y-%m-%d %H:%M:%S %Z')})")
    out = os.path.join(bench, "results.json")
    with open(out, "w") as f:
        json.dump({"results": results, "queries": queries, "jobserver": js}, f, indent=1)
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
