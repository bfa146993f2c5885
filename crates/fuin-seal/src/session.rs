//! A one-to-one session between two devices: the X3DH-style handshake, then
//! the Double Ratchet, with franking and gap detection on every message.

use std::ops::Range;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::identity::{DeviceIdentity, TrustedIdentity};
use crate::prekeys::{PrekeyStore, VerifiedBundle};
use crate::primitives::aead;
use crate::primitives::framing::Framer;
use crate::primitives::franking::{self, FrankedMessage};
use crate::primitives::kdf::{self, Label};
use crate::primitives::kem::{self, KemSharedSecret};
use crate::primitives::secret::DhOutput;
use crate::primitives::x25519::{self, AgreementSecret};
use crate::ratchet::{Ratchet, RootKey};
use crate::{ConversationId, PROTOCOL_VERSION, SealError};
use fuin_wire::{
    ClientMessageId, ContentKind, ContentType, ConversationRef, DeliveredRecord, DeviceAddress,
    FrameBody, FrankingCommitment, FrankingKey, FrankingStamp, KemEncapsulation, MessageContent,
    MessageId, MlKemCiphertext, MlKemPublicKey, Opaque, PrekeyId, PrekeyMessage, PublicIdentity,
    RatchetHeader, RatchetMessage, RoutingEnvelope, SecretBytes, StampKeyId, UserId,
    X25519PublicKey,
};

/// A message ready to be sealed to each of its recipients' sessions. Its id,
/// franking key and commitment are drawn once, so every copy of the message
/// (to each of the recipient's devices and the sender's own) carries the same
/// commitment.
#[derive(Debug, Clone)]
pub struct Outgoing {
    sender: DeviceAddress<'static>,
    content_type: ContentType,
    body: Zeroizing<Vec<u8>>,
    conversation_peer: UserId<'static>,
    message_id: ClientMessageId,
    franking_key: FrankingKey,
    commitment: FrankingCommitment,
}

impl Outgoing {
    /// Prepares a message from `sender` in the one-to-one conversation with
    /// user `conversation_peer`.
    pub fn new<R: CryptoRng + ?Sized>(
        rng: &mut R,
        sender: &DeviceAddress<'_>,
        conversation_peer: UserId<'static>,
        content_type: ContentType,
        body: &[u8],
    ) -> Result<Self, SealError> {
        if body.len() > fuin_wire::limits::MAX_CONTENT_BODY_LEN {
            return Err(SealError::Wire(fuin_wire::WireError::LimitExceeded {
                field: "body",
                len: body.len(),
                max: fuin_wire::limits::MAX_CONTENT_BODY_LEN,
            }));
        }
        let mut message_id = [0u8; 16];
        rng.fill_bytes(&mut message_id);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let franking_key = FrankingKey(key);
        zeroize::Zeroize::zeroize(&mut key);
        let message_id = ClientMessageId(message_id);
        let conversation = ConversationId::direct(&sender.user, &conversation_peer);
        let commitment = franking::commit(
            &franking_key.0,
            &FrankedMessage {
                sender,
                conversation: &conversation,
                message_id: &message_id,
                content_type,
                body,
            },
        )?;
        Ok(Self {
            sender: sender.clone().into_owned(),
            content_type,
            body: Zeroizing::new(body.to_vec()),
            conversation_peer,
            message_id,
            franking_key,
            commitment,
        })
    }

    /// The message's id, the same in every copy.
    pub fn message_id(&self) -> ClientMessageId {
        self.message_id
    }

    /// The franking commitment, the same in every copy.
    pub fn commitment(&self) -> FrankingCommitment {
        self.commitment
    }
}

/// One sealed copy of a message, for one recipient device.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// What to hand the relay.
    pub envelope: RoutingEnvelope<'static>,
    /// The sender's number for this message in this session.
    pub sequence: u64,
}

