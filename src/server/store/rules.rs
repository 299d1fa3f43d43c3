//! The rules every store applies to a message before it stores it, whatever the
//! backend: the same refusals from SQLite and from PostgreSQL.

use crate::e2e::group::MAX_PAST_EPOCHS;
use crate::proto::Refusal;
use crate::server::store::{
    DirectQuota, InvitationQuota, NewMessage, Newcomer, Registration, RegistrationPolicy,
};

/// The epoch a room moves to when a group-state change for `claimed` is accepted at
/// epoch `current`: only a change for exactly the current epoch is taken (one per
/// epoch, in order); an older one is [`Refusal::Stale`], a later one can only be a
/// lie (no member can be ahead of the server) and is refused. Checked arithmetic, and
/// the result stays within SQLite's signed 64-bit integers.
pub(crate) fn next_epoch_after(current: u64, claimed: u64) -> Result<u64, Refusal> {
    if claimed < current {
        return Err(Refusal::Stale { current });
    }
    if claimed > current {
        return Err(Refusal::BadRequest {
            reason: format!(
                "a group-state change for epoch {claimed}, but the room is at epoch {current}"
            ),
        });
    }
    current
        .checked_add(1)
        .filter(|next| *next <= i64::MAX as u64)
        .ok_or_else(|| Refusal::BadRequest {
            reason: "the room's epoch cannot advance further".into(),
        })
}

/// Whether `m` may be stored in a room at epoch `current` (`copy`: the same bytes are
/// stored already, from another sender): the room's epoch after it, or the refusal.
/// An MLS message of an epoch whose keys every member has dropped is
/// [`Refusal::Stale`] (nobody could read it); a group change must be for exactly the
/// current epoch ([`next_epoch_after`]); a copy is refused after those checks, which
/// say more.
pub(crate) fn admit(m: &NewMessage, current: u64, copy: bool) -> Result<u64, Refusal> {
    if m.commit_epoch.is_none()
        && m.mls_epoch
            .is_some_and(|e| e.saturating_add(MAX_PAST_EPOCHS as u64) < current)
    {
        return Err(Refusal::Stale { current });
    }
    let next = match m.commit_epoch {
        Some(e) => next_epoch_after(current, e)?,
        None => current,
    };
    if copy {
        return Err(Refusal::BadRequest {
            reason: "a copy of a message already stored".into(),
        });
    }
    Ok(next)
}

/// Whether the sender of `m` may post in the room: a member, or for a farewell
/// ([`NewMessage::farewell`]) a user with a pending invitation. Checked in the
/// transaction that stores the message: a node's routing table may lag behind a
/// removal made through another node, the store does not.
pub(crate) fn may_post(m: &NewMessage, member: bool, invited: bool) -> Result<(), Refusal> {
    if member || (m.farewell && invited) {
        Ok(())
    } else {
        Err(Refusal::NotAMember {
            room: m.room.clone(),
        })
    }
}

/// A client's position (a sequence number or an id, which it chooses) as a 64-bit
/// signed database integer: anything past the largest one is the largest one, never a
/// negative number that would select everything.
pub(crate) fn position(after: u64) -> i64 {
    i64::try_from(after).unwrap_or(i64::MAX)
}

/// What the row of a name already registered decides (`existing`: whether it holds the
/// same key, and whether it was released): `Err` with the answer (`Known` for the same
/// key, `Taken` for another), or `Ok(reclaimed)`: free for a new holder, a released
/// name taken over when `true`.
pub(crate) fn name_standing(existing: Option<(bool, bool)>) -> Result<bool, Registration> {
    match existing {
        Some((true, false)) => Err(Registration::Known),
        Some((false, false)) => Err(Registration::Taken),
        Some((_, true)) => Ok(true),
        None => Ok(false),
    }
}

/// Whether `policy` lets a new name in: `Ok(None)` at once, `Ok(Some(digest))` if the
/// token of that digest is spent (then [`TOKEN_REFUSED`] when it cannot be), or the
/// refusal.
pub(crate) fn admission(
    policy: RegistrationPolicy,
    token_digest: Option<&[u8]>,
) -> Result<Option<&[u8]>, Registration> {
    match policy {
        RegistrationPolicy::Open => Ok(None),
        RegistrationPolicy::Closed => {
            Err(Registration::Refused("this server registers nobody new"))
        }
        RegistrationPolicy::Token => token_digest.map(Some).ok_or(Registration::Refused(
            "this server registers new names with an invitation token only",
        )),
    }
}

