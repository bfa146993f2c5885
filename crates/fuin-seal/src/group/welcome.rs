//! Welcomes: the member list of an epoch, in pages small enough for one
//! message body each, for a device that joins.

use fuin_wire::group::MAX_WELCOME_MEMBERS;
use fuin_wire::{GroupConsent, GroupWelcome};

use super::membership::Membership;
use crate::SealError;

/// The pages of `membership`'s member list, each carrying `consent`.
pub(crate) fn pages(
    membership: &Membership,
    consent: Option<&GroupConsent>,
) -> Vec<GroupWelcome<'static>> {
    let chunks: Vec<_> = membership.members().chunks(MAX_WELCOME_MEMBERS).collect();
    let page_count = chunks.len() as u32;
    chunks
        .into_iter()
        .enumerate()
        .map(|(page, members)| GroupWelcome {
            group_id: *membership.group_id(),
            epoch: membership.epoch(),
            membership_hash: *membership.hash(),
            page: page as u32,
            page_count,
            members: members.to_vec().into(),
            consent: consent.cloned(),
        })
        .collect()
}

fn invalid(reason: &'static str) -> SealError {
    SealError::InvalidWelcome { reason }
}

/// Puts a welcome's pages (in any order) back together: every page of one
/// group, epoch and membership hash, with one page count and one consent,
/// each page exactly once; the members in canonical order, hashing to the
/// pages' membership hash.
pub(crate) fn assemble(
    pages: &[GroupWelcome<'_>],
) -> Result<(Membership, Option<GroupConsent>), SealError> {
    let first = pages.first().ok_or(invalid("no page"))?;
    let count = first.page_count as usize;
    if count == 0 || pages.len() != count {
        return Err(invalid("not exactly the pages the welcome has"));
    }
    let mut ordered: Vec<Option<&GroupWelcome<'_>>> = vec![None; count];
    for page in pages {
        if page.group_id != first.group_id
            || page.epoch != first.epoch
            || page.membership_hash != first.membership_hash
            || page.page_count != first.page_count
            || page.consent != first.consent
        {
            return Err(invalid("pages of different welcomes"));
        }
        let slot = ordered
            .get_mut(page.page as usize)
            .ok_or(invalid("a page number beyond the page count"))?;
        if slot.replace(page).is_some() {
            return Err(invalid("a page given twice"));
        }
    }
    let members = ordered
        .into_iter()
        .flatten()
        .flat_map(|page| page.members.as_slice().iter().cloned())
        .map(|member| member.into_owned())
        .collect();
    let membership = Membership::from_sorted(first.group_id, first.epoch, members)
        .map_err(|_| invalid("the member list is not in canonical order, or too long"))?;
    if *membership.hash() != first.membership_hash {
        return Err(SealError::MembershipMismatch);
    }
    Ok((membership, first.consent.clone()))
}