/// What a report needs to prove a message: the franking key that opens the
/// commitment, and the relay's stamp over the commitment and its routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrankingOpening {
    /// The per-message franking key `nf`.
    pub franking_key: FrankingKey,
    /// The commitment the relay saw and stamped.
    pub commitment: FrankingCommitment,
    /// The relay's stamp.
    pub stamp: FrankingStamp,
    /// Which relay key made the stamp.
    pub stamp_key_id: StampKeyId,
    /// When the relay accepted the message.
    pub server_time_ms: u64,
    /// The relay's id for the delivery.
    pub server_message_id: MessageId,
    /// The sending device, as the relay authenticated it.
    pub sender: DeviceAddress<'static>,
    /// The receiving device.
    pub recipient: DeviceAddress<'static>,
}

/// What opening a message revealed about messages that did not arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gap {
    /// Sequence numbers of the sender's messages that this message shows to
    /// be missing so far (they may still arrive, out of order).
    pub missing: Option<Range<u64>>,
    /// Whether this message arrived after later ones (it fills a gap).
    pub late: bool,
}

/// An opened message.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The sending device.
    pub sender: DeviceAddress<'static>,
    /// The user the conversation is with, from this device's point of view.
    pub conversation_with: UserId<'static>,
    /// The conversation's id (what the franking commitment names).
    pub conversation: ConversationId,
    /// The message's content.
    pub content: MessageContent<'static>,
    /// What a report of this message needs.
    pub franking: FrankingOpening,
    /// Missing and late messages.
    pub gap: Gap,
}

/// The handshake fields every message carries until the responder answers.
#[derive(Debug, Clone)]
pub(crate) struct PendingPrekey {
    pub(crate) base_key: X25519PublicKey,
    pub(crate) signed_prekey_id: PrekeyId,
    pub(crate) one_time_prekey_id: Option<PrekeyId>,
    /// `None` only in a session saved by protocol version 2 whose handshake
    /// was never answered: version 3 responders refuse its prekey messages
    /// (see [`Session::handshake_outdated`]).
    pub(crate) kem: Option<KemEncapsulation>,
}

/// A session between this device and one peer device.
#[derive(Clone)]
pub struct Session {
    pub(crate) local_address: DeviceAddress<'static>,
    pub(crate) local_identity: PublicIdentity,
    pub(crate) peer_address: DeviceAddress<'static>,
    pub(crate) peer_identity: PublicIdentity,
    pub(crate) ratchet: Ratchet,
    /// Initiator only, until the first message from the responder arrives.
    pub(crate) pending_prekey: Option<PendingPrekey>,
    /// Responder only: the initiator's base key, to recognise the repeated
    /// prekey messages the initiator sends until it hears back.
    pub(crate) initiator_base_key: Option<X25519PublicKey>,
    pub(crate) next_sequence: u64,
    pub(crate) highest_received_sequence: Option<u64>,
    /// Whether the root key took an ML-KEM shared secret as well as the
    /// X25519 terms. False only for sessions saved by protocol version 2.
    pub(crate) post_quantum: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("local", &self.local_address)
            .field("peer", &self.peer_address)
            .field("next_sequence", &self.next_sequence)
            .field("post_quantum", &self.post_quantum)
            .field("skipped_keys", &self.ratchet.skipped_len())
            .finish_non_exhaustive()
    }
}

