//! `redo --generate complete-{bash,zsh,fish}` (issue #14), tried in the real shells:
//! each script loads without a word on stderr; completing `redo-ifc` gives
//! `redo-ifchange` (from PATH: the sandbox's bin/); `redo -` lists the flags in both
//! spellings; `redo ` in a built demo tree lists its targets and `.do` names, nothing
//! of `default*.do`; `--jobserver-style` offers pipe and fifo.

use crate::sandbox::*;

/// A small tree, built once so that some targets are known only from `.redo/`.
fn demo() -> Sandbox {
    let sb = Sandbox::new()
        .file("all.do", "redo-ifchange prog\n")
        .file(
            "prog.do",
            "redo-ifchange main.o util.o\ncat main.o util.o\n",
        )
        .file("default.o.do", "echo \"$2\"\n")
        .file("home/.keep", "");
    let home = sb.abs("home");
    let sb = sb
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", format!("{home}/.config"))
        .env("XDG_DATA_HOME", format!("{home}/.local/share"))
        .env("XDG_CACHE_HOME", format!("{home}/.cache"));
    sb.run(&["redo", "all"]).success();
    for shell in ["bash", "zsh", "fish"] {
        let out = sb.run(&["redo", "--generate", &format!("complete-{shell}")]);
        out.success();
        sb.write(format!("complete.{shell}"), out.stdout());
    }
    sb
}

const FLAGS: &[&str] = &[
    "-j",
    "-k",
    "-s",
    "-x",
    "-xx",
    "-log-pid",
    "--log-pid",
    "-no-status",
    "--no-status",
    "-no-progress",
    "--jobserver-style",
    "--version",
];
const TARGETS: &[&str] = &["all", "main.o", "prog", "util.o"];

