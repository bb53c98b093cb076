//! Pure parsing and formatting of `MAKEFLAGS` (and `CARGO_MAKEFLAGS`, `MFLAGS`).
//!
//! No I/O here: [`parse`] turns the text of the variable into a [`ParsedFlags`], and
//! [`format()`] / [`format_mflags`] build the values handed to `.do` children.
//!
//! # Layout (GNU make, `define_makeflags`)
//!
//! `MAKEFLAGS` is `<letters> <option words> -- <VAR=value words>`:
//!
//! * the first word holds the argument-less single-letter flags without a dash (`k`,
//!   `is`, `n`); it is empty when there are none, so the value then starts with a space;
//! * then one word per option with a value (`-j3`, `-l4`, `-Otarget`,
//!   `--jobserver-auth=3,4`, `--no-print-directory`, ...);
//! * then, when there are command-line variable assignments, a `--` word followed by the
//!   `VAR=value` words (spaces inside values are backslash-escaped).
//!
//! # Rules this parser applies
//!
//! * Words are separated by unescaped spaces or tabs; a backslash escapes the next
//!   character and stays in the word (words are re-emitted verbatim).
//! * Interpretation stops at the `--` word: what follows is variable definitions, even if
//!   one looks like `X=--jobserver-auth=7,8`. The tail is kept for re-export.
//! * `--jobserver-auth=V` and `--jobserver-fds=V` are the same option for GNU make (both
//!   store into one variable), so **the last occurrence of either wins**. (The `jobserver`
//!   crate prefers any `-auth` over any `-fds`; the two only disagree on strings that no
//!   real producer writes, and we follow make.)
//! * `V` is `R,W` (two decimal `i32`), `fifo:PATH`, or anything else = invalid. A pair
//!   with a negative member (make 4.4 writes `-2,-2`) means "disabled".
//! * `-jN`, `-j`, `--jobs=N`, `--jobs`: the last one gives [`ParsedFlags::jobs`]. Every
//!   such word is dropped from the kept words (we write our own). Unparsable `-j…` words
//!   are dropped too and leave `jobs` as it was. As on make's command line, a bare `-j`
//!   or `--jobs` takes the next word as its count when that is a number (`-j 4`).
//! * A first word without a dash that is not an assignment is a group of letter flags, as
//!   make reads it (it prepends the dash): letters go to [`ParsedFlags::letters`], a `j`
//!   takes the rest as its count (`kj4`), and another option with an argument keeps the
//!   rest, with a dash, as an option word (`kl3` → `k`, `-l3`). Only the letters are
//!   re-emitted first.
//! * A fifo path's escapes are undone (make 4.4 writes `fifo:/t/sp\ ace/GMfifo1`); the
//!   adverts we write escape blanks and backslashes the same way ([`escape_word`]).
//! * Everything else is kept in order.
//!
//! A non-UTF-8 variable is converted lossily by the caller (documented in the module
//! essay); make itself never produces one unless the user put such bytes in a variable
//! definition.

use std::path::PathBuf;

/// The jobserver advertised by a `MAKEFLAGS`-style string (the last auth word before `--`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// No `--jobserver-auth=` / `--jobserver-fds=` word at all.
    #[default]
    None,
    /// A pair with a negative member, e.g. make 4.4's kill switch `-2,-2`.
    Disabled(i32, i32),
    /// `R,W`: inherited pipe file descriptors.
    Pipe(i32, i32),
    /// `fifo:PATH` (make 4.4's default style).
    Fifo(PathBuf),
    /// Anything else (the raw value, for the warning).
    Invalid(String),
}

impl Auth {
    /// True for every variant except [`Auth::None`]: the variable *carries* an auth word
    /// (even a disabled or invalid one), so it must not be overridden by another source.
    pub fn is_present(&self) -> bool {
        !matches!(self, Auth::None)
    }
}

/// Result of [`parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedFlags {
    /// First word when it is make's group of single-letter flags (`k`, `is`, `n`), else "".
    pub letters: String,
    /// Option words kept for re-export, in order: everything before `--` except the
    /// letters word, jobserver-auth/jobserver-fds words and `-j`/`--jobs` words.
    pub options: Vec<String>,
    /// Words after the `--` word (variable definitions), verbatim; empty if no `--`.
    pub vars: Vec<String>,
    /// The winning auth.
    pub auth: Auth,
    /// Raw text of the winning auth word (`--jobserver-auth=3,4`), if any.
    pub auth_word: Option<String>,
    /// `Some(Some(n))` for `-jN`, `Some(None)` for a bare `-j` (unlimited), `None` if absent.
    pub jobs: Option<Option<u32>>,
}

