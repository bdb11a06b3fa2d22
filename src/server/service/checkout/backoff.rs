//! When the status page may ask Whop about an order: it polls about once a second, but Whop is
//! asked only at ~2, 4, 8, 16 and 32 s after the order was made (then the webhook is left to do
//! it). Attempts are claimed here, per instance, before calling Whop, so concurrent polls of one
//! order make one call. The map is bounded: entries of orders past the last attempt are dropped.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub const SCHEDULE_SECS: [i64; 5] = [2, 4, 8, 16, 32];
const MAX_TRACKED: usize = 4096;

#[derive(Default)]
pub struct ConfirmBackoff {
    /// order id -> (attempts claimed, order created at).
    claimed: Mutex<HashMap<i64, (usize, DateTime<Utc>)>>,
}

impl ConfirmBackoff {
    /// True when an attempt is due for this order now, and claims it.
    pub fn claim(&self, order: i64, created_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let elapsed = now - created_at;
        let due = SCHEDULE_SECS
            .iter()
            .filter(|s| elapsed >= Duration::seconds(**s))
            .count();
        let mut map = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        let done = map.get(&order).map_or(0, |(n, _)| *n);
        if due <= done {
            return false;
        }
        if !map.contains_key(&order) && map.len() >= MAX_TRACKED {
            let last = Duration::seconds(SCHEDULE_SECS[SCHEDULE_SECS.len() - 1]);
            map.retain(|_, (_, created)| now - *created < last);
            if map.len() >= MAX_TRACKED {
                // Still full of live orders: skip this one (the webhook and later polls remain).
                return false;
            }
        }
        // Several points passed since the last poll count as one call.
        map.insert(order, (due, created_at));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_follow_the_schedule() {
        let b = ConfirmBackoff::default();
        let t0 = Utc::now();
        let at = |s: f64| t0 + Duration::milliseconds((s * 1000.0) as i64);
        assert!(!b.claim(1, t0, at(1.0)));
        assert!(b.claim(1, t0, at(2.1)));
        assert!(!b.claim(1, t0, at(2.5)));
        assert!(!b.claim(1, t0, at(3.9)));
        assert!(b.claim(1, t0, at(4.0)));
        // First poll late (20 s): one call, then the next at 32 s.
        assert!(b.claim(2, t0, at(20.0)));
        assert!(!b.claim(2, t0, at(25.0)));
        assert!(b.claim(2, t0, at(32.0)));
        assert!(!b.claim(2, t0, at(600.0)));
    }

    #[test]
    fn the_map_stays_bounded() {
        let b = ConfirmBackoff::default();
        let old = Utc::now() - Duration::seconds(100);
        let now = Utc::now();
        for i in 0..MAX_TRACKED as i64 {
            assert!(b.claim(i, old, now));
        }
        // Full of finished orders: they are dropped to make room.
        assert!(b.claim(-1, now - Duration::seconds(3), now));
        assert_eq!(b.claimed.lock().unwrap().len(), 1);
    }
}
