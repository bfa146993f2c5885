//! The service's audit log: one record for every opening, view and action,
//! hash-chained (`spec/report.md` §13.3).
//!
//! The records live in the service's database, next to the cases, and each
//! is appended in the same transaction as what it records (a case is never
//! stored without the record of its opening, a suspension never recorded
//! without its record). Every record names its actor by account name
//! ([`crate::model::AccountName`]) or [`crate::model::SERVICE_ACTOR`] for
//! what the service does by itself: never free text. Records hold no report
//! content: `detail` is a small JSON object of codes, counts and ids made by
//! the service.
//!
//! `hash = SHA-256(framed("fuin/v1/moderation-audit", BE64(seq),
//! BE64(time_ms), actor, action, case or [], detail, prev))`, with fuin's
//! framing (each field a 4-byte big-endian length and its bytes). The store
//! appends with `seq` one above the last and `prev` its hash, inside its
//! transaction, so two service instances on one database never fork the
//! chain (the second waits or retries).

use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::sha256;

/// What a record records. The code is what is stored and hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// An account was made (actor: whoever made it, or `@service` from the
    /// command line; detail: `{"account":..,"role":..}`).
    AccountCreated,
    /// A moderator logged in.
    Login,
    /// A login with a wrong password, for an existing account (detail:
    /// `{"failures":n}`). Unknown names are not recorded: they would be
    /// free text chosen by whoever typed them.
    LoginFailed,
    /// Too many failures: the account is locked (detail: `{"until_ms":..}`).
    LockedOut,
    /// A moderator logged out.
    Logout,
    /// The service opened a report into a case (detail: the verdict counts).
    ReportOpened,
    /// The service could not open a report (detail: `{"reason": code}`).
    ReportRefused,
    /// A moderator viewed a case page (its content was shown).
    CaseViewed,
    /// A moderator viewed a reported attachment (detail: `{"message":i}`).
    AttachmentViewed,
    /// A case was assigned (detail: `{"assignee":..}`).
    CaseAssigned,
    /// A note was added (detail: its length only).
    NoteAdded,
    /// An action was taken (detail: `{"action":..,"target":..,"result":..}`).
    ActionTaken,
    /// A case was resolved (detail: `{"outcome":..}`).
    CaseResolved,
    /// The outcome was sent to the reporter end to end.
    FeedbackSent,
    /// A moderator without the role tried an action (detail: `{"action":..}`).
    Forbidden,
}

impl AuditAction {
    /// Every action, for parsing.
    pub const ALL: [Self; 15] = [
        Self::AccountCreated,
        Self::Login,
        Self::LoginFailed,
        Self::LockedOut,
        Self::Logout,
        Self::ReportOpened,
        Self::ReportRefused,
        Self::CaseViewed,
        Self::AttachmentViewed,
        Self::CaseAssigned,
        Self::NoteAdded,
        Self::ActionTaken,
        Self::CaseResolved,
        Self::FeedbackSent,
        Self::Forbidden,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::AccountCreated => "account_created",
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::LockedOut => "locked_out",
            Self::Logout => "logout",
            Self::ReportOpened => "report_opened",
            Self::ReportRefused => "report_refused",
            Self::CaseViewed => "case_viewed",
            Self::AttachmentViewed => "attachment_viewed",
            Self::CaseAssigned => "case_assigned",
            Self::NoteAdded => "note_added",
            Self::ActionTaken => "action_taken",
            Self::CaseResolved => "case_resolved",
            Self::FeedbackSent => "feedback_sent",
            Self::Forbidden => "forbidden",
        }
    }

    /// The action whose code is `code`.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.code() == code)
    }
}

/// What a caller hands the store to append: the store gives it its `seq`,
/// `prev` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// When (ms since the Unix epoch, the service's clock).
    pub time_ms: u64,
    /// An account name, or [`crate::model::SERVICE_ACTOR`].
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// The case it concerns, if any.
    pub case: Option<crate::model::CaseId>,
    /// A small JSON object of codes, counts and ids (never content).
    pub detail: String,
}

/// One record of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its number, from 1.
    pub seq: u64,
    /// When.
    pub time_ms: u64,
    /// Who.
    pub actor: String,
    /// What (an [`AuditAction::code`]; kept as text so that a record of a
    /// newer service still verifies).
    pub action: String,
    /// The case (32 hex digits), or empty.
    pub case: String,
    /// The detail, as stored.
    pub detail: String,
    /// The previous record's hash (zeros for the first).
    pub prev: [u8; 32],
    /// This record's hash.
    pub hash: [u8; 32],
}

