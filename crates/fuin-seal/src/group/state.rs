//! One device's state in one group: the epoch it is in (and the one before,
//! for late messages), its own sender chain, the other members' chains, and
//! every operation on them.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use fuin_wire::{
    ClientMessageId, ContentType, DeliveredRecord, DeviceAddress, Ed25519PublicKey, FrameBody,
    FrankingCommitment, FrankingKey, GroupAction, GroupConsent, GroupContent, GroupControl,
    GroupId, GroupMember, GroupMessage, GroupSend, GroupWelcome, MembershipHash, MessageSalt,
    Opaque, PublicIdentity, RoutingEnvelope, SecretBytes, SenderKeyDistribution, ViewHash,
};

use super::chain::ChainIdentity;
use super::control;
use super::membership::Membership;
use super::message::{self, MessageContext};
use super::sender_chain::{ReceivingChain, SendingChain};
use super::skipped::GroupSkippedKeys;
use super::view::{ViewStatus, view_hash};
use super::welcome;
use crate::primitives::aead;
use crate::primitives::franking::{self, FrankedMessage};
use crate::primitives::kdf::Label;
use crate::primitives::signing::VerifyingSigningKey;
use crate::{ConversationId, FrankingOpening, Gap, SealError};

/// Whether this device still belongs to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// A member of the current epoch.
    Member,
    /// Removed by another member: it reads what it was sent before, nothing
    /// after.
    Removed,
    /// It left.
    Left,
}

/// One epoch as this device holds it.
#[derive(Clone)]
pub(crate) struct Epoch {
    pub(crate) membership: Membership,
    /// This device's chain; only in the current epoch, while a member.
    pub(crate) sending: Option<SendingChain>,
    /// This device's chain's fingerprint, for the view.
    pub(crate) own_fingerprint: Option<[u8; 32]>,
    /// The other members' chains, as distributed to this device.
    pub(crate) receiving: BTreeMap<DeviceAddress<'static>, ReceivingChain>,
    /// This device's view, once it holds every chain (it cannot change then).
    pub(crate) view: Option<ViewHash>,
    /// The first view a verified message of the epoch claimed.
    pub(crate) claimed_view: Option<ViewHash>,
}

impl Epoch {
    fn fresh<R: CryptoRng + ?Sized>(
        rng: &mut R,
        membership: Membership,
        local: &DeviceAddress<'static>,
    ) -> Self {
        let sending = SendingChain::generate(rng);
        let own_fingerprint = sending.fingerprint(membership.group_id(), membership.epoch(), local);
        let mut epoch = Self {
            membership,
            sending: Some(sending),
            own_fingerprint: Some(own_fingerprint),
            receiving: BTreeMap::new(),
            view: None,
            claimed_view: None,
        };
        epoch.refresh_view(local);
        epoch
    }

    fn number(&self) -> u64 {
        self.membership.epoch()
    }

    /// This device's distribution of its new chain.
    fn own_distribution(
        &self,
        local: &DeviceAddress<'static>,
    ) -> Result<SenderKeyDistribution<'static>, SealError> {
        let sending = self.sending.as_ref().ok_or(SealError::InvalidState)?;
        Ok(sending.distribution(
            *self.membership.group_id(),
            self.number(),
            *self.membership.hash(),
            local,
        ))
    }

    /// Computes the view once every chain is held.
    pub(crate) fn refresh_view(&mut self, local: &DeviceAddress<'static>) {
        if self.view.is_some() {
            return;
        }
        let members = self.membership.members();
        self.view = view_hash(&self.membership, |index| {
            let address = &members[index].address;
            if address == local {
                self.own_fingerprint
            } else {
                self.receiving.get(address).map(|chain| chain.fingerprint)
            }
        });
    }

    fn view_status(&self, local: &DeviceAddress<'static>) -> ViewStatus {
        match self.view {
            Some(view) if self.claimed_view.is_some_and(|claimed| claimed != view) => {
                ViewStatus::Split
            }
            Some(view) => ViewStatus::Complete(view),
            None => {
                let own =
                    usize::from(self.own_fingerprint.is_some() && self.membership.contains(local));
                ViewStatus::Incomplete {
                    missing: self.membership.len() - own - self.receiving.len(),
                }
            }
        }
    }
}

