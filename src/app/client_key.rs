//! Idempotency keys for buying and requesting plans. One random base per page view (made on the
//! server when the page is rendered there, so a plain form post carries it too), then one key per
//! plan and attempt: a double click or a retried request repeats the same key and so finds the same
//! order; only a failed attempt moves on to a fresh key.
//!
//! The server accepts 16-64 characters of `[A-Za-z0-9_-]`: 32 hex characters, a plan id (at most
//! 19 digits) and an attempt number (at most 10) stay within that.

/// 32 hex characters from a cryptographic random source.
pub fn new_base() -> String {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key for one plan's `attempt`-th try in this page view.
pub fn for_plan(base: &str, plan_id: i64, attempt: u32) -> String {
    format!("{base}-{}-{attempt}", plan_id.unsigned_abs())
}

#[cfg(feature = "ssr")]
fn fill_random(bytes: &mut [u8]) {
    getrandom::getrandom(bytes).expect("the OS random source is available");
}

/// The browser's `crypto.getRandomValues`, reached without extra web-sys features.
#[cfg(not(feature = "ssr"))]
fn fill_random(bytes: &mut [u8]) {
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use leptos::web_sys::js_sys::{global, Function, Reflect, Uint8Array};

    let filled = (|| -> Result<(), JsValue> {
        let crypto = Reflect::get(&global(), &JsValue::from_str("crypto"))?;
        let get = Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))?.dyn_into::<Function>()?;
        let array = Uint8Array::new_with_length(bytes.len() as u32);
        get.call1(&crypto, &array)?;
        array.copy_to(bytes);
        Ok(())
    })();
    // Every browser that runs the WASM bundle has Web Crypto; should it somehow fail, a
    // non-cryptographic key still only has to be unique within this user's own orders.
    if filled.is_err() {
        use leptos::web_sys::js_sys::{Date, Math};
        let seed = Date::now() as u64;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = ((Math::random() * 256.0) as u8) ^ (seed >> ((i % 8) * 8)) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acceptable(key: &str) -> bool {
        (16..=64).contains(&key.len()) && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    #[test]
    fn keys_fit_what_the_server_accepts_even_at_the_extremes() {
        let base = new_base();
        assert_eq!(base.len(), 32);
        assert!(acceptable(&for_plan(&base, 1, 0)));
        assert!(acceptable(&for_plan(&base, i64::MAX, u32::MAX)));
        assert!(acceptable(&for_plan(&base, i64::MIN, u32::MAX)));
    }

    #[test]
    fn attempts_and_plans_get_distinct_keys_and_a_repeat_gets_the_same() {
        let base = new_base();
        assert_eq!(for_plan(&base, 2, 0), for_plan(&base, 2, 0));
        assert_ne!(for_plan(&base, 2, 0), for_plan(&base, 2, 1));
        assert_ne!(for_plan(&base, 2, 0), for_plan(&base, 3, 0));
        assert_ne!(new_base(), new_base());
    }
}
