//! The moderation audit log: one record per report opening, append-only and
//! hash-chained (`spec/report.md` §7).
//!
//! Each record says who opened which report, when, and what came of it, and
//! lists the messages it counted (reporter user and commitment), which is
//! also how repeats are recognised later: the log is the memory of what was
//! counted. Every record holds the hash of the one before it, and its own
//! hash covers all of its fields, so [`verify_log`] finds the first record
//! that was edited, removed, inserted or moved. What a hash chain cannot show
//! by itself is the loss of the last records: compare the head
//! ([`AuditHead`]) with a copy kept elsewhere for that.
//!
//! The file is JSON lines, one record a line. This module is the crate's only
//! I/O, and only the file of the log is touched: opened for appending, each
//! record written whole and synced to disk before the opening it records
//! returns.
//!
//! Several moderators may append to one log at once (two terminals, two
//! machines on a shared disk that honours locks). Each append takes an
//! exclusive advisory lock on the file (`File::lock`), reads the records
//! others added since this log last looked (checking that they continue the
//! chain), and writes its record after them, so the chain never forks. An
//! opening holds the lock from its duplicate check to its record
//! ([`AuditLog::hold`]), so a message two moderators open at once is counted
//! by one of them only.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::sha256;
use fuin_wire::relay::ReportId;
use fuin_wire::{DeviceAddress, DeviceId, FrankingCommitment, UserId};
use serde::{Deserialize, Serialize};

use crate::ReportError;

/// The longest moderator name, in bytes.
pub const MAX_MODERATOR_NAME_LEN: usize = 64;

/// A message counted once: the reporting user and the message's franking
/// commitment. The commitment names one message (its sender, conversation,
/// id and content) whichever of the reporter's devices received it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountedMessage {
    /// The user who reported it.
    pub reporter: UserId<'static>,
    /// The message's commitment.
    pub commitment: FrankingCommitment,
}

/// What an opening came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    /// The report opened; its messages were checked.
    Opened {
        /// Messages verified and counted for the first time.
        verified: u32,
        /// Messages verified but counted before.
        duplicates: u32,
        /// Messages that failed a check.
        rejected: u32,
    },
    /// The report was refused as a whole (the code of the error).
    Refused {
        /// A stable code, such as `decryption_failed`.
        reason: String,
    },
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its number, from 1.
    pub seq: u64,
    /// When the report was opened (ms since the Unix epoch, the tool's clock).
    pub time_ms: u64,
    /// Who opened it.
    pub moderator: String,
    /// The relay's id of the report.
    pub report_id: ReportId,
    /// The reporting device, as the relay authenticated it.
    pub reporter: DeviceAddress<'static>,
    /// What came of it.
    pub outcome: AuditOutcome,
    /// The messages counted by this opening.
    pub counted: Vec<CountedMessage>,
    /// The hash of the record before (32 zero bytes for the first).
    pub prev: [u8; 32],
    /// This record's hash.
    pub hash: [u8; 32],
}

/// Where the chain stands: how many records, and the last one's hash (32
/// zero bytes for an empty log). Keep a copy elsewhere to detect the loss of
/// later records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// Number of records.
    pub records: u64,
    /// The last record's hash.
    pub hash: [u8; 32],
}

impl AuditHead {
    const EMPTY: Self = Self {
        records: 0,
        hash: [0; 32],
    };
}

/// What an opening hands to the log.
pub(crate) struct AuditEntry<'a> {
    pub report_id: ReportId,
    pub reporter: &'a DeviceAddress<'a>,
    pub outcome: AuditOutcome,
    pub counted: Vec<CountedMessage>,
}

enum Sink {
    File {
        file: File,
        path: PathBuf,
        /// How many bytes of the file this log has read (and checked).
        read_len: u64,
        /// Whether this log holds the file's lock.
        held: bool,
    },
    Memory(Vec<u8>),
}

/// An open audit log, ready to append to.
pub struct AuditLog {
    sink: Sink,
    head: AuditHead,
    counted: HashSet<CountedMessage>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match &self.sink {
            Sink::File { path, .. } => path.display().to_string(),
            Sink::Memory(_) => "memory".to_owned(),
        };
        f.debug_struct("AuditLog")
            .field("at", &place)
            .field("records", &self.head.records)
            .finish_non_exhaustive()
    }
}

/// Hex of a short byte string (`hex::encode` goes a char at a time; a log
/// record has one commitment per counted message).
fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    match hex::encode_to_slice(bytes, &mut out) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn io_error(path: &Path, what: &str, err: &std::io::Error) -> ReportError {
    ReportError::Audit(format!("{what} {}: {err}", path.display()))
}

