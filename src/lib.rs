//! Atlas Credits: prepaid credits sold through Whop, kept in an exact ledger.
//!
//! The crate builds twice: the server binary (`ssr`) and the WASM bundle that hydrates the pages
//! (`hydrate`). `model` and `app` are shared by both; `api` declares the server functions (their
//! bodies run on the server only); `server` is compiled only with `ssr` and never reaches the bundle.

pub mod api;
pub mod app;
pub mod model;

#[cfg(feature = "ssr")]
pub mod server;

/// Entry point of the WASM bundle: attaches the client-side app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
