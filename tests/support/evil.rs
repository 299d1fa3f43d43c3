//! A malicious server: the real server with its database edited while it is stopped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use smc::Server;

/// A server whose database the test can edit between runs.
pub struct Evil {
    data: PathBuf,
    pub address: String,
    server: Option<Server>,
}

impl Evil {
    pub fn start(data: &Path) -> Evil {
        let server = super::server(data);
        Evil {
            data: data.to_owned(),
            address: server.address().to_string(),
            server: Some(server),
        }
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    /// Stops the server, runs `edit` on its database, starts it again on the same
    /// address.
    pub fn tamper(&mut self, edit: impl FnOnce(&Connection)) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        let conn = Connection::open(self.data.join("smc.db")).unwrap();
        edit(&conn);
        drop(conn);
        self.server = Some(super::server_at(&self.data, &self.address));
    }
}
