//! Groups follow device lists (`spec/accounts.md` §8.5): when this device
//! links a device of its user, it adds it to every group it is a member of,
//! so that it receives the sender keys of the new epoch; when it removes
//! one, it removes it from them, which starts a new epoch without it.

use fuin_seal::VerifiedDeviceList;
use fuin_seal::group::{ChangeRequest, MemberStatus};
use fuin_wire::GroupMember;

use super::store::Groups;
use crate::ClientError;
use crate::client::{Client, State};
use crate::event::Event;

impl Client {
    /// Applies the change from `old` to `new` (this user's lists) to every
    /// group this device is a member of. Returns how many group changes were
    /// made; one that fails is reported as
    /// [`Event::GroupDevicesNotUpdated`] and the others go on.
    pub(crate) async fn follow_own_devices_in_groups(
        &self,
        state: &mut State,
        old: &VerifiedDeviceList,
        new: &VerifiedDeviceList,
    ) -> Result<usize, ClientError> {
        let (added, removed) = crate::account::list_changes(old, new);
        if added.is_empty() && removed.is_empty() {
            return Ok(0);
        }
        let groups = Groups {
            db: state.store.reader(),
        }
        .all()?;
        let mut changed = 0;
        for group in groups {
            if group.status() != MemberStatus::Member {
                continue;
            }
            let id = *group.group_id();
            let membership = group.membership();
            let leaving: Vec<_> = removed
                .iter()
                .filter(|address| membership.contains(address))
                .cloned()
                .collect();
            let joining: Vec<_> = added
                .iter()
                .filter(|device| !membership.contains(&device.address))
                .filter_map(|device| {
                    new.identity_of(device.address.device)
                        .map(|identity| GroupMember {
                            address: device.address.clone(),
                            identity: identity.clone(),
                        })
                })
                .collect();
            let mut requests = Vec::new();
            if !leaving.is_empty() {
                requests.push(ChangeRequest::Remove(leaving));
            }
            if !joining.is_empty() {
                requests.push(ChangeRequest::Add(joining));
            }
            for request in requests {
                match self.change_group(state, &id, request).await {
                    Ok(_) => changed += 1,
                    // The list change stands; the user is told, and a member
                    // can make the change by hand.
                    Err(err) => self.emit(Event::GroupDevicesNotUpdated {
                        group: hex::encode(id.0),
                        reason: err.to_string(),
                    }),
                }
            }
        }
        Ok(changed)
    }
}

/// The members a fan-out names: those the newest trusted list of their user
/// still names (or whose user this device holds no list of). A removed
/// device is no longer registered at the relay, and a fan-out naming it
/// would be refused whole, for every member.
pub(super) fn listed_recipients<'a>(
    db: crate::store::Reader<'_>,
    members: impl Iterator<Item = &'a fuin_wire::DeviceAddress<'static>>,
) -> Result<Vec<fuin_wire::DeviceAddress<'static>>, ClientError> {
    let mut out = Vec::new();
    for member in members {
        if db.peer(member)?.is_some() || db.account(&member.user)?.is_none() {
            out.push(member.clone());
        }
    }
    Ok(out)
}
