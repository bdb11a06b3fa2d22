//! Live API keys by hash, remembered for `TTL`: spares the host API one database read per call
//! (its hot path; a read is a round trip, on SQLite a hand-over to a connection thread and back).
//!
//! - A key revoked through this store stops working at once: `revoke_api_key` forgets every
//!   remembered key after its write committed, and a lookup that read the key before the revoke
//!   committed is not remembered (the generation changed while it read).
//! - A key revoked by another instance (or another process on the same database) keeps working
//!   here for at most `TTL`.
//! - Only live keys are remembered: an unknown bearer is looked up every time (a key created
//!   elsewhere works at once, and guessed keys cannot fill memory).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::ApiKeyRow;

/// How long a remembered key is used before it is read again: the bound on how long a key
/// revoked by another instance still works here.
pub const TTL: Duration = Duration::from_secs(1);

/// Past this many keys the map starts over (a bound on memory; a deployment has a handful).
const MAX_REMEMBERED: usize = 1000;

#[derive(Default)]
pub struct ApiKeyCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<String, (ApiKeyRow, Instant)>,
    /// Changes whenever keys are forgotten; a read that began before cannot be remembered.
    generation: u64,
}

impl ApiKeyCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered live key with this hash, if read less than `TTL` ago.
    pub fn get(&self, key_hash: &str) -> Option<ApiKeyRow> {
        let inner = self.inner();
        let (row, read_at) = inner.keys.get(key_hash)?;
        (read_at.elapsed() < TTL).then(|| row.clone())
    }

    /// To pass to `remember`: take it before reading the database.
    pub fn generation(&self) -> u64 {
        self.inner().generation
    }

    /// Remembers a live key read from the database, unless keys were forgotten since
    /// `generation` was taken (a revoke may have committed after that read).
    pub fn remember(&self, key_hash: &str, row: &ApiKeyRow, generation: u64, read_at: Instant) {
        let mut inner = self.inner();
        if inner.generation != generation {
            return;
        }
        if inner.keys.len() >= MAX_REMEMBERED {
            inner.keys.clear();
        }
        inner.keys.insert(key_hash.to_owned(), (row.clone(), read_at));
    }

    /// Forgets every key; call after a revoke committed.
    pub fn forget_all(&self) {
        let mut inner = self.inner();
        inner.generation += 1;
        inner.keys.clear();
    }

    /// The key's use was recorded (by us at `at`, or recently by someone else): the remembered
    /// row says so, so the next calls do not try to record it again.
    pub fn note_use(&self, id: i64, at: DateTime<Utc>) {
        for (row, _) in self.inner().keys.values_mut() {
            if row.id == id {
                row.last_used_at = Some(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> ApiKeyRow {
        ApiKeyRow {
            id,
            name: "k".into(),
            key_hash: format!("h{id}"),
            key_prefix: "ak_".into(),
            created_by: "t".into(),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn remembers_until_forgotten_or_stale() {
        let cache = ApiKeyCache::default();
        assert_eq!(cache.get("h1"), None);
        let (g, one) = (cache.generation(), row(1));
        cache.remember("h1", &one, g, Instant::now());
        assert_eq!(cache.get("h1"), Some(one.clone()));
        let now = Utc::now();
        cache.note_use(1, now);
        assert_eq!(cache.get("h1").unwrap().last_used_at, Some(now));
        cache.forget_all();
        assert_eq!(cache.get("h1"), None);
        // Read before the revoke committed: not remembered.
        cache.remember("h1", &one, g, Instant::now());
        assert_eq!(cache.get("h1"), None);
        // Read long ago: stale.
        let old = Instant::now().checked_sub(TTL * 2).unwrap();
        cache.remember("h2", &row(2), cache.generation(), old);
        assert_eq!(cache.get("h2"), None);
    }
}