/// A group message sealed once for every member.
#[derive(Debug, Clone)]
pub struct GroupSealed {
    /// The epoch it was sealed in.
    pub epoch: u64,
    /// Its iteration in this device's chain.
    pub iteration: u32,
    /// The sender's id for the message.
    pub message_id: ClientMessageId,
    /// The franking commitment, the same for every recipient.
    pub franking_commitment: FrankingCommitment,
    /// The `GroupMessage` frame: the sealed body of every recipient's
    /// envelope.
    pub sealed_body: Vec<u8>,
}

impl GroupSealed {
    /// The envelope one recipient gets (content kind `GroupMessage`), as the
    /// relay stores and stamps it.
    pub fn envelope_for(&self, recipient: &DeviceAddress<'_>) -> RoutingEnvelope<'static> {
        RoutingEnvelope {
            recipient: recipient.clone().into_owned(),
            content_kind: fuin_wire::ContentKind::GroupMessage,
            franking_commitment: self.franking_commitment,
            sealed_body: Opaque::from(self.sealed_body.clone()),
        }
    }

    /// The relay's fan-out request for `recipients`.
    pub fn send_frame<'a>(
        &'a self,
        recipients: impl IntoIterator<Item = DeviceAddress<'a>>,
    ) -> GroupSend<'a> {
        GroupSend {
            recipients: recipients.into_iter().collect::<Vec<_>>().into(),
            franking_commitment: self.franking_commitment,
            sealed_body: Opaque::borrowed(&self.sealed_body),
        }
    }
}

/// An opened group message.
#[derive(Debug, Clone)]
pub struct GroupOpened {
    /// The group.
    pub group_id: GroupId,
    /// The sending device.
    pub sender: DeviceAddress<'static>,
    /// The epoch it was sent in.
    pub epoch: u64,
    /// Its iteration in the sender's chain: the order to show messages of
    /// one chain in.
    pub iteration: u32,
    /// The epoch's membership hash (what a report needs to rebuild the
    /// associated data).
    pub membership_hash: MembershipHash,
    /// The sender chain's signing key (what a report needs to check the
    /// signature).
    pub sender_signing_key: Ed25519PublicKey,
    /// The group's conversation id, as the franking commitment names it.
    pub conversation: ConversationId,
    /// The content.
    pub content: GroupContent<'static>,
    /// What a report of the message needs.
    pub franking: FrankingOpening,
    /// Missing and late messages of the sender's chain.
    pub gap: Gap,
}

impl GroupOpened {
    /// The control message the content carries, for content type
    /// `GroupControl`; apply it with [`GroupState::apply_control`].
    pub fn control(&self) -> Option<Result<GroupControl<'_>, SealError>> {
        (self.content.content_type == ContentType::GroupControl).then(|| {
            GroupControl::from_bytes(self.content.body.as_bytes()).map_err(SealError::from)
        })
    }
}

