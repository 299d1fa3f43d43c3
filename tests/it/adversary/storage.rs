//! Finding 10: the server's database files are private whatever the umask and
//! whatever existed before.

use std::os::unix::fs::PermissionsExt;

use super::{pair, start};
use crate::support::tempdir;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn the_data_directory_and_database_files_are_private() {
    let dir = tempdir("adv_storage");
    let data = dir.join("server");
    // An operator's directory, world-readable, with a world-readable database in it.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("smc.db"), b"").unwrap();
    std::fs::set_permissions(data.join("smc.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = start(&data, Default::default());
    let (mut alice, _bob) = pair(&dir, &server, "r");
    alice.send("r", "written to the WAL").unwrap();
    assert_eq!(mode(&data), 0o700);
    for name in ["smc.db", "smc.db-wal", "smc.db-shm", "server.key"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    drop(server);

    // A shared directory such as /tmp (sticky, world-writable) is refused.
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let refused = smc::Server::start(smc::ServerConfig::new(&shared, "127.0.0.1:0"));
    assert!(refused.is_err());
    assert_eq!(mode(&shared), 0o1777, "never changed");
}
