//! The symmetric ratchet of a sender chain: chain key to message key and
//! next chain key, and the chain's fingerprint.

use fuin_wire::{DeviceAddress, Ed25519PublicKey, GroupId};

use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::mac::HmacKey;
use crate::primitives::secret::secret_bytes;
use crate::primitives::sha256;

secret_bytes!(
    /// A sender chain key: advanced by every message of the chain.
    pub GroupChainKey
);

secret_bytes!(
    /// The key of one group message, deleted once used.
    pub GroupMessageKey
);

impl GroupChainKey {
    /// One step: the message key is `HMAC(chain key,
    /// "fuin/v1/group-chain-message-key")`, the next chain key `HMAC(chain
    /// key, "fuin/v1/group-chain-next-key")`.
    /// The chain key is prepared as an HMAC key once for both.
    pub fn step(&self) -> (GroupMessageKey, GroupChainKey) {
        let key = HmacKey::new(self.expose());
        let message = key.mac(&[Label::GroupChainMessageKey.as_bytes()]);
        let next = key.mac(&[Label::GroupChainNextKey.as_bytes()]);
        (
            GroupMessageKey::from_bytes(message),
            GroupChainKey::from_bytes(next),
        )
    }
}

/// What a chain's fingerprint covers: the chain as it was distributed.
pub struct ChainIdentity<'r> {
    /// The group.
    pub group_id: &'r GroupId,
    /// The epoch the chain sends in.
    pub epoch: u64,
    /// The sending device.
    pub sender: &'r DeviceAddress<'r>,
    /// The iteration the distributed chain key is at.
    pub iteration: u32,
    /// The chain key at that iteration.
    pub chain_key: &'r GroupChainKey,
    /// The chain's signing key.
    pub signing_key: &'r Ed25519PublicKey,
}

impl ChainIdentity<'_> {
    /// `SHA-256(framed("fuin/v1/group-chain-fingerprint", group id,
    /// BE64(epoch), sender user, BE32(sender device), BE32(iteration), chain
    /// key, signing key))`. Two distributions of one chain have the same
    /// fingerprint; any difference in key or signing key changes it. The
    /// chain key enters a one-way hash only, so the fingerprint reveals
    /// nothing usable about it.
    pub fn fingerprint(&self) -> [u8; 32] {
        let framed = zeroize::Zeroizing::new(
            Framer::new(Label::GroupChainFingerprint.as_bytes())
                .field(self.group_id.as_bytes())
                .u64(self.epoch)
                .address(self.sender)
                .u32(self.iteration)
                .field(self.chain_key.expose())
                .field(self.signing_key.as_bytes())
                .finish(),
        );
        sha256(&[&framed])
    }
}
