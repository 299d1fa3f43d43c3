//! Which group changes smc accepts: what its own clients make, nothing else.
//!
//! MLS lets any member propose or commit almost anything (remove someone else, change
//! the group's extensions, re-initialise it...). smc's clients only ever invite (a
//! commit adding members), renew their own leaf key (a commit with an update path),
//! leave (a proposal removing themselves, committed by another member), and invite
//! again someone whose Welcome never got through (a commit replacing their leaf by a
//! new one of the same name). The same rule is enforced by the server (on the group's
//! public state) and by every client, so one member cannot remove another, or steer
//! the group, by hand-made messages; the server also refuses replacing the leaf of
//! someone who joined the room (only an invitee's can be).

use openmls::prelude::*;

/// Whether a standalone proposal is allowed: only a member's own removal.
pub(crate) fn check_proposal(proposal: &QueuedProposal) -> Result<(), String> {
    match (proposal.proposal(), proposal.sender()) {
        (Proposal::Remove(remove), Sender::Member(sender)) if remove.removed() == *sender => Ok(()),
        (Proposal::SelfRemove, Sender::Member(_)) => Ok(()),
        (Proposal::Remove(_), _) => Err("a proposal to remove someone else".into()),
        (other, _) => Err(format!(
            "a {:?} proposal (only leaving is proposed in smc)",
            other.proposal_type()
        )),
    }
}

/// Whether a commit is allowed: additions (invitations), the committer's own key
/// renewal, the removals members asked for themselves, and the replacement of a leaf
/// by a new one of the same name in the same commit (an invitation made again;
/// `leaf_name` names a leaf of the group before the commit); nothing else.
pub(crate) fn check_commit(
    commit: &StagedCommit,
    leaf_name: impl Fn(LeafNodeIndex) -> Option<String>,
) -> Result<(), String> {
    let added: Vec<String> = commit
        .add_proposals()
        .filter_map(|add| {
            crate::e2e::group::member_name(
                add.add_proposal().key_package().leaf_node().credential(),
            )
            .ok()
        })
        .collect();
    for queued in commit.queued_proposals() {
        match queued.proposal() {
            Proposal::Add(_) => {}
            Proposal::Remove(remove)
                if leaf_name(remove.removed()).is_some_and(|name| added.contains(&name)) => {}
            Proposal::Remove(_) | Proposal::SelfRemove => check_proposal(queued)?,
            other => {
                return Err(format!(
                    "a commit with a {:?} proposal (not something smc does)",
                    other.proposal_type()
                ))
            }
        }
    }
    Ok(())
}
