//! Trust tags: the rows that decide whom this device trusts (`peers`,
//! `accounts`) are stored in the clear so they can be looked up, and carry a
//! tag made with the storage key over their content and the name of the row.
//! A row edited, copied over another or moved in the file fails its tag and
//! is refused, so write access to the file alone cannot change who a user is.
//!
//! A tag is an empty value sealed with the storage key
//! ([`fuin_seal::state::seal_with_storage_key`]) under a context that frames
//! the row: opening it checks the AEAD tag (in constant time) and so every
//! byte of the context.

use fuin_seal::state::{open_with_storage_key, seal_with_storage_key};

use crate::ClientError;

use super::Reader;

/// One field of a tagged row.
pub(crate) enum Field<'a> {
    Bytes(&'a [u8]),
    Text(&'a str),
    Int(i64),
    Optional(Option<&'a [u8]>),
}

/// The context a row's tag is made under: the label, the table, then each
/// field with its length in four bytes before it (an absent optional field
/// is the single byte 0, a present one 1 and then the field).
fn context(table: &str, fields: &[Field<'_>]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        // Rows are far below 4 GiB; a longer field would not fit SQLite either.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = Vec::with_capacity(256);
    put(&mut out, b"fuin-client/v2/trust-tag");
    put(&mut out, table.as_bytes());
    for field in fields {
        match field {
            Field::Bytes(bytes) => put(&mut out, bytes),
            Field::Text(text) => put(&mut out, text.as_bytes()),
            Field::Int(value) => put(&mut out, &value.to_be_bytes()),
            Field::Optional(None) => put(&mut out, &[0]),
            Field::Optional(Some(bytes)) => {
                let mut present = Vec::with_capacity(bytes.len() + 1);
                present.push(1);
                present.extend_from_slice(bytes);
                put(&mut out, &present);
            }
        }
    }
    out
}

impl Reader<'_> {
    /// The tag of a row of `table` holding `fields`.
    pub(crate) fn trust_tag(&self, table: &str, fields: &[Field<'_>]) -> Vec<u8> {
        seal_with_storage_key(&mut rand::rng(), self.key, &context(table, fields), &[])
    }

    /// Checks the tag of a row of `table` holding `fields`; `what` names the
    /// row in the error (never its content).
    pub(crate) fn check_trust_tag(
        &self,
        table: &str,
        fields: &[Field<'_>],
        tag: Option<&[u8]>,
        what: &str,
    ) -> Result<(), ClientError> {
        let refused = || {
            ClientError::Storage(format!(
                "the trusted {what} fails its storage tag: the row was changed, moved or \
                 copied outside this client, and is not trusted"
            ))
        };
        let tag = tag.ok_or_else(refused)?;
        match open_with_storage_key(self.key, &context(table, fields), tag) {
            Ok(opened) if opened.is_empty() => Ok(()),
            _ => Err(refused()),
        }
    }
}
