//! Which user an external id (the host app's id) names, remembered. An external id, once set on a
//! user, never changes and never moves to another user (it is only ever set where it was null,
//! and users are never deleted), so a remembered answer stays right for the life of the process,
//! whatever other instances do. Only found users are remembered: an unknown id may be created at
//! any moment. Spares the host API's spend one database read per request (its hot path).

use std::collections::HashMap;
use std::sync::RwLock;

/// Past this many, the map starts over (a bound on memory, not a cache policy worth more).
const MAX_REMEMBERED: usize = 100_000;

#[derive(Default)]
pub struct UserIds {
    ids: RwLock<HashMap<String, i64>>,
}

impl UserIds {
    pub fn get(&self, external_id: &str) -> Option<i64> {
        self.ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(external_id)
            .copied()
    }

    pub fn remember(&self, external_id: &str, id: i64) {
        let mut ids = self.ids.write().unwrap_or_else(|e| e.into_inner());
        if ids.len() >= MAX_REMEMBERED {
            ids.clear();
        }
        ids.insert(external_id.to_owned(), id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_stays_bounded() {
        let ids = UserIds::default();
        assert_eq!(ids.get("a"), None);
        ids.remember("a", 7);
        assert_eq!(ids.get("a"), Some(7));
        for i in 0..MAX_REMEMBERED + 5 {
            ids.remember(&format!("u{i}"), i as i64);
        }
        assert!(ids.ids.read().unwrap().len() <= MAX_REMEMBERED);
    }
}
