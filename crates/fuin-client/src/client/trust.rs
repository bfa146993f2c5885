//! Whom to seal for: the devices the newest verified list of a user names
//! (`spec/accounts.md` §8.2).

use fuin_wire::{DeviceAddress, PublicIdentity, UserId};

use crate::ClientError;

use super::{Client, State};

impl Client {
    /// The devices of `user` to seal for, with the identities their signed
    /// list gives them (this device left out): the list the relay serves if
    /// it verifies and is not older than the newest this device has seen,
    /// else that newest one. Fails with [`ClientError::IdentityChanged`]
    /// while a change of the user's account key waits for the user.
    pub(crate) async fn resolve_devices(
        &self,
        state: &mut State,
        user: &UserId<'static>,
    ) -> Result<Vec<(DeviceAddress<'static>, PublicIdentity)>, ClientError> {
        let list = self.refresh_device_list(state, user).await?;
        Ok(list
            .list()
            .content
            .devices
            .as_slice()
            .iter()
            .map(|entry| {
                (
                    DeviceAddress::new(user.clone(), entry.device),
                    entry.identity.clone(),
                )
            })
            .filter(|(address, _)| *address != self.inner.address)
            .collect())
    }
}
