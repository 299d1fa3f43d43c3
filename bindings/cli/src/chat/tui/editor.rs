//! The input line: editing by grapheme (an emoji or an accented letter is one step),
//! a cursor placed by display width (wide characters take two columns), and the
//! history of typed lines (Up/Down).

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Most typed lines remembered.
const HISTORY: usize = 500;

/// The line being typed.
#[derive(Debug, Default)]
pub(crate) struct Editor {
    text: String,
    /// Byte offset of the cursor, always on a grapheme boundary.
    cursor: usize,
    history: Vec<String>,
    /// Position in `history` while browsing it (`history.len()` = the line being typed).
    browsing: Option<usize>,
    /// The line being typed when browsing started.
    draft: String,
}

impl Editor {
    /// The text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Whether nothing is typed.
    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Display columns before the cursor.
    pub(crate) fn cursor_column(&self) -> usize {
        self.text[..self.cursor].width()
    }

    /// Replaces the text (cursor at the end).
    pub(crate) fn set(&mut self, text: &str) {
        self.text = text.to_owned();
        self.cursor = self.text.len();
    }

    /// Inserts text at the cursor.
    pub(crate) fn insert(&mut self, s: &str) {
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
        self.browsing = None;
    }

    fn prev_boundary(&self) -> usize {
        self.text[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        self.text[self.cursor..]
            .graphemes(true)
            .next()
            .map_or(self.cursor, |g| self.cursor + g.len())
    }

    /// Deletes the grapheme before the cursor.
    pub(crate) fn backspace(&mut self) {
        let start = self.prev_boundary();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Deletes the grapheme under the cursor.
    pub(crate) fn delete(&mut self) {
        let end = self.next_boundary();
        self.text.replace_range(self.cursor..end, "");
    }

    /// Moves one grapheme left.
    pub(crate) fn left(&mut self) {
        self.cursor = self.prev_boundary();
    }

    /// Moves one grapheme right.
    pub(crate) fn right(&mut self) {
        self.cursor = self.next_boundary();
    }

    /// To the start.
    pub(crate) fn home(&mut self) {
        self.cursor = 0;
    }

    /// To the end.
    pub(crate) fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Start of the word before the cursor.
    fn word_start(&self) -> usize {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8())
    }

    /// Moves to the start of the previous word.
    pub(crate) fn word_left(&mut self) {
        self.cursor = self.word_start();
    }

    /// Moves past the next word.
    pub(crate) fn word_right(&mut self) {
        let after = &self.text[self.cursor..];
        let skip = after.len() - after.trim_start().len();
        let rest = &after[skip..];
        let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.cursor += skip + word;
    }

    /// Deletes the word before the cursor (Ctrl-W).
    pub(crate) fn delete_word(&mut self) {
        let start = self.word_start();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Deletes up to the start (Ctrl-U).
    pub(crate) fn kill_to_start(&mut self) {
        self.text.replace_range(..self.cursor, "");
        self.cursor = 0;
    }

    /// Deletes up to the end (Ctrl-K).
    pub(crate) fn kill_to_end(&mut self) {
        self.text.truncate(self.cursor);
    }

    /// Takes the typed line (Enter): it goes into the history, the line is cleared.
    pub(crate) fn take(&mut self) -> String {
        let line = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        line
    }

    /// The previous typed line (Up).
    pub(crate) fn history_up(&mut self) {
        let at = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.browsing = Some(at);
        let line = self.history[at].clone();
        self.set(&line);
    }

    /// The next typed line, then back to the draft (Down).
    pub(crate) fn history_down(&mut self) {
        let Some(at) = self.browsing else { return };
        if at + 1 < self.history.len() {
            self.browsing = Some(at + 1);
            let line = self.history[at + 1].clone();
            self.set(&line);
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set(&draft);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing_steps_over_whole_graphemes_and_measures_width() {
        let mut e = Editor::default();
        e.insert("é🙂a");
        assert_eq!(e.cursor_column(), 4); // é 1 + 🙂 2 + a 1
        e.left();
        e.left();
        assert_eq!(e.cursor_column(), 1);
        e.backspace();
        assert_eq!(e.text(), "🙂a");
        e.delete();
        assert_eq!(e.text(), "a");
        // e + combining acute accent is one grapheme.
        e.set("e\u{301}x");
        e.home();
        e.right();
        e.delete();
        assert_eq!(e.text(), "e\u{301}");
    }

    #[test]
    fn words_kills_and_history() {
        let mut e = Editor::default();
        e.insert("bonjour tout le monde");
        e.delete_word();
        assert_eq!(e.text(), "bonjour tout le ");
        e.word_left();
        e.kill_to_end();
        assert_eq!(e.text(), "bonjour tout ");
        e.kill_to_start();
        assert!(e.is_empty());
        e.insert("one");
        assert_eq!(e.take(), "one");
        e.insert("two");
        e.take();
        e.insert("draft");
        e.history_up();
        assert_eq!(e.text(), "two");
        e.history_up();
        assert_eq!(e.text(), "one");
        e.history_up();
        assert_eq!(e.text(), "one");
        e.history_down();
        e.history_down();
        assert_eq!(e.text(), "draft");
    }
}
