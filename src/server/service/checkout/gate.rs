//! Who pays through Whop: the `whop_payments_enabled` switch (default on) and the
//! `whop_beta_emails` list (default empty = everyone). Read through a per-instance cache that is
//! refreshed at most every `ttl` (3 s by default), so an admin's change reaches every instance
//! within a few seconds without a settings query on every page view.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::server::store::{Store, StoreError};

pub const ENABLED_KEY: &str = "whop_payments_enabled";
pub const BETA_KEY: &str = "whop_beta_emails";
pub const DEFAULT_TTL: Duration = Duration::from_secs(3);

/// The two settings, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gating {
    pub enabled: bool,
    /// Lowercased; empty: everyone.
    pub beta: Vec<String>,
}

impl Gating {
    pub fn parse(enabled: Option<&str>, beta: Option<&str>) -> Gating {
        // Only an explicit "off" value turns payments off: a typo must not stop sales silently.
        let enabled = !matches!(
            enabled.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
            Some("false" | "0" | "off" | "no")
        );
        let beta = beta
            .unwrap_or("")
            .split([',', '\n', '\r', ';', ' ', '\t'])
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        Gating { enabled, beta }
    }

    /// Whether this viewer may pay through Whop (`None`: signed out, allowed only with no beta list).
    pub fn allows(&self, email: Option<&str>) -> bool {
        self.enabled
            && (self.beta.is_empty()
                || email.is_some_and(|e| {
                    let e = e.trim().to_lowercase();
                    self.beta.contains(&e)
                }))
    }
}

/// The cached settings of this instance.
pub struct GateCache {
    ttl_ms: AtomicU64,
    cached: Mutex<Option<(Instant, Gating)>>,
}

impl Default for GateCache {
    fn default() -> Self {
        GateCache::new(DEFAULT_TTL)
    }
}

impl GateCache {
    pub fn new(ttl: Duration) -> Self {
        GateCache {
            ttl_ms: AtomicU64::new(ttl.as_millis() as u64),
            cached: Mutex::new(None),
        }
    }

    /// Changes how long a read is reused (tests shorten it instead of sleeping out 3 s).
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(ttl.as_millis() as u64, Ordering::Relaxed);
    }

    /// Forgets the cached read: the next one asks the store (after an admin's change here).
    pub fn clear(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub async fn current(&self, store: &dyn Store) -> Result<Gating, StoreError> {
        let ttl = Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed));
        if let Some((at, g)) = &*self.cached.lock().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < ttl {
                return Ok(g.clone());
            }
        }
        // Concurrent misses may both read: harmless, and no lock is held across the await.
        let enabled = store.setting(ENABLED_KEY).await?;
        let beta = store.setting(BETA_KEY).await?;
        let g = Gating::parse(enabled.as_deref(), beta.as_deref());
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), g.clone()));
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_allow_everyone() {
        let g = Gating::parse(None, None);
        assert!(g.allows(Some("a@example.com")) && g.allows(None));
        assert!(Gating::parse(Some("true"), Some("  ")).allows(Some("a@example.com")));
        assert!(Gating::parse(Some("yes please"), None).enabled);
    }

    #[test]
    fn off_switch_and_beta_list() {
        assert!(!Gating::parse(Some(" FALSE "), None).allows(Some("a@example.com")));
        let g = Gating::parse(None, Some("A@Example.com,\n b@example.com ;c@example.com"));
        assert_eq!(g.beta, ["a@example.com", "b@example.com", "c@example.com"]);
        assert!(g.allows(Some("a@EXAMPLE.com")));
        assert!(g.allows(Some("b@example.com")));
        assert!(!g.allows(Some("d@example.com")));
        assert!(!g.allows(None));
    }
}
