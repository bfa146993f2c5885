//! The three symmetric keys of the Double Ratchet and the two KDFs between
//! them.

use crate::primitives::kdf::{self, Label};
use crate::primitives::mac::HmacKey;
use crate::primitives::secret::{DhOutput, secret_bytes};

secret_bytes!(
    /// The root key: advanced by every Diffie-Hellman ratchet step.
    pub RootKey
);

secret_bytes!(
    /// A sending or receiving chain key: advanced by every message.
    pub ChainKey
);

secret_bytes!(
    /// The key of exactly one message, deleted once used.
    pub MessageKey
);

impl RootKey {
    /// A ratchet step: `HKDF(salt = root key, ikm = DH output,
    /// info = "fuin/v1/ratchet-root")`, 64 bytes split into the new root key
    /// and the new chain key.
    pub fn step(&self, dh: &DhOutput) -> (RootKey, ChainKey) {
        let out = kdf::derive::<64>(Label::RatchetRoot, Some(self.expose()), dh.expose(), &[]);
        let mut root = [0u8; 32];
        let mut chain = [0u8; 32];
        root.copy_from_slice(&out[..32]);
        chain.copy_from_slice(&out[32..]);
        (RootKey::from_bytes(root), ChainKey::from_bytes(chain))
    }
}

impl ChainKey {
    /// A chain step: the message key is `HMAC(chain key,
    /// "fuin/v1/chain-message-key")`, the next chain key `HMAC(chain key,
    /// "fuin/v1/chain-next-key")`: the chain key is prepared as an HMAC key
    /// once for both.
    pub fn step(&self) -> (MessageKey, ChainKey) {
        let key = HmacKey::new(self.expose());
        let message = key.mac(&[Label::ChainMessageKey.as_bytes()]);
        let next = key.mac(&[Label::ChainNextKey.as_bytes()]);
        (MessageKey::from_bytes(message), ChainKey::from_bytes(next))
    }
}
