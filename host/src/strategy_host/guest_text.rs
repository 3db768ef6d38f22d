//! Text a guest supplies — log lines, error messages, its name and version —
//! made safe to show an operator: every control character (C0, DEL, C1) and
//! every bidirectional-override character is written as a visible `\u{..}`
//! escape, so a guest cannot clear a terminal, set its title, forge log
//! lines with newlines or reorder what is shown; and the text is cut at a
//! length limit. Done once, where the text enters the host, so that no
//! printer, report or journal downstream has to remember it.

use std::fmt::Write;

/// Most characters of one piece of guest text that are kept.
pub(super) const MAX_CHARS: usize = 1024;

/// `text`, escaped and cut to [`MAX_CHARS`]; see the module documentation.
pub(super) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS));
    for (kept, c) in text.chars().enumerate() {
        if kept == MAX_CHARS {
            let rest = text.chars().count() - MAX_CHARS;
            let _ = write!(out, "… ({rest} more characters)");
            break;
        }
        if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters, and the bidirectional controls that reorder text.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_are_visible() {
        assert_eq!(
            clean("a\u{1b}[2J\u{7}\u{9b}\nb\u{202e}c\té"),
            "a\\u{1b}[2J\\u{7}\\u{9b}\\u{a}b\\u{202e}c\\u{9}é"
        );
    }

    #[test]
    fn long_text_is_cut_saying_how_much() {
        let text = "x".repeat(MAX_CHARS + 10);
        assert_eq!(
            clean(&text),
            format!("{}… (10 more characters)", "x".repeat(MAX_CHARS))
        );
    }

    proptest! {
        /// Whatever a guest sends, nothing that reaches the operator is a
        /// control character, and the length is bounded.
        #[test]
        fn nothing_unsafe_survives(text in any::<String>()) {
            let out = clean(&text);
            prop_assert!(!out.chars().any(is_unsafe));
            prop_assert!(out.chars().count() <= MAX_CHARS * 11 + 40);
        }
    }
}
