//! Constant-time comparison for secrets and MACs: how long a comparison takes must not tell an
//! attacker how many leading bytes they guessed right. One place, used by the webhook verifier
//! and the simulator's API-key check.

use sha2::{Digest, Sha256};

/// True when `a == b`, taking the same time whatever bytes differ (a length mismatch returns at
/// once: the length is not secret where this is used; see [`secret_eq`] when it is).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Accumulate every difference with no early exit; black_box keeps the optimiser from turning
    // the fold back into a short-circuiting comparison.
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    std::hint::black_box(diff) == 0
}

/// True when two secrets are equal, in time independent of their contents and lengths: both are
/// hashed to 32 bytes first, so neither a differing byte nor a differing length shows.
pub fn secret_eq(given: &[u8], expected: &[u8]) -> bool {
    ct_eq(&Sha256::digest(given), &Sha256::digest(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares_whole_slices() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"sk_sim_abc", b"sk_sim_abc"));
        assert!(!ct_eq(b"sk_sim_abc", b"sk_sim_abd"));
        assert!(!ct_eq(b"xk_sim_abc", b"sk_sim_abc"));
        assert!(!ct_eq(b"sk_sim_abc", b"sk_sim_ab"));
        assert!(!ct_eq(b"sk_sim_ab", b"sk_sim_abc"));
        assert!(!ct_eq(b"", b"a"));
        let mut a = [7u8; 32];
        let b = a;
        assert!(ct_eq(&a, &b));
        a[31] ^= 0x80;
        assert!(!ct_eq(&a, &b));
    }

    #[test]
    fn secret_eq_compares_whole_secrets() {
        assert!(secret_eq(b"sk_sim_abc", b"sk_sim_abc"));
        assert!(secret_eq(b"", b""));
        assert!(!secret_eq(b"sk_sim_abc", b"sk_sim_abd"));
        assert!(!secret_eq(b"sk_sim_ab", b"sk_sim_abc"));
        assert!(!secret_eq(b"sk_sim_abcd", b"sk_sim_abc"));
        assert!(!secret_eq(b"", b"sk_sim_abc"));
    }
}
