//! The full-screen client: ratatui draws [`app::App`] with [`view::draw`]; crossterm
//! reads keys, bracketed pastes and resizes; the [`super::worker`] does the network.

pub(crate) mod app;
pub(crate) mod buffer;
pub(crate) mod editor;
pub(crate) mod view;

use std::sync::mpsc::TryRecvError;
use std::time::Duration;

use ratatui::crossterm::event::{
    self, DisableBracketedPaste, EnableBracketedPaste, Event, KeyEventKind,
};
use ratatui::crossterm::execute;
use ratatui::DefaultTerminal;

use smc::Client;

use super::super::{logging, CliError};
use super::worker::{Request, Worker};
use app::App;

/// How often the screen is refreshed when nothing happens (the reconnection countdown).
const TICK: Duration = Duration::from_millis(100);

/// Runs the full-screen client until `/quit` or Ctrl-C.
pub(crate) fn run(client: Client, address: String, room: Option<String>) -> Result<(), CliError> {
    let user = client.user().to_owned();
    let fingerprints = vec![
        format!("your transport key: {}", client.fingerprint()),
        format!("your signing key:   {}", client.signing_fingerprint()),
    ];
    let worker = Worker::spawn(client, address.clone());
    let mut app = App::new(
        &user,
        &address,
        fingerprints,
        worker.requests.clone(),
        logging::colors_allowed(),
    );
    // Raw mode, the alternate screen, and a panic hook that gives the terminal back.
    let mut terminal = ratatui::try_init()?;
    let _ = execute!(std::io::stdout(), EnableBracketedPaste);
    let result = event_loop(&mut terminal, &mut app, &worker, room);
    let _ = execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
    let _ = worker.requests.send(Request::Quit);
    worker.stop();
    result
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    worker: &Worker,
    mut room: Option<String>,
) -> Result<(), CliError> {
    loop {
        loop {
            match worker.updates.try_recv() {
                Ok(update) => app.on_update(update),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    app.stopped = true;
                    break;
                }
            }
        }
        // The room asked for on the command line, once it is known.
        if let Some(r) = &room {
            if let Some(i) = app.buffers.iter().position(|b| &b.room == r && b.joined) {
                app.switch(i);
                room = None;
            }
        }
        terminal.draw(|frame| {
            view::draw(frame, app);
            crate::terminal_safe::scrub(frame.buffer_mut());
        })?;
        if app.quit {
            return Ok(());
        }
        if event::poll(TICK)? {
            // Everything already typed is handled before the next draw.
            loop {
                match event::read()? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => app.on_key(key),
                    Event::Paste(text) => app.on_paste(text),
                    Event::Resize(..) => terminal.autoresize()?,
                    _ => {}
                }
                if app.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
    }
}
