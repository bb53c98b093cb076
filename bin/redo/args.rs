//! argv handling shared by the applets. goredo uses Go's `flag` package:
//! single-dash long names (`-xx`, `-log-pid`), `-j 4` or `-j=4`, flags before
//! operands, `--` ends flags. clap is given a normalised argv: known
//! single-dash long names become `--name`, and a `--` is inserted before the
//! first operand so that later words are always operands (a target named
//! `-x` is reachable after `--`).

/// Long flag names that goredo spells with one dash.
const LONG: &[&str] = &[
    "xx",
    "log-pid",
    "no-progress",
    "no-status",
    "log-wait",
    "log-lock",
    "log-js",
    "version",
    "warranty",
    "symlinks",
    "install-symlinks",
    "help",
    "jobserver-style",
    "why",
    "generate",
    "complete-targets",
];

/// Whether goredo spells the long flag `name` with one dash (`-log-pid`).
pub fn is_single_dash(name: &str) -> bool {
    LONG.contains(&name)
}

/// Flags (short or long) that take a value as the next word.
const TAKES_VALUE: &[&str] = &["-j", "--jobserver-style", "--generate"];

/// Flags whose value is optional: the next word is their value unless it
/// looks like a flag.
const OPTIONAL_VALUE: &[&str] = &["--install-symlinks", "--symlinks"];

pub fn normalise(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut it = args.into_iter().peekable();
    if let Some(a0) = it.next() {
        out.push(a0);
    }
    let mut expect_value = false;
    while let Some(a) = it.next() {
        if expect_value {
            out.push(a);
            expect_value = false;
            continue;
        }
        let Some(s) = a.to_str().map(str::to_owned) else {
            out.push("--".into());
            out.push(a);
            break;
        };
        if s == "--" {
            out.push(a);
            break;
        }
        if !s.starts_with('-') || s == "-" {
            out.push("--".into());
            out.push(a);
            break;
        }
        let body = s.trim_start_matches('-');
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        // goredo's single-dash long names (`-xx`, `-log-pid`) become clap's `--name`.
        let word = if LONG.contains(&name) || s.starts_with("--") {
            format!("--{name}")
        } else {
            format!("-{name}")
        };
        match value {
            Some(v) => out.push(format!("{word}={v}").into()),
            None => {
                if TAKES_VALUE.contains(&word.as_str()) {
                    expect_value = true;
                }
                let optional = OPTIONAL_VALUE.contains(&word.as_str());
                if optional
                    && it
                        .peek()
                        .is_some_and(|n| !n.as_encoded_bytes().starts_with(b"-"))
                {
                    let mut w = std::ffi::OsString::from(format!("{word}="));
                    w.push(it.next().unwrap_or_default());
                    out.push(w);
                    continue;
                }
                out.push(word.into());
            }
        }
    }
    out.extend(it);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[&str]) -> Vec<String> {
        normalise(v.iter().map(|s| std::ffi::OsString::from(*s)))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn goredo_spellings() {
        assert_eq!(
            n(&["redo", "-xx", "-j", "4", "a"]),
            ["redo", "--xx", "-j", "4", "--", "a"]
        );
        assert_eq!(
            n(&["redo", "-j=4", "-log-pid", "a", "-x"]),
            ["redo", "-j=4", "--log-pid", "--", "a", "-x"]
        );
        assert_eq!(n(&["redo", "--", "-x"]), ["redo", "--", "-x"]);
        assert_eq!(n(&["redo", "-k", "-s"]), ["redo", "-k", "-s"]);
        assert_eq!(
            n(&["redo", "-symlinks", "/x/y"]),
            ["redo", "--symlinks=/x/y"]
        );
        assert_eq!(
            n(&["redo", "--install-symlinks"]),
            ["redo", "--install-symlinks"]
        );
    }
}