/// The handshake's root key: `HKDF(salt = none, ikm = DH1 || DH2 || DH3
/// [|| DH4] || SS, info = "fuin/v1/hybrid-handshake" || transcript)`, where
/// `SS` is the ML-KEM shared secret and the transcript frames both
/// identities, both addresses, every prekey used, the KEM prekey and the KEM
/// ciphertext. Binding the identities here is what makes an unknown-key-share
/// impossible; binding the KEM key and ciphertext is what makes a stripped or
/// swapped KEM term change the root key.
struct Transcript<'r> {
    initiator: &'r PublicIdentity,
    responder: &'r PublicIdentity,
    initiator_address: &'r DeviceAddress<'r>,
    responder_address: &'r DeviceAddress<'r>,
    base_key: &'r X25519PublicKey,
    signed_prekey: (PrekeyId, &'r X25519PublicKey),
    one_time_prekey: Option<(PrekeyId, X25519PublicKey)>,
    kem_prekey: (PrekeyId, &'r MlKemPublicKey),
    kem_ciphertext: &'r MlKemCiphertext,
}

impl Transcript<'_> {
    fn root_key(
        &self,
        dh: [&DhOutput; 3],
        dh4: Option<&DhOutput>,
        kem_secret: &KemSharedSecret,
    ) -> RootKey {
        let mut framer = Framer::unlabelled();
        framer
            .identity(self.initiator)
            .identity(self.responder)
            .address(self.initiator_address)
            .address(self.responder_address)
            .field(self.base_key.as_bytes())
            .u32(self.signed_prekey.0.0)
            .field(self.signed_prekey.1.as_bytes());
        match &self.one_time_prekey {
            Some((id, key)) => framer.u32(id.0).field(key.as_bytes()),
            None => framer.field(&[]).field(&[]),
        };
        framer
            .u32(self.kem_prekey.0.0)
            .field(self.kem_prekey.1.as_bytes())
            .field(self.kem_ciphertext.as_bytes());
        let transcript = framer.finish();
        let mut ikm = Zeroizing::new(Vec::with_capacity(160));
        for part in dh.into_iter().chain(dh4) {
            ikm.extend_from_slice(part.expose());
        }
        ikm.extend_from_slice(kem_secret.expose());
        let out = kdf::derive::<32>(Label::HybridHandshake, None, &ikm, &transcript);
        RootKey::from_bytes(*out)
    }
}

fn kind_code(kind: ContentKind) -> u32 {
    match kind {
        ContentKind::Message => 0,
        ContentKind::PrekeyMessage => 1,
        _ => u32::MAX,
    }
}

/// The handshake fields a prekey message carries next to its ratchet
/// message, bound into that message's associated data so that no one can
/// rewrite them in transit.
#[derive(Clone, Copy)]
struct HandshakeFields<'m> {
    base_key: X25519PublicKey,
    signed_prekey_id: PrekeyId,
    one_time_prekey_id: Option<PrekeyId>,
    kem: Option<&'m KemEncapsulation>,
}

impl<'m> HandshakeFields<'m> {
    fn of(message: &'m PrekeyMessage<'_>) -> Self {
        Self {
            base_key: message.base_key,
            signed_prekey_id: message.signed_prekey_id,
            one_time_prekey_id: message.one_time_prekey_id,
            kem: message.kem.as_ref(),
        }
    }
}

