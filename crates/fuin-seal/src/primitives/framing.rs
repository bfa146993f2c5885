//! Unambiguous framing: every field is a 4-byte big-endian length followed by
//! its bytes, so no two different field lists give the same string. Used for
//! every KDF transcript, associated data and MAC input in the protocol.

/// Builds a framed byte string field by field.
#[derive(Default)]
pub struct Framer {
    out: Vec<u8>,
}

impl Framer {
    /// Starts a string whose first field is `label`.
    pub fn new(label: &[u8]) -> Self {
        let mut framer = Self {
            out: Vec::with_capacity(256),
        };
        framer.field(label);
        framer
    }

    /// Starts a string with no label, for use as context after one.
    pub fn unlabelled() -> Self {
        Self {
            out: Vec::with_capacity(256),
        }
    }

    /// Appends one field.
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // Every field the protocol frames is bounded by a wire limit far below
        // 4 GiB, so the length always fits.
        self.out
            .extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.out.extend_from_slice(bytes);
        self
    }

    /// Appends a `u32` field (4 bytes, big-endian).
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// Appends a `u64` field (8 bytes, big-endian).
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// Appends a device address as two fields: user id, then device id.
    pub fn address(&mut self, address: &fuin_wire::DeviceAddress<'_>) -> &mut Self {
        self.field(address.user.as_str().as_bytes())
            .u32(address.device.0)
    }

    /// Appends a public identity as two fields: signing key, then agreement key.
    pub fn identity(&mut self, identity: &fuin_wire::PublicIdentity) -> &mut Self {
        self.field(identity.signing_key.as_bytes())
            .field(identity.agreement_key.as_bytes())
    }

    /// The framed string.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_bytes_between_fields_changes_the_string() {
        let a = Framer::new(b"l").field(b"ab").field(b"c").finish();
        let b = Framer::new(b"l").field(b"a").field(b"bc").finish();
        assert_ne!(a, b);
        assert_eq!(a, b"\0\0\0\x01l\0\0\0\x02ab\0\0\0\x01c");
    }
}
