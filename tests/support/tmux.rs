//! A terminal for tests: a tmux pane on a private tmux server (`tmux -L`), driven with
//! send-keys and read with capture-pane.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a wait for the screen lasts before the test fails.
pub const SCREEN_WAIT: Duration = Duration::from_secs(30);

/// A private tmux server, killed on drop.
pub struct Tmux {
    socket: String,
}

/// One pane running a command (its session is named after it).
pub struct Pane<'a> {
    tmux: &'a Tmux,
    /// The session's name.
    pub name: String,
}

fn check(out: Output, what: &str) -> String {
    assert!(out.status.success(), "tmux {what}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Tmux {
    /// A new tmux server (fails the test with a clear message when tmux is missing).
    pub fn new(name: &str) -> Tmux {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tmux is needed by this test: install it (`.ci/run` does)"
        );
        Tmux {
            socket: format!("smc-test-{name}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-u", "-f", "/dev/null", "-L", &self.socket])
            .args(args)
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap()
    }

    /// Starts `command` (run by sh, in `dir`) in a `width` x `height` pane. The
    /// pane stays after the command ends, showing `EXITED <code>`.
    pub fn pane(&self, name: &str, dir: &Path, command: &str, width: u16, height: u16) -> Pane<'_> {
        let script = format!(
            "cd '{}' && {command}; echo EXITED $?; sleep 600",
            dir.display()
        );
        check(
            self.run(&[
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                "sh",
                "-c",
                &script,
            ]),
            "new-session",
        );
        Pane {
            tmux: self,
            name: name.to_owned(),
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

impl Pane<'_> {
    /// The screen as text.
    pub fn screen(&self) -> String {
        check(
            self.tmux.run(&["capture-pane", "-p", "-t", &self.name]),
            "capture-pane",
        )
    }

    /// The screen with its colour and style escape sequences.
    pub fn screen_with_styles(&self) -> String {
        check(
            self.tmux
                .run(&["capture-pane", "-p", "-e", "-t", &self.name]),
            "capture-pane -e",
        )
    }

    /// Sends keys by tmux name ("Enter", "PageUp", "M-2", "C-c"...).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.name.as_str()];
        args.extend_from_slice(keys);
        check(self.tmux.run(&args), "send-keys");
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        check(
            self.tmux.run(&["send-keys", "-t", &self.name, "-l", text]),
            "send-keys -l",
        );
        self.keys(&["Enter"]);
    }

    /// Pastes `text` as a terminal paste (bracketed, as terminals do).
    pub fn paste(&self, text: &str) {
        check(self.tmux.run(&["set-buffer", "--", text]), "set-buffer");
        check(
            self.tmux
                .run(&["paste-buffer", "-p", "-d", "-t", &self.name]),
            "paste-buffer",
        );
    }

    /// Resizes the pane's window.
    pub fn resize(&self, width: u16, height: u16) {
        check(
            self.tmux.run(&[
                "resize-window",
                "-t",
                &self.name,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ]),
            "resize-window",
        );
    }

    /// Waits until the screen satisfies `ok`, and returns it.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{}: never showed {what}; the screen:\n{screen}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen contains `text`.
    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}
