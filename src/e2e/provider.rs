//! The openmls provider: RustCrypto primitives and the SQLite storage provider, both
//! borrowed for the duration of one operation (inside one database transaction).

use openmls_rust_crypto::RustCrypto;
use openmls_sqlite_storage::{Connection, SqliteStorageProvider};

use super::storage_codec::StorageCodec;
use openmls_traits::OpenMlsProvider;

/// The MLS storage on the client's state database.
pub type Storage<'a> = SqliteStorageProvider<StorageCodec, &'a Connection>;

/// An openmls provider over one connection (normally inside a transaction, so that the
/// group state and the application's own rows change together or not at all).
pub struct Provider<'a> {
    crypto: &'a RustCrypto,
    storage: Storage<'a>,
}

impl<'a> Provider<'a> {
    /// Borrows `crypto` and `conn`.
    pub fn new(crypto: &'a RustCrypto, conn: &'a Connection) -> Self {
        Provider {
            crypto,
            storage: SqliteStorageProvider::new(conn),
        }
    }
}

impl<'a> OpenMlsProvider for Provider<'a> {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = Storage<'a>;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        self.crypto
    }
}

/// Creates openmls's tables (idempotent).
pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    SqliteStorageProvider::<StorageCodec, &mut Connection>::new(conn)
        .run_migrations()
        .map_err(|e| e.to_string())
}
