//! What others wrote, made harmless for a terminal.
//!
//! Text, names and reasons that come from other users or from the server reach the
//! screen (messages, notices, and the program's own `smc: error: ...` line, which may
//! quote a server's refusal); an escape sequence among them could move the cursor, rewrite earlier lines,
//! change the window title or worse, and a carriage return or a bidi override could
//! make one message look like another. Line mode writes such characters as visible
//! `\u{..}` escapes ([`escape`]); the full-screen view removes them from every cell
//! it draws ([`scrub`]), one chokepoint whatever the widget.

use std::borrow::Cow;

/// Characters that control a terminal or reorder what it shows: C0 and C1 controls,
/// DEL, bidi embeddings, overrides, isolates and marks, line and paragraph separators.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// `text` with every unsafe character written as `\u{XX}` (line mode: one line, and
/// what was hidden stays visible).
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Removes unsafe characters from every cell of a drawn frame (the full-screen view):
/// whatever a widget was given, nothing that reaches the terminal controls it.
pub(crate) fn scrub(buffer: &mut ratatui::buffer::Buffer) {
    for cell in buffer.content.iter_mut() {
        if cell.symbol().chars().any(is_unsafe) {
            let kept: String = cell.symbol().chars().filter(|c| !is_unsafe(*c)).collect();
            cell.set_symbol(if kept.is_empty() { " " } else { &kept });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;

    #[test]
    fn escapes_controls_and_bidi_but_keeps_text() {
        assert_eq!(escape("plain été 👨‍👩‍👧"), "plain été 👨‍👩‍👧");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ry"), "x\\u{d}y");
        assert_eq!(escape("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn a_drawn_frame_holds_no_escape() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 20, 1));
        buffer.set_string(
            0,
            0,
            "hi\u{1b}]0;owned\u{7}\r!",
            ratatui::style::Style::default(),
        );
        scrub(&mut buffer);
        let all: String = buffer.content.iter().map(|c| c.symbol()).collect();
        assert!(!all.chars().any(is_unsafe), "{all:?}");
        assert!(all.starts_with("hi"), "{all:?}");
    }
}
