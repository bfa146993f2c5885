//! What the relay's SQLite database holds, read directly from its file
//! (read-only) as an outsider with a copy of it would: how many rows each
//! table has, for the mailbox each envelope's id, recipient and size, and
//! for the report inbox each report's id, reporter and size. It never
//! selects an envelope's record or a report's bytes.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::output::Failure;

/// One table and its row count.
pub struct Table {
    pub name: String,
    pub rows: u64,
}

/// One envelope waiting in the mailbox, as far as the demo shows it.
pub struct Envelope {
    /// The relay's id for it, in hex.
    pub id: String,
    /// The device it waits for.
    pub recipient: String,
    /// The size of its sealed record.
    pub bytes: u64,
}

/// One sealed report waiting in the inbox.
pub struct Report {
    /// The relay's id for it, in hex.
    pub id: String,
    /// The device that submitted it.
    pub reporter: String,
    /// The size of the sealed report.
    pub bytes: u64,
}

/// The database at one moment.
pub struct DatabaseView {
    pub tables: Vec<Table>,
    pub mailbox: Vec<Envelope>,
    pub reports: Vec<Report>,
}

/// The tables in the order the view lists them, with what each holds; any
/// other table follows, unexplained.
const KNOWN_TABLES: [(&str, &str); 12] = [
    (
        "accounts",
        "each user's device list, signed by the user's account key",
    ),
    (
        "devices",
        "registered devices: address and public identity key",
    ),
    (
        "signed_prekeys",
        "each device's current signed prekey (public)",
    ),
    (
        "one_time_prekeys",
        "one-time prekeys (public), each handed out once",
    ),
    ("challenges", "login challenges not yet used or expired"),
    ("tokens", "login tokens, as hashes"),
    ("mailbox", "sealed envelopes waiting for their device"),
    (
        "blobs",
        "sealed attachments' ids, sizes and expiry (the bytes are files in the blob directory)",
    ),
    (
        "blob_capabilities",
        "read capabilities of attachments, as hashes",
    ),
    ("reports", "sealed reports waiting for moderation"),
    ("invites", "unspent invite codes, as hashes"),
    (
        "link_messages",
        "sealed link requests and grants, each taken once",
    ),
];

fn failed(err: rusqlite::Error) -> Failure {
    Failure::new(
        "relay_database",
        format!("cannot read the demo relay's database: {err}"),
        "the demo's temporary directory must stay readable while it runs",
    )
}

/// Reads the database at `path`, read-only.
pub fn read(path: &Path) -> Result<DatabaseView, Failure> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    let mut names: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()
        })
        .map_err(failed)?;
    let rank = |name: &str| {
        KNOWN_TABLES
            .iter()
            .position(|(known, _)| *known == name)
            .unwrap_or(KNOWN_TABLES.len())
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let mut tables = Vec::new();
    for name in names {
        // The name comes from the schema; quoted as an identifier all the same.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let rows: i64 = db
            .query_row(&format!("SELECT count(*) FROM {quoted}"), [], |row| {
                row.get(0)
            })
            .map_err(failed)?;
        tables.push(Table {
            name,
            rows: u64::try_from(rows).unwrap_or(0),
        });
    }
    let mailbox = db
        .prepare(
            "SELECT hex(message_id), user, device, length(record) FROM mailbox
             ORDER BY user, device, seq",
        )
        .and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    let user: String = row.get(1)?;
                    let device: i64 = row.get(2)?;
                    let bytes: i64 = row.get(3)?;
                    Ok(Envelope {
                        id: row.get::<_, String>(0)?.to_lowercase(),
                        recipient: format!("{user}/{device}"),
                        bytes: u64::try_from(bytes).unwrap_or(0),
                    })
                })?
                .collect::<Result<_, _>>()
        })
        .map_err(failed)?;
    let reports = db
        .prepare("SELECT hex(report_id), user, device, length(report) FROM reports ORDER BY received_at, report_id")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    let user: String = row.get(1)?;
                    let device: i64 = row.get(2)?;
                    let bytes: i64 = row.get(3)?;
                    Ok(Report {
                        id: row.get::<_, String>(0)?.to_lowercase(),
                        reporter: format!("{user}/{device}"),
                        bytes: u64::try_from(bytes).unwrap_or(0),
                    })
                })?
                .collect::<Result<_, _>>()
        })
        .map_err(failed)?;
    Ok(DatabaseView {
        tables,
        mailbox,
        reports,
    })
}

/// One sealed message of a link exchange waiting at the relay.
pub struct LinkMessage {
    /// The rendezvous channel (derived from the code), in hex.
    pub channel: String,
    /// `request` or `grant`.
    pub slot: &'static str,
    /// The size of the sealed message.
    pub bytes: u64,
}

/// The link exchange messages the relay holds (channel, slot and size:
/// the bytes themselves are sealed under keys from the link code).
pub fn link_messages(path: &Path) -> Result<Vec<LinkMessage>, Failure> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    db.prepare(
        "SELECT hex(channel), slot, length(message) FROM link_messages ORDER BY channel, slot",
    )
    .and_then(|mut statement| {
        statement
            .query_map([], |row| {
                let bytes: i64 = row.get(2)?;
                let slot: i64 = row.get(1)?;
                Ok(LinkMessage {
                    channel: row.get::<_, String>(0)?.to_lowercase(),
                    slot: if slot == 0 { "request" } else { "grant" },
                    bytes: u64::try_from(bytes).unwrap_or(0),
                })
            })?
            .collect::<Result<_, _>>()
    })
    .map_err(failed)
}

impl DatabaseView {
    /// The mailbox's rows as lines.
    pub fn mailbox_lines(&self) -> Vec<String> {
        self.mailbox
            .iter()
            .map(|envelope| {
                format!(
                    "id {}…  for {:<8}  {} bytes, sealed",
                    envelope.id.get(..16).unwrap_or(&envelope.id),
                    envelope.recipient,
                    envelope.bytes
                )
            })
            .collect()
    }

    /// Every table as a line: name, rows, what it holds.
    pub fn table_lines(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|table| {
                let holds = KNOWN_TABLES
                    .iter()
                    .find(|(known, _)| *known == table.name)
                    .map_or("", |(_, holds)| holds);
                format!("{:<17} {:>4} rows  {holds}", table.name, table.rows)
            })
            .collect()
    }

    /// The view as JSON.
    pub fn json(&self) -> Value {
        json!({
            "tables": self.tables.iter().map(|table| json!({
                "name": table.name,
                "rows": table.rows,
            })).collect::<Vec<_>>(),
            "mailbox": self.mailbox.iter().map(|envelope| json!({
                "id": envelope.id,
                "recipient": envelope.recipient,
                "bytes": envelope.bytes,
            })).collect::<Vec<_>>(),
            "reports": self.reports.iter().map(|report| json!({
                "id": report.id,
                "reporter": report.reporter,
                "bytes": report.bytes,
            })).collect::<Vec<_>>(),
        })
    }
}
