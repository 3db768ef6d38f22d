//! REST rate limits per API key (or per client address without a key):
//! request weight per rolling minute and new orders per rolling 10 seconds.
//!
//! Over the weight limit a request is refused with 429 (-1003) and a
//! `Retry-After` until enough weight has aged out. A client that sends more
//! than [`IGNORED_429_BEFORE_BAN`] further requests inside that window is
//! answered 418 (banned) until the window ends.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Requests tolerated inside a Retry-After window before 418.
pub const IGNORED_429_BEFORE_BAN: u32 = 3;

const MINUTE: Duration = Duration::from_secs(60);
const TEN_SECONDS: Duration = Duration::from_secs(10);

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 429 -1003 (weight), retry after the given seconds.
    Weight(u64),
    /// 429 -1015 (order count), retry after the given seconds.
    Orders(u64),
    /// 418, banned for the given seconds.
    Banned(u64),
}

#[derive(Debug, Default)]
struct Usage {
    weights: VecDeque<(Instant, u32)>,
    orders: VecDeque<Instant>,
    retry_until: Option<Instant>,
    ignored: u32,
}

/// Rate limiter state.
#[derive(Debug)]
pub struct Limits {
    weight_per_minute: u32,
    orders_per_10s: u32,
    usage: HashMap<String, Usage>,
}

/// Counts after an admitted request, for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    /// `X-MBX-USED-WEIGHT-1M`
    pub weight: u32,
    /// `X-MBX-ORDER-COUNT-10S`
    pub orders: u32,
}

fn seconds_until(until: Instant, now: Instant) -> u64 {
    until
        .saturating_duration_since(now)
        .as_millis()
        .div_ceil(1000)
        .max(1) as u64
}

impl Limits {
    /// Limits with the configured rates.
    pub fn new(weight_per_minute: u32, orders_per_10s: u32) -> Self {
        Self {
            weight_per_minute,
            orders_per_10s,
            usage: HashMap::new(),
        }
    }

    /// Admits a request of `weight` (and one new order when `order`) for `key`.
    pub fn admit(
        &mut self,
        key: &str,
        weight: u32,
        order: bool,
        now: Instant,
    ) -> Result<Used, Refusal> {
        let u = self.usage.entry(key.to_owned()).or_default();
        while u
            .weights
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= MINUTE)
        {
            u.weights.pop_front();
        }
        while u
            .orders
            .front()
            .is_some_and(|t| now.duration_since(*t) >= TEN_SECONDS)
        {
            u.orders.pop_front();
        }
        if let Some(until) = u.retry_until.filter(|until| *until > now) {
            u.ignored += 1;
            let seconds = seconds_until(until, now);
            return Err(if u.ignored > IGNORED_429_BEFORE_BAN {
                Refusal::Banned(seconds)
            } else {
                Refusal::Weight(seconds)
            });
        }
        let used: u32 = u.weights.iter().map(|(_, w)| w).sum();
        if used + weight > self.weight_per_minute {
            let mut freed = 0;
            let mut until = now + MINUTE;
            for (t, w) in &u.weights {
                freed += w;
                if used + weight - freed <= self.weight_per_minute {
                    until = *t + MINUTE;
                    break;
                }
            }
            u.retry_until = Some(until);
            u.ignored = 0;
            return Err(Refusal::Weight(seconds_until(until, now)));
        }
        if order && u.orders.len() as u32 >= self.orders_per_10s {
            let until = u.orders[0] + TEN_SECONDS;
            return Err(Refusal::Orders(seconds_until(until, now)));
        }
        u.weights.push_back((now, weight));
        if order {
            u.orders.push_back(now);
        }
        Ok(Used {
            weight: used + weight,
            orders: u.orders.len() as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_then_ban_then_recovery() {
        let mut l = Limits::new(10, 2);
        let t0 = Instant::now();
        assert_eq!(
            l.admit("k", 6, false, t0),
            Ok(Used {
                weight: 6,
                orders: 0
            })
        );
        assert_eq!(
            l.admit("k", 4, true, t0),
            Ok(Used {
                weight: 10,
                orders: 1
            })
        );
        assert_eq!(l.admit("k", 1, false, t0), Err(Refusal::Weight(60)));
        for _ in 0..IGNORED_429_BEFORE_BAN {
            assert!(matches!(
                l.admit("k", 1, false, t0),
                Err(Refusal::Weight(_))
            ));
        }
        assert!(matches!(
            l.admit("k", 1, false, t0),
            Err(Refusal::Banned(_))
        ));
        assert!(l.admit("other", 1, false, t0).is_ok());
        let later = t0 + MINUTE;
        assert_eq!(
            l.admit("k", 1, true, later),
            Ok(Used {
                weight: 1,
                orders: 1
            })
        );
        assert!(l.admit("k", 1, true, later).is_ok());
        assert!(matches!(
            l.admit("k", 1, true, later),
            Err(Refusal::Orders(10))
        ));
    }
}
