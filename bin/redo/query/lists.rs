//! `redo-targets`, `redo-sources`, `redo-ood`, `redo-affects`, `redo-whichdo`
//! and `redo-dot`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};
use ferredo::ood::Checker;
use ferredo::query::closure::Want;
use ferredo::query::{self, affects, closure, ood, walk, Here, Problems};
use ferredo::state::dirlist::KnownAbsent;
use ferredo::target::Target;
use std::sync::Arc;

use super::{command, env, operands, operands_arg, parse, zero_arg, Out};

const OOD_AFTER: &str = "\
Decides as a build would (REDO_INODE_TRUST, hashing), without building or
writing anything. Targets that depend on a redo-always target are listed too.

With -d/--why each line is `<target><TAB><reason>`: the first reason found,
for example `a.c changed: content differs`, `default.o.do (.do) changed: size
differs`, `x.h appeared (ifcreate)`, `b.o is out of date: b.c is missing`,
`always rebuilt (redo-always)`, `target does not exist`, `never built`.
With -0 the whole line is ended by NUL.";

const SOURCES_AFTER: &str = "\
A source is a dependency (redo-ifchange) that exists, has no .redo/X.dep and no
X.do beside it: the files a build reads but never makes, .do files included.
A dependency that is a dangling symlink is reported on stderr (exit 1).";

const LIST_AFTER: &str = "\
Without operands: every target below the current directory (each
`.redo/X.dep`) and what they depend on; with operands: their dependency
closure. Paths are relative to the current directory, sorted bytewise.";

pub fn list_command(applet: &'static str) -> Command {
    let (about, value, min) = match applet {
        "redo-targets" => (
            "List the targets redo knows (those with a .redo/X.dep).",
            "TARGET",
            0,
        ),
        "redo-sources" => (
            "List the source files the targets depend on (.do files included).",
            "TARGET",
            0,
        ),
        "redo-ood" => ("List the out-of-date targets.", "TARGET", 0),
        _ => (
            "List every target that depends, directly or not, on one of the given paths.",
            "PATH",
            1,
        ),
    };
    let cmd = command(applet, about)
        .arg(zero_arg())
        .arg(operands_arg(value, min, None));
    if applet == "redo-ood" {
        cmd.arg(
            Arg::new("why")
                .short('d')
                .long("why")
                .action(ArgAction::SetTrue)
                .help("show why each target is out of date"),
        )
        .after_help(format!("{LIST_AFTER}\n\n{OOD_AFTER}"))
    } else if applet == "redo-affects" {
        cmd.after_help("Follows ifchange and ifcreate records backwards over every target below the current directory.\nAn operand is listed only when another operand leads to it.")
    } else if applet == "redo-sources" {
        cmd.after_help(format!("{LIST_AFTER}\n\n{SOURCES_AFTER}"))
    } else {
        cmd.after_help(LIST_AFTER)
    }
}

