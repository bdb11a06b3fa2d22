//! The `atlas-credits` binary: `serve` (the default) and `migrate`.
//! Everything it does lives in `atlas_credits::server`; this file only dispatches.

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    atlas_credits::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The binary is only meaningful with the `ssr` feature; the WASM bundle is built from the lib.
    eprintln!("atlas-credits was built without the `ssr` feature; build it with cargo leptos build");
}