impl ParsedFlags {
    /// make's `-n` (dry run) letter is present.
    pub fn dry_run(&self) -> bool {
        self.letters.contains('n')
    }
}

/// Split on unescaped spaces/tabs; backslash escapes stay in the word.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                // A backslash at the very end escapes nothing; dropping it keeps the
                // word from escaping the separator we put after it when re-emitting.
                if let Some(n) = chars.next() {
                    in_word = true;
                    cur.push('\\');
                    cur.push(n);
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Strict decimal `i32`: optional `-`, then ASCII digits only.
fn parse_fd(s: &str) -> Option<i32> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok()
}

/// Strict decimal `u32` (ASCII digits only, no sign).
fn parse_count(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok()
}

/// A word's text with make's escapes undone (`\\x` is `x`).
fn unescape(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let mut chars = w.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// `s` as one `MAKEFLAGS` word: blanks and backslashes escaped with a
/// backslash, as make writes them (a fifo under a directory with a space).
pub fn escape_word(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Interpret one auth value (the text after `--jobserver-auth=`, as in the
/// word: escapes are undone here).
pub fn parse_auth_value(v: &str) -> Auth {
    if let Some(path) = v.strip_prefix("fifo:") {
        if path.is_empty() {
            return Auth::Invalid(v.to_string());
        }
        return Auth::Fifo(PathBuf::from(unescape(path)));
    }
    match v.split_once(',') {
        Some((r, w)) => match (parse_fd(r), parse_fd(w)) {
            (Some(r), Some(w)) if r < 0 || w < 0 => Auth::Disabled(r, w),
            (Some(r), Some(w)) => Auth::Pipe(r, w),
            _ => Auth::Invalid(v.to_string()),
        },
        None => Auth::Invalid(v.to_string()),
    }
}

/// make's single-letter options that take an argument (`-j` apart).
const LETTERS_WITH_ARGUMENT: &str = "CEfIloOW";

/// The first word when it is a group of single-letter flags without a dash
/// (make reads it as if it had one): the letters into `p.letters`, a `j`
/// with its count (`kj4`) into `p.jobs`, and another option with an argument
/// (`kl3`) kept with a dash, as it may stand anywhere.
fn take_letters(w: &str, p: &mut ParsedFlags) {
    for (k, c) in w.char_indices() {
        let rest = &w[k + c.len_utf8()..];
        if c == 'j' {
            p.jobs = if rest.is_empty() {
                Some(None)
            } else {
                parse_count(rest).map(Some).or(p.jobs)
            };
            return;
        }
        if !c.is_ascii_alphabetic() || LETTERS_WITH_ARGUMENT.contains(c) {
            p.options.push(format!("-{}", &w[k..]));
            return;
        }
        p.letters.push(c);
    }
}

/// Parse a `MAKEFLAGS`-style value. Never fails: unknown words are kept, a bad auth value
/// becomes [`Auth::Invalid`].
pub fn parse(s: &str) -> ParsedFlags {
    let mut p = ParsedFlags::default();
    let words = split_words(s);
    let mut it = words.into_iter().enumerate().peekable();
    while let Some((i, w)) = it.next() {
        if w == "--" {
            break;
        }
        // make prepends a dash to a first word without one that is not an
        // assignment: `k`, `is`, or written by hand, `j4`, `kj4`.
        if i == 0
            && !s.starts_with([' ', '\t'])
            && !w.is_empty()
            && !w.starts_with('-')
            && !w.contains('=')
        {
            take_letters(&w, &mut p);
            continue;
        }
        let auth_val = w
            .strip_prefix("--jobserver-auth=")
            .or_else(|| w.strip_prefix("--jobserver-fds="));
        if let Some(v) = auth_val {
            p.auth = parse_auth_value(v);
            p.auth_word = Some(w.clone());
            continue;
        }
        if w == "--jobserver-auth" || w == "--jobserver-fds" {
            // make never writes the two-word form; treat it as an empty (invalid) value.
            p.auth = Auth::Invalid(String::new());
            p.auth_word = Some(w.clone());
            continue;
        }
        if w == "-j" || w == "--jobs" {
            // `-j 4`, as on make's command line: the count may be the next word.
            let count = it.peek().and_then(|(_, n)| parse_count(n));
            if count.is_some() {
                it.next();
            }
            p.jobs = Some(count);
            continue;
        }
        let count = w.strip_prefix("--jobs=").or_else(|| w.strip_prefix("-j"));
        if let Some(n) = count {
            if let Some(n) = parse_count(n) {
                p.jobs = Some(Some(n));
            }
            continue;
        }
        p.options.push(w);
    }
    p.vars = it.map(|(_, w)| w).collect();
    p
}

/// Build a `MAKEFLAGS` value for children: the kept letters and options of `base`, then
/// the `-j` word (`Some(Some(n))` → `-jn`, `Some(None)` → bare `-j`, `None` → none), then
/// `auth` as `--jobserver-auth=<auth>` if given, then ` -- <vars>` if `base` had any.
/// Like make, the value starts with a space when there are no letters, and is empty when
/// there is nothing at all.
pub fn format(base: &ParsedFlags, jobs: Option<Option<u32>>, auth: Option<&str>) -> String {
    let words = option_words(base, jobs, auth);
    let mut out = base.letters.clone();
    for w in &words {
        out.push(' ');
        out.push_str(w);
    }
    if !base.vars.is_empty() {
        out.push_str(" --");
        for v in &base.vars {
            out.push(' ');
            out.push_str(v);
        }
    }
    if out.trim().is_empty() {
        out.clear();
    }
    out
}

/// Build the matching `MFLAGS` (make's layout: a dash on the letters word, no leading
/// space, no `-- VAR=…` part; empty when there are no flags).
pub fn format_mflags(base: &ParsedFlags, jobs: Option<Option<u32>>, auth: Option<&str>) -> String {
    let words = option_words(base, jobs, auth);
    let mut parts: Vec<String> = Vec::with_capacity(words.len() + 1);
    if !base.letters.is_empty() {
        parts.push(format!("-{}", base.letters));
    }
    parts.extend(words);
    parts.join(" ")
}

fn option_words(base: &ParsedFlags, jobs: Option<Option<u32>>, auth: Option<&str>) -> Vec<String> {
    let mut words = Vec::with_capacity(base.options.len() + 2);
    match jobs {
        Some(Some(n)) => words.push(format!("-j{n}")),
        Some(None) => words.push("-j".to_string()),
        None => {}
    }
    words.extend(base.options.iter().cloned());
    if let Some(a) = auth {
        words.push(format!("--jobserver-auth={a}"));
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_jobs_are_reemitted_where_make_reads_them() {
        assert_eq!(
            format(&parse("kj4 -s"), Some(Some(2)), Some("3,4")),
            "k -j2 -s --jobserver-auth=3,4"
        );
        assert_eq!(format(&parse(" -j 4"), Some(Some(2)), None), " -j2");
    }

    #[test]
    fn a_fifo_path_with_blanks_round_trips() {
        let path = "/tmp/a b\\c\td/GMfifo1";
        let auth = format!("fifo:{}", escape_word(path));
        let mf = format(&parse(""), Some(Some(2)), Some(&auth));
        assert_eq!(parse(&mf).auth, fifo(path));
    }

    fn pipe(r: i32, w: i32) -> Auth {
        Auth::Pipe(r, w)
    }
    fn fifo(p: &str) -> Auth {
        Auth::Fifo(PathBuf::from(p))
    }
    fn inv(s: &str) -> Auth {
        Auth::Invalid(s.to_string())
    }

    /// (input, auth, jobs, letters, options, vars)
    type Row = (
        &'static str,
        Auth,
        Option<Option<u32>>,
        &'static str,
        Vec<&'static str>,
        Vec<&'static str>,
    );

    fn table() -> Vec<Row> {
        let mut t = observed();
        t.extend(observed_more());
        t.extend(auth_forms());
        t.extend(auth_forms_more());
        t.extend(precedence_and_words());
        t.extend(hand_written());
        t
    }

    /// §1.2: values seen from make and other producers.
    fn observed() -> Vec<Row> {
        vec![
            // §1.2 observed values
            ("", Auth::None, None, "", vec![], vec![]),
            (" -j1", Auth::None, Some(Some(1)), "", vec![], vec![]),
            (" -j", Auth::None, Some(None), "", vec![], vec![]),
            (
                " -j3 --jobserver-auth=3,4",
                pipe(3, 4),
                Some(Some(3)),
                "",
                vec![],
                vec![],
            ),
            (
                " -j3 --jobserver-auth=fifo:/tmp/GMfifo8748",
                fifo("/tmp/GMfifo8748"),
                Some(Some(3)),
                "",
                vec![],
                vec![],
            ),
            (
                "n -j3 --jobserver-auth=3,4",
                pipe(3, 4),
                Some(Some(3)),
                "n",
                vec![],
                vec![],
            ),
            (
                "is -j3 --jobserver-auth=3,4 --no-print-directory",
                pipe(3, 4),
                Some(Some(3)),
                "is",
                vec!["--no-print-directory"],
                vec![],
            ),
            (
                " -j3 -l4 --jobserver-auth=3,4",
                pipe(3, 4),
                Some(Some(3)),
                "",
                vec!["-l4"],
                vec![],
            ),
            (
                " -j3 -Otarget --jobserver-auth=fifo:/tmp/GMfifo1 --sync-mutex=fnm:/tmp/GmXXXX",
                fifo("/tmp/GMfifo1"),
                Some(Some(3)),
                "",
                vec!["-Otarget", "--sync-mutex=fnm:/tmp/GmXXXX"],
                vec![],
            ),
        ]
    }

    /// §1.2 continued.
    fn observed_more() -> Vec<Row> {
        vec![
            (
                "k -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2 -- X=1",
                Auth::Disabled(-2, -2),
                Some(Some(2)),
                "k",
                vec![],
                vec!["X=1"],
            ),
            (
                "k -j2 --jobserver-auth=3,4 -- X=1",
                pipe(3, 4),
                Some(Some(2)),
                "k",
                vec![],
                vec!["X=1"],
            ),
            (
                " -j2 --jobserver-auth=3,4 --no-print-directory -- tag=a MAKEBIN=b",
                pipe(3, 4),
                Some(Some(2)),
                "",
                vec!["--no-print-directory"],
                vec!["tag=a", "MAKEBIN=b"],
            ),
            // other producers
            (
                "-j --jobserver-fds=5,6 --jobserver-auth=5,6",
                pipe(5, 6),
                Some(None),
                "",
                vec![],
                vec![],
            ),
            (
                "-j --jobserver-fds=fifo:/t/f --jobserver-auth=fifo:/t/f",
                fifo("/t/f"),
                Some(None),
                "",
                vec![],
                vec![],
            ),
            (
                " -j --jobserver-auth=100,101 --jobserver-fds=100,101",
                pipe(100, 101),
                Some(None),
                "",
                vec![],
                vec![],
            ),
        ]
    }

    /// §1.3 / S14: the forms of the auth option.
    fn auth_forms() -> Vec<Row> {
        vec![
            // §1.3 / S14
            (
                " -j2 --jobserver-fds=8,9",
                pipe(8, 9),
                Some(Some(2)),
                "",
                vec![],
                vec![],
            ),
            (
                " -j2 --jobserver-auth=8,9",
                pipe(8, 9),
                Some(Some(2)),
                "",
                vec![],
                vec![],
            ),
            (
                " -j2 --jobserver-auth=0,1",
                pipe(0, 1),
                Some(Some(2)),
                "",
                vec![],
                vec![],
            ),
            (
                " -j2 --jobserver-auth=garbage",
                inv("garbage"),
                Some(Some(2)),
                "",
                vec![],
                vec![],
            ),
            (
                " -j2 --jobserver-auth=-2,-2",
                Auth::Disabled(-2, -2),
                Some(Some(2)),
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth=3,-1",
                Auth::Disabled(3, -1),
                None,
                "",
                vec![],
                vec![],
            ),
            (" --jobserver-fds=", inv(""), None, "", vec![], vec![]),
            (" --jobserver-auth=", inv(""), None, "", vec![], vec![]),
            (
                " --jobserver-auth=fifo:",
                inv("fifo:"),
                None,
                "",
                vec![],
                vec![],
            ),
            (" --jobserver-auth=3", inv("3"), None, "", vec![], vec![]),
        ]
    }

    /// §1.3 / S14 continued.
    fn auth_forms_more() -> Vec<Row> {
        vec![
            (
                " --jobserver-auth=3,4,5",
                inv("3,4,5"),
                None,
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth=a,b",
                inv("a,b"),
                None,
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth=+3,4",
                inv("+3,4"),
                None,
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth= 3,4",
                inv(""),
                None,
                "",
                vec!["3,4"],
                vec![],
            ),
            (
                " --jobserver-auth=99999999999,1",
                inv("99999999999,1"),
                None,
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth=Global\\sem",
                inv("Global\\sem"),
                None,
                "",
                vec![],
                vec![],
            ),
            (" --jobserver-auth", inv(""), None, "", vec![], vec![]),
            (
                " -j2 --jobserver-auth=3,4 -- X=--jobserver-auth=7,8",
                pipe(3, 4),
                Some(Some(2)),
                "",
                vec![],
                vec!["X=--jobserver-auth=7,8"],
            ),
            (
                " -j2 -- X=--jobserver-auth=7,8 -j9",
                Auth::None,
                Some(Some(2)),
                "",
                vec![],
                vec!["X=--jobserver-auth=7,8", "-j9"],
            ),
        ]
    }

    /// Written by hand, as make's command line reads them: the count in the next word, a
    /// first word without a dash as letter flags (`j4` is `-j4`); and a fifo's path with
    /// a blank, which make 4.4 escapes.
    fn hand_written() -> Vec<Row> {
        vec![
            (" -j 4", Auth::None, Some(Some(4)), "", vec![], vec![]),
            (
                " --jobs 4 -k",
                Auth::None,
                Some(Some(4)),
                "",
                vec!["-k"],
                vec![],
            ),
            (" -j x", Auth::None, Some(None), "", vec!["x"], vec![]),
            ("j4", Auth::None, Some(Some(4)), "", vec![], vec![]),
            ("kj4", Auth::None, Some(Some(4)), "k", vec![], vec![]),
            ("kj", Auth::None, Some(None), "k", vec![], vec![]),
            ("kl3 -s", Auth::None, None, "k", vec!["-l3", "-s"], vec![]),
            (
                "j4 --jobserver-auth=3,4",
                pipe(3, 4),
                Some(Some(4)),
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth=fifo:/tmp/sp\\ ace/GMfifo1",
                fifo("/tmp/sp ace/GMfifo1"),
                None,
                "",
                vec![],
                vec![],
            ),
        ]
    }

    /// Which of several wins, `-j` words, letters, spacing, escapes.
    fn precedence_and_words() -> Vec<Row> {
        vec![
            // last of either spelling wins (make); auth first then fds
            (
                " --jobserver-auth=3,4 --jobserver-fds=7,8",
                pipe(7, 8),
                None,
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-fds=7,8 --jobserver-auth=3,4",
                pipe(3, 4),
                None,
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth=fifo:/a --jobserver-auth=3,4",
                pipe(3, 4),
                None,
                "",
                vec![],
                vec![],
            ),
            (
                " --jobserver-auth=-2,-2 --jobserver-auth=fifo:/a",
                fifo("/a"),
                None,
                "",
                vec![],
                vec![],
            ),
            // jobs words
            (" -j4 -j7", Auth::None, Some(Some(7)), "", vec![], vec![]),
            (" -j4 -j", Auth::None, Some(None), "", vec![], vec![]),
            (" --jobs=5", Auth::None, Some(Some(5)), "", vec![], vec![]),
            (" --jobs", Auth::None, Some(None), "", vec![], vec![]),
            (" -j3 -jfoo", Auth::None, Some(Some(3)), "", vec![], vec![]),
            (" -j99999999999", Auth::None, None, "", vec![], vec![]),
            (
                " --jobserver-style=fifo -j2",
                Auth::None,
                Some(Some(2)),
                "",
                vec!["--jobserver-style=fifo"],
                vec![],
            ),
            // letters / odd spacing / escapes
            ("k", Auth::None, None, "k", vec![], vec![]),
            ("-k", Auth::None, None, "", vec!["-k"], vec![]),
            ("X=1", Auth::None, None, "", vec!["X=1"], vec![]),
            ("  k", Auth::None, None, "", vec!["k"], vec![]),
            (
                "ks\t-j2  --jobserver-auth=3,4\t--",
                pipe(3, 4),
                Some(Some(2)),
                "ks",
                vec![],
                vec![],
            ),
            (
                " -j2 -- X=a\\ b Y=c",
                Auth::None,
                Some(Some(2)),
                "",
                vec![],
                vec!["X=a\\ b", "Y=c"],
            ),
            (
                " -Idir\\ with\\ space -j2",
                Auth::None,
                Some(Some(2)),
                "",
                vec!["-Idir\\ with\\ space"],
                vec![],
            ),
            (
                " -Dtrailing\\",
                Auth::None,
                None,
                "",
                vec!["-Dtrailing"],
                vec![],
            ),
            (" \\", Auth::None, None, "", vec![], vec![]),
            ("k -- X=\\", Auth::None, None, "k", vec![], vec!["X="]),
        ]
    }

    #[test]
    fn parse_table() {
        for (input, auth, jobs, letters, options, vars) in table() {
            let p = parse(input);
            assert_eq!(p.auth, auth, "auth of {input:?}");
            assert_eq!(p.jobs, jobs, "jobs of {input:?}");
            assert_eq!(p.letters, letters, "letters of {input:?}");
            assert_eq!(p.options, options, "options of {input:?}");
            assert_eq!(p.vars, vars, "vars of {input:?}");
            assert_eq!(
                p.auth_word.is_some(),
                auth.is_present(),
                "auth_word of {input:?}"
            );
        }
    }

    #[test]
    fn auth_word_is_the_winning_raw_word() {
        let p = parse(" --jobserver-auth=3,4 --jobserver-fds=7,8");
        assert_eq!(p.auth_word.as_deref(), Some("--jobserver-fds=7,8"));
    }

    #[test]
    fn dry_run_letter() {
        assert!(parse("n -j3").dry_run());
        assert!(parse("ns").dry_run());
        assert!(!parse(" -n").dry_run());
        assert!(!parse("ks").dry_run());
    }

    #[test]
    fn format_replaces_jobs_and_auth_and_keeps_the_rest() {
        let p = parse("k -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2 -l3 --no-print-directory -- X=--jobserver-auth=7,8 Y=a\\ b");
        assert_eq!(
            format(&p, Some(Some(5)), Some("10,11")),
            "k -j5 -l3 --no-print-directory --jobserver-auth=10,11 -- X=--jobserver-auth=7,8 Y=a\\ b"
        );
        assert_eq!(
            format_mflags(&p, Some(Some(5)), Some("10,11")),
            "-k -j5 -l3 --no-print-directory --jobserver-auth=10,11"
        );
        assert_eq!(
            format(&p, Some(Some(1)), None),
            "k -j1 -l3 --no-print-directory -- X=--jobserver-auth=7,8 Y=a\\ b"
        );
    }

    #[test]
    fn format_without_letters_starts_with_space_like_make() {
        let p = parse("");
        assert_eq!(
            format(&p, Some(Some(3)), Some("10,11")),
            " -j3 --jobserver-auth=10,11"
        );
        assert_eq!(
            format_mflags(&p, Some(Some(3)), Some("10,11")),
            "-j3 --jobserver-auth=10,11"
        );
        assert_eq!(format(&p, Some(None), None), " -j");
        assert_eq!(format(&p, None, None), "");
        assert_eq!(format_mflags(&p, None, None), "");
        let cargo = parse("-j --jobserver-fds=5,6 --jobserver-auth=5,6");
        assert_eq!(
            format(&cargo, None, Some("fifo:/tmp/x")),
            " --jobserver-auth=fifo:/tmp/x"
        );
    }

    #[test]
    fn format_then_parse_round_trips() {
        for (input, ..) in table() {
            let p = parse(input);
            for auth in [None, Some("12,13"), Some("fifo:/tmp/ferredo-fifo-1-2")] {
                for jobs in [None, Some(None), Some(Some(4))] {
                    let out = format(&p, jobs, auth);
                    let q = parse(&out);
                    assert_eq!(q.letters, p.letters, "{input:?} -> {out:?}");
                    assert_eq!(q.options, p.options, "{input:?} -> {out:?}");
                    assert_eq!(q.vars, p.vars, "{input:?} -> {out:?}");
                    assert_eq!(q.jobs, jobs, "{input:?} -> {out:?}");
                    let want = auth.map(parse_auth_value).unwrap_or(Auth::None);
                    assert_eq!(q.auth, want, "{input:?} -> {out:?}");
                }
            }
        }
    }
}
