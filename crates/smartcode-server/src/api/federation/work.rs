//! The proof of work a peer asks of this broker. A peer counts the wrong codes this broker sends
//! it against this broker as a whole (its budget is a source's), so once this broker's buyers
//! and guessers together spent it, the peer answers a charge or hold `challenge_required` with a
//! challenge, as it would a source without a proof. This broker then does the work itself (each
//! of its own sources already passed its own guessing defence, and paid its own work when its
//! budget was spent) and sends the entry again with the answer, within the charge's deadline.
//! A challenge over [`PEER_POW_BITS_MAX`] bits (an attack under way at the peer) is not done, nor
//! is more than [`PEER_POW_AT_ONCE_MAX`] at once: the seller is then told `429 rate_limited`, as
//! before. This keeps a low-volume peer's buyers paying after their typos; a busy peer whose
//! typos outrun its budget needs a larger budget at its peer, which is not built yet.

use smartcode_api::challenge::ChallengeJson;
use smartcode_api::{EntryAnswer, FederationEntry};
use smartcode_core::limits::{PEER_POW_AT_ONCE_MAX, PEER_POW_BITS_MAX};

/// `entry` again with the answer to the challenge in `answer`, if the peer asked for work this
/// broker does (and had not been given an answer already) and it is done within `left` (the
/// charge's deadline); `None` otherwise. One piece of work at a time in the whole process
/// ([`PEER_POW_AT_ONCE_MAX`]): a charge that finds it busy is not worked for, so a peer whose
/// budget is spent costs this broker at most that much CPU however many charges it sends, and the
/// blocking threads its PINs are checked on stay free.
pub(super) async fn answered(
    entry: &FederationEntry,
    answer: &EntryAnswer,
    left: std::time::Duration,
) -> Option<FederationEntry> {
    static AT_ONCE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PEER_POW_AT_ONCE_MAX);
    let challenge = challenge_of(answer)?;
    let mut entry = entry.clone();
    let slot = match &mut entry {
        FederationEntry::Charge { answer, .. } | FederationEntry::Hold { answer, .. } if answer.is_none() => answer,
        _ => return None,
    };
    let permit = AT_ONCE.try_acquire().ok()?;
    // The permit goes with the work: held until it is done, even if the charge stops waiting.
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        challenge.answer(PEER_POW_BITS_MAX)
    });
    let solved = tokio::time::timeout(left, work).await.ok()?.ok()??;
    *slot = Some(solved);
    Some(entry)
}

/// The challenge of a `challenge_required` refusal this broker may answer.
fn challenge_of(answer: &EntryAnswer) -> Option<ChallengeJson> {
    let problem = answer.problem.as_ref().filter(|p| p.code == "challenge_required")?;
    let challenge = ChallengeJson::from_header(problem.challenge.as_deref()?)?;
    (challenge.difficulty_bits <= PEER_POW_BITS_MAX).then_some(challenge)
}

#[cfg(test)]
mod tests {
    use smartcode_api::{EntryAnswer, EntryProblem};

    use super::*;

    fn asked(bits: u32) -> EntryAnswer {
        let challenge = ChallengeJson {
            id: "c1".into(),
            algorithm: "sha256".into(),
            difficulty_bits: bits,
            salt: "00ff".into(),
            expires_at: "2099-01-01T00:00:00Z".into(),
        };
        EntryAnswer {
            id: "x_1".into(),
            status: "refused".into(),
            approval: None,
            expires_at: None,
            certificate: None,
            problem: Some(EntryProblem {
                status: 429,
                code: "challenge_required".into(),
                detail: String::new(),
                challenge: Some(challenge.to_header()),
            }),
        }
    }

    #[test]
    fn a_peers_challenge_is_done_up_to_its_bound_and_not_beyond() {
        assert!(challenge_of(&asked(8)).is_some());
        assert!(challenge_of(&asked(PEER_POW_BITS_MAX)).is_some());
        assert!(
            challenge_of(&asked(PEER_POW_BITS_MAX + 1)).is_none(),
            "an attack under way at the peer: this broker does not do its work"
        );
        let mut other = asked(8);
        other.problem.as_mut().unwrap().code = "invalid_code".into();
        assert!(challenge_of(&other).is_none());
    }
}
