//! `redo --generate man DIR` (issue #14): a page per applet, each accepted by groff
//! without a warning and rendered by man-db's `man -l`; redo.1 carries the whole picture.

use crate::sandbox::*;

/// The pages, generated into `man/` of a fresh sandbox.
fn generated() -> Sandbox {
    let sb = Sandbox::new();
    let out = sb.run(&["redo", "--generate", "man", "man"]);
    out.success();
    for applet in APPLETS {
        out.stdout_contains(&format!("{applet}.1"));
    }
    sb
}

#[test]
fn every_page_passes_groff_with_all_warnings_and_renders_with_man() {
    let (groff, man) = (require_tool("groff"), require_tool("man"));
    let sb = generated();
    assert_eq!(sb.ls("man").len(), APPLETS.len(), "{:?}", sb.ls("man"));
    for applet in APPLETS {
        let page = format!("man/{applet}.1");
        let g = sb.run(&[groff.to_str().unwrap(), "-man", "-ww", "-z", &page]);
        g.success().stderr_is("");
        let shown = sb
            .cmd(&[man.to_str().unwrap(), "-l", &page])
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .run();
        shown.success();
        let text = shown.stdout();
        for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SEE ALSO"] {
            assert!(
                text.contains(heading),
                "{applet}.1 lacks {heading}:\n{text}"
            );
        }
        assert!(text.contains(&applet.to_uppercase()), "{applet}.1:\n{text}");
        assert!(
            text.contains("--version"),
            "{applet}.1 lacks --version:\n{text}"
        );
        if *applet != "redo" {
            assert!(
                text.contains("redo(1)"),
                "{applet}.1 has no SEE ALSO redo:\n{text}"
            );
        }
    }
}

/// redo.1 has what --help cannot say; every variable of the README's table is in it.
#[test]
fn redo_page_carries_the_whole_picture() {
    let sb = generated();
    let page = sb.read("man/redo.1");
    for section in [
        "THE .DO FILES",
        "OUTPUT",
        "PARALLEL BUILDS AND THE JOBSERVER",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "EXAMPLES",
        "APPLETS",
    ] {
        assert!(
            page.contains(&format!(".SH \"{section}\""))
                || page.contains(&format!(".SH {section}")),
            "no {section}"
        );
    }
    for applet in &APPLETS[1..] {
        assert!(
            page.contains(&applet.replace('-', "\\-")),
            "redo.1 does not name {applet}"
        );
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let vars: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Environment variables"))
        .take_while(|l| !l.starts_with("## ") || l.starts_with("## Environment"))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    assert!(vars.len() >= 14, "README's table not found: {vars:?}");
    for v in vars {
        assert!(page.contains(&format!("\\fB{v}\\fR")), "redo.1 lacks {v}");
    }
    // The flags in both spellings, as --help has them.
    for flag in [
        "\\-log\\-pid",
        "\\-\\-log\\-pid",
        "\\-no\\-status",
        "\\-\\-jobserver\\-style",
    ] {
        assert!(page.contains(flag), "redo.1 lacks {flag}");
    }
}

#[test]
fn generate_man_needs_a_directory() {
    Sandbox::new()
        .run(&["redo", "--generate", "man"])
        .code(2)
        .stderr_contains("needs a directory");
    Sandbox::new().run(&["redo", "-generate", "nroff"]).code(2);
}
