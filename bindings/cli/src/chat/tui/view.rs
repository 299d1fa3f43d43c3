//! Drawing the full-screen client: the room list, the conversation (wrapped by display
//! width, scrolled from the bottom), the status line, the input line and prompts.

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use super::super::worker::Link;
use super::app::{App, Prompt};
use super::buffer::{Entry, EntryKind};

/// Colours given to names: the same name has the same colour on every screen.
const PALETTE: [Color; 12] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Red,
    Color::LightCyan,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightRed,
];

/// The colour of `name` (FNV-1a of its bytes: stable across runs and machines).
pub(crate) fn user_color(name: &str) -> Color {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    PALETTE[(h % PALETTE.len() as u32) as usize]
}

struct Styles {
    colors: bool,
}

impl Styles {
    fn fg(&self, c: Color) -> Style {
        if self.colors {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    fn dim(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }
    fn name(&self, name: &str) -> Style {
        self.fg(user_color(name)).add_modifier(Modifier::BOLD)
    }
    fn warning(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
}

/// Draws everything.
pub(crate) fn draw(frame: &mut Frame, app: &mut App) {
    let styles = Styles { colors: app.colors };
    let area = frame.area();
    let [main, status, input] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let list_width = app
        .buffers
        .iter()
        .map(|b| b.room.width() + 9)
        .max()
        .unwrap_or(10)
        .clamp(12, 26) as u16;
    let conversation = if area.width >= 50 {
        let [list, conversation] =
            Layout::horizontal([Constraint::Length(list_width), Constraint::Min(10)]).areas(main);
        draw_rooms(frame, app, &styles, list);
        conversation
    } else {
        main
    };
    draw_conversation(frame, app, &styles, conversation);
    draw_status(frame, app, &styles, status);
    draw_input(frame, app, input);
    if let Some(prompt) = &app.prompt {
        draw_prompt(frame, prompt, &styles, area);
    }
}

fn draw_rooms(frame: &mut Frame, app: &App, styles: &Styles, area: Rect) {
    let lines: Vec<Line> = app
        .buffers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let name = if b.is_status() {
                "smc".to_owned()
            } else {
                format!("#{}", b.room)
            };
            let mut spans = vec![Span::styled(format!("{:>2} ", i + 1), styles.dim())];
            let mut style = Style::default();
            if !b.is_status() && !b.joined {
                style = style.add_modifier(Modifier::DIM | Modifier::CROSSED_OUT);
            }
            if b.unread > 0 {
                style = style.add_modifier(Modifier::BOLD);
            }
            spans.push(Span::styled(name, style));
            if b.unread > 0 {
                spans.push(Span::styled(
                    format!(" ({})", b.unread),
                    styles.fg(Color::LightYellow).add_modifier(Modifier::BOLD),
                ));
            }
            let line = Line::from(spans);
            if i == app.current {
                line.style(Style::default().add_modifier(Modifier::REVERSED))
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::RIGHT).title("Rooms")),
        area,
    );
}

/// Rows of `text` wrapped to `width` after a prefix of `indent` columns: words stay
/// whole when they fit, graphemes are never split, newlines start new rows.
pub(crate) fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut rows = Vec::new();
    for paragraph in text.split('\n') {
        let mut row = String::new();
        let mut used = 0;
        let mut width = if rows.is_empty() { first } else { rest };
        for word in paragraph.split_word_bounds() {
            let w = word.width();
            if used + w <= width {
                row.push_str(word);
                used += w;
                continue;
            }
            if w <= width.min(rest) && used > 0 {
                rows.push(std::mem::take(&mut row));
                width = rest;
                if word.trim().is_empty() {
                    used = 0;
                    continue;
                }
                row.push_str(word);
                used = w;
                continue;
            }
            for g in word.graphemes(true) {
                let gw = g.width();
                if used + gw > width && used > 0 {
                    rows.push(std::mem::take(&mut row));
                    width = rest;
                    used = 0;
                }
                row.push_str(g);
                used += gw;
            }
        }
        rows.push(row);
    }
    rows
}

