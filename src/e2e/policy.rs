//! Which group changes smc accepts: what its own clients make, nothing else.
//!
//! MLS lets any member propose or commit almost anything (remove someone else, change
//! the group's extensions, re-initialise it...). smc's clients only ever invite (a
//! commit adding members), renew their own leaf key (a commit with an update path),
//! and leave (a proposal removing themselves, committed by another member). The same
//! rule is enforced by the server (on the group's public state) and by every client,
//! so one member cannot remove another, or steer the group, by hand-made messages.

use openmls::prelude::*;

/// Whether a standalone proposal is allowed: only a member's own removal.
pub fn check_proposal(proposal: &QueuedProposal) -> Result<(), String> {
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
/// renewal, and the removals members asked for themselves; nothing else.
pub fn check_commit(commit: &StagedCommit) -> Result<(), String> {
    for queued in commit.queued_proposals() {
        match queued.proposal() {
            Proposal::Add(_) => {}
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