pub fn main(applet: &'static str, argv: Vec<OsString>) -> i32 {
    let m = match parse(list_command(applet), argv) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let e = match env(applet) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let zero = m.get_flag("zero");
    let why = applet == "redo-ood" && m.get_flag("why");
    let here = Here::new(e.cwd.clone());
    let ops = operands(&m, &here);
    let op_targets = || {
        ops.iter()
            .cloned()
            .map(Target::new)
            .collect::<Vec<Target>>()
    };
    let mut problems = Problems::default();
    let (build, trust) = (e.ctx.build_uuid, e.ctx.trust);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    // The walk's listing tells the checkers which files do not exist.
    let mut listing = walk::Listing::default();
    let memory = Some(&closure::CachedTree as &dyn walk::WalkMemory);
    let walked = |problems: &mut Problems, listing: &mut walk::Listing| {
        let mut t = walk::targets_par(&here, problems, listing, threads, memory).targets;
        query::sort_bytes(&mut t);
        t
    };
    let mut out = Out::new();
    match applet {
        "redo-targets" | "redo-sources" => {
            let starts = if ops.is_empty() {
                walked(&mut problems, &mut listing)
            } else {
                op_targets()
            };
            let want = Want {
                ood: false,
                sources: applet == "redo-sources",
            };
            let f = closure::par_closure(build, trust, &starts, want, threads, known(listing));
            for d in &f.dangling {
                problems.push(format!("{}: dangling symlink", here.show(d).display()));
            }
            problems.add_dep_errors(f.dep_errors, &here);
            let list = if applet == "redo-targets" {
                f.targets.into_iter().map(PathBuf::from).collect()
            } else {
                f.sources
            };
            for p in here.shown_sorted(list) {
                out.entry(&p, zero);
            }
        }
        "redo-ood" => {
            let starts = if ops.is_empty() {
                walked(&mut problems, &mut listing)
            } else {
                op_targets()
            };
            let (found, f) = ood::ood(build, trust, &starts, threads, known(listing));
            problems.add_dep_errors(f.dep_errors, &here);
            let show = |p: &Path| here.show(p).to_string_lossy().into_owned();
            let mut lines: Vec<(PathBuf, Option<String>)> = found
                .into_iter()
                .map(|(t, r)| (here.show(&t), why.then(|| r.describe(&show))))
                .collect();
            lines.sort_by(|a, b| bytes(&a.0).cmp(bytes(&b.0)));
            lines.dedup_by(|a, b| a.0 == b.0);
            for (p, reason) in lines {
                match reason {
                    Some(r) => {
                        out.bytes(bytes(&p));
                        out.bytes(b"\t");
                        out.bytes(r.as_bytes());
                        out.bytes(if zero { b"\0" } else { b"\n" });
                    }
                    None => out.entry(&p, zero),
                }
            }
        }
        _ => {
            let mut checker = Checker::new(build, trust);
            let universe =
                closure::closure(&mut checker, &walked(&mut problems, &mut listing)).targets;
            let list = affects::affects(&mut checker, &universe, &ops);
            problems.add_dep_errors(checker.dep_errors(), &here);
            for p in here.shown_sorted(list) {
                out.entry(&p, zero);
            }
        }
    }
    out.finish(applet, &problems)
}

/// The walk's listing as the checkers' knowledge of absent files (none
/// when there was no walk).
fn known(listing: walk::Listing) -> Option<Arc<dyn KnownAbsent>> {
    if listing.is_empty() {
        None
    } else {
        Some(Arc::new(listing))
    }
}

fn bytes(p: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes()
}

pub fn whichdo_command(applet: &'static str) -> Command {
    command(
        applet,
        "Print the .do files redo would try for TARGET, the one it would use last.",
    )
    .arg(zero_arg())
    .arg(operands_arg("TARGET", 1, Some(1)))
    .after_help(
        "Each candidate that does not exist, in search order, then the .do found (if any).\n\
             Paths relative to the current directory. Honours REDO_TOP_DIR and .redo/top.\n\
             Exit status 0 when a .do was found, 1 otherwise.",
    )
}

pub fn whichdo(applet: &'static str, argv: Vec<OsString>) -> i32 {
    let m = match parse(whichdo_command(applet), argv) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let e = match env(applet) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let target = Target::new(operands(&m, &Here::absolute(e.cwd.clone())).remove(0));
    let (lines, found) = query::whichdo::whichdo(&target, e.ctx.top_dir.as_deref(), &e.cwd);
    let mut out = Out::new();
    for l in &lines {
        out.entry(l, m.get_flag("zero"));
    }
    match out.finish(applet, &Problems::default()) {
        0 if !found => 1,
        code => code,
    }
}

pub fn dot_command(applet: &'static str) -> Command {
    command(
        applet,
        "Print the dependency graph in Graphviz DOT (dot -Tsvg).",
    )
    .arg(operands_arg("TARGET", 0, None))
    .after_help(
        "Without operands: every target below the current directory; with operands: their\n\
             dependency closure. ifchange edges are solid, ifcreate edges dotted.",
    )
}

pub fn dot(applet: &'static str, argv: Vec<OsString>) -> i32 {
    let m = match parse(dot_command(applet), argv) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let e = match env(applet) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut problems = Problems::default();
    let here = Here::new(e.cwd.clone());
    let mut ops: Vec<Target> = operands(&m, &here).into_iter().map(Target::new).collect();
    if ops.is_empty() {
        ops = walk::targets(&here, &mut problems).targets;
    }
    let mut checker = Checker::new(e.ctx.build_uuid, e.ctx.trust);
    let c = closure::closure(&mut checker, &ops);
    let text = query::dot::dot(&mut checker, &c.targets, &here);
    problems.add_dep_errors(checker.dep_errors(), &here);
    let mut out = Out::new();
    out.bytes(text.as_bytes());
    out.finish(applet, &problems)
}
