//! What the moderation service keeps: moderator accounts and their
//! sessions, cases (one per opened report) with their messages, notes and
//! actions. Report content (the reason, message bodies, file names, notes'
//! text, attachment bytes) is held here only as [`Sealed`] bytes: the
//! [`crate::vault`] seals it before it is stored and opens it for display.

use std::fmt;

/// Bytes sealed by the [`crate::vault`]: report content at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// The longest account name, in bytes.
pub const MAX_ACCOUNT_NAME_LEN: usize = 64;

/// The actor of the audit records the service makes by itself (pulling
/// and opening reports). No account can have this name: account names are
/// `[a-z0-9._-]`, and this one starts with `@`.
pub const SERVICE_ACTOR: &str = "@service";

/// A moderator account's name: 1 to 64 bytes of `a-z`, `0-9`, `.`, `_`,
/// `-`. The audit log names accounts by it, so it is never free text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountName(String);

impl AccountName {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<Self, InvalidAccountName> {
        let ok = !name.is_empty()
            && name.len() <= MAX_ACCOUNT_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidAccountName)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An account name that is not 1 to 64 bytes of `a-z0-9._-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidAccountName;

impl fmt::Display for InvalidAccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an account name is 1 to 64 characters of a-z, 0-9, '.', '_' and '-'")
    }
}

impl std::error::Error for InvalidAccountName {}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Works cases: views, assigns to self, notes, dismisses, warns.
    Moderator,
    /// Also suspends accounts and removes devices, and resolves any case.
    Lead,
}

impl Role {
    /// As stored and shown: `moderator` or `lead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Moderator => "moderator",
            Self::Lead => "lead",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "moderator" => Some(Self::Moderator),
            "lead" => Some(Self::Lead),
            _ => None,
        }
    }
}

/// A moderator account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name.
    pub name: AccountName,
    /// Its role.
    pub role: Role,
    /// Its password's Argon2id hash, as a PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// Failed logins since the last successful one.
    pub failed_logins: u32,
    /// Until when logins are refused after too many failures (ms since the
    /// Unix epoch), if they are.
    pub locked_until_ms: Option<u64>,
    /// When it was made.
    pub created_at_ms: u64,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until_ms", &self.locked_until_ms)
            .finish_non_exhaustive()
    }
}

/// When to lock an account after failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures in a row that lock the account.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub lock_ms: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_ms: 15 * 60 * 1000,
        }
    }
}

/// A login session. The browser holds the token (a cookie); the store
/// holds only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session token.
    pub token_hash: [u8; 32],
    /// Whose session it is.
    pub account: AccountName,
    /// When it was made.
    pub created_at_ms: u64,
    /// When it ends.
    pub expires_at_ms: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("account", &self.account)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// A case's id: the relay's id of the report it was opened from, as 32 hex
/// digits (a report opens into exactly one case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseId(pub String);

impl CaseId {
    /// The case of the report with this relay id.
    pub fn of_report(report_id: &fuin_wire::relay::ReportId) -> Self {
        Self(hex::encode(report_id.0))
    }

    /// Checks a case id given in a URL: 32 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_owned()))
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseStatus {
    /// Opened, nobody works on it yet.
    New,
    /// A moderator works on it.
    Assigned,
    /// Closed with an outcome.
    Resolved,
}

impl CaseStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Assigned => "assigned",
            Self::Resolved => "resolved",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "new" => Some(Self::New),
            "assigned" => Some(Self::Assigned),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// What kind of conversation was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConversationKind {
    /// A 1:1 conversation.
    Direct,
    /// A group.
    Group,
}

impl ConversationKind {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "direct" => Some(Self::Direct),
            "group" => Some(Self::Group),
            _ => None,
        }
    }
}

/// A moderation action, carried out through the relay's admin API (or,
/// for dismiss and warn, by the service alone).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// Nothing wrong: the case is closed.
    Dismiss,
    /// The reported user is warned (an end-to-end message from
    /// moderation's account); the case is closed.
    Warn,
    /// The reported user's account is suspended at the relay (lead only).
    SuspendAccount,
    /// One of the reported user's devices is removed at the relay (lead
    /// only): the device id.
    RemoveDevice(u32),
}

impl ActionKind {
    /// As stored and in audit records: `dismiss`, `warn`, `suspend_account`,
    /// `remove_device`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Dismiss => "dismiss",
            Self::Warn => "warn",
            Self::SuspendAccount => "suspend_account",
            Self::RemoveDevice(_) => "remove_device",
        }
    }

    /// Whether only a lead may take it.
    pub fn needs_lead(&self) -> bool {
        matches!(self, Self::SuspendAccount | Self::RemoveDevice(_))
    }
}

