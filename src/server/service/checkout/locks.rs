//! Per-key async locks for this instance: one Whop create at a time per plan and per order, so
//! concurrent clicks on one instance never race two creates past Whop's idempotency (Whop answers
//! a concurrent repeat with 409 `idempotency_request_in_progress`; the simulator would make two).
//! Across instances, Whop's `Idempotency-Key` and the store's first-writer-wins updates decide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct KeyedLocks {
    map: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Held while working on one key; frees the key's entry when the last holder or waiter is done.
pub struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: String) -> KeyGuard<'_> {
        let m = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = m.lock_owned().await;
        KeyGuard {
            locks: self,
            key,
            guard: Some(guard),
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.map.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map holds it now: nobody waits, so the entry can go (keeps the map bounded).
        if map.get(&self.key).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_key_and_entries_are_freed() {
        let locks = Arc::new(KeyedLocks::default());
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (locks, counter) = (locks.clone(), counter.clone());
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock("order:1".into()).await;
                let inside = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert_eq!(inside, 0, "two holders of one key");
                tokio::task::yield_now().await;
                counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(locks.is_empty());
    }
}
