//! The openmls provider: RustCrypto primitives and the SQLite storage provider, both
//! borrowed for the duration of one operation (inside one database transaction).

use openmls_rust_crypto::RustCrypto;
use openmls_sqlite_storage::{Codec, Connection, SqliteStorageProvider};
use openmls_traits::OpenMlsProvider;

/// The codec of the MLS storage: JSON, as openmls's own SQLite tests use (every openmls
/// type round-trips through it).
#[derive(Debug, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    type Error = serde_json::Error;

    fn to_vec<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Self::Error> {
        serde_json::to_vec(value)
    }

    fn from_slice<T: serde::de::DeserializeOwned>(slice: &[u8]) -> Result<T, Self::Error> {
        serde_json::from_slice(slice)
    }
}

/// The MLS storage on the client's state database.
pub type Storage<'a> = SqliteStorageProvider<JsonCodec, &'a Connection>;

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
    SqliteStorageProvider::<JsonCodec, &mut Connection>::new(conn)
        .run_migrations()
        .map_err(|e| e.to_string())
}