fn entry_rows<'a>(entry: &'a Entry, width: usize, styles: &Styles) -> Vec<Line<'a>> {
    let time = entry.time.format("%H:%M").to_string();
    let (head, text, text_style): (Vec<Span>, &str, Style) = match &entry.kind {
        EntryKind::Message { seq, sender, text } => {
            let mut head = vec![
                Span::styled(format!("{time} "), styles.dim()),
                Span::styled("<", styles.dim()),
                Span::styled(sender.clone(), styles.name(sender)),
                Span::styled("> ", styles.dim()),
            ];
            if seq.is_none() {
                head.push(Span::styled("(sending) ", styles.dim()));
            }
            // One's own messages are in one's own colour like everyone's; pending ones dim.
            let style = if seq.is_none() {
                styles.dim()
            } else {
                Style::default()
            };
            (head, text.as_str(), style)
        }
        EntryKind::Notice(text) => (
            vec![Span::styled(format!("{time} -- "), styles.dim())],
            text.as_str(),
            styles.fg(Color::Gray),
        ),
        EntryKind::Warning(text) => (
            vec![Span::styled(format!("{time} !! "), styles.warning())],
            text.as_str(),
            styles.warning(),
        ),
    };
    let head_width: usize = head.iter().map(|s| s.content.width()).sum();
    let indent = if head_width * 2 < width {
        head_width
    } else {
        2
    };
    let rows = wrap(
        text,
        width.saturating_sub(head_width).max(1),
        width.saturating_sub(indent).max(1),
    );
    let mut lines = Vec::with_capacity(rows.len());
    let mut head = Some(head);
    for row in rows {
        let mut spans = match head.take() {
            Some(h) => h,
            None => vec![Span::raw(" ".repeat(indent))],
        };
        spans.push(Span::styled(row, text_style));
        lines.push(Line::from(spans));
    }
    lines
}

fn draw_conversation(frame: &mut Frame, app: &mut App, styles: &Styles, area: Rect) {
    let width = usize::from(area.width.max(1));
    let height = usize::from(area.height);
    app.page = height;
    let buffer = &app.buffers[app.current];
    // Only the rows that can be seen are built, from the bottom up.
    let want = height + buffer.scroll;
    let mut rows: Vec<Line> = Vec::new();
    for entry in buffer.entries.iter().rev() {
        let mut lines = entry_rows(entry, width, styles);
        lines.reverse();
        rows.extend(lines);
        if rows.len() >= want {
            break;
        }
    }
    let max_scroll = rows.len().saturating_sub(height);
    let scroll = buffer.scroll.min(max_scroll);
    let shown: Vec<Line> = rows
        .into_iter()
        .skip(scroll)
        .take(height)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    // New lines sit at the bottom, as in every chat.
    let pad = height.saturating_sub(shown.len());
    let mut lines = vec![Line::raw(""); pad];
    lines.extend(shown);
    frame.render_widget(Paragraph::new(lines), area);
    if scroll > 0 {
        let tag = format!(" ↓ {scroll} more rows (PageDown) ");
        let w = tag.width() as u16;
        if area.width > w {
            let at = Rect::new(area.x + area.width - w, area.y + area.height - 1, w, 1);
            frame.render_widget(
                Paragraph::new(Span::styled(
                    tag,
                    styles.warning().add_modifier(Modifier::REVERSED),
                )),
                at,
            );
        }
    }
    app.buffers[app.current].scroll = scroll;
}