/// What a member asks its group to do.
#[derive(Debug, Clone)]
pub enum ChangeRequest {
    /// Add these devices.
    Add(Vec<GroupMember<'static>>),
    /// Remove these devices (not this one: see `Leave`).
    Remove(Vec<DeviceAddress<'static>>),
    /// This device leaves.
    Leave,
    /// Share a new random audience consent.
    ShareConsent,
}

/// What a new group hands its creator to send.
#[derive(Debug, Clone)]
pub struct Created {
    /// The member list's pages, for every other member (over 1:1 sessions).
    pub welcome: Vec<GroupWelcome<'static>>,
    /// The creator's chain, for every other member (over 1:1 sessions).
    pub distribution: SenderKeyDistribution<'static>,
}

/// What a change hands its actor to send.
#[derive(Debug, Clone)]
pub struct ChangeSent {
    /// The control message, sealed in the epoch it ends: fan it out to
    /// `recipients`.
    pub message: GroupSealed,
    /// The other members of that epoch, removed ones included.
    pub recipients: Vec<DeviceAddress<'static>>,
    /// This device's chain for the new epoch (none when it left): send it to
    /// `distribute_to` over 1:1 sessions.
    pub distribution: Option<SenderKeyDistribution<'static>>,
    /// The other members of the new epoch.
    pub distribute_to: Vec<DeviceAddress<'static>>,
    /// The new epoch's member list, for `joiners` (over 1:1 sessions).
    pub welcome: Vec<GroupWelcome<'static>>,
    /// The devices the change added.
    pub joiners: Vec<DeviceAddress<'static>>,
}

/// What applying another member's control message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlOutcome {
    /// These devices joined.
    Added(Vec<DeviceAddress<'static>>),
    /// These devices were removed.
    Removed(Vec<DeviceAddress<'static>>),
    /// The actor left.
    Left,
    /// The actor shared a new audience consent.
    ConsentShared,
    /// This device was removed: it can no longer send or read new epochs.
    RemovedThisDevice,
    /// The control had already been applied (it started the current epoch).
    AlreadyApplied,
}

/// The result of [`GroupState::apply_control`].
#[derive(Debug, Clone)]
pub struct ControlApplied {
    /// The acting device.
    pub actor: DeviceAddress<'static>,
    /// The state's epoch now.
    pub epoch: u64,
    /// What happened.
    pub outcome: ControlOutcome,
    /// This device's chain for the new epoch, to send to `distribute_to` over
    /// 1:1 sessions; none if no epoch started here or the device was removed.
    pub distribution: Option<SenderKeyDistribution<'static>>,
    /// The other members of the new epoch.
    pub distribute_to: Vec<DeviceAddress<'static>>,
}

/// The result of [`GroupState::receive_distribution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionAccepted {
    /// The epoch of the chain.
    pub epoch: u64,
    /// False when the very same chain was held already.
    pub new_chain: bool,
    /// The epoch's view after it.
    pub view: ViewStatus,
}

/// One device's state in one group.
#[derive(Clone)]
pub struct GroupState {
    pub(crate) local: DeviceAddress<'static>,
    pub(crate) local_identity: PublicIdentity,
    pub(crate) status: MemberStatus,
    pub(crate) current: Epoch,
    pub(crate) previous: Option<Epoch>,
    pub(crate) skipped: GroupSkippedKeys,
    pub(crate) consent: Option<GroupConsent>,
}

impl std::fmt::Debug for GroupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupState")
            .field("group_id", self.group_id())
            .field("local", &self.local)
            .field("status", &self.status)
            .field("epoch", &self.current.number())
            .field("members", &self.current.membership.len())
            .field("chains_held", &self.current.receiving.len())
            .field("skipped_keys", &self.skipped.len())
            .field("consent", &self.consent.is_some())
            .finish_non_exhaustive()
    }
}

/// Which of the two held epochs a frame belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    Current,
    Previous,
}

fn random_bytes<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> Zeroizing<[u8; N]> {
    let mut bytes = Zeroizing::new([0u8; N]);
    rng.fill_bytes(bytes.as_mut());
    bytes
}

impl GroupState {
    /// Creates a group at epoch 0 with this device and `others`. Send the
    /// welcome pages and the distribution to every other member over 1:1
    /// sessions.
    pub fn create<R: CryptoRng + ?Sized>(
        rng: &mut R,
        local: DeviceAddress<'static>,
        local_identity: PublicIdentity,
        others: Vec<GroupMember<'static>>,
    ) -> Result<(Self, Created), SealError> {
        let group_id = GroupId(*random_bytes::<32, _>(rng));
        let mut members = others;
        members.push(GroupMember {
            address: local.clone(),
            identity: local_identity.clone(),
        });
        let membership = Membership::new(group_id, 0, members)?;
        let state = Self {
            current: Epoch::fresh(rng, membership, &local),
            previous: None,
            local,
            local_identity,
            status: MemberStatus::Member,
            skipped: GroupSkippedKeys::default(),
            consent: None,
        };
        let created = Created {
            welcome: state.welcome(),
            distribution: state.current.own_distribution(&state.local)?,
        };
        Ok((state, created))
    }

