//! The buyer's side of a negotiation: a [`Strategy`] decides each round's bid and whether to take
//! the seller's counter-offer, always within the room the buyer's spending rules leave (the
//! broker never pays more than that with no one asked, whatever a strategy says).
//!
//! A new strategy is a type that implements [`Strategy`], a name in [`from_request`], and the
//! name's fields in `StrategyJson` (smartcode-api) and in the OpenAPI document. Everything is in
//! the smallest unit of the offer's currency; nothing here rounds.

use crate::problem::ApiError;

/// How the broker bids for a buyer.
pub trait Strategy: Send + Sync {
    /// Its name, as a purchase names it.
    fn name(&self) -> &'static str;
    /// The bid of `round` (1 for the first), at most `room`.
    fn bid(&self, round: u32, room: i64) -> i64;
    /// Whether to take the seller's counter-offer `counter`, made to the bid of `round` of
    /// `rounds`. A counter is never taken above `room`, whatever this answers.
    fn takes(&self, counter: i64, round: u32, rounds: u32, room: i64) -> bool;
}

/// Bids the rules' limit at once and takes any counter within it.
pub struct Plain;

impl Strategy for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }

    fn bid(&self, _: u32, room: i64) -> i64 {
        room
    }

    fn takes(&self, counter: i64, _: u32, _: u32, room: i64) -> bool {
        counter <= room
    }
}

/// Bids `start`, raises by `step` each round up to the limit, and takes a counter no higher
/// than its bid of that round, or, in the last round, any within the limit.
pub struct Concede {
    pub start: i64,
    pub step: i64,
}

impl Strategy for Concede {
    fn name(&self) -> &'static str {
        "concede"
    }

    fn bid(&self, round: u32, room: i64) -> i64 {
        let raised = self
            .step
            .checked_mul(i64::from(round.saturating_sub(1)))
            .and_then(|up| self.start.checked_add(up))
            .unwrap_or(i64::MAX);
        raised.min(room)
    }

    fn takes(&self, counter: i64, round: u32, rounds: u32, room: i64) -> bool {
        counter <= room && (counter <= self.bid(round, room) || round >= rounds)
    }
}

/// The strategy a purchase asks for (`None`: plain).
pub fn from_request(request: Option<&smartcode_api::StrategyJson>) -> Result<Box<dyn Strategy>, ApiError> {
    let Some(request) = request else {
        return Ok(Box::new(Plain));
    };
    let amount = |field: &str, value: Option<&smartcode_api::RequestAmount>| {
        let value = value.ok_or_else(|| ApiError::invalid_request(format!("strategy concede needs {field}")))?;
        crate::wire::ParseAmount::parse(value).map(|a| a.units())
    };
    match request.name.as_str() {
        "plain" if request.start.is_none() && request.step.is_none() => Ok(Box::new(Plain)),
        "plain" => Err(ApiError::invalid_request("strategy plain takes no start or step")),
        "concede" => Ok(Box::new(Concede {
            start: amount("start", request.start.as_ref())?,
            step: amount("step", request.step.as_ref())?,
        })),
        _ => Err(ApiError::invalid_request("a strategy is plain or concede")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bids_the_room_and_takes_any_counter_within_it() {
        assert_eq!(Plain.bid(1, 40_000), 40_000);
        assert!(Plain.takes(40_000, 1, 4, 40_000));
        assert!(!Plain.takes(40_001, 4, 4, 40_000));
    }

    #[test]
    fn concede_raises_by_its_step_up_to_the_room() {
        let concede = Concede {
            start: 10_000,
            step: 5_000,
        };
        let bids: Vec<i64> = (1..=5).map(|round| concede.bid(round, 22_000)).collect();
        assert_eq!(bids, [10_000, 15_000, 20_000, 22_000, 22_000]);
        assert!(
            !concede.takes(18_000, 2, 4, 22_000),
            "above its bid before the last round"
        );
        assert!(concede.takes(18_000, 4, 4, 22_000), "within the room in the last round");
        assert!(!concede.takes(23_000, 4, 4, 22_000), "never above the room");
        let huge = Concede {
            start: i64::MAX - 1,
            step: i64::MAX,
        };
        assert_eq!(huge.bid(3, 7), 7, "no overflow");
    }
}
