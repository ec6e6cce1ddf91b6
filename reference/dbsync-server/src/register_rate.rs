//! The rate limit of open registration (spec §9.6): a token bucket that
//! holds `count` registrations and refills `count` every `per`. A
//! register request that finds it empty gets 429 `rate_limited`, with the
//! seconds until a registration is free, before its body is read.
//!
//! The limit applies only under open registration. With a registration
//! token, the token is the gate (and what the operator withdraws); a
//! bucket shared with strangers, who are refused by R1 anyway, would only
//! let them lock out the holders of the token. Under open registration the
//! server ignores `token`, so a request that carries one is limited too.

use dbsync_core::ErrorCode;
use dbsync_engine::Rejection;
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `count` registrations per `per`, in bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterRate {
    /// How many registrations the bucket holds, and refills every `per`.
    pub count: u32,
    /// The time in which the bucket refills `count` registrations.
    pub per: Duration,
}

impl RegisterRate {
    /// Whether the rate can let anything through: `count` ≥ 1 and `per`
    /// above zero.
    pub fn is_usable(&self) -> bool {
        self.count > 0 && !self.per.is_zero()
    }
}

/// The bucket of one server process.
#[derive(Debug)]
pub(crate) struct RegisterBucket {
    rate: RegisterRate,
    /// Registrations available (fractions count), as of the instant.
    state: Mutex<(f64, Instant)>,
}

impl RegisterBucket {
    /// A full bucket.
    pub(crate) fn new(rate: RegisterRate, now: Instant) -> RegisterBucket {
        RegisterBucket {
            rate,
            state: Mutex::new((f64::from(rate.count), now)),
        }
    }

    /// Takes one registration at `now`, or refuses with `rate_limited`
    /// and the whole seconds until one is available (at least 1).
    pub(crate) fn take(&self, now: Instant) -> Result<(), Rejection> {
        let per_second = f64::from(self.rate.count) / self.rate.per.as_secs_f64();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, since) = *state;
        let elapsed = now.saturating_duration_since(since).as_secs_f64();
        let tokens = (tokens + elapsed * per_second).min(f64::from(self.rate.count));
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            return Ok(());
        }
        *state = (tokens, now);
        let retry_after = ((1.0 - tokens) / per_second).ceil().max(1.0) as u64;
        Err(Rejection::new(
            ErrorCode::RateLimited,
            format!("too many registrations: try again in {retry_after} s"),
        )
        .with(json!({ "retry_after": retry_after })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_refuses_until_it_refills() {
        let start = Instant::now();
        let bucket = RegisterBucket::new(
            RegisterRate {
                count: 2,
                per: Duration::from_secs(10),
            },
            start,
        );
        assert!(bucket.take(start).is_ok());
        assert!(bucket.take(start).is_ok());
        let refused = bucket.take(start).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert_eq!(refused.details.unwrap()["retry_after"], 5);
        assert!(bucket.take(start + Duration::from_secs(4)).is_err());
        assert!(bucket.take(start + Duration::from_secs(6)).is_ok());
        assert!(bucket.take(start + Duration::from_secs(6)).is_err());
    }
}
