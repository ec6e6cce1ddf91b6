//! How long one sync keeps going (spec §11.7): its rounds are bounded by
//! time, not by a count, and every lost race for the next version
//! (`pull_required`), from the first, is followed by a random pause that
//! doubles with each lost race in a row, so that nodes which lost to each
//! other do not race again in step.

use std::time::{Duration, Instant};

/// The time a sync may spend in its rounds by default.
pub const DEFAULT_SYNC_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The pause after the first lost race in a row is random, up to this;
const FIRST_PAUSE_CAP: Duration = Duration::from_millis(10);
/// it doubles with each lost race in a row, up to this.
const LONGEST_PAUSE_CAP: Duration = Duration::from_millis(250);

/// What a sync does after a round that did not finish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextRound {
    /// Starts the next round after this pause.
    After(Duration),
    /// Stops: the next round could not begin within the time limit.
    GiveUp,
}

/// The rounds of one sync.
#[derive(Debug)]
pub struct Rounds {
    started: Instant,
    limit: Duration,
    lost_in_a_row: u32,
    done: usize,
}

impl Rounds {
    /// The rounds of a sync that begins now and may take `limit`.
    pub fn new(limit: Duration) -> Rounds {
        Rounds {
            started: Instant::now(),
            limit,
            lost_in_a_row: 0,
            done: 0,
        }
    }

    /// Rounds done so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// After a round that did not finish the sync, `elapsed` since it
    /// began: `lost_race` when the round's push got `pull_required`;
    /// `random` draws the pause.
    pub fn next(&mut self, elapsed: Duration, lost_race: bool, random: u16) -> NextRound {
        self.done += 1;
        let pause = if lost_race {
            self.lost_in_a_row += 1;
            random_pause(self.lost_in_a_row, random)
        } else {
            self.lost_in_a_row = 0;
            Duration::ZERO
        };
        if elapsed + pause >= self.limit {
            NextRound::GiveUp
        } else {
            NextRound::After(pause)
        }
    }

    /// [`Rounds::next`] now, with a fresh draw, then its pause; an error
    /// when the sync must give up.
    pub async fn pause(&mut self, lost_race: bool) -> Result<(), crate::ClientError> {
        match self.next(self.started.elapsed(), lost_race, draw()) {
            NextRound::After(pause) => {
                tokio::time::sleep(pause).await;
                Ok(())
            }
            NextRound::GiveUp => Err(crate::ClientError::TooManyRounds(self.done())),
        }
    }
}

/// The longest pause after `lost` races lost in a row (at least one).
fn pause_cap(lost: u32) -> Duration {
    let doublings = lost.saturating_sub(1).min(16);
    FIRST_PAUSE_CAP
        .saturating_mul(1 << doublings)
        .min(LONGEST_PAUSE_CAP)
}

/// A random pause after the `nth` failure in a row (lost races, or lost
/// pages of a pull): up to 10 ms × 2^(nth − 1), at most 250 ms.
pub fn pause_after(nth: u32) -> Duration {
    random_pause(nth.max(1), draw())
}

/// The pause after `lost` failures in a row for the draw `random`: that
/// fraction of the cap.
fn random_pause(lost: u32, random: u16) -> Duration {
    pause_cap(lost).mul_f64(f64::from(random) / 65_536.0)
}

/// A random draw for [`Rounds::next`].
pub fn draw() -> u16 {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).expect("randomness");
    u16::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_sync_keeps_going_however_many_rounds_until_its_time_is_spent() {
        let mut rounds = Rounds::new(10 * SECOND);
        for _ in 0..1000 {
            assert_ne!(rounds.next(SECOND, true, 0), NextRound::GiveUp);
        }
        assert_eq!(rounds.done(), 1000);
        assert_eq!(rounds.next(10 * SECOND, false, 0), NextRound::GiveUp);
    }

    #[test]
    fn a_pause_that_would_end_past_the_limit_gives_up() {
        let mut rounds = Rounds::new(SECOND);
        let elapsed = SECOND - Duration::from_millis(1);
        assert_eq!(rounds.next(elapsed, true, u16::MAX), NextRound::GiveUp);
    }

    #[test]
    fn the_pause_is_random_from_the_first_lost_race_and_doubles_up_to_a_quarter_second() {
        let mut rounds = Rounds::new(3600 * SECOND);
        let NextRound::After(first) = rounds.next(SECOND, true, u16::MAX) else {
            panic!("gave up")
        };
        assert!(
            first > Duration::from_millis(9) && first <= FIRST_PAUSE_CAP,
            "{first:?}"
        );
        let mut longest = first;
        for _ in 0..20 {
            let NextRound::After(p) = rounds.next(SECOND, true, u16::MAX) else {
                panic!("gave up")
            };
            assert!(
                p >= longest && p <= LONGEST_PAUSE_CAP,
                "{p:?} after {longest:?}"
            );
            longest = p;
        }
        assert!(longest > LONGEST_PAUSE_CAP.mul_f64(0.99), "{longest:?}");
        assert_eq!(
            rounds.next(SECOND, true, 0),
            NextRound::After(Duration::ZERO),
            "a draw of 0 pauses not at all"
        );
        assert_eq!(
            rounds.next(SECOND, false, u16::MAX),
            NextRound::After(Duration::ZERO),
            "a round that did not lose a race is not followed by a pause"
        );
        let NextRound::After(again) = rounds.next(SECOND, true, u16::MAX) else {
            panic!("gave up")
        };
        assert!(
            again <= FIRST_PAUSE_CAP,
            "a won round starts the doubling over: {again:?}"
        );
    }
}
