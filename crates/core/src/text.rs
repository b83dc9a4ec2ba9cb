//! Text from a series (subjects, authors, paths, git's messages about them) made safe for a
//! terminal: control characters (ANSI/OSC escapes, carriage returns, a newline that would forge an
//! output line) and bidirectional overrides are shown escaped, never interpreted.

use std::borrow::Cow;

/// Unicode bidi controls (embeddings, overrides, isolates, marks): they reorder what is shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn needs_escape(c: char, keep_newlines: bool) -> bool {
    (c.is_control() && !(keep_newlines && c == '\n') && c != '\t') || is_bidi_control(c)
}

/// `s` with every control character (but tab, and newline when `keep_newlines`) and every bidi
/// control written as a Rust escape (`\u{1b}`, `\n`, `\u{202e}`).
pub fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c, keep_newlines)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c, keep_newlines) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line: every control character escaped, newlines included.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_interpret() {
        assert_eq!(line("ceph: fix caps"), "ceph: fix caps");
        assert_eq!(line("a\x1b]0;pwned\x07b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(line("evil\nverdict: pass"), "evil\\nverdict: pass");
        assert_eq!(line("x\r"), "x\\r");
        assert_eq!(line("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(line("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("two\nlines\x1b", true), "two\nlines\\u{1b}");
        assert_eq!(line("tab\there é"), "tab\there é");
    }
}