/// The hash of a record with these fields.
pub fn record_hash(
    seq: u64,
    time_ms: u64,
    actor: &str,
    action: &str,
    case: &str,
    detail: &str,
    prev: &[u8; 32],
) -> [u8; 32] {
    let framed = Framer::new(Label::ModerationAuditRecord.as_bytes())
        .u64(seq)
        .u64(time_ms)
        .field(actor.as_bytes())
        .field(action.as_bytes())
        .field(case.as_bytes())
        .field(detail.as_bytes())
        .field(prev)
        .finish();
    sha256(&[&framed])
}

impl NewAuditRecord {
    /// The record this becomes after the record `prev` (`None` for the first).
    pub fn chain_after(&self, prev: Option<&AuditRecord>) -> AuditRecord {
        let (seq, prev_hash) = prev.map_or((1, [0; 32]), |p| (p.seq + 1, p.hash));
        let case = self.case.as_ref().map(|c| c.0.clone()).unwrap_or_default();
        let action = self.action.code().to_owned();
        let hash = record_hash(
            seq,
            self.time_ms,
            &self.actor,
            &action,
            &case,
            &self.detail,
            &prev_hash,
        );
        AuditRecord {
            seq,
            time_ms: self.time_ms,
            actor: self.actor.clone(),
            action,
            case,
            detail: self.detail.clone(),
            prev: prev_hash,
            hash,
        }
    }
}

/// Where the chain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// Number of records.
    pub records: u64,
    /// The last record's hash (zeros for none).
    pub hash: [u8; 32],
}

impl std::fmt::Display for AuditHead {
    /// `RECORDS:HASH`: the number in decimal, the hash in 64 lowercase hex
    /// digits (`spec/report.md` §13.3).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.records, hex::encode(self.hash))
    }
}

/// The first bad record of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// Its place in the list, from 1.
    pub position: u64,
    /// What is wrong: `seq` (a record removed, inserted or moved), `prev`
    /// (not the hash of the record before), or `hash` (edited).
    pub why: &'static str,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.why {
            "seq" => "is out of sequence (a record was removed, inserted or moved)",
            "prev" => "does not continue the record before it",
            _ => "does not match its hash (it was edited)",
        };
        write!(f, "audit record {} {what}", self.position)
    }
}

impl std::error::Error for ChainBreak {}

/// Checks a whole chain, oldest first, and gives its head.
pub fn verify_chain(records: &[AuditRecord]) -> Result<AuditHead, ChainBreak> {
    let mut prev = [0u8; 32];
    for (place, record) in (1u64..).zip(records) {
        if record.seq != place {
            return Err(ChainBreak {
                position: place,
                why: "seq",
            });
        }
        if !bool_ct_eq(&record.prev, &prev) {
            return Err(ChainBreak {
                position: place,
                why: "prev",
            });
        }
        let hash = record_hash(
            record.seq,
            record.time_ms,
            &record.actor,
            &record.action,
            &record.case,
            &record.detail,
            &record.prev,
        );
        if !bool_ct_eq(&hash, &record.hash) {
            return Err(ChainBreak {
                position: place,
                why: "hash",
            });
        }
        prev = record.hash;
    }
    Ok(AuditHead {
        records: records.len() as u64,
        hash: prev,
    })
}

/// Compares two hashes in constant time.
fn bool_ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let new = NewAuditRecord {
                time_ms: 1_000 + i as u64,
                actor: "mo".into(),
                action: AuditAction::CaseViewed,
                case: Some(crate::model::CaseId("00".repeat(16))),
                detail: "{}".into(),
            };
            let record = new.chain_after(out.last());
            out.push(record);
        }
        out
    }

    #[test]
    fn a_chain_verifies_and_any_edit_removal_or_move_is_named() {
        let records = chain(4);
        let head = verify_chain(&records).map_err(|e| e.to_string());
        assert_eq!(head.map(|h| h.records), Ok(4));
        let empty = verify_chain(&[]).map(|h| h.to_string());
        assert_eq!(empty, Ok(format!("0:{}", "0".repeat(64))));

        let mut edited = records.clone();
        edited[2].actor = "someone-else".into();
        assert_eq!(
            verify_chain(&edited),
            Err(ChainBreak {
                position: 3,
                why: "hash"
            })
        );

        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(verify_chain(&removed).map_err(|e| e.position), Err(2));

        let mut moved = records.clone();
        moved.swap(1, 2);
        assert_eq!(verify_chain(&moved).map_err(|e| e.position), Err(2));

        let mut rehashed = records;
        rehashed[1].detail = "{\"x\":1}".into();
        let r = &rehashed[1];
        rehashed[1].hash = record_hash(
            r.seq, r.time_ms, &r.actor, &r.action, &r.case, &r.detail, &r.prev,
        );
        assert_eq!(
            verify_chain(&rehashed),
            Err(ChainBreak {
                position: 3,
                why: "prev"
            })
        );
    }

    #[test]
    fn every_action_code_parses_back() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.code()), Some(action));
        }
        assert_eq!(AuditAction::parse("nope"), None);
    }
}