impl AuditLog {
    /// Opens the log at `path`, creating it (mode 0600) if it does not
    /// exist. An existing log is verified first: a broken chain is
    /// [`ReportError::AuditBroken`] and nothing can be appended until it is
    /// dealt with.
    pub fn open(path: &Path) -> Result<Self, ReportError> {
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(path)
            .map_err(|err| io_error(path, "cannot open the audit log", &err))?;
        let mut log = Self {
            sink: Sink::File {
                file,
                path: path.to_owned(),
                read_len: 0,
                held: false,
            },
            head: AuditHead::EMPTY,
            counted: HashSet::new(),
        };
        // Read (and verify) the whole log under the lock, so that no
        // half-written record of another moderator is read.
        drop(log.hold()?);
        Ok(log)
    }

    /// Takes the log's exclusive lock (waiting for another moderator's
    /// append to finish) and reads the records appended since this log last
    /// looked, until the returned guard is dropped. Appends made while it
    /// is held continue the chain as it stands in the file, and
    /// [`AuditLog::was_counted`] sees every other moderator's counts. A
    /// log kept in memory has no lock. Holding it again is a no-op.
    pub(crate) fn hold(&mut self) -> Result<HeldLog<'_>, ReportError> {
        if let Sink::File {
            file, path, held, ..
        } = &mut self.sink
            && !*held
        {
            file.lock()
                .map_err(|err| io_error(path, "cannot lock the audit log", &err))?;
            *held = true;
            let guard = HeldLog { log: self };
            guard.log.catch_up()?;
            return Ok(guard);
        }
        Ok(HeldLog { log: self })
    }

    /// Reads and checks the records another moderator appended after the
    /// ones this log has read (with the lock held).
    fn catch_up(&mut self) -> Result<(), ReportError> {
        let Sink::File {
            file,
            path,
            read_len,
            ..
        } = &mut self.sink
        else {
            return Ok(());
        };
        let len = file
            .metadata()
            .map_err(|err| io_error(path, "cannot read the audit log", &err))?
            .len();
        if len < *read_len {
            return Err(ReportError::AuditBroken {
                record: self.head.records,
                reason: "the log is shorter than when it was read (records were removed)",
            });
        }
        if len == *read_len {
            return Ok(());
        }
        let mut added = Vec::new();
        file.seek(SeekFrom::Start(*read_len))
            .and_then(|_| file.read_to_end(&mut added))
            .map_err(|err| io_error(path, "cannot read the audit log", &err))?;
        let records = verify_after(&added, self.head)?;
        *read_len += added.len() as u64;
        if let Some(last) = records.last() {
            self.head = AuditHead {
                records: last.seq,
                hash: last.hash,
            };
        }
        self.counted
            .extend(records.into_iter().flat_map(|record| record.counted));
        Ok(())
    }

    /// Lets go of the lock taken by [`AuditLog::hold`].
    fn release(&mut self) {
        if let Sink::File { file, held, .. } = &mut self.sink
            && *held
        {
            // Closing the file would release it too; an error here leaves
            // nothing to undo.
            let _ = file.unlock();
            *held = false;
        }
    }

    /// A log kept in memory (for tests and benchmarks).
    pub fn in_memory() -> Self {
        Self {
            sink: Sink::Memory(Vec::new()),
            head: AuditHead::EMPTY,
            counted: HashSet::new(),
        }
    }

    /// The bytes a log kept in memory holds (empty for a file's log).
    pub fn memory(&self) -> &[u8] {
        match &self.sink {
            Sink::Memory(bytes) => bytes,
            Sink::File { .. } => &[],
        }
    }

    /// Where the chain stands.
    pub fn head(&self) -> AuditHead {
        self.head
    }

    /// Whether `message` was counted by an earlier opening.
    pub(crate) fn was_counted(&self, message: &CountedMessage) -> bool {
        self.counted.contains(message)
    }

    /// Appends the record of one opening, synced to disk before it returns:
    /// under the log's lock, after any record another moderator appended.
    pub(crate) fn append(
        &mut self,
        moderator: &str,
        entry: AuditEntry<'_>,
        time_ms: u64,
    ) -> Result<AuditRecord, ReportError> {
        check_moderator(moderator)?;
        self.hold()?.write_record(moderator, entry, time_ms)
    }

    /// Writes the next record (the lock is held).
    fn write_record(
        &mut self,
        moderator: &str,
        entry: AuditEntry<'_>,
        time_ms: u64,
    ) -> Result<AuditRecord, ReportError> {
        let mut record = AuditRecord {
            seq: self.head.records + 1,
            time_ms,
            moderator: moderator.to_owned(),
            report_id: entry.report_id,
            reporter: entry.reporter.clone().into_owned(),
            outcome: entry.outcome,
            counted: entry.counted,
            prev: self.head.hash,
            hash: [0; 32],
        };
        record.hash = record.compute_hash();
        let mut line = record.to_line();
        line.push('\n');
        match &mut self.sink {
            Sink::Memory(bytes) => bytes.extend_from_slice(line.as_bytes()),
            Sink::File {
                file,
                path,
                read_len,
                ..
            } => {
                file.write_all(line.as_bytes())
                    .and_then(|()| file.sync_data())
                    .map_err(|err| io_error(path, "cannot write to the audit log", &err))?;
                *read_len += line.len() as u64;
            }
        }
        self.head = AuditHead {
            records: record.seq,
            hash: record.hash,
        };
        self.counted.extend(record.counted.iter().cloned());
        Ok(record)
    }
}

