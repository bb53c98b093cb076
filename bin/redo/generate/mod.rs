//! `redo --generate WHAT`: the manual pages and the shell completion
//! scripts, made from the same clap definitions as `--help` (cli.rs).

mod complete;
mod man;
mod manual;
mod roff;
pub mod targets;

use std::path::Path;

/// The values `--generate` accepts.
pub const WHAT: [&str; 4] = ["man", "complete-bash", "complete-zsh", "complete-fish"];

pub fn main(what: &str, dir: Option<&Path>) -> i32 {
    match (what, dir) {
        ("man", Some(dir)) => man::write_all(dir),
        ("man", None) => {
            eprintln!("redo: --generate man needs a directory: redo --generate man DIR");
            2
        }
        (_, Some(_)) => {
            eprintln!("redo: --generate {what} prints to stdout and takes no operand");
            2
        }
        (shell, None) => complete::print(shell.trim_start_matches("complete-")),
    }
}
