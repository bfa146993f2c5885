//! The computations of `spec/groups.md` and `spec/identifiers.md`, written a
//! second time directly on the crypto crates, and the group frames encoded
//! by hand from `spec/wire.md`. The group vector generator computes every
//! value with it; the group vector test checks fuin-seal against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::reference::{Bytes32, framed, hkdf, hmac, sha256, sign};

/// A member device: user id, device id, signing key, agreement key,
/// identity signature.
#[derive(Clone)]
pub struct Member {
    pub user: String,
    pub device: u32,
    pub signing_key: Bytes32,
    pub agreement_key: Bytes32,
    pub signature: [u8; 64],
}

/// Members in canonical order: user id bytes, then device id.
pub fn canonical(mut members: Vec<Member>) -> Vec<Member> {
    members.sort_by(|a, b| (a.user.as_bytes(), a.device).cmp(&(b.user.as_bytes(), b.device)));
    members
}

pub fn chain_step(chain: &Bytes32) -> (Bytes32, Bytes32) {
    (
        hmac(chain, b"fuin/v1/group-chain-message-key"),
        hmac(chain, b"fuin/v1/group-chain-next-key"),
    )
}

/// AES key, nonce and key commitment of one group message key, with the
/// message's 16-byte salt as HKDF salt (spec/groups.md §4).
pub fn message_aead(salt: &[u8; 16], message_key: &Bytes32) -> (Bytes32, [u8; 12], Bytes32) {
    let out = hkdf(Some(salt), message_key, b"fuin/v1/group-message-keys", 76);
    (
        out[..32].try_into().unwrap(),
        out[32..44].try_into().unwrap(),
        out[44..].try_into().unwrap(),
    )
}

pub fn membership_hash(group: &Bytes32, epoch: u64, members: &[Member]) -> Bytes32 {
    let epoch = epoch.to_be_bytes();
    let count = (members.len() as u32).to_be_bytes();
    let devices: Vec<[u8; 4]> = members.iter().map(|m| m.device.to_be_bytes()).collect();
    let mut fields: Vec<&[u8]> = vec![b"fuin/v1/group-membership", group, &epoch, &count];
    for (member, device) in members.iter().zip(&devices) {
        fields.extend([
            member.user.as_bytes(),
            device,
            &member.signing_key,
            &member.agreement_key,
        ]);
    }
    sha256(&framed(&fields))
}

pub fn fingerprint(
    group: &Bytes32,
    epoch: u64,
    sender: &Member,
    iteration: u32,
    chain_key: &Bytes32,
    signing_key: &Bytes32,
) -> Bytes32 {
    sha256(&framed(&[
        b"fuin/v1/group-chain-fingerprint",
        group,
        &epoch.to_be_bytes(),
        sender.user.as_bytes(),
        &sender.device.to_be_bytes(),
        &iteration.to_be_bytes(),
        chain_key,
        signing_key,
    ]))
}

/// The view over `members` (canonical order) with their fingerprints.
pub fn view_hash(
    group: &Bytes32,
    epoch: u64,
    membership: &Bytes32,
    members: &[(Member, Bytes32)],
) -> Bytes32 {
    let epoch = epoch.to_be_bytes();
    let count = (members.len() as u32).to_be_bytes();
    let devices: Vec<[u8; 4]> = members
        .iter()
        .map(|(m, _)| m.device.to_be_bytes())
        .collect();
    let mut fields: Vec<&[u8]> = vec![b"fuin/v1/group-view", group, &epoch, membership, &count];
    for ((member, fingerprint), device) in members.iter().zip(&devices) {
        fields.extend([member.user.as_bytes(), device.as_slice(), fingerprint]);
    }
    sha256(&framed(&fields))
}

pub fn group_conversation(group: &Bytes32) -> Bytes32 {
    sha256(&framed(&[b"fuin/v1/group-conversation", group]))
}

