//! Why a store could not be opened, in terms an operator can act on.

use std::fmt;

/// Why opening (SQLite) or connecting to (PostgreSQL) the database failed.
/// The text names the cause and, where there is one, the fix; never data,
/// passwords or connection strings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenFailure {
    /// The database's pages fail SQLite's integrity check.
    Corrupt,
    /// The file is not a SQLite database (or its header is damaged).
    NotADatabase,
    /// The file or its directory cannot be written (read-only file, file
    /// system or directory).
    ReadOnly,
    /// The relay's user may not open the file or its directory.
    PermissionDenied,
    /// The database's directory does not exist.
    MissingDirectory,
    /// What should be the database's directory is not a directory.
    NotADirectory,
    /// The database path is a directory.
    IsADirectory,
    /// Another process holds a lock on the database.
    Locked,
    /// The database file (or its `-wal`/`-shm`) may be read by others than
    /// its owner; `mode` is its permission bits.
    OthersMayRead {
        /// Which file: the database, `-wal` or `-shm`.
        file: &'static str,
        /// Its permission bits.
        mode: u32,
    },
    /// The database was written by a newer relay.
    NewerSchema,
    /// The database holds tables, but not a fuin relay's.
    ForeignDatabase,
    /// The database's schema version is known but tables it must have are
    /// missing.
    MissingTables,
    /// The PostgreSQL server cannot be reached.
    CannotConnect,
    /// The PostgreSQL server refused the credentials.
    AuthenticationFailed,
    /// The PostgreSQL server has no database of that name.
    NoSuchDatabase,
    /// Something else; the text names the step that failed.
    Other(String),
}

impl fmt::Display for OpenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt => f.write_str(
                "the database is corrupt (its integrity check failed): restore it from a backup",
            ),
            Self::NotADatabase => {
                f.write_str("the file is not a SQLite database, or its header is damaged")
            }
            Self::ReadOnly => f.write_str(
                "the database is read-only: the relay must be able to write the file and \
                 create its -wal and -shm files in its directory",
            ),
            Self::PermissionDenied => {
                f.write_str("permission denied: the relay's user may not open the file")
            }
            Self::MissingDirectory => f.write_str("its directory does not exist"),
            Self::NotADirectory => f.write_str("its directory is not a directory"),
            Self::IsADirectory => f.write_str("it is a directory, not a database file"),
            Self::Locked => f.write_str("the database is locked by another process"),
            Self::OthersMayRead { file, mode } => write!(
                f,
                "the {file} has mode {mode:04o}: others than its owner may read it (chmod 600)"
            ),
            Self::NewerSchema => f.write_str("the database is from a newer relay"),
            Self::ForeignDatabase => {
                f.write_str("the database holds tables that are not a fuin relay's")
            }
            Self::MissingTables => f.write_str(
                "tables the database's schema version must have are missing: it was changed \
                 outside the relay",
            ),
            Self::CannotConnect => f.write_str("cannot connect to the PostgreSQL server"),
            Self::AuthenticationFailed => {
                f.write_str("the PostgreSQL server refused the credentials")
            }
            Self::NoSuchDatabase => f.write_str("the PostgreSQL server has no such database"),
            Self::Other(step) => write!(f, "storage failed: {step}"),
        }
    }
}