/// The associated data of one message, in the order the spec fixes: version,
/// sender identity, recipient identity, sender address, recipient address,
/// header (salt last), content kind, franking commitment, then the handshake
/// fields of a prekey message (five empty fields for a plain message).
/// Sender first, so a message cannot be reflected back as if the other side
/// had sent it.
fn associated_data(
    sender: (&PublicIdentity, &DeviceAddress<'_>),
    recipient: (&PublicIdentity, &DeviceAddress<'_>),
    header: &RatchetHeader,
    kind: ContentKind,
    commitment: &FrankingCommitment,
    handshake: Option<HandshakeFields<'_>>,
) -> Vec<u8> {
    let mut framer = Framer::new(Label::MessageAssociatedData.as_bytes());
    framer
        .field(&[PROTOCOL_VERSION])
        .identity(sender.0)
        .identity(recipient.0)
        .address(sender.1)
        .address(recipient.1)
        .field(header.ratchet_key.as_bytes())
        .u32(header.previous_chain_length)
        .u32(header.counter)
        .field(header.salt.as_bytes())
        .u32(kind_code(kind))
        .field(commitment.as_bytes());
    match handshake {
        Some(handshake) => {
            framer
                .field(handshake.base_key.as_bytes())
                .u32(handshake.signed_prekey_id.0);
            match handshake.one_time_prekey_id {
                Some(id) => framer.u32(id.0),
                None => framer.field(&[]),
            };
            match handshake.kem {
                Some(kem) => framer
                    .u32(kem.kem_prekey_id.0)
                    .field(kem.ciphertext.as_bytes()),
                None => framer.field(&[]).field(&[]),
            };
        }
        None => {
            framer
                .field(&[])
                .field(&[])
                .field(&[])
                .field(&[])
                .field(&[]);
        }
    }
    framer.finish()
}

impl Session {
    /// Starts a session with the device whose verified bundle is given. The
    /// first messages carry what the responder needs to complete the
    /// handshake, until the responder answers.
    pub fn initiate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        local: &DeviceIdentity,
        local_address: DeviceAddress<'static>,
        bundle: &VerifiedBundle,
    ) -> Result<Self, SealError> {
        let base = AgreementSecret::generate(rng);
        let base_key = base.public_key();
        let signed = &bundle.signed_prekey;
        let peer = bundle.identity.public();
        let dh1 = local.agreement().agree(&signed.public_key)?;
        let dh2 = base.agree(&peer.agreement_key)?;
        let dh3 = base.agree(&signed.public_key)?;
        let dh4 = bundle
            .one_time_prekey
            .as_ref()
            .map(|one_time| base.agree(&one_time.public_key))
            .transpose()?;
        let kem_prekey = &bundle.kem_prekey;
        let (kem_ciphertext, kem_secret) = kem::encapsulate(rng, &kem_prekey.public_key)?;
        let root = Transcript {
            initiator: local.public(),
            responder: peer,
            initiator_address: &local_address,
            responder_address: &bundle.address,
            base_key: &base_key,
            signed_prekey: (signed.id, &signed.public_key),
            one_time_prekey: bundle
                .one_time_prekey
                .as_ref()
                .map(|one_time| (one_time.id, one_time.public_key)),
            kem_prekey: (kem_prekey.id, &kem_prekey.public_key),
            kem_ciphertext: &kem_ciphertext,
        }
        .root_key([&dh1, &dh2, &dh3], dh4.as_ref(), &kem_secret);
        Ok(Self {
            ratchet: Ratchet::initiator(rng, root, signed.public_key)?,
            local_address,
            local_identity: local.public().clone(),
            peer_address: bundle.address.clone(),
            peer_identity: peer.clone(),
            pending_prekey: Some(PendingPrekey {
                base_key,
                signed_prekey_id: signed.id,
                one_time_prekey_id: bundle.one_time_prekey.as_ref().map(|one_time| one_time.id),
                kem: Some(KemEncapsulation {
                    kem_prekey_id: kem_prekey.id,
                    ciphertext: kem_ciphertext,
                }),
            }),
            initiator_base_key: None,
            next_sequence: 0,
            highest_received_sequence: None,
            post_quantum: true,
        })
    }

    /// Completes a handshake a peer started: `record` must carry a prekey
    /// message addressed to `local_address`. Returns the new session and the
    /// first message. The one-time prekey used, if any, is removed from
    /// `prekeys` only when everything succeeded.
    ///
    /// `trusted` is the identity already trusted for the sender's device, if
    /// any; a different one fails with [`SealError::IdentityMismatch`].
    pub fn respond(
        local: &DeviceIdentity,
        local_address: DeviceAddress<'static>,
        prekeys: &mut PrekeyStore,
        trusted: Option<&PublicIdentity>,
        record: &DeliveredRecord<'_>,
        now_ms: u64,
    ) -> Result<(Self, Opened), SealError> {
        if record.envelope.recipient != local_address {
            return Err(SealError::WrongRecipient);
        }
        if record.envelope.content_kind != ContentKind::PrekeyMessage {
            return Err(SealError::UnexpectedFrame);
        }
        let message = PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes())?;
        if let Some(trusted) = trusted
            && *trusted != message.initiator
        {
            return Err(SealError::IdentityMismatch);
        }
        let initiator = TrustedIdentity::verify(&message.initiator)?;
        x25519::check_public_key(&message.base_key)?;
        let signed_secret = prekeys.signed_secret(message.signed_prekey_id)?;
        let signed_public = signed_secret.public_key();
        let one_time = message
            .one_time_prekey_id
            .map(|id| prekeys.one_time_secret(id).map(|secret| (id, secret)))
            .transpose()?;
        let kem = message
            .kem
            .as_ref()
            .ok_or(SealError::MissingKemCiphertext)?;
        let (kem_prekey_secret, kem_one_time) = prekeys.kem_secret(kem.kem_prekey_id)?;
        let (kem_prekey_public, kem_secret) =
            kem_prekey_secret.public_key_and_decapsulate(&kem.ciphertext);

        let dh1 = signed_secret.agree(&initiator.public().agreement_key)?;
        let dh2 = local.agreement().agree(&message.base_key)?;
        let dh3 = signed_secret.agree(&message.base_key)?;
        let dh4 = one_time
            .map(|(_, secret)| secret.agree(&message.base_key))
            .transpose()?;
        let root = Transcript {
            initiator: initiator.public(),
            responder: local.public(),
            initiator_address: &record.sender,
            responder_address: &local_address,
            base_key: &message.base_key,
            signed_prekey: (message.signed_prekey_id, &signed_public),
            one_time_prekey: one_time.map(|(id, secret)| (id, secret.public_key())),
            kem_prekey: (kem.kem_prekey_id, &kem_prekey_public),
            kem_ciphertext: &kem.ciphertext,
        }
        .root_key([&dh1, &dh2, &dh3], dh4.as_ref(), &kem_secret);

        let mut session = Self {
            ratchet: Ratchet::responder(root, signed_secret.clone()),
            local_address,
            local_identity: local.public().clone(),
            peer_address: record.sender.clone().into_owned(),
            peer_identity: message.initiator.clone(),
            pending_prekey: None,
            initiator_base_key: Some(message.base_key),
            next_sequence: 0,
            highest_received_sequence: None,
            post_quantum: true,
        };
        let opened = session.open_ratchet_message(
            &message.message,
            Some(HandshakeFields::of(&message)),
            record,
            now_ms,
        )?;
        if let Some(id) = message.one_time_prekey_id {
            prekeys.consume_one_time(id);
        }
        if kem_one_time {
            prekeys.consume_one_time_kem(kem.kem_prekey_id);
        }
        Ok((session, opened))
    }

    /// The peer device.
    pub fn peer_address(&self) -> &DeviceAddress<'static> {
        &self.peer_address
    }

    /// The peer device's identity.
    pub fn peer_identity(&self) -> &PublicIdentity {
        &self.peer_identity
    }

    /// This device's address in the session.
    pub fn local_address(&self) -> &DeviceAddress<'static> {
        &self.local_address
    }

    /// Whether the session's root key took an ML-KEM-768 shared secret as
    /// well as the X25519 terms, so that it stays sealed while either holds.
    /// Every session made by this version is; only a session saved by
    /// protocol version 2 (before the hybrid handshake) is not.
    pub fn post_quantum(&self) -> bool {
        self.post_quantum
    }

    /// Whether this is an initiator session saved by protocol version 2
    /// whose handshake was never answered: its prekey messages carry no KEM
    /// ciphertext, and every version 3 responder refuses them
    /// ([`SealError::MissingKemCiphertext`]). The caller should start a new
    /// session in its place; nothing was ever received on this one.
    pub fn handshake_outdated(&self) -> bool {
        self.pending_prekey
            .as_ref()
            .is_some_and(|pending| pending.kem.is_none())
    }

    /// Whether the session can seal now. A responder session always can; it
    /// exists only once a first message arrived.
    pub fn can_send(&self) -> bool {
        self.ratchet.can_send()
    }

    /// Seals one copy of `message` for the peer device, at time `now_ms`.
    pub fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        message: &Outgoing,
        now_ms: u64,
    ) -> Result<Sealed, SealError> {
        // The commitment names the sender: sealing another device's message
        // would make every recipient drop it.
        if message.sender != self.local_address {
            return Err(SealError::ApiMisuse {
                reason: "the message was prepared for another sending device",
            });
        }
        // A message to another user must name the conversation with that
        // user; only the sender's own devices learn of conversations with
        // third parties.
        if self.peer_address.user != self.local_address.user
            && message.conversation_peer != self.peer_address.user
        {
            return Err(SealError::ConversationMismatch);
        }
        let sequence = self.next_sequence;
        let content = MessageContent {
            content_type: message.content_type,
            message_id: message.message_id,
            sequence,
            sent_at_ms: now_ms,
            conversation: ConversationRef::Direct {
                peer: message.conversation_peer.clone(),
            },
            franking_key: message.franking_key.clone(),
            body: SecretBytes::borrowed(&message.body),
        };
        // Encode before touching the ratchet: a failure here changes nothing.
        let plaintext = Zeroizing::new(content.to_bytes()?);
        let kind = if self.pending_prekey.is_some() {
            ContentKind::PrekeyMessage
        } else {
            ContentKind::Message
        };
        let plan = self.ratchet.plan_send(rng)?;
        let handshake = self.pending_prekey.as_ref().map(|pending| HandshakeFields {
            base_key: pending.base_key,
            signed_prekey_id: pending.signed_prekey_id,
            one_time_prekey_id: pending.one_time_prekey_id,
            kem: pending.kem.as_ref(),
        });
        let ad = associated_data(
            (&self.local_identity, &self.local_address),
            (&self.peer_identity, &self.peer_address),
            &plan.header,
            kind,
            &message.commitment,
            handshake,
        );
        let ciphertext = aead::seal(
            Label::MessageKeys,
            Some(plan.header.salt.as_bytes()),
            plan.message_key.expose(),
            &ad,
            &plaintext,
        );
        let ratchet_message = RatchetMessage {
            header: plan.header,
            ciphertext: Opaque::from(ciphertext),
        };
        let sealed_body = match &self.pending_prekey {
            Some(pending) => PrekeyMessage {
                initiator: self.local_identity.clone(),
                base_key: pending.base_key,
                signed_prekey_id: pending.signed_prekey_id,
                one_time_prekey_id: pending.one_time_prekey_id,
                kem: pending.kem.clone(),
                message: ratchet_message,
            }
            .to_bytes()?,
            None => ratchet_message.to_bytes()?,
        };
        let next_sequence = sequence.checked_add(1).ok_or(SealError::InvalidState)?;
        // Sealed and encoded: now commit the state change.
        self.ratchet.apply_send(plan);
        self.next_sequence = next_sequence;
        Ok(Sealed {
            envelope: RoutingEnvelope {
                recipient: self.peer_address.clone(),
                content_kind: kind,
                franking_commitment: message.commitment,
                sealed_body: Opaque::from(sealed_body),
            },
            sequence,
        })
    }

    /// Opens a delivered record from the peer device at time `now_ms`. On any
    /// error the session is unchanged and the message must not be shown.
    pub fn open(&mut self, record: &DeliveredRecord<'_>, now_ms: u64) -> Result<Opened, SealError> {
        if record.envelope.recipient != self.local_address {
            return Err(SealError::WrongRecipient);
        }
        if record.sender != self.peer_address {
            return Err(SealError::WrongSender);
        }
        let body = record.envelope.sealed_body.as_bytes();
        match record.envelope.content_kind {
            ContentKind::Message => {
                let message = RatchetMessage::from_bytes(body)?;
                self.open_ratchet_message(&message, None, record, now_ms)
            }
            ContentKind::PrekeyMessage => {
                let message = PrekeyMessage::from_bytes(body)?;
                if self.initiator_base_key != Some(message.base_key)
                    || message.initiator != self.peer_identity
                {
                    return Err(SealError::SessionMismatch);
                }
                self.open_ratchet_message(
                    &message.message,
                    Some(HandshakeFields::of(&message)),
                    record,
                    now_ms,
                )
            }
            _ => Err(SealError::UnexpectedFrame),
        }
    }

    fn open_ratchet_message(
        &mut self,
        message: &RatchetMessage<'_>,
        handshake: Option<HandshakeFields>,
        record: &DeliveredRecord<'_>,
        now_ms: u64,
    ) -> Result<Opened, SealError> {
        let plan = self.ratchet.plan_receive(&message.header, now_ms)?;
        let ad = associated_data(
            (&self.peer_identity, &self.peer_address),
            (&self.local_identity, &self.local_address),
            &message.header,
            record.envelope.content_kind,
            &record.envelope.franking_commitment,
            handshake,
        );
        let plaintext = aead::open(
            Label::MessageKeys,
            Some(message.header.salt.as_bytes()),
            plan.message_key.expose(),
            &ad,
            message.ciphertext.as_bytes(),
        )
        .map_err(|_| SealError::DecryptionFailed)?;
        let content = MessageContent::from_bytes(&plaintext)?;

        // Which conversation: a message from another user must be in the
        // conversation with this device's user; the user's own devices may
        // report any of the user's conversations.
        let ConversationRef::Direct { peer } = &content.conversation else {
            return Err(SealError::ConversationMismatch);
        };
        let conversation_with = if record.sender.user == self.local_address.user {
            peer.clone().into_owned()
        } else if *peer == self.local_address.user {
            record.sender.user.clone().into_owned()
        } else {
            return Err(SealError::ConversationMismatch);
        };
        let conversation = ConversationId::direct(&record.sender.user, peer);
        franking::verify(
            &content.franking_key.0,
            &FrankedMessage {
                sender: &record.sender,
                conversation: &conversation,
                message_id: &content.message_id,
                content_type: content.content_type,
                body: content.body.as_bytes(),
            },
            &record.envelope.franking_commitment,
        )?;

        // Everything checked: commit the state change.
        let late = plan.late;
        self.ratchet.apply(plan, now_ms);
        self.pending_prekey = None;
        let sequence = content.sequence;
        // The peer chooses the sequence numbers: no arithmetic on them may
        // overflow.
        let missing = match self.highest_received_sequence {
            None if sequence > 0 => Some(0..sequence),
            Some(highest) if sequence > highest.saturating_add(1) => {
                Some(highest.saturating_add(1)..sequence)
            }
            _ => None,
        };
        let late = late
            || self
                .highest_received_sequence
                .is_some_and(|highest| sequence < highest);
        if self
            .highest_received_sequence
            .is_none_or(|highest| sequence > highest)
        {
            self.highest_received_sequence = Some(sequence);
        }
        Ok(Opened {
            sender: record.sender.clone().into_owned(),
            conversation_with,
            conversation,
            franking: FrankingOpening {
                franking_key: content.franking_key.clone(),
                commitment: record.envelope.franking_commitment,
                stamp: record.franking_stamp,
                stamp_key_id: record.stamp_key_id,
                server_time_ms: record.server_time_ms,
                server_message_id: record.server_message_id,
                sender: record.sender.clone().into_owned(),
                recipient: record.envelope.recipient.clone().into_owned(),
            },
            content: content.into_owned(),
            gap: Gap { missing, late },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrekeyStore;
    use fuin_wire::{DeviceId, FrankingStamp, MessageId, StampKeyId};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn address(user: &'static str) -> DeviceAddress<'static> {
        DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(1))
    }

    fn delivered(
        sender: &DeviceAddress<'static>,
        envelope: RoutingEnvelope<'static>,
    ) -> DeliveredRecord<'static> {
        DeliveredRecord {
            envelope,
            sender: sender.clone(),
            server_time_ms: 1,
            server_message_id: MessageId([0; 16]),
            franking_stamp: FrankingStamp([0; 32]),
            stamp_key_id: StampKeyId(0),
        }
    }

    /// A sender that commits to one body and seals another: the recipient
    /// opens the ciphertext but drops the message, because what it would show
    /// could not be reported.
    #[test]
    fn a_message_whose_franking_does_not_match_is_dropped() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let alice = DeviceIdentity::generate(&mut rng);
        let bob = DeviceIdentity::generate(&mut rng);
        let mut prekeys = PrekeyStore::new();
        prekeys.rotate_signed_prekey(&bob, &mut rng);
        prekeys.rotate_last_resort_kem_prekey(&bob, &mut rng);
        let bundle = prekeys.bundle(address("bob"), &bob, None, None).unwrap();
        let bundle = VerifiedBundle::verify(&bundle, &address("bob"), None).unwrap();
        let mut session = Session::initiate(&mut rng, &alice, address("alice"), &bundle).unwrap();

        let mut message = Outgoing::new(
            &mut rng,
            &address("alice"),
            UserId::new("bob").unwrap(),
            ContentType::Text,
            b"harmless",
        )
        .unwrap();
        message.body = Zeroizing::new(b"abusive".to_vec());
        let sealed = session.seal(&mut rng, &message, 1).unwrap();
        let record = delivered(&address("alice"), sealed.envelope);
        let result = Session::respond(&bob, address("bob"), &mut prekeys, None, &record, 1);
        assert_eq!(result.unwrap_err(), SealError::FrankingMismatch);

        // The honest version of the same message opens.
        let honest = Outgoing::new(
            &mut rng,
            &address("alice"),
            UserId::new("bob").unwrap(),
            ContentType::Text,
            b"abusive",
        )
        .unwrap();
        let sealed = session.seal(&mut rng, &honest, 1).unwrap();
        let record = delivered(&address("alice"), sealed.envelope);
        assert!(Session::respond(&bob, address("bob"), &mut prekeys, None, &record, 1).is_ok());
    }

    /// Two established sessions, Alice's and Bob's.
    fn pair(rng: &mut ChaCha20Rng) -> (Session, Session) {
        let alice = DeviceIdentity::generate(rng);
        let bob = DeviceIdentity::generate(rng);
        let mut prekeys = PrekeyStore::new();
        prekeys.rotate_signed_prekey(&bob, rng);
        prekeys.rotate_last_resort_kem_prekey(&bob, rng);
        let bundle = prekeys.bundle(address("bob"), &bob, None, None).unwrap();
        let bundle = VerifiedBundle::verify(&bundle, &address("bob"), None).unwrap();
        let mut alice_session = Session::initiate(rng, &alice, address("alice"), &bundle).unwrap();
        let hello = text(rng, "alice", "bob", b"hello");
        let sealed = alice_session.seal(rng, &hello, 1).unwrap();
        let record = delivered(&address("alice"), sealed.envelope);
        let (bob_session, _) =
            Session::respond(&bob, address("bob"), &mut prekeys, None, &record, 1).unwrap();
        (alice_session, bob_session)
    }

    fn text(rng: &mut ChaCha20Rng, from: &'static str, to: &'static str, body: &[u8]) -> Outgoing {
        Outgoing::new(
            rng,
            &address(from),
            UserId::new(to).unwrap(),
            ContentType::Text,
            body,
        )
        .unwrap()
    }

    #[test]
    fn sequence_numbers_at_the_top_of_the_range_do_not_overflow() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let (mut alice, mut bob) = pair(&mut rng);
        // A peer may claim any sequence; pretend it already claimed the largest.
        bob.highest_received_sequence = Some(u64::MAX);
        let message = text(&mut rng, "alice", "bob", b"after the top");
        let sealed = alice.seal(&mut rng, &message, 2).unwrap();
        let opened = bob
            .open(&delivered(&address("alice"), sealed.envelope), 2)
            .unwrap();
        assert_eq!(
            opened.gap,
            Gap {
                missing: None,
                late: true
            }
        );
        // Our own sender refuses to wrap around.
        alice.next_sequence = u64::MAX;
        let message = text(&mut rng, "alice", "bob", b"no wrap");
        assert_eq!(
            alice.seal(&mut rng, &message, 3).unwrap_err(),
            SealError::InvalidState
        );
    }

    #[test]
    fn a_failed_seal_changes_nothing() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (mut alice, mut bob) = pair(&mut rng);
        let before = alice.to_bytes().unwrap();
        let foreign = text(&mut rng, "mallory", "bob", b"not alice's");
        assert_eq!(
            alice.seal(&mut rng, &foreign, 2).unwrap_err(),
            SealError::ApiMisuse {
                reason: "the message was prepared for another sending device"
            }
        );
        assert_eq!(alice.to_bytes().unwrap(), before);
        let message = text(&mut rng, "alice", "bob", b"still in order");
        let sealed = alice.seal(&mut rng, &message, 2).unwrap();
        let opened = bob
            .open(&delivered(&address("alice"), sealed.envelope), 2)
            .unwrap();
        assert_eq!(opened.gap, Gap::default());
    }
}