    /// Joins a group from all pages of a welcome, which arrived over the 1:1
    /// session with `inviter` (its address and identity, as the session
    /// authenticated them). The inviter and this device must be members with
    /// those identities. Send the returned distribution to every other
    /// member over 1:1 sessions.
    pub fn join<R: CryptoRng + ?Sized>(
        rng: &mut R,
        local: DeviceAddress<'static>,
        local_identity: PublicIdentity,
        inviter: (&DeviceAddress<'_>, &PublicIdentity),
        pages: &[GroupWelcome<'_>],
    ) -> Result<(Self, SenderKeyDistribution<'static>), SealError> {
        let (membership, consent) = welcome::assemble(pages)?;
        match membership.identity_of(&local) {
            None => return Err(SealError::NotAMember),
            Some(identity) if *identity != local_identity => {
                return Err(SealError::IdentityMismatch);
            }
            Some(_) => {}
        }
        if *inviter.0 == local {
            return Err(SealError::WrongSender);
        }
        match membership.identity_of(inviter.0) {
            None => return Err(SealError::NotAMember),
            Some(identity) if identity != inviter.1 => return Err(SealError::IdentityMismatch),
            Some(_) => {}
        }
        let state = Self {
            current: Epoch::fresh(rng, membership, &local),
            previous: None,
            local,
            local_identity,
            status: MemberStatus::Member,
            skipped: GroupSkippedKeys::default(),
            consent,
        };
        let distribution = state.current.own_distribution(&state.local)?;
        Ok((state, distribution))
    }

    /// The group's id.
    pub fn group_id(&self) -> &GroupId {
        self.current.membership.group_id()
    }

    /// This device's address.
    pub fn local_address(&self) -> &DeviceAddress<'static> {
        &self.local
    }

    /// Whether this device is still a member.
    pub fn status(&self) -> MemberStatus {
        self.status
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.current.number()
    }

    /// The current epoch's membership.
    pub fn membership(&self) -> &Membership {
        &self.current.membership
    }

    /// The current epoch's view.
    pub fn view(&self) -> ViewStatus {
        self.current.view_status(&self.local)
    }

    /// The group's audience consent, if a member shared one.
    pub fn consent(&self) -> Option<&GroupConsent> {
        self.consent.as_ref()
    }

    /// Every other member device of the current epoch: the recipients of a
    /// message sealed now.
    pub fn recipients(&self) -> impl Iterator<Item = &DeviceAddress<'static>> + '_ {
        self.current
            .membership
            .members()
            .iter()
            .map(|member| &member.address)
            .filter(|address| **address != self.local)
    }

    /// The current epoch's member list as welcome pages, for a device that
    /// joins (the actor of an addition sends them; see [`ChangeSent`]).
    pub fn welcome(&self) -> Vec<GroupWelcome<'static>> {
        welcome::pages(&self.current.membership, self.consent.as_ref())
    }