fn draw_status(frame: &mut Frame, app: &App, styles: &Styles, area: Rect) {
    let bar = Style::default().add_modifier(Modifier::REVERSED);
    let (link, style) = match &app.link {
        _ if app.stopped => ("stopped".to_owned(), styles.fg(Color::Red)),
        Link::Connected => ("connected".to_owned(), styles.fg(Color::Green)),
        Link::Connecting(1) => ("connecting".to_owned(), styles.fg(Color::Yellow)),
        Link::Connecting(n) => (format!("reconnecting (try {n})"), styles.fg(Color::Yellow)),
        Link::Waiting { retry_at, .. } => (
            format!(
                "disconnected, retry in {}s",
                retry_at.saturating_duration_since(Instant::now()).as_secs() + 1
            ),
            styles.fg(Color::Red),
        ),
    };
    // Most important first: the line is cut on the right in narrow windows.
    let mut spans = vec![
        Span::styled(format!(" {link} "), style.add_modifier(Modifier::BOLD)),
        Span::raw("│ "),
    ];
    let b = app.shown();
    if b.is_status() {
        spans.push(Span::raw("status "));
    } else if !b.joined {
        spans.push(Span::raw(format!("#{}: not a member ", b.room)));
    } else {
        spans.push(Span::raw(format!("#{} ", b.room)));
        spans.push(Span::styled("encrypted (MLS) ", styles.fg(Color::Green)));
        let others: Vec<_> = b.members.iter().filter(|m| m.name != app.user).collect();
        let changed: Vec<&str> = others
            .iter()
            .filter(|m| m.changed)
            .map(|m| m.name.as_str())
            .collect();
        let unverified = others.iter().filter(|m| !m.verified).count();
        let invited = b.members.iter().filter(|m| m.invited).count();
        if !b.members.is_empty() {
            let joined = b.members.len() - invited;
            let plural = if joined == 1 { "" } else { "s" };
            spans.push(Span::raw(format!("│ {joined} member{plural} ")));
        }
        if invited > 0 {
            spans.push(Span::raw(format!("│ {invited} invited ")));
        }
        if !changed.is_empty() {
            spans.push(Span::styled(
                format!("│ KEY CHANGED: {} ", changed.join(", ")),
                styles.fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
        } else if !others.is_empty() && unverified == 0 {
            spans.push(Span::styled("│ all verified ", styles.fg(Color::Green)));
        } else if unverified > 0 {
            spans.push(Span::styled(
                format!("│ {unverified} unverified "),
                styles.fg(Color::Yellow),
            ));
        }
    }
    if let Some((what, done, total)) = &app.progress {
        spans.push(Span::styled(
            format!("│ {what} {} ", crate::chat::files::bar(*done, *total, 20)),
            styles.fg(Color::Cyan),
        ));
    }
    spans.push(Span::raw(format!("│ {}@{} │ /help", app.user, app.address)));
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}

fn draw_input(frame: &mut Frame, app: &App, area: Rect) {
    let b = app.shown();
    let prompt = if b.is_status() {
        "[smc] ".to_owned()
    } else {
        format!("[#{}] ", b.room)
    };
    let prompt_width = prompt.width();
    let width = usize::from(area.width);
    let text = app.editor.text();
    let cursor = app.editor.cursor_column();
    let room = width.saturating_sub(prompt_width + 1).max(1);
    // Horizontal scrolling: the cursor always stays visible.
    let skip_cols = cursor.saturating_sub(room);
    let mut skipped = 0;
    let mut shown = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = g.width();
        if skipped < skip_cols {
            skipped += w;
            continue;
        }
        if used + w > room {
            break;
        }
        shown.push_str(g);
        used += w;
    }
    let line = Line::from(vec![
        Span::styled(prompt, Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(shown),
    ]);
    frame.render_widget(Paragraph::new(line), area);
    let x = area.x as usize + prompt_width + cursor.saturating_sub(skipped.max(skip_cols));
    frame.set_cursor_position(Position::new(
        x.min(usize::from(area.x + area.width.saturating_sub(1))) as u16,
        area.y,
    ));
}

fn draw_prompt(frame: &mut Frame, prompt: &Prompt, styles: &Styles, area: Rect) {
    let (title, lines): (String, Vec<Line>) = match prompt {
        Prompt::Paste { text } => {
            let n = text.lines().count();
            let mut lines = vec![Line::raw(format!("You pasted {n} lines:"))];
            for l in text.lines().take(5) {
                lines.push(Line::styled(format!("  {l}"), styles.dim()));
            }
            if n > 5 {
                lines.push(Line::styled(
                    format!("  ... ({} more)", n - 5),
                    styles.dim(),
                ));
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw(
                "Send them as one message? [y/Enter] send  [any other key] cancel",
            ));
            (" Paste ".into(), lines)
        }
        Prompt::Invitation { room, by } => (
            " Invitation ".into(),
            vec![
                Line::raw(format!("{by} invites you to #{room}.")),
                Line::raw(""),
                Line::raw("Nothing of the room reaches you before you accept."),
                Line::raw(""),
                Line::raw("Accept? [y] join  [n/Esc] decline"),
            ],
        ),
        Prompt::Safety {
            user,
            number,
            verified,
        } => {
            let groups: Vec<&str> = number.split_whitespace().collect();
            let mut lines = vec![
                Line::raw(format!("Your safety number with {user}:")),
                Line::raw(""),
            ];
            for chunk in groups.chunks(4) {
                lines.push(Line::styled(
                    format!("    {}", chunk.join(" ")),
                    Style::default().add_modifier(Modifier::BOLD),
                ));
            }
            lines.push(Line::raw(""));
            if *verified {
                lines.push(Line::styled(
                    format!("{user}'s key is verified. [any key] close"),
                    styles.fg(Color::Green),
                ));
            } else {
                lines.push(Line::raw(format!(
                    "Compare it with the number {user} sees (in person, or on a call)."
                )));
                lines.push(Line::raw(
                    "Do they match? [y] mark verified  [any other key] not now",
                ));
            }
            (format!(" Verify {user} "), lines)
        }
    };
    let width = lines
        .iter()
        .map(|l| l.width())
        .max()
        .unwrap_or(20)
        .saturating_add(4)
        .min(usize::from(area.width)) as u16;
    let height = (lines.len() as u16 + 2).min(area.height);
    let at = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, at);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        at,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_respects_display_width_and_words() {
        assert_eq!(
            wrap("bonjour tout le monde", 10, 10),
            ["bonjour ", "tout le ", "monde"]
        );
        // Four emoji of width 2 in rows of 5 columns: two per row.
        assert_eq!(wrap("🙂🙂🙂🙂", 5, 5), ["🙂🙂", "🙂🙂"]);
        assert_eq!(wrap("a\nb", 10, 10), ["a", "b"]);
        for row in wrap("Ça va très bien, et toi ? 🙂 日本語のテキスト", 7, 7) {
            assert!(row.width() <= 7, "{row:?}");
        }
    }

    #[test]
    fn colours_are_stable_per_name() {
        assert_eq!(user_color("alice"), user_color("alice"));
        let distinct: std::collections::HashSet<_> = ["alice", "bob", "carol", "dave", "eve"]
            .iter()
            .map(|n| user_color(n))
            .collect();
        assert!(distinct.len() >= 3);
    }
}
