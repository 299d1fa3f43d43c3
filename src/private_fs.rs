//! Directories and files that hold keys or private data: 0700 and 0600 whatever existed
//! before. A directory is created 0700; one that already exists and lets others in is
//! tightened (with a warning in the log), except a shared sticky directory such as
//! `/tmp`, which is never changed and is refused. A file is created 0600, and an
//! existing one readable by others is tightened.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its missing parents) 0700, or tightens it to 0700 if it exists
/// and group or others have any access to it.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    tighten(dir, 0o700)
}

/// Opens `path` for appending, created 0600, tightened to 0600 if it existed with more.
pub(crate) fn append_private(path: &Path) -> io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    tighten(path, 0o600)?;
    Ok(file)
}

/// Takes group and other permissions away from `path` (to `mode`) if it has any;
/// a missing path is fine. A sticky directory (shared, such as `/tmp`) is refused
/// instead of changed.
pub(crate) fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let found = meta.permissions().mode();
    if found & 0o077 == 0 {
        return Ok(());
    }
    if meta.is_dir() && found & 0o1000 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a shared (sticky) directory cannot hold private data: use a directory of its own",
        ));
    }
    tracing::warn!(
        path = %path.display(),
        mode = format!("{:o}", found & 0o777),
        "readable by other users: tightened to {mode:o}"
    );
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn existing_directories_and_files_are_tightened_and_sticky_ones_refused() {
        let base = std::env::temp_dir().join(format!("smc_private_fs_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let open = base.join("open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let fresh = base.join("a/b");
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        let file = open.join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(append_private(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        drop(append_private(&open.join("new")).unwrap());
        assert_eq!(mode(&open.join("new")), 0o600);
        let sticky = base.join("sticky");
        std::fs::create_dir_all(&sticky).unwrap();
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(private_dir(&sticky).is_err());
        assert_eq!(mode(&sticky), 0o1777, "a shared directory is never changed");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