    /// Seals a message of `content_type` (`Text`, `Attachment` or
    /// `Receipt`) for every
    /// member, at time `now_ms`. The cost does not depend on the group's
    /// size; fan the result out to [`GroupState::recipients`].
    pub fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        content_type: ContentType,
        body: &[u8],
        now_ms: u64,
    ) -> Result<GroupSealed, SealError> {
        if !matches!(
            content_type,
            ContentType::Text | ContentType::Attachment | ContentType::Receipt
        ) {
            return Err(SealError::ApiMisuse {
                reason: "a group message carries text, an attachment share or a receipt; control messages are made by change",
            });
        }
        self.seal_content(rng, content_type, body, now_ms)
    }

    fn seal_content<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        content_type: ContentType,
        body: &[u8],
        now_ms: u64,
    ) -> Result<GroupSealed, SealError> {
        if self.status != MemberStatus::Member {
            return Err(SealError::NotAMember);
        }
        if body.len() > fuin_wire::limits::MAX_CONTENT_BODY_LEN {
            return Err(SealError::Wire(fuin_wire::WireError::LimitExceeded {
                field: "body",
                len: body.len(),
                max: fuin_wire::limits::MAX_CONTENT_BODY_LEN,
            }));
        }
        let group_id = *self.group_id();
        let epoch = &mut self.current;
        let sending = epoch.sending.as_mut().ok_or(SealError::InvalidState)?;
        let message_id = ClientMessageId(*random_bytes::<16, _>(rng));
        let franking_key = FrankingKey(*random_bytes::<32, _>(rng));
        let conversation = ConversationId::group(&group_id);
        let commitment = franking::commit(
            &franking_key.0,
            &FrankedMessage {
                sender: &self.local,
                conversation: &conversation,
                message_id: &message_id,
                content_type,
                body,
            },
        )?;
        let plaintext = Zeroizing::new(
            GroupContent {
                content_type,
                message_id,
                sent_at_ms: now_ms,
                franking_key,
                body: SecretBytes::borrowed(body),
            }
            .to_bytes()?,
        );
        let (iteration, key, next) = sending.plan()?;
        // Fresh for every message: a restored or cloned sender state takes
        // the same message key again, and the salt still gives the message
        // its own AEAD key and nonce.
        let salt = MessageSalt(*random_bytes::<{ MessageSalt::LEN }, _>(rng));
        let ad = message::associated_data(
            &group_id,
            epoch.membership.epoch(),
            iteration,
            epoch.view.as_ref(),
            &salt,
            &MessageContext {
                membership_hash: epoch.membership.hash(),
                sender: &self.local,
                commitment: &commitment,
            },
        );
        let ciphertext = aead::seal(
            Label::GroupMessageKeys,
            Some(salt.as_bytes()),
            key.expose(),
            &ad,
            &plaintext,
        );
        let signature = message::sign(&sending.signing, &ad, &ciphertext);
        let sealed_body = GroupMessage {
            group_id,
            epoch: epoch.membership.epoch(),
            iteration,
            view: epoch.view,
            salt,
            ciphertext: Opaque::borrowed(&ciphertext),
            signature,
        }
        .to_bytes()?;
        sending.advance(next);
        Ok(GroupSealed {
            epoch: epoch.membership.epoch(),
            iteration,
            message_id,
            franking_commitment: commitment,
            sealed_body,
        })
    }

    /// Which held epoch `epoch` is, or why none is.
    fn held(&self, epoch: u64) -> Result<Held, SealError> {
        if epoch == self.current.number() {
            return Ok(Held::Current);
        }
        if self.previous.as_ref().is_some_and(|p| p.number() == epoch) {
            return Ok(Held::Previous);
        }
        if epoch > self.current.number() {
            return Err(match self.status {
                MemberStatus::Member => SealError::FutureEpoch { epoch },
                MemberStatus::Removed | MemberStatus::Left => SealError::NotAMember,
            });
        }
        Err(SealError::UnknownEpoch { epoch })
    }

    fn epoch_ref(&self, held: Held) -> Result<&Epoch, SealError> {
        match held {
            Held::Current => Ok(&self.current),
            Held::Previous => self.previous.as_ref().ok_or(SealError::InvalidState),
        }
    }

    fn epoch_mut(&mut self, held: Held) -> Result<&mut Epoch, SealError> {
        match held {
            Held::Current => Ok(&mut self.current),
            Held::Previous => self.previous.as_mut().ok_or(SealError::InvalidState),
        }
    }

    /// Whether `sender` may still speak in `held`: a member of it, and for
    /// the previous epoch also of the current one (a removed member's chain
    /// of the epoch before is refused from the change on).
    fn may_speak(&self, held: Held, sender: &DeviceAddress<'_>) -> Result<(), SealError> {
        let epoch = self.epoch_ref(held)?;
        let in_current = held == Held::Current
            || self.status != MemberStatus::Member
            || self.current.membership.contains(sender);
        if !epoch.membership.contains(sender) || !in_current {
            return Err(SealError::NotAMember);
        }
        Ok(())
    }

    /// Opens a group message delivered by the relay, at time `now_ms`. On
    /// any error the state is unchanged and the message must not be shown.
    pub fn open(
        &mut self,
        record: &DeliveredRecord<'_>,
        now_ms: u64,
    ) -> Result<GroupOpened, SealError> {
        if record.envelope.recipient != self.local {
            return Err(SealError::WrongRecipient);
        }
        if !message::is_group_kind(record.envelope.content_kind) {
            return Err(SealError::UnexpectedFrame);
        }
        let message = GroupMessage::from_bytes(record.envelope.sealed_body.as_bytes())?;
        if message.group_id != *self.group_id() {
            return Err(SealError::WrongGroup);
        }
        if record.sender == self.local {
            return Err(SealError::WrongSender);
        }
        let sender = record.sender.clone().into_owned();
        let held = self.held(message.epoch)?;
        self.may_speak(held, &sender)?;
        let epoch = self.epoch_ref(held)?;
        let chain = epoch
            .receiving
            .get(&sender)
            .ok_or(SealError::MissingSenderKey)?;
        let commitment = record.envelope.franking_commitment;
        let ad = message::associated_data(
            &message.group_id,
            message.epoch,
            message.iteration,
            message.view.as_ref(),
            &message.salt,
            &MessageContext {
                membership_hash: epoch.membership.hash(),
                sender: &sender,
                commitment: &commitment,
            },
        );
        message::verify(
            &chain.signing_key,
            &ad,
            message.ciphertext.as_bytes(),
            &message.signature,
        )?;
        if let Some(claimed) = message.view
            && (epoch.view.is_some_and(|own| own != claimed)
                || epoch.claimed_view.is_some_and(|earlier| earlier != claimed))
        {
            return Err(SealError::SplitView);
        }
        let kept = self
            .skipped
            .get_unexpired(message.epoch, &sender, message.iteration, now_ms);
        let kept_for_chain = match kept {
            Some(_) => 0,
            None => self.skipped.count_for_chain(message.epoch, &sender),
        };
        let plan = chain.plan(message.iteration, kept, kept_for_chain)?;
        let plaintext = aead::open(
            Label::GroupMessageKeys,
            Some(message.salt.as_bytes()),
            plan.key.expose(),
            &ad,
            message.ciphertext.as_bytes(),
        )
        .map_err(|_| SealError::DecryptionFailed)?;
        let content = GroupContent::from_bytes(&plaintext)?;
        if !matches!(
            content.content_type,
            ContentType::Text
                | ContentType::Attachment
                | ContentType::Receipt
                | ContentType::GroupControl
        ) {
            // Sender keys and welcomes travel over 1:1 sessions only.
            return Err(SealError::ConversationMismatch);
        }
        let conversation = ConversationId::group(&message.group_id);
        franking::verify(
            &content.franking_key.0,
            &FrankedMessage {
                sender: &sender,
                conversation: &conversation,
                message_id: &content.message_id,
                content_type: content.content_type,
                body: content.body.as_bytes(),
            },
            &commitment,
        )?;

        // Everything checked: commit.
        let iteration = message.iteration;
        let missing = match chain.highest {
            None if iteration > chain.start => Some(u64::from(chain.start)..u64::from(iteration)),
            Some(highest) if iteration > highest.saturating_add(1) => {
                Some(u64::from(highest) + 1..u64::from(iteration))
            }
            _ => None,
        };
        let late = plan.kept || chain.highest.is_some_and(|highest| iteration < highest);
        let membership_hash = *epoch.membership.hash();
        let sender_signing_key = chain.signing_key.public_key();
        let mut skipped = std::mem::take(&mut self.skipped);
        let epoch = self.epoch_mut(held)?;
        if let Some(chain) = epoch.receiving.get_mut(&sender) {
            chain.apply(
                plan,
                iteration,
                message.epoch,
                &sender,
                &mut skipped,
                now_ms,
            );
        }
        if epoch.claimed_view.is_none() {
            epoch.claimed_view = message.view;
        }
        skipped.retain(now_ms, |_, _| true);
        self.skipped = skipped;
        Ok(GroupOpened {
            group_id: message.group_id,
            sender: sender.clone(),
            epoch: message.epoch,
            iteration,
            membership_hash,
            sender_signing_key,
            conversation,
            franking: FrankingOpening {
                franking_key: content.franking_key.clone(),
                commitment,
                stamp: record.franking_stamp,
                stamp_key_id: record.stamp_key_id,
                server_time_ms: record.server_time_ms,
                server_message_id: record.server_message_id,
                sender,
                recipient: record.envelope.recipient.clone().into_owned(),
            },
            content: content.into_owned(),
            gap: Gap { missing, late },
        })
    }

    /// Takes another member's sender chain, which arrived over the 1:1
    /// session with `from` (the peer's address and identity, as the session
    /// authenticated them). On any error the state is unchanged.
    pub fn receive_distribution(
        &mut self,
        from: (&DeviceAddress<'_>, &PublicIdentity),
        distribution: &SenderKeyDistribution<'_>,
    ) -> Result<DistributionAccepted, SealError> {
        if distribution.group_id != *self.group_id() {
            return Err(SealError::WrongGroup);
        }
        // A member may hand out only its own chain.
        if distribution.sender != *from.0 || *from.0 == self.local {
            return Err(SealError::WrongSender);
        }
        let held = self.held(distribution.epoch)?;
        let epoch = self.epoch_ref(held)?;
        if distribution.membership_hash != *epoch.membership.hash() {
            return Err(SealError::MembershipMismatch);
        }
        self.may_speak(held, &distribution.sender)?;
        if epoch.membership.identity_of(&distribution.sender) != Some(from.1) {
            return Err(SealError::IdentityMismatch);
        }
        let signing_key = VerifyingSigningKey::decode(&distribution.signing_key)?;
        let chain_key = super::chain::GroupChainKey::from_bytes(distribution.chain_key.0);
        let fingerprint = ChainIdentity {
            group_id: &distribution.group_id,
            epoch: distribution.epoch,
            sender: &distribution.sender,
            iteration: distribution.iteration,
            chain_key: &chain_key,
            signing_key: &distribution.signing_key,
        }
        .fingerprint();
        let sender = distribution.sender.clone().into_owned();
        if let Some(held_chain) = epoch.receiving.get(&sender) {
            if held_chain.fingerprint != fingerprint {
                return Err(SealError::EquivocatedSenderKey);
            }
            return Ok(DistributionAccepted {
                epoch: distribution.epoch,
                new_chain: false,
                view: epoch.view_status(&self.local),
            });
        }
        let local = self.local.clone();
        let epoch = self.epoch_mut(held)?;
        epoch.receiving.insert(
            sender,
            ReceivingChain::from_distribution(distribution, signing_key, fingerprint),
        );
        epoch.refresh_view(&local);
        Ok(DistributionAccepted {
            epoch: distribution.epoch,
            new_chain: true,
            view: epoch.view_status(&local),
        })
    }

    /// Makes a change: signs the control message with this device's chain,
    /// seals it in the current epoch, and (unless this device leaves) enters
    /// the new epoch with a fresh chain. On any error nothing changes.
    pub fn change<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        request: ChangeRequest,
        now_ms: u64,
    ) -> Result<ChangeSent, SealError> {
        if self.status != MemberStatus::Member {
            return Err(SealError::NotAMember);
        }
        let action = match request {
            ChangeRequest::Add(members) => GroupAction::Add {
                members: members.into(),
            },
            ChangeRequest::Remove(members) => GroupAction::Remove {
                members: members.into(),
            },
            ChangeRequest::Leave => GroupAction::Leave,
            ChangeRequest::ShareConsent => GroupAction::ShareConsent {
                consent: GroupConsent(*random_bytes::<32, _>(rng)),
            },
        };
        let next = control::next_membership(&self.current.membership, &self.local, &action)?;
        let signing = &self
            .current
            .sending
            .as_ref()
            .ok_or(SealError::InvalidState)?
            .signing;
        let mut control_message = GroupControl {
            group_id: *self.group_id(),
            epoch: self.current.number(),
            membership_hash: *self.current.membership.hash(),
            actor: self.local.clone(),
            action,
            new_membership_hash: *next.hash(),
            signature: fuin_wire::Ed25519Signature([0; 64]),
        };
        control_message.signature = control::sign(signing, &control_message);
        let body = Zeroizing::new(control_message.to_bytes()?);

        // Work on a copy: the state changes only if everything succeeds.
        let mut after = self.clone();
        let message = after.seal_content(rng, ContentType::GroupControl, &body, now_ms)?;
        let recipients = after.recipients().cloned().collect();
        let joiners = match &control_message.action {
            GroupAction::Add { members } => members
                .as_slice()
                .iter()
                .map(|member| member.address.clone())
                .collect(),
            _ => Vec::new(),
        };
        let distribution = match control_message.action {
            GroupAction::Leave => {
                after.status = MemberStatus::Left;
                after.current.sending = None;
                None
            }
            GroupAction::ShareConsent { consent } => {
                after.consent = Some(consent);
                Some(after.enter(rng, next, now_ms)?)
            }
            _ => Some(after.enter(rng, next, now_ms)?),
        };
        let distribute_to = match distribution {
            Some(_) => after.recipients().cloned().collect(),
            None => Vec::new(),
        };
        let welcome = if joiners.is_empty() {
            Vec::new()
        } else {
            after.welcome()
        };
        *self = after;
        Ok(ChangeSent {
            message,
            recipients,
            distribution,
            distribute_to,
            welcome,
            joiners,
        })
    }

    /// Moves to the epoch of `next` with a fresh chain: the current epoch
    /// becomes the previous one (without this device's chain and the chains
    /// of departed members), and kept keys of anything older go.
    fn enter<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        next: Membership,
        now_ms: u64,
    ) -> Result<SenderKeyDistribution<'static>, SealError> {
        let fresh = Epoch::fresh(rng, next, &self.local);
        let distribution = fresh.own_distribution(&self.local)?;
        let mut old = std::mem::replace(&mut self.current, fresh);
        old.sending = None;
        old.receiving
            .retain(|address, _| self.current.membership.contains(address));
        let (current, previous) = (self.current.number(), old.number());
        self.previous = Some(old);
        let members = &self.current.membership;
        self.skipped.retain(now_ms, |epoch, sender| {
            epoch == current || (epoch == previous && members.contains(sender))
        });
        Ok(distribution)
    }

    /// Applies a control message another member made (it arrives in a group
    /// message: see [`GroupOpened::control`]), checking that the actor is a
    /// member of this device's current epoch and that its chain of that epoch
    /// signed it. On any error nothing changes.
    pub fn apply_control<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        control: &GroupControl<'_>,
        now_ms: u64,
    ) -> Result<ControlApplied, SealError> {
        if control.group_id != *self.group_id() {
            return Err(SealError::WrongGroup);
        }
        let actor = control.actor.clone().into_owned();
        match self.held(control.epoch)? {
            Held::Current => {}
            Held::Previous => return self.previous_control(control, actor),
        }
        if self.status != MemberStatus::Member {
            return Err(SealError::NotAMember);
        }
        if control.membership_hash != *self.current.membership.hash() {
            return Err(SealError::MembershipMismatch);
        }
        if !self.current.membership.contains(&actor) {
            return Err(SealError::NotAMember);
        }
        if actor == self.local {
            return Err(SealError::ApiMisuse {
                reason: "this device's own control messages take effect when made",
            });
        }
        let chain = self
            .current
            .receiving
            .get(&actor)
            .ok_or(SealError::MissingSenderKey)?;
        control::verify(&chain.signing_key, control)?;
        let next = control::next_membership(&self.current.membership, &actor, &control.action)?;
        if *next.hash() != control.new_membership_hash {
            return Err(SealError::MembershipMismatch);
        }

        let mut after = self.clone();
        let outcome = match &control.action {
            GroupAction::Add { members } => ControlOutcome::Added(
                members
                    .as_slice()
                    .iter()
                    .map(|member| member.address.clone().into_owned())
                    .collect(),
            ),
            GroupAction::Remove { members } if members.as_slice().contains(&self.local) => {
                ControlOutcome::RemovedThisDevice
            }
            GroupAction::Remove { members } => ControlOutcome::Removed(
                members
                    .as_slice()
                    .iter()
                    .map(|address| address.clone().into_owned())
                    .collect(),
            ),
            GroupAction::Leave => ControlOutcome::Left,
            GroupAction::ShareConsent { consent } => {
                after.consent = Some(consent.clone());
                ControlOutcome::ConsentShared
            }
        };
        let distribution = if outcome == ControlOutcome::RemovedThisDevice {
            after.status = MemberStatus::Removed;
            after.current.sending = None;
            None
        } else {
            Some(after.enter(rng, next, now_ms)?)
        };
        let distribute_to = match distribution {
            Some(_) => after.recipients().cloned().collect(),
            None => Vec::new(),
        };
        *self = after;
        Ok(ControlApplied {
            actor,
            epoch: self.current.number(),
            outcome,
            distribution,
            distribute_to,
        })
    }

    /// A control message of the epoch this device has just left: the one that
    /// started the current epoch again (nothing to do), or a concurrent one
    /// that lost the race (refused).
    fn previous_control(
        &self,
        control: &GroupControl<'_>,
        actor: DeviceAddress<'static>,
    ) -> Result<ControlApplied, SealError> {
        let previous = self.previous.as_ref().ok_or(SealError::InvalidState)?;
        if control.membership_hash != *previous.membership.hash() {
            return Err(SealError::MembershipMismatch);
        }
        let started_this_epoch = control.new_membership_hash == *self.current.membership.hash();
        // Check the signature whenever the actor's chain is still held. Its
        // chain is gone when it left or this device made the control; then
        // only the control that started the current epoch is recognised (which
        // changes nothing), and nothing is said about any other.
        match previous.receiving.get(&actor) {
            Some(chain) => control::verify(&chain.signing_key, control)?,
            None if started_this_epoch => {}
            None => return Err(SealError::NotAMember),
        }
        if !started_this_epoch {
            return Err(SealError::ConflictingChange);
        }
        Ok(ControlApplied {
            actor,
            epoch: self.current.number(),
            outcome: ControlOutcome::AlreadyApplied,
            distribution: None,
            distribute_to: Vec::new(),
        })
    }
}