/// The protocol version bound into a group message's associated data:
/// protocol version 3 changed only the one-to-one handshake, so group
/// messages keep version 2's byte (spec/groups.md §6.1).
pub const GROUP_PROTOCOL_VERSION: u8 = 2;

#[allow(clippy::too_many_arguments)]
pub fn associated_data(
    group: &Bytes32,
    epoch: u64,
    membership: &Bytes32,
    sender: &Member,
    iteration: u32,
    view: Option<&Bytes32>,
    salt: &[u8; 16],
    commitment: &Bytes32,
) -> Vec<u8> {
    framed(&[
        b"fuin/v1/group-message-ad",
        &[GROUP_PROTOCOL_VERSION],
        group,
        &epoch.to_be_bytes(),
        membership,
        sender.user.as_bytes(),
        &sender.device.to_be_bytes(),
        &iteration.to_be_bytes(),
        view.map_or(&[][..], |view| view.as_slice()),
        salt,
        &2u32.to_be_bytes(),
        commitment,
    ])
}

/// The string a chain's key signs for a message (after the raw label).
pub fn message_signed_string(ad: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    framed(&[ad, ciphertext])
}

pub fn message_signature(seed: &Bytes32, ad: &[u8], ciphertext: &[u8]) -> [u8; 64] {
    sign(
        seed,
        b"fuin/v1/group-message-signature",
        &message_signed_string(ad, ciphertext),
    )
}

/// A control action, as the vectors use them.
pub enum Action {
    Add(Vec<Member>),
    Remove(Vec<Member>),
    Leave,
    ShareConsent(Bytes32),
}

impl Action {
    fn code(&self) -> u32 {
        match self {
            Self::Add(_) => 0,
            Self::Remove(_) => 1,
            Self::Leave => 2,
            Self::ShareConsent(_) => 3,
        }
    }
}

pub fn control_signed_string(
    group: &Bytes32,
    epoch: u64,
    membership: &Bytes32,
    actor: &Member,
    action: &Action,
    new_membership: &Bytes32,
) -> Vec<u8> {
    let mut out = framed(&[
        group,
        &epoch.to_be_bytes(),
        membership,
        actor.user.as_bytes(),
        &actor.device.to_be_bytes(),
        &action.code().to_be_bytes(),
    ]);
    match action {
        Action::Add(members) => {
            out.extend(framed(&[&(members.len() as u32).to_be_bytes()]));
            for member in members {
                out.extend(framed(&[
                    member.user.as_bytes(),
                    &member.device.to_be_bytes(),
                    &member.signing_key,
                    &member.agreement_key,
                ]));
            }
        }
        Action::Remove(members) => {
            out.extend(framed(&[&(members.len() as u32).to_be_bytes()]));
            for member in members {
                out.extend(framed(&[
                    member.user.as_bytes(),
                    &member.device.to_be_bytes(),
                ]));
            }
        }
        Action::Leave => {}
        Action::ShareConsent(consent) => out.extend(framed(&[consent])),
    }
    out.extend(framed(&[new_membership]));
    out
}

pub fn control_signature(seed: &Bytes32, signed: &[u8]) -> [u8; 64] {
    sign(seed, b"fuin/v1/group-control-signature", signed)
}

// --- identifiers (spec/identifiers.md)

pub fn user_identifier(secret: &Bytes32, audience: &[u8]) -> Bytes32 {
    hmac(secret, &framed(&[b"fuin/v1/audience-user", audience]))
}

pub fn conversation_identifier(
    secret: &Bytes32,
    audience: &[u8],
    conversation: &Bytes32,
) -> Bytes32 {
    hmac(
        secret,
        &framed(&[b"fuin/v1/audience-conversation", audience, conversation]),
    )
}

pub fn shared_identifier(consent: &Bytes32, audience: &[u8], conversation: &Bytes32) -> Bytes32 {
    hmac(
        consent,
        &framed(&[b"fuin/v1/audience-shared", audience, conversation]),
    )
}

// --- frames, encoded by hand from spec/wire.md

