//! A seeded generator of small redo projects, with a model of what a clean build of
//! them produces, shared by the crash (`core_crash`) and concurrency (`core_concurrent`)
//! stress tests.
//!
//! The project (every path relative to the sandbox root):
//!
//! | file                      | what                                                        |
//! |---------------------------|-------------------------------------------------------------|
//! | `DIR/sN.c`                | sources in nested dirs (`src/a/b/c`, `lib/x/y`, ...)         |
//! | `default.o.do`            | top, upward: `sN.o` = `tr a-z A-Z < sN.c` (up to 4 levels)   |
//! | `src/a/default.o.do`      | optional (toggled by edits): `sN.o` = `sed 's/^/a: /'`       |
//! | `DIR/sN.o.do`             | explicit for some N: vowels become `_`                       |
//! | `grp/gK.members`          | the dependency list of `grp/gK.grp`, read at build time      |
//! | `grp/default.grp.do`      | `gK.grp` = `== gK` + `cat $(cat gK.members)` (.o and g<K)    |
//! | `src/cfg.do`              | `override.h` if it exists (else `redo-ifcreate override.h`)  |
//! | `gen/version.txt.do`      | `version $(cat ../VERSION)`                                  |
//! | `all.do`                  | `redo-ifchange` of every target, `cat` of them all           |
//!
//! Every `.do` appends `start <target> <pid>` first and `end <target>` last to
//! `build.log` (one short `echo >>` each: one write(2) with O_APPEND).
//!
//! `Project::expected()` computes what each target holds after a clean build;
//! `Project::check_model()` proves the model right with a real clean build of a copy.
#![allow(dead_code)]

use crate::sandbox::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// splitmix64: small, seeded, good enough for choosing edits and delays.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }

    /// A duration uniform in `0..=max`.
    pub fn duration(&mut self, max: Duration) -> Duration {
        let us = max.as_micros() as u64;
        Duration::from_micros(if us == 0 {
            0
        } else {
            self.next_u64() % (us + 1)
        })
    }
}

/// The seed: `$var` if set (decimal or 0x-hex), else from the clock.
pub fn seed_from_env(var: &str) -> u64 {
    match std::env::var(var) {
        Ok(s) if !s.trim().is_empty() => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("${var}={s:?}: {e}"))
        }
        _ => {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
        }
    }
}

/// Size and pace of a generated project.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Number of `sN.c` sources (each gives `sN.o`); at least 3.
    pub sources: usize,
    /// Number of `grp/gK.grp` intermediate targets; at least 1.
    pub groups: usize,
    /// `sleep` of each `.o` and `cfg` / `version.txt` job (e.g. "0" or "0.01").
    pub leaf_sleep: &'static str,
    /// `sleep` of each group job.
    pub group_sleep: &'static str,
}

const DIRS: &[&str] = &["src", "src/a", "src/a/b", "src/a/b/c", "lib", "lib/x/y"];
pub const LOG: &str = "build.log";
const A_DEFAULT: &str = "src/a/default.o.do";
const OVERRIDE: &str = "src/override.h";

/// One generated project: its source files (`.do` files included) and the model.
#[derive(Clone)]
pub struct Project {
    pub shape: Shape,
    /// Every source file of the project, path → content.
    pub files: BTreeMap<String, String>,
    /// (dir, N, explicit .do) of every `sN.c`.
    objs: Vec<(String, usize, bool)>,
}

/// `../` repeated once per component of `dir` ("" for the root).
fn up(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        "../".repeat(dir.split('/').count())
    }
}

fn rel_from(dir: &str, path: &str) -> String {
    format!("{}{path}", up(dir))
}

/// The two log lines around a job's body, for a .do in `dir` naming its target by
/// `target` (shell words; may use `$1`).
fn logged(dir: &str, target: &str, body: &str) -> String {
    let log = rel_from(dir, LOG);
    format!("echo \"start {target} $$\" >>{log}\n{body}echo \"end {target}\" >>{log}\n")
}

fn random_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..1 + rng.below(3) {
        let words = 1 + rng.below(4);
        let mut line = Vec::new();
        for _ in 0..words {
            let len = 1 + rng.below(7);
            let w: String = (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect();
            line.push(w);
        }
        s.push_str(&line.join(" "));
        s.push('\n');
    }
    s
}