/// One case, as the queue lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSummary {
    /// Its id.
    pub id: CaseId,
    /// Where it stands.
    pub status: CaseStatus,
    /// Who works on it.
    pub assignee: Option<AccountName>,
    /// The reporting device, as the relay authenticated it (`user/device`).
    pub reporter: String,
    /// The reported user: for a 1:1 report the other user; for a group
    /// report the sender of the most verified messages (`None` if no
    /// message verified and none names another user).
    pub reported_user: Option<String>,
    /// 1:1 or group.
    pub kind: ConversationKind,
    /// When the relay received the report (its clock).
    pub received_at_ms: u64,
    /// When the service opened it.
    pub opened_at_ms: u64,
    /// Messages verified and counted for the first time.
    pub verified: u32,
    /// Verified messages counted before (in this or another report).
    pub duplicates: u32,
    /// Messages that failed a check.
    pub rejected: u32,
    /// The outcome, once resolved (an [`ActionKind::code`]).
    pub outcome: Option<String>,
}

/// A reported attachment, as re-fetched from the relay and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseAttachment {
    /// Whether the fetched ciphertext is what the sender committed to and
    /// it opened: `verified`, or the code of why not.
    pub status: String,
    /// Its media type as the sender declared it (not content: a type).
    pub media_type: String,
    /// Its file name (content: sealed).
    pub file_name: Sealed,
    /// Its plaintext, when it was verified (sealed).
    pub bytes: Option<Sealed>,
    /// Its size in bytes.
    pub size: u64,
}

/// One reported message of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseMessage {
    /// Its place in the report, from 0.
    pub index: u32,
    /// The sending device (`user/device`).
    pub sender: String,
    /// The receiving device (`user/device`).
    pub recipient: String,
    /// The content type's name (`text`, `attachment`, `typed`, ...).
    pub content_type: String,
    /// What it says, as the console shows it (sealed).
    pub text: Sealed,
    /// Its franking commitment, 64 hex digits: the same message reported
    /// twice has the same one.
    pub commitment: String,
    /// When the relay accepted it (its clock).
    pub server_time_ms: u64,
    /// `verified`, `duplicate`, or `rejected`.
    pub verdict: String,
    /// For a rejected message, the rejection's code
    /// (`fuin_report::Rejection::code`); empty otherwise.
    pub rejection: String,
    /// The attachment it shares, once re-fetched.
    pub attachment: Option<CaseAttachment>,
}

/// A note a moderator wrote on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Who wrote it.
    pub author: AccountName,
    /// When.
    pub at_ms: u64,
    /// What it says (sealed: it may quote the report).
    pub text: Sealed,
}

/// An action taken on a case, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRecord {
    /// Who took it.
    pub by: AccountName,
    /// When.
    pub at_ms: u64,
    /// Which ([`ActionKind::code`]).
    pub action: String,
    /// What it was aimed at (`user` or `user/device`).
    pub target: String,
    /// What came of it: `done`, or the code of the failure.
    pub result: String,
}

/// A case with everything the case page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseDetail {
    /// What the queue shows.
    pub summary: CaseSummary,
    /// The reporter's reason (sealed).
    pub reason: Sealed,
    /// The reported group's id (hex), for a group report.
    pub group: Option<String>,
    /// When the reporter's device made the report (its clock, unchecked).
    pub created_at_ms: u64,
    /// Whether the report was sealed with the hybrid (post-quantum) KEM.
    pub post_quantum: bool,
    /// The messages, in the report's order.
    pub messages: Vec<CaseMessage>,
    /// The notes, oldest first.
    pub notes: Vec<Note>,
    /// The actions, oldest first.
    pub actions: Vec<ActionRecord>,
    /// Whether the outcome was sent to the reporter, and when.
    pub feedback_sent_at_ms: Option<u64>,
}

/// A newly opened report, to store as a case. The store decides which
/// verified messages are duplicates (see [`crate::store::ModerationStore::open_case`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    /// Its id (from the report id).
    pub id: CaseId,
    /// The reporting device (`user/device`).
    pub reporter: String,
    /// The reporting user (the counting key's first half).
    pub reporter_user: String,
    /// The reported user.
    pub reported_user: Option<String>,
    /// 1:1 or group.
    pub kind: ConversationKind,
    /// The reported group's id (hex).
    pub group: Option<String>,
    /// The reason (sealed).
    pub reason: Sealed,
    /// When the reporter's device made it.
    pub created_at_ms: u64,
    /// When the relay received it.
    pub received_at_ms: u64,
    /// When the service opened it.
    pub opened_at_ms: u64,
    /// Whether it was sealed with the hybrid KEM.
    pub post_quantum: bool,
    /// The messages; a message verified here has `verdict == "verified"`
    /// and becomes `duplicate` in the store if `(reporter_user,
    /// commitment)` was counted before.
    pub messages: Vec<CaseMessage>,
}

/// Which cases the queue lists. Every field narrows; `Default` lists all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only cases in this state.
    pub status: Option<CaseStatus>,
    /// Only cases assigned to this account.
    pub assignee: Option<AccountName>,
    /// Only cases about this reported user.
    pub reported_user: Option<String>,
    /// Only this kind of conversation.
    pub kind: Option<ConversationKind>,
    /// At most this many (newest received first); 0 for the store's default (200).
    pub limit: u32,
}