pub fn varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn bytes(out: &mut Vec<u8>, value: &[u8]) {
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn address(out: &mut Vec<u8>, member: &Member) {
    bytes(out, member.user.as_bytes());
    varint(out, u64::from(member.device));
}

fn group_member(out: &mut Vec<u8>, member: &Member) {
    address(out, member);
    out.extend_from_slice(&member.signing_key);
    out.extend_from_slice(&member.agreement_key);
    out.extend_from_slice(&member.signature);
}

fn option32(out: &mut Vec<u8>, value: Option<&Bytes32>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            out.extend_from_slice(value);
        }
    }
}

/// Tag 26.
pub fn distribution_frame(
    group: &Bytes32,
    epoch: u64,
    membership: &Bytes32,
    sender: &Member,
    iteration: u32,
    chain_key: &Bytes32,
    signing_key: &Bytes32,
) -> Vec<u8> {
    let mut out = vec![1, 26];
    out.extend_from_slice(group);
    varint(&mut out, epoch);
    out.extend_from_slice(membership);
    address(&mut out, sender);
    varint(&mut out, u64::from(iteration));
    out.extend_from_slice(chain_key);
    out.extend_from_slice(signing_key);
    out
}

/// Tag 39 (protocol version 2; tag 27 is retired).
pub fn message_frame(
    group: &Bytes32,
    epoch: u64,
    iteration: u32,
    view: Option<&Bytes32>,
    salt: &[u8; 16],
    ciphertext: &[u8],
    signature: &[u8; 64],
) -> Vec<u8> {
    let mut out = vec![1, 39];
    out.extend_from_slice(group);
    varint(&mut out, epoch);
    varint(&mut out, u64::from(iteration));
    option32(&mut out, view);
    out.extend_from_slice(salt);
    bytes(&mut out, ciphertext);
    out.extend_from_slice(signature);
    out
}

/// Tag 28.
pub fn content_frame(
    content_type: u32,
    message_id: &[u8; 16],
    sent_at_ms: u64,
    franking_key: &Bytes32,
    body: &[u8],
) -> Vec<u8> {
    let mut out = vec![1, 28];
    varint(&mut out, u64::from(content_type));
    out.extend_from_slice(message_id);
    varint(&mut out, sent_at_ms);
    out.extend_from_slice(franking_key);
    bytes(&mut out, body);
    out
}

/// Tag 29.
pub fn control_frame(
    group: &Bytes32,
    epoch: u64,
    membership: &Bytes32,
    actor: &Member,
    action: &Action,
    new_membership: &Bytes32,
    signature: &[u8; 64],
) -> Vec<u8> {
    let mut out = vec![1, 29];
    out.extend_from_slice(group);
    varint(&mut out, epoch);
    out.extend_from_slice(membership);
    address(&mut out, actor);
    varint(&mut out, u64::from(action.code()));
    match action {
        Action::Add(members) => {
            varint(&mut out, members.len() as u64);
            members.iter().for_each(|m| group_member(&mut out, m));
        }
        Action::Remove(members) => {
            varint(&mut out, members.len() as u64);
            members.iter().for_each(|m| address(&mut out, m));
        }
        Action::Leave => {}
        Action::ShareConsent(consent) => out.extend_from_slice(consent),
    }
    out.extend_from_slice(new_membership);
    out.extend_from_slice(signature);
    out
}

/// Tag 30.
#[allow(clippy::too_many_arguments)]
pub fn welcome_frame(
    group: &Bytes32,
    epoch: u64,
    membership: &Bytes32,
    page: u32,
    page_count: u32,
    members: &[Member],
    consent: Option<&Bytes32>,
) -> Vec<u8> {
    let mut out = vec![1, 30];
    out.extend_from_slice(group);
    varint(&mut out, epoch);
    out.extend_from_slice(membership);
    varint(&mut out, u64::from(page));
    varint(&mut out, u64::from(page_count));
    varint(&mut out, members.len() as u64);
    members.iter().for_each(|m| group_member(&mut out, m));
    option32(&mut out, consent);
    out
}
