//! Every applet's clap definition, by name: the one source of argv parsing,
//! `--help`, the manual pages and the completion scripts.

use clap::Command;

pub fn command(applet: &'static str) -> Command {
    match applet {
        "redo" | "redo-ifchange" => crate::build::command(applet),
        "redo-ifcreate" | "redo-always" | "redo-stamp" => crate::record::command(applet),
        other => crate::query::command_of(other),
    }
}

/// The flags of `applet` that a user may type: (spellings, value names,
/// possible values, help). Hidden flags are left out. goredo's single-dash
/// long spellings (`-log-pid`) come before clap's (`--log-pid`).
pub struct Flag {
    pub spellings: Vec<String>,
    pub value: Option<String>,
    /// The value may be left out (`--install-symlinks[=DIR]`).
    pub optional: bool,
    pub values: Vec<String>,
    pub help: String,
}

pub fn flags(applet: &'static str) -> Vec<Flag> {
    let mut cmd = command(applet);
    // Building adds clap's own -h/--help and -V/--version.
    cmd.build();
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .map(|a| {
            let mut spellings = Vec::new();
            if let Some(s) = a.get_short() {
                spellings.push(format!("-{s}"));
            }
            if let Some(l) = a.get_long() {
                if crate::args::is_single_dash(l) {
                    spellings.push(format!("-{l}"));
                }
                spellings.push(format!("--{l}"));
            }
            Flag {
                spellings,
                value: takes_value(a).then(|| value_name(a)),
                optional: a.get_num_args().is_some_and(|n| n.min_values() == 0),
                values: a
                    .get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_string())
                    .collect(),
                help: a.get_help().map(|h| h.to_string()).unwrap_or_default(),
            }
        })
        .collect()
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.takes_values()) || a.get_value_names().is_some()
}

fn value_name(a: &clap::Arg) -> String {
    a.get_value_names()
        .and_then(|v| v.first().map(|s| s.to_string()))
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase())
}

/// An applet's operands, as its synopsis shows them.
pub struct Operand {
    pub name: String,
    pub many: bool,
    pub required: bool,
}

pub fn operand(applet: &'static str) -> Option<Operand> {
    let mut cmd = command(applet);
    cmd.build();
    let a = cmd.get_positionals().next()?;
    Some(Operand {
        name: value_name(a),
        many: a.get_num_args().is_some_and(|n| n.max_values() > 1),
        required: a.is_required_set(),
    })
}