impl Project {
    /// A project of `shape`, its layout and initial contents drawn from `rng`.
    pub fn generate(rng: &mut Rng, shape: Shape) -> Project {
        assert!(shape.sources >= 3 && shape.groups >= 1);
        let mut p = Project {
            shape,
            files: BTreeMap::new(),
            objs: Vec::new(),
        };
        for n in 0..shape.sources {
            // The first ones pin the deep directories: the upward search goes 4 levels.
            let dir = match n {
                0 => "src/a/b/c",
                1 => "lib/x/y",
                2 => "src/a",
                _ => *rng.pick(DIRS),
            };
            let explicit = n == 3 || (n > 3 && rng.chance(1, 4));
            p.objs.push((dir.to_string(), n, explicit));
            p.files.insert(format!("{dir}/s{n}.c"), random_text(rng));
            if explicit {
                let body = format!(
                    "redo-ifchange s{n}.c\nsleep {}\nsed -e 's/[aeiou]/_/g' s{n}.c\n",
                    shape.leaf_sleep
                );
                p.files.insert(
                    format!("{dir}/s{n}.o.do"),
                    logged(dir, &format!("{dir}/s{n}.o"), &body),
                );
            }
        }
        p.files.insert(
            "default.o.do".into(),
            logged(
                "",
                "$1",
                &format!(
                    "redo-ifchange \"$2.c\"\nsleep {}\ntr a-z A-Z <\"$2.c\"\n",
                    shape.leaf_sleep
                ),
            ),
        );
        if rng.chance(1, 2) {
            p.files.insert(A_DEFAULT.into(), p.a_default());
        }
        p.files.insert(
            "grp/default.grp.do".into(),
            logged(
                "grp",
                "grp/$1",
                &format!(
                    "redo-ifchange \"$2.members\"\nredo-ifchange $(cat \"$2.members\")\n\
                     echo \"== $2\"\ncat $(cat \"$2.members\")\nsleep {}\n",
                    shape.group_sleep
                ),
            ),
        );
        for k in 0..shape.groups {
            let m = p.random_members(rng, k);
            p.files.insert(format!("grp/g{k}.members"), m);
        }
        p.files.insert(
            "src/cfg.do".into(),
            logged(
                "src",
                "src/cfg",
                &format!(
                    "sleep {}\nif [ -e override.h ]; then\n  redo-ifchange override.h\n  \
                     cat override.h >\"$3\"\nelse\n  redo-ifcreate override.h\n  \
                     echo default >\"$3\"\nfi\n",
                    shape.leaf_sleep
                ),
            ),
        );
        if rng.chance(1, 2) {
            p.files.insert(OVERRIDE.into(), random_text(rng));
        }
        p.files
            .insert("VERSION".into(), format!("1.{}\n", rng.below(1000)));
        p.files.insert(
            "gen/version.txt.do".into(),
            logged(
                "gen",
                "gen/version.txt",
                &format!(
                    "redo-ifchange ../VERSION\nsleep {}\necho \"version $(cat ../VERSION)\"\n",
                    shape.leaf_sleep
                ),
            ),
        );
        let parts: Vec<String> = p.targets().into_iter().filter(|t| t != "all").collect();
        let parts = parts.join(" ");
        p.files.insert(
            "all.do".into(),
            logged("", "all", &format!("redo-ifchange {parts}\ncat {parts}\n")),
        );
        p
    }

    fn a_default(&self) -> String {
        logged(
            "src/a",
            "src/a/$1",
            &format!(
                "redo-ifchange \"$2.c\"\nsleep {}\nsed -e 's/^/a: /' \"$2.c\"\n",
                self.shape.leaf_sleep
            ),
        )
    }

