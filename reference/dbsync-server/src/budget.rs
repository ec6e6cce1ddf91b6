//! The answer budget: a bound on the bytes of answers the server holds
//! at once, built or being sent (spec §16.2: a server bounds what a
//! client can hold, whatever it sends).
//!
//! An answer that can be large (a pull, repair or query page) reserves
//! the size of a page before it is built, and its bytes keep the
//! reservation, resized to the answer's true size, until hyper has sent
//! them or dropped the connection. When the budget is spent, the next
//! such request waits for an answer to leave, before it reads anything:
//! a hundred nodes that ask for repair pages and never read them hold a
//! hundred pages at most, and never more than the budget.

use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget's unit: a reservation counts whole KiB.
const UNIT: usize = 1024;

/// Bytes in whole units, at least one and at most `cap`.
fn units(bytes: usize, cap: u32) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT))
        .unwrap_or(u32::MAX)
        .clamp(1, cap)
}

/// The bytes of answers the server may hold at once.
#[derive(Debug)]
pub struct AnswerBudget {
    units: Arc<Semaphore>,
    total: u32,
}

impl AnswerBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: usize) -> AnswerBudget {
        let total = units(bytes, u32::MAX >> 3);
        AnswerBudget {
            units: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits until `bytes` of the budget are free and holds them. A
    /// reservation larger than the whole budget holds the whole budget.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let permit = self
            .units
            .clone()
            .acquire_many_owned(units(bytes, self.total))
            .await
            .expect("the budget's semaphore stays open");
        Reservation {
            permit,
            units: self.units.clone(),
            total: self.total,
        }
    }

    /// Bytes free now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.units.available_permits() * UNIT
    }
}

/// Budget held for one answer.
#[derive(Debug)]
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    units: Arc<Semaphore>,
    total: u32,
}

impl Reservation {
    /// `answer`'s bytes, holding this reservation resized to their size
    /// until they are dropped: the excess is given back at once; for a
    /// shortfall the reservation is given back and the whole size waited
    /// for, so that no answer holds part of the budget while it waits
    /// for more (two such answers could wait for each other for ever).
    pub async fn hold(mut self, answer: Vec<u8>) -> Bytes {
        let need = units(answer.len(), self.total);
        let held = self.permit.num_permits();
        if (need as usize) < held {
            drop(self.permit.split(held - need as usize));
        } else if need as usize > held {
            drop(self.permit);
            self.permit = self
                .units
                .clone()
                .acquire_many_owned(need)
                .await
                .expect("the budget's semaphore stays open");
        }
        Bytes::from_owner(Held {
            answer,
            _permit: self.permit,
        })
    }
}

/// An answer's bytes and the budget they hold.
struct Held {
    answer: Vec<u8>,
    _permit: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_holds_its_size_of_the_budget_until_its_bytes_are_dropped() {
        let budget = AnswerBudget::new(64 * UNIT);
        let reservation = budget.reserve(16 * UNIT).await;
        assert_eq!(budget.available(), 48 * UNIT);
        let bytes = reservation.hold(vec![7u8; 4 * UNIT]).await;
        assert_eq!(budget.available(), 60 * UNIT, "the excess was given back");
        let copy = bytes.slice(1..);
        drop(bytes);
        assert_eq!(budget.available(), 60 * UNIT, "a slice still holds it");
        drop(copy);
        assert_eq!(budget.available(), 64 * UNIT);
    }

    #[tokio::test]
    async fn an_answer_larger_than_its_reservation_waits_for_the_rest() {
        let budget = AnswerBudget::new(8 * UNIT);
        let first = budget.reserve(4 * UNIT).await.hold(vec![0; 4 * UNIT]).await;
        let second = budget.reserve(UNIT).await;
        let grown = tokio::spawn(async move { second.hold(vec![0; 6 * UNIT]).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!grown.is_finished(), "6 KiB cannot fit beside 4 of 8");
        drop(first);
        let grown = grown.await.unwrap();
        assert_eq!(grown.len(), 6 * UNIT);
        assert_eq!(budget.available(), 2 * UNIT);
    }
}