/// The answer to a token that is unknown or already spent.
pub(crate) const TOKEN_REFUSED: Registration =
    Registration::Refused("the registration token is unknown or already used");

/// Whether one more delivery of `len` bytes fits a recipient's queue that holds `count`
/// deliveries of `bytes` bytes, `from_sender` of them from its sender.
pub(crate) fn direct_fits(
    quota: &DirectQuota,
    count: u64,
    bytes: u64,
    from_sender: u64,
    len: usize,
) -> bool {
    (count as usize) < quota.count
        && (bytes as usize).saturating_add(len) <= quota.bytes
        && (from_sender as usize) < quota.per_sender
}

/// The refusal of a commit that replaces the leaf of someone who joined the room
/// (only an invitee's leaf may be replaced, when the invitation is made again).
pub(crate) fn replacing_a_member() -> Refusal {
    Refusal::BadRequest {
        reason: "a commit replacing the leaf of a member who joined the room".into(),
    }
}

/// Whether an address that registered `recent` names in the last hour may register
/// one more.
pub(crate) fn registration_allowed(from: &Newcomer, recent: i64) -> bool {
    from.per_hour == 0 || recent < i64::from(from.per_hour)
}

/// Whether a user with `linked` devices linked and not revoked may link one more,
/// within `max` devices in all (their first one counted).
pub(crate) fn device_fits(linked: i64, max: usize) -> bool {
    usize::try_from(linked)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        < max
}

/// Whether one more invitation fits a user who has `pending` invitations,
/// `from_inviter` of them from this inviter and `from_strangers` from inviters who
/// share no room with them (`stranger`: whether this inviter is one).
pub(crate) fn invitation_fits(
    quota: &InvitationQuota,
    pending: i64,
    from_inviter: i64,
    from_strangers: i64,
    stranger: bool,
) -> bool {
    let under = |n: i64, max: usize| (n.max(0) as usize) < max.max(1);
    under(pending, quota.max_pending)
        && (!stranger
            || (under(from_inviter, quota.per_stranger)
                && under(from_strangers, quota.from_strangers)))
}

/// Whether `m` may be stored by a sender who has `stored` payload bytes stored
/// ([`NewMessage::max_stored`]).
pub(crate) fn storage_allowed(m: &NewMessage, stored: u64) -> Result<(), Refusal> {
    if m.commit_epoch.is_some() || m.farewell {
        return Ok(());
    }
    if stored.saturating_add(m.payload.len() as u64) <= m.max_stored {
        Ok(())
    } else {
        Err(Refusal::QuotaExceeded {
            reason: format!(
                "you have stored {stored} bytes in rooms, and may store {} at most",
                m.max_stored
            ),
        })
    }
}

/// The rows of `rows` that fit in `max_bytes` (by `size`), and always the first one:
/// a page of a read. Rows past it are never read (SQLite steps its statement lazily),
/// so a request's memory and work are bounded by the budget, not by how much the
/// query could match.
pub(crate) fn page<T, E>(
    rows: impl Iterator<Item = Result<T, E>>,
    size: impl Fn(&T) -> usize,
    max_bytes: usize,
) -> Result<Vec<T>, E> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for row in rows {
        let row = row?;
        total = total.saturating_add(size(&row));
        if total > max_bytes && !out.is_empty() {
            break;
        }
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod page_tests {
    use super::page;

    #[test]
    fn a_page_stops_at_its_budget_and_holds_at_least_one_row() {
        let rows = [4usize, 4, 4, 4];
        let read = std::cell::Cell::new(0);
        let it = rows.iter().map(|r| {
            read.set(read.get() + 1);
            Ok::<_, ()>(*r)
        });
        assert_eq!(page(it, |r| *r, 9).unwrap(), [4, 4]);
        assert_eq!(read.get(), 3, "read one row past the budget, no more");
        let big = [100usize, 1];
        assert_eq!(
            page(big.iter().map(|r| Ok::<_, ()>(*r)), |r| *r, 9).unwrap(),
            [100]
        );
    }
}