    /// 1-4 members for `grp/gK.grp`: `.o` targets and earlier groups (a DAG).
    fn random_members(&self, rng: &mut Rng, k: usize) -> String {
        let mut m = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let item = if k > 0 && rng.chance(1, 3) {
                format!("g{}.grp", rng.below(k))
            } else {
                let (dir, n, _) = rng.pick(&self.objs);
                format!("../{dir}/s{n}.o")
            };
            if !m.contains(&item) {
                m.push(item);
            }
        }
        m.join(" ") + "\n"
    }

    /// Every target, in the order `all` lists (and cats) them, then `all`.
    pub fn targets(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .objs
            .iter()
            .map(|(d, n, _)| format!("{d}/s{n}.o"))
            .collect();
        t.extend((0..self.shape.groups).map(|k| format!("grp/g{k}.grp")));
        t.push("src/cfg".into());
        t.push("gen/version.txt".into());
        t.push("all".into());
        t
    }

    /// Write every source file into `sb` (timestamps move forward on rewrites).
    pub fn write_all(&self, sb: &Sandbox) {
        for (path, content) in &self.files {
            sb.write(path, content);
        }
    }

    fn set(&mut self, sb: &Sandbox, path: &str, content: Option<String>) {
        match content {
            Some(c) => {
                sb.write(path, &c);
                self.files.insert(path.to_string(), c);
            }
            None => {
                sb.remove(path);
                self.files.remove(path);
            }
        }
    }

    /// 1-3 random edits of the sources, applied to `sb` and to the model. Returns what
    /// was done (for failure messages).
    pub fn edit(&mut self, rng: &mut Rng, sb: &Sandbox) -> Vec<String> {
        let mut done = Vec::new();
        for _ in 0..1 + rng.below(3) {
            match rng.below(12) {
                0..=4 => {
                    let (dir, n, _) = rng.pick(&self.objs).clone();
                    let path = format!("{dir}/s{n}.c");
                    let text = random_text(rng);
                    self.set(sb, &path, Some(text));
                    done.push(format!("rewrote {path}"));
                }
                5..=6 => {
                    let k = rng.below(self.shape.groups);
                    let path = format!("grp/g{k}.members");
                    let m = self.random_members(rng, k);
                    done.push(format!("{path} := {}", m.trim_end()));
                    self.set(sb, &path, Some(m));
                }
                7..=8 => {
                    if self.files.contains_key(OVERRIDE) && rng.chance(1, 2) {
                        self.set(sb, OVERRIDE, None);
                        done.push(format!("removed {OVERRIDE}"));
                    } else {
                        let text = random_text(rng);
                        self.set(sb, OVERRIDE, Some(text));
                        done.push(format!("wrote {OVERRIDE}"));
                    }
                }
                9 => {
                    let v = format!("1.{}\n", rng.below(1000));
                    done.push(format!("VERSION := {}", v.trim_end()));
                    self.set(sb, "VERSION", Some(v));
                }
                10 => {
                    if self.files.contains_key(A_DEFAULT) {
                        self.set(sb, A_DEFAULT, None);
                        done.push(format!("removed {A_DEFAULT}"));
                    } else {
                        let text = self.a_default();
                        self.set(sb, A_DEFAULT, Some(text));
                        done.push(format!("created {A_DEFAULT}"));
                    }
                }
                _ => {
                    // Same content, new timestamps: redo must see it is unchanged.
                    let (dir, n, _) = rng.pick(&self.objs).clone();
                    let path = format!("{dir}/s{n}.c");
                    sb.touch(&path);
                    done.push(format!("touched {path}"));
                }
            }
        }
        done
    }

    /// What every target holds after a clean build of the current sources.
    pub fn expected(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let a_default = self.files.contains_key(A_DEFAULT);
        for (dir, n, explicit) in &self.objs {
            let src = &self.files[&format!("{dir}/s{n}.c")];
            let o = if *explicit {
                src.chars()
                    .map(|c| if "aeiou".contains(c) { '_' } else { c })
                    .collect()
            } else if a_default && (dir == "src/a" || dir.starts_with("src/a/")) {
                src.lines().map(|l| format!("a: {l}\n")).collect()
            } else {
                src.to_ascii_uppercase()
            };
            out.insert(format!("{dir}/s{n}.o"), o);
        }
        for k in 0..self.shape.groups {
            let mut g = format!("== g{k}\n");
            for m in self.files[&format!("grp/g{k}.members")].split_whitespace() {
                let key = match m.strip_prefix("../") {
                    Some(rest) => rest.to_string(),
                    None => format!("grp/{m}"),
                };
                g.push_str(&out[&key]);
            }
            out.insert(format!("grp/g{k}.grp"), g);
        }
        out.insert(
            "src/cfg".into(),
            self.files
                .get(OVERRIDE)
                .cloned()
                .unwrap_or_else(|| "default\n".into()),
        );
        out.insert(
            "gen/version.txt".into(),
            format!("version {}\n", self.files["VERSION"].trim_end_matches('\n')),
        );
        let all: String = self
            .targets()
            .iter()
            .filter(|t| *t != "all")
            .map(|t| out[t].clone())
            .collect();
        out.insert("all".into(), all);
        out
    }

    /// Differences between the targets in `sb` and `expected()` (empty when equal).
    pub fn diff(&self, sb: &Sandbox) -> Vec<String> {
        let mut d = Vec::new();
        for (t, want) in self.expected() {
            match fs::read(sb.path(&t)) {
                Ok(b) if b == want.as_bytes() => {}
                Ok(b) => d.push(format!(
                    "{t}: holds {:?}, a clean build gives {want:?}",
                    String::from_utf8_lossy(&b)
                )),
                Err(e) => d.push(format!("{t}: {e}")),
            }
        }
        d
    }

    /// The model against reality: build a copy of the sources from scratch in a fresh
    /// sandbox and compare every target. Panics (a bug of the test) on a difference.
    #[track_caller]
    pub fn check_model(&self, what: &str) {
        let sb = Sandbox::new().timeout(Duration::from_secs(60));
        self.write_all(&sb);
        let out = sb
            .cmd(&["redo", "-j2", "all"])
            .env("REDO_NO_SYNC", "1")
            .run();
        out.success();
        let d = self.diff(&sb);
        assert!(
            d.is_empty(),
            "{what}: the test's model disagrees with a clean build:\n{}",
            d.join("\n")
        );
    }
}

/// `.redo.*` temp files left anywhere in the project: beside targets and in `.redo/`
/// (not under `.redo/.ferredo/`, nor `*.lock`, `*.dep`, `*.log`, `*.log-rec`).
pub fn temp_leftovers(sb: &Sandbox) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                if name != ".ferredo" {
                    walk(root, &p, out);
                }
                continue;
            }
            let ignored = [".lock", ".dep", ".log", ".log-rec"]
                .iter()
                .any(|s| name.ends_with(s));
            if name.starts_with(".redo.") && !ignored {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(sb.root(), sb.root(), &mut out);
    out.sort();
    out
}
