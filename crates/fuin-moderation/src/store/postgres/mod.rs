//! The PostgreSQL store: several service instances sharing one database.
//!
//! # Connections
//!
//! A store keeps a small pool of connections ([`DEFAULT_POOL_SIZE`], or
//! [`PgStore::connect_with_pool_size`]); each call takes one for its
//! duration. The tables (all prefixed `moderation_`, so that they cannot
//! clash with the relay's when one database holds both) are created on
//! connect when missing, under an advisory lock so that instances starting
//! together do not race; a schema version newer than this service's is
//! refused. Commits are durable when they return: if the server's sessions
//! default to `synchronous_commit = off`, the store's run with `on`.
//!
//! # Transactions and the audit chain
//!
//! Every mutating method is one transaction (`READ COMMITTED`) whose first
//! statement locks the chain's head, the one row of `moderation_audit_head`
//! (`SELECT ... FOR UPDATE`). Appending then reads the last record (as
//! committed by whoever held the lock before), writes the next with `seq`
//! one above, and moves the head. Writes of every instance on the database
//! therefore run one at a time, in one order: the chain never forks, the
//! duplicate counting of two openings never interleaves, and since every
//! writer takes that lock first no two of them can deadlock. `seq` is the
//! primary key anyway.
//!
//! The decisions the trait leaves open are the SQLite store's (see
//! [`crate::store::sqlite`]).
//!
//! Backend failures are `StoreError::Backend("<operation>")`, naming what
//! failed, never the data; a connection string (which may hold a password)
//! is never shown, not even by `Debug`.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{Config, NoTls, Row};

#[cfg(doc)]
use crate::store::ModerationStore;
use crate::store::StoreError;
use crate::store::rows::{Columns, backend};

mod accounts;
mod audit;
mod cases;
mod schema;

pub use schema::SCHEMA_VERSION;

/// Connections a store keeps at most, by default.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for a free connection of the pool.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// The PostgreSQL [`ModerationStore`]. See the [module documentation](self).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never shown.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// A column of `row`, or `Backend(op)` if it does not read as `T`.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    column: usize,
    op: &str,
) -> Result<T, StoreError> {
    row.try_get(column).map_err(|_| backend(op))
}

impl PgStore {
    /// Connects to the database `conninfo` names (libpq `key=value` form or
    /// a `postgresql://` URL) with a pool of [`DEFAULT_POOL_SIZE`]
    /// connections, creating the tables when missing.
    pub async fn connect(conninfo: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(conninfo, DEFAULT_POOL_SIZE).await
    }

    /// [`PgStore::connect`] with a pool of up to `pool_size` connections
    /// (at least one).
    pub async fn connect_with_pool_size(
        conninfo: &str,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        let mut config =
            Config::from_str(conninfo).map_err(|_| backend("connect: the connection string"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("fuin-moderation");
        }
        // A commit must be durable when it returns (a recorded opening
        // survives a crash): a server whose sessions default to
        // `synchronous_commit = off` gets `on` for ours; a stronger setting
        // (`remote_apply`, ...) is kept.
        {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|_| backend("connect: the database refused or is unreachable"))?;
            let connection = tokio::spawn(connection);
            let setting = show_synchronous_commit(&client).await;
            drop(client);
            // The connection ends once its client is gone.
            let _ = connection.await;
            if setting? == "off" {
                let options = format!(
                    "{} -c synchronous_commit=on",
                    config.get_options().unwrap_or_default()
                );
                config.options(options.trim_start());
            }
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|_| backend("connect: pool"))?;
        let mut client = pool
            .get()
            .await
            .map_err(|_| backend("connect: the database refused or is unreachable"))?;
        if show_synchronous_commit(&client).await? == "off" {
            return Err(backend("connect: synchronous_commit stayed off"));
        }
        schema::prepare(&mut client).await?;
        drop(client);
        Ok(Self { pool })
    }

    /// What a commit of this store waits for: its sessions'
    /// `synchronous_commit` (never `off`).
    pub async fn synchronous_commit(&self) -> Result<String, StoreError> {
        let client = self.client("synchronous_commit").await?;
        show_synchronous_commit(&client).await
    }

    async fn client(&self, op: &str) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|_| backend(&format!("{op}: no connection")))
    }
}

/// The session's `synchronous_commit`.
async fn show_synchronous_commit(client: &tokio_postgres::Client) -> Result<String, StoreError> {
    let row = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .map_err(|_| backend("connect: read synchronous_commit"))?;
    get(&row, 0, "connect: read synchronous_commit")
}

/// A row as the shared codec reads it: a column that does not read as
/// asked fails `op`.
struct PgRow<'r> {
    row: &'r Row,
    op: &'r str,
}

impl Columns for PgRow<'_> {
    fn text(&self, column: usize) -> Result<String, StoreError> {
        get(self.row, column, self.op)
    }
    fn opt_text(&self, column: usize) -> Result<Option<String>, StoreError> {
        get(self.row, column, self.op)
    }
    fn int(&self, column: usize) -> Result<i64, StoreError> {
        get(self.row, column, self.op)
    }
    fn opt_int(&self, column: usize) -> Result<Option<i64>, StoreError> {
        get(self.row, column, self.op)
    }
    fn bytes(&self, column: usize) -> Result<Vec<u8>, StoreError> {
        get(self.row, column, self.op)
    }
    fn opt_bytes(&self, column: usize) -> Result<Option<Vec<u8>>, StoreError> {
        get(self.row, column, self.op)
    }
    fn flag(&self, column: usize) -> Result<bool, StoreError> {
        get(self.row, column, self.op)
    }
}

/// Reads each of `rows` with `read`.
fn read_rows<T>(
    rows: &[Row],
    op: &str,
    read: impl Fn(&PgRow<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|row| read(&PgRow { row, op })).collect()
}

/// Commits `tx`.
async fn commit(tx: deadpool_postgres::Transaction<'_>, op: &str) -> Result<(), StoreError> {
    tx.commit().await.map_err(|_| backend(op))
}

store_by_inherent_methods!(PgStore);
