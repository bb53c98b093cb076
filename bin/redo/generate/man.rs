//! `redo --generate man DIR`: `redo.1` and one page per applet, built from
//! the clap definitions (name, synopsis, options, `--help`'s closing text)
//! and the prose of `manual.rs`.

use std::path::Path;

use super::manual as m;
use super::roff;
use crate::cli;

pub fn write_all(dir: &Path) -> i32 {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("redo: creating {}: {e}", dir.display());
        return 1;
    }
    for applet in crate::APPLETS {
        let file = dir.join(format!("{applet}.1"));
        if let Err(e) = std::fs::write(&file, page(applet)) {
            eprintln!("redo: writing {}: {e}", file.display());
            return 1;
        }
        println!("{}", file.display());
    }
    0
}

/// One whole page.
pub fn page(applet: &'static str) -> String {
    let mut cmd = cli::command(applet);
    cmd.build();
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let mut out = format!(
        ".TH {} 1 \"\" \"ferredo {}\" \"ferredo manual\"\n",
        roff::quoted(&applet.to_uppercase()),
        env!("CARGO_PKG_VERSION")
    );
    out += &format!(
        ".SH NAME\n{} \\- {}\n",
        roff::literal(applet),
        roff::text(about.trim_end_matches('.'))
    );
    out += &format!(".SH SYNOPSIS\n{}\n", synopsis(applet));
    if applet == "redo" {
        out += REDO_FORMS;
    }
    out += ".SH DESCRIPTION\n";
    out += &roff::text(&about);
    out += "\n";
    if applet == "redo" {
        out += &roff::prose(&format!("\n{}", m::OVERVIEW));
    }
    if let Some(after) = cmd.get_after_help() {
        out += &after_help(&after.to_string());
    }
    out += &options(applet);
    if applet == "redo" {
        out += &applets();
    }
    for part in parts(applet) {
        out += &roff::prose(part);
    }
    out += &see_also(applet);
    out
}

/// `redo-x [OPTIONS] [TARGET]...`, from the definition.
fn synopsis(applet: &'static str) -> String {
    let mut s = format!("\\fB{}\\fR [\\fIOPTIONS\\fR]", roff::literal(applet));
    if let Some(op) = cli::operand(applet) {
        let name = format!("\\fI{}\\fR", roff::literal(&op.name));
        let dots = if op.many { "..." } else { "" };
        s += &if op.required {
            format!(" {name}{dots}")
        } else {
            format!(" [{name}]{dots}")
        };
    }
    s
}

/// redo's other forms, which the definition cannot tell from a build.
const REDO_FORMS: &str = "\
.br
\\fBredo\\fR \\fB\\-\\-install\\-symlinks\\fR[=\\fIDIR\\fR]
.br
\\fBredo\\fR \\fB\\-\\-generate man\\fR \\fIDIR\\fR
.br
\\fBredo\\fR \\fB\\-\\-generate\\fR \\fBcomplete\\-bash\\fR|\\fBcomplete\\-zsh\\fR|\\fBcomplete\\-fish\\fR
";

/// `--help`'s closing text: its lines are already wrapped and are filled
/// again, except in a paragraph that is a table of `word: text` lines
/// (redo-cleanup's modes), whose lines stay as they are.
fn after_help(text: &str) -> String {
    let mut out = String::new();
    for para in text.split("\n\n") {
        out += ".PP\n";
        let table = para.lines().filter(|l| is_item(l)).count() > 1;
        for (i, line) in para.lines().enumerate() {
            if table && i > 0 {
                out += ".br\n";
            }
            out += &roff::text(line.trim());
            out += "\n";
        }
    }
    out
}

fn is_item(line: &str) -> bool {
    line.split_once(": ")
        .is_some_and(|(h, _)| !h.is_empty() && !h.contains(' '))
}

fn options(applet: &'static str) -> String {
    let mut out = String::from(".SH OPTIONS\n");
    for f in cli::flags(applet) {
        let names: Vec<String> = f
            .spellings
            .iter()
            .map(|s| format!("\\fB{}\\fR", roff::literal(s)))
            .collect();
        out += &format!(".TP\n{}", names.join(", "));
        match &f.value {
            Some(v) if f.optional => out += &format!("[=\\fI{}\\fR]", roff::literal(v)),
            Some(v) => out += &format!(" \\fI{}\\fR", roff::literal(v)),
            None => {}
        }
        out += &format!("\n{}\n", roff::text(&f.help));
        if !f.values.is_empty() {
            out += &format!(".br\nOne of: {}.\n", roff::literal(&f.values.join(", ")));
        }
    }
    out
}

/// redo.1's list of the applets, each with its synopsis and purpose.
fn applets() -> String {
    let mut out = String::from(".SH APPLETS\n");
    for applet in &crate::APPLETS[1..] {
        let cmd = cli::command(applet);
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        out += &format!(".TP\n{}\n{}\n", synopsis(applet), roff::text(&about));
    }
    out += ".PP\nEach has its own page, with its options.\n";
    out
}

/// The prose sections each page carries.
fn parts(applet: &str) -> Vec<&'static str> {
    match applet {
        "redo" => vec![
            m::DOFILES,
            m::OUTPUT,
            m::JOBSERVER,
            m::TIMINGS,
            m::ENVIRONMENT,
            m::FILES,
            m::EXIT_BUILD,
            m::EXAMPLES,
        ],
        "redo-ifchange" => vec![
            m::DOFILES,
            m::OUTPUT,
            m::JOBSERVER,
            m::TIMINGS,
            m::ENVIRONMENT,
            m::EXIT_BUILD,
        ],
        "redo-ifcreate" | "redo-always" | "redo-stamp" => vec![m::RECORD, m::EXIT_RECORD],
        "redo-whichdo" => vec![m::DOFILES],
        "redo-log" => vec![m::FILES, m::EXIT_QUERY],
        _ => vec![m::FILES, m::EXIT_QUERY],
    }
}

fn see_also(applet: &'static str) -> String {
    let mut refs: Vec<String> = crate::APPLETS
        .iter()
        .filter(|a| **a != applet && (applet == "redo" || related(applet, a)))
        .map(|a| format!("\\fB{}\\fR(1)", roff::literal(a)))
        .collect();
    if matches!(applet, "redo" | "redo-ifchange") {
        refs.extend(["make", "ninja", "distcc", "sh"].map(|t| format!("\\fB{t}\\fR(1)")));
    }
    format!(
        ".SH SEE ALSO\n{}\n.PP\nredo's design: https://cr.yp.to/redo.html; goredo, the implementation ferredo follows:\nhttp://www.goredo.cypherpunks.su/\n",
        refs.join(",\n")
    )
}

/// Pages an applet's SEE ALSO names: redo(1) always, and its own group.
fn related(applet: &str, other: &str) -> bool {
    const GROUPS: &[&[&str]] = &[
        &[
            "redo-ifchange",
            "redo-ifcreate",
            "redo-always",
            "redo-stamp",
            "redo-whichdo",
        ],
        &[
            "redo-ood",
            "redo-targets",
            "redo-sources",
            "redo-affects",
            "redo-dot",
        ],
        &["redo-log", "redo-cleanup", "redo-depfix", "redo-dep2rec"],
    ];
    other == "redo"
        || GROUPS
            .iter()
            .any(|g| g.contains(&applet) && g.contains(&other))
}