/// The words of `text`, one per line, tab and description cut off (fish).
fn words(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .filter(|w| !w.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[track_caller]
fn has_all(got: &[String], want: &[&str], what: &str) {
    for w in want {
        assert!(got.iter().any(|g| g == w), "{what}: no {w} in {got:?}");
    }
}

/// The candidates offered for the operands of `redo `: the targets, nothing else.
#[track_caller]
fn just_targets(got: &[String], what: &str) {
    let want: Vec<String> = TARGETS.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want.as_slice(), "{what}");
}

#[test]
fn complete_targets_helper_lists_known_targets_and_do_names() {
    let sb = demo();
    let out = sb.run(&["redo", "--complete-targets"]);
    out.success().stderr_is("");
    just_targets(&words(&out.stdout()), "redo --complete-targets");
}

#[test]
fn bash_completion_in_bash() {
    let bash = require_tool("bash");
    let lib = std::path::Path::new("/usr/share/bash-completion/bash_completion");
    assert!(
        lib.is_file(),
        "{} missing: run compat/test.sh (installs bash-completion)",
        lib.display()
    );
    let sb = demo();
    let script = format!(
        "source {lib}; source complete.bash || exit 9\n\
         t() {{ COMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMPREPLY=(); _redo; printf '%s\\n' \"${{COMPREPLY[@]}}\"; }}\n\
         echo '== flags'; t redo -\n\
         echo '== targets'; t redo ''\n\
         echo '== style'; t redo --jobserver-style ''\n\
         echo '== ifchange'; t redo-ifchange -\n\
         echo '== commands'; compgen -c redo-ifc\n\
         echo '== registered'; complete -p redo-ifchange redo-dep2rec\n",
        lib = lib.display()
    );
    let out = sb
        .cmd(&[
            bash.to_str().unwrap(),
            "--norc",
            "--noprofile",
            "-c",
            &script,
        ])
        .run();
    out.success().stderr_is("");
    let part = |name: &str| section(&out.stdout(), name);
    has_all(&words(&part("flags")), FLAGS, "bash: redo -");
    just_targets(&words(&part("targets")), "bash: redo ''");
    assert_eq!(words(&part("style")), ["fifo", "pipe"]);
    has_all(
        &words(&part("ifchange")),
        &["-f", "-j", "-log-pid"],
        "bash: redo-ifchange -",
    );
    has_all(
        &words(&part("commands")),
        &["redo-ifchange"],
        "bash: redo-ifc",
    );
    assert!(
        part("registered").contains("complete -F _redo redo-dep2rec"),
        "{out:?}"
    );
}

/// Lines after `== name` up to the next `== `.
fn section(text: &str, name: &str) -> String {
    let head = format!("== {name}");
    text.lines()
        .skip_while(|l| *l != head)
        .skip(1)
        .take_while(|l| !l.starts_with("== "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Types `line` and TAB into an interactive `zsh -f` in a pseudo-terminal (zpty), with
/// the script loaded (sourced after compinit, or with `fpath` = `$4` set to a directory
/// holding it as `_redo` before compinit, as a user installs it), and captures every candidate zsh's completion adds
/// (a `compadd` wrapper appends them to a file): real completion, no terminal parsing.
const ZSH_HARNESS: &str = r#"
zmodload zsh/zpty || exit 7
script=$1 out=$2 line=$3
: >$out.ready
zpty z zsh -f -i
if [[ -n $4 ]]; then
  zpty -w z "PS1='> '; fpath=(${(q)4} \$fpath); autoload -Uz compinit; compinit -u -D 2>>$out.err"
else
  zpty -w z "PS1='> '; autoload -Uz compinit; compinit -u -D 2>>$out.err; source ${(q)script} 2>>$out.err"
fi
zpty -w z "compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return; fi; local -a h; builtin compadd -A h \"\$@\"; print -l -- \$h >>${(q)out}; builtin compadd \"\$@\"; }"
zpty -w z "bindkey '^I' complete-word; print ready >${(q)out}.ready"
for i in {1..200}; do [[ -s $out.ready ]] && break; sleep 0.05; done
[[ -s $out.ready ]] || { print -u2 "zsh did not start"; exit 8; }
zpty -w -n z "$line"$'\t'
for i in {1..200}; do [[ -s $out ]] && break; sleep 0.05; done
sleep 0.3
zpty -d z
"#;

fn zsh_complete(sb: &Sandbox, zsh: &str, line: &str, fpath: &str) -> Vec<String> {
    let out_file = sb.abs(format!("zsh-{}.out", sb.ls(".").len()));
    sb.write("harness.zsh", ZSH_HARNESS);
    let script = sb.abs("complete.zsh");
    sb.cmd(&[zsh, "-f", "harness.zsh", &script, &out_file, line, fpath])
        .run()
        .success()
        .stderr_is("");
    let err = std::fs::read_to_string(format!("{out_file}.err")).unwrap_or_default();
    assert_eq!(err, "", "zsh: compinit or the script complained");
    words(&std::fs::read_to_string(&out_file).unwrap_or_default())
}

#[test]
fn zsh_completion_in_zsh() {
    let zsh = require_tool("zsh");
    let zsh = zsh.to_str().unwrap();
    let sb = demo();
    let load = sb
        .cmd(&[
            zsh,
            "-f",
            "-c",
            "autoload -Uz compinit; compinit -u -D; source ./complete.zsh; print -r -- $_comps[redo] $_comps[redo-ifchange] $_comps[redo-dep2rec]",
        ])
        .run();
    load.success()
        .stderr_is("")
        .stdout_is("_redo _redo _redo\n");
    // Sourced after compinit, and installed as `_redo` in a directory of `$fpath`.
    sb.write("zfunc/_redo", sb.read("complete.zsh"));
    let zfunc = sb.abs("zfunc");
    for fpath in ["", zfunc.as_str()] {
        let how = if fpath.is_empty() { "sourced" } else { "fpath" };
        let complete = |line: &str| zsh_complete(&sb, zsh, line, fpath);
        has_all(&complete("redo -"), FLAGS, &format!("zsh ({how}): redo -"));
        just_targets(&complete("redo "), &format!("zsh ({how}): redo "));
        assert_eq!(
            complete("redo --jobserver-style "),
            ["fifo", "pipe"],
            "{how}"
        );
        has_all(&complete("redo-ifc"), &["redo-ifchange"], "zsh: redo-ifc");
        has_all(
            &complete("redo-ifchange -"),
            &["-f", "-j"],
            "zsh: redo-ifchange -",
        );
    }
}

#[test]
fn fish_completion_in_fish() {
    let fish = require_tool("fish");
    let sb = demo();
    let fish_c = |cmd: &str| {
        let script = format!("source complete.fish; or exit 9; complete -C {cmd:?}");
        let out = sb
            .cmd(&[fish.to_str().unwrap(), "--no-config", "-c", &script])
            .run();
        out.success().stderr_is("");
        words(&out.stdout())
    };
    has_all(&fish_c("redo -"), FLAGS, "fish: redo -");
    just_targets(&fish_c("redo "), "fish: redo ");
    assert_eq!(fish_c("redo --jobserver-style "), ["fifo", "pipe"]);
    has_all(&fish_c("redo-ifc"), &["redo-ifchange"], "fish: redo-ifc");
    has_all(
        &fish_c("redo-ifchange -"),
        &["-f", "-j"],
        "fish: redo-ifchange -",
    );
}