/// An [`AuditLog`] whose file lock is held; dropping it lets go.
pub(crate) struct HeldLog<'a> {
    log: &'a mut AuditLog,
}

impl std::ops::Deref for HeldLog<'_> {
    type Target = AuditLog;

    fn deref(&self) -> &AuditLog {
        self.log
    }
}

impl std::ops::DerefMut for HeldLog<'_> {
    fn deref_mut(&mut self) -> &mut AuditLog {
        self.log
    }
}

impl Drop for HeldLog<'_> {
    fn drop(&mut self) {
        self.log.release();
    }
}

/// Checks a moderator's name: 1 to [`MAX_MODERATOR_NAME_LEN`] bytes, no
/// control characters.
pub(crate) fn check_moderator(name: &str) -> Result<(), ReportError> {
    if name.trim().is_empty()
        || name.len() > MAX_MODERATOR_NAME_LEN
        || name.chars().any(char::is_control)
    {
        return Err(ReportError::InvalidModeratorName);
    }
    Ok(())
}

/// A record as one JSON line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordLine {
    seq: u64,
    time_ms: u64,
    moderator: String,
    report_id: String,
    reporter: String,
    reporter_device: u32,
    outcome: String,
    verified: u32,
    duplicates: u32,
    rejected: u32,
    refusal: Option<String>,
    counted: Vec<CountedLine>,
    prev: String,
    hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountedLine {
    reporter: String,
    commitment: String,
}

const OPENED: &str = "opened";
const REFUSED: &str = "refused";

impl AuditRecord {
    /// `SHA256(framed("fuin/v1/audit-record", ...every field..., prev))`.
    fn compute_hash(&self) -> [u8; 32] {
        let (outcome, verified, duplicates, rejected, refusal) = match &self.outcome {
            AuditOutcome::Opened {
                verified,
                duplicates,
                rejected,
            } => (OPENED, *verified, *duplicates, *rejected, ""),
            AuditOutcome::Refused { reason } => (REFUSED, 0, 0, 0, reason.as_str()),
        };
        let mut framer = Framer::new(Label::AuditRecord.as_bytes());
        framer
            .u64(self.seq)
            .u64(self.time_ms)
            .field(self.moderator.as_bytes())
            .field(self.report_id.as_bytes())
            .address(&self.reporter)
            .field(outcome.as_bytes())
            .u32(verified)
            .u32(duplicates)
            .u32(rejected)
            .field(refusal.as_bytes())
            .u32(u32::try_from(self.counted.len()).unwrap_or(u32::MAX));
        for counted in &self.counted {
            framer
                .field(counted.reporter.as_str().as_bytes())
                .field(counted.commitment.as_bytes());
        }
        framer.field(&self.prev);
        sha256(&[&framer.finish()])
    }

    fn to_line(&self) -> String {
        let (outcome, verified, duplicates, rejected, refusal) = match &self.outcome {
            AuditOutcome::Opened {
                verified,
                duplicates,
                rejected,
            } => (OPENED, *verified, *duplicates, *rejected, None),
            AuditOutcome::Refused { reason } => (REFUSED, 0, 0, 0, Some(reason.clone())),
        };
        let line = RecordLine {
            seq: self.seq,
            time_ms: self.time_ms,
            moderator: self.moderator.clone(),
            report_id: to_hex(&self.report_id.0),
            reporter: self.reporter.user.as_str().to_owned(),
            reporter_device: self.reporter.device.0,
            outcome: outcome.to_owned(),
            verified,
            duplicates,
            rejected,
            refusal,
            counted: self
                .counted
                .iter()
                .map(|counted| CountedLine {
                    reporter: counted.reporter.as_str().to_owned(),
                    commitment: to_hex(&counted.commitment.0),
                })
                .collect(),
            prev: to_hex(&self.prev),
            hash: to_hex(&self.hash),
        };
        // A struct of strings and numbers always serializes.
        serde_json::to_string(&line).unwrap_or_default()
    }

