//! man(7) text: escaping, and a small markup for the manual's prose.
//!
//! Prose markup, one construct per line:
//! `# TITLE` a section; `## Title` a subsection; a blank line ends a
//! paragraph; `: term` starts a tagged item whose body is the next lines;
//! `* text` a bullet; lines indented four spaces are a literal example.
//! Inline, `` `word` `` is set in bold.

/// Inline text: roff-special characters escaped, `` `x` `` in bold.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut bold = false;
    for c in s.chars() {
        if c == '`' {
            out.push_str(if bold { "\\fR" } else { "\\fB" });
            bold = !bold;
        } else {
            push_char(&mut out, c);
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    guard_line_start(out)
}

/// Literal text (examples, option names): escaped, no markup.
pub fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_char(&mut out, c);
    }
    guard_line_start(out)
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\e"),
        // A plain `-` may become a hyphen; options must stay minus signs.
        '-' => out.push_str("\\-"),
        c if c.is_ascii() => out.push(c),
        c => out.push_str(&format!("\\[u{:04X}]", c as u32)),
    }
}

/// A line starting with `.` or `'` would be read as a request.
fn guard_line_start(s: String) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// The prose markup (see the module docs) as man(7) requests.
pub fn prose(src: &str) -> String {
    let mut out = String::new();
    // Whether the next text line starts a new paragraph (.PP), and whether
    // an example is open.
    let (mut new_para, mut example) = (false, false);
    for line in src.lines() {
        if let Some(code) = line.strip_prefix("    ") {
            if !example {
                out.push_str(".PP\n.RS 4\n.EX\n");
                example = true;
            }
            out.push_str(&literal(code));
            out.push('\n');
            continue;
        }
        if example {
            out.push_str(".EE\n.RE\n");
            example = false;
            new_para = true;
        }
        if line.trim().is_empty() {
            new_para = true;
        } else if let Some(t) = line.strip_prefix("## ") {
            out.push_str(&format!(".SS {}\n", quoted(t)));
            new_para = false;
        } else if let Some(t) = line.strip_prefix("# ") {
            out.push_str(&format!(".SH {}\n", quoted(t)));
            new_para = false;
        } else if let Some(t) = line.strip_prefix(": ") {
            out.push_str(&format!(".TP\n\\fB{}\\fR\n", literal(&t.replace('`', ""))));
            new_para = false;
        } else if let Some(t) = line.strip_prefix("* ") {
            out.push_str(&format!(".IP \\(bu 2\n{}\n", text(t)));
            new_para = false;
        } else {
            if new_para {
                out.push_str(".PP\n");
                new_para = false;
            }
            out.push_str(&text(line));
            out.push('\n');
        }
    }
    if example {
        out.push_str(".EE\n.RE\n");
    }
    out
}

/// A macro argument: escaped and double-quoted.
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", literal(&s.replace('"', "'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_markup() {
        assert_eq!(text("use `-j N` here"), "use \\fB\\-j N\\fR here");
        assert_eq!(text(".redo/ holds"), "\\&.redo/ holds");
        assert_eq!(literal("a\\b"), "a\\eb");
        assert_eq!(
            prose("# A\nx\n\ny\n    cmd -x\nz\n"),
            ".SH \"A\"\nx\n.PP\ny\n.PP\n.RS 4\n.EX\ncmd \\-x\n.EE\n.RE\n.PP\nz\n"
        );
    }
}
