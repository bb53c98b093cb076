//! `redo --generate WHAT`: the manual pages, made from the same clap definitions as `--help` (cli.rs).

mod man;
mod manual;
mod roff;

use std::path::Path;

/// The values `--generate` accepts.
pub const WHAT: [&str; 1] = ["man"];

pub fn main(what: &str, dir: Option<&Path>) -> i32 {
    match (what, dir) {
        ("man", Some(dir)) => man::write_all(dir),
        ("man", None) => {
            eprintln!("redo: --generate man needs a directory: redo --generate man DIR");
            2
        }
        _ => 2,
    }
}