    fn from_line(text: &str) -> Result<Self, &'static str> {
        let line: RecordLine = serde_json::from_str(text).map_err(|_| "it is not a record")?;
        let hex32 = |text: &str| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text, &mut out).map(|()| out)
        };
        let mut report_id = [0u8; 16];
        hex::decode_to_slice(&line.report_id, &mut report_id)
            .map_err(|_| "its report id is not 32 hex digits")?;
        let reporter = UserId::new(line.reporter).map_err(|_| "its reporter is not a user id")?;
        check_moderator(&line.moderator).map_err(|_| "its moderator name is invalid")?;
        let outcome = match (line.outcome.as_str(), line.refusal) {
            (OPENED, None) => AuditOutcome::Opened {
                verified: line.verified,
                duplicates: line.duplicates,
                rejected: line.rejected,
            },
            (REFUSED, Some(reason))
                if line.verified == 0 && line.duplicates == 0 && line.rejected == 0 =>
            {
                AuditOutcome::Refused { reason }
            }
            _ => return Err("its outcome is not one a record can have"),
        };
        let counted = line
            .counted
            .into_iter()
            .map(|counted| {
                Ok(CountedMessage {
                    reporter: UserId::new(counted.reporter)
                        .map_err(|_| "a counted reporter is not a user id")?,
                    commitment: FrankingCommitment(
                        hex32(&counted.commitment)
                            .map_err(|_| "a counted commitment is not 64 hex digits")?,
                    ),
                })
            })
            .collect::<Result<Vec<_>, &'static str>>()?;
        Ok(Self {
            seq: line.seq,
            time_ms: line.time_ms,
            moderator: line.moderator,
            report_id: ReportId(report_id),
            reporter: DeviceAddress::new(reporter, DeviceId(line.reporter_device)),
            outcome,
            counted,
            prev: hex32(&line.prev).map_err(|_| "its previous hash is not 64 hex digits")?,
            hash: hex32(&line.hash).map_err(|_| "its hash is not 64 hex digits")?,
        })
    }
}

/// Walks the chain of a log's bytes and returns its records. The first
/// record that is not where it should be is [`ReportError::AuditBroken`]
/// with its line number (from 1): a line that is not a record, a sequence
/// number other than its line number (a removed, inserted or moved record),
/// a previous hash other than the record before's (the same), or a hash
/// other than the record's contents give (an edited record).
pub fn verify_log(bytes: &[u8]) -> Result<Vec<AuditRecord>, ReportError> {
    verify_after(bytes, AuditHead::EMPTY)
}

/// [`verify_log`] of records that continue a chain standing at `head`.
fn verify_after(bytes: &[u8], head: AuditHead) -> Result<Vec<AuditRecord>, ReportError> {
    let mut records = Vec::new();
    let mut prev = head.hash;
    let mut rest = bytes;
    let mut line_number = head.records;
    while !rest.is_empty() {
        line_number += 1;
        let broken = |reason| ReportError::AuditBroken {
            record: line_number,
            reason,
        };
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(broken("the record is incomplete (no line end)"));
        };
        let (line, after) = rest.split_at(end);
        rest = &after[1..];
        let text = std::str::from_utf8(line).map_err(|_| broken("it is not text"))?;
        let record = AuditRecord::from_line(text).map_err(broken)?;
        if record.seq != line_number {
            return Err(broken(
                "its number is out of order (a record was removed, inserted or moved)",
            ));
        }
        if record.prev != prev {
            return Err(broken("it does not follow the record before it"));
        }
        if record.compute_hash() != record.hash {
            return Err(broken(
                "its hash does not match its contents (it was edited)",
            ));
        }
        prev = record.hash;
        records.push(record);
    }
    Ok(records)
}

/// [`verify_log`] of the file at `path`; also returns the head.
pub fn verify_file(path: &Path) -> Result<(Vec<AuditRecord>, AuditHead), ReportError> {
    let bytes =
        std::fs::read(path).map_err(|err| io_error(path, "cannot read the audit log", &err))?;
    let records = verify_log(&bytes)?;
    let head = records.last().map_or(AuditHead::EMPTY, |record| AuditHead {
        records: record.seq,
        hash: record.hash,
    });
    Ok((records, head))
}

/// Renders records back to the bytes of a log (for tests that tamper with a
/// log and for the fuzz target's round trip).
pub fn render_log(records: &[AuditRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        out.extend_from_slice(record.to_line().as_bytes());
        out.push(b'\n');
    }
    out
}

impl AuditRecord {
    /// Recomputes this record's hash from its fields (for tests that forge
    /// a record and re-hash it, as an attacker with write access would).
    pub fn rehash(&mut self) {
        self.hash = self.compute_hash();
    }
}
