//! The whole HTTP surface: plain axum routes (health, webhooks) beside the Leptos pages and
//! server functions, with static files from the site root as the fallback.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::{shell, App};
use crate::server::http::{
    api_v1, deadline, health, metrics, origin_check, security_headers, server_fn_status, sign_in_link,
    transactions_csv, webhooks, widget,
};
use crate::server::state::AppState;

/// The largest request body any route reads (forms, server function arguments, JSON).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

pub fn build(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();

    let mut router = Router::new();
    if let Some(sim) = &state.whop.simulator {
        router = router.nest(
            crate::server::whop::simulator::MOUNT,
            crate::server::whop::simulator::routes(sim.clone()),
        );
    }
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .route(
            "/api/webhooks/whop",
            post(webhooks::receive_whop_webhook)
                .layer(DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    deadline::answer_within,
                )),
        )
        .route("/account/transactions.csv", get(transactions_csv::download))
        .route("/auth/link/{token}", get(sign_in_link::open_link))
        .nest(
            "/api/v1",
            api_v1::routes(state.clone()).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                deadline::answer_within,
            )),
        )
        .merge(widget::routes())
        .leptos_routes_with_context(&state, routes, page_context(&state), move || shell(options.clone()))
        // Unknown paths: a static file, else the app's 404 page, rendered with the same context
        // as every other page (its header's resources need the state too).
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            page_context(&state),
            shell,
        ))
        // No route takes more (the webhook route's own cap is 256 KiB, the API's 16 KiB): a
        // larger declared body is answered 413 before any handler runs. Server functions need it:
        // Leptos reads their bodies itself and answered an oversized one with 500.
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(server_fn_status::refused_arguments_are_400))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin_check::refuse_cross_site,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::add,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // Not the URI: its query may hold anything, and a sign-in link's path is a credential.
                tracing::debug_span!("request", method = %req.method(), path = %trace_path(req.uri().path()))
            }),
        )
        .with_state(state)
}

/// What every page render gets: the state (server functions and resources reach the store
/// through it), and its CSP nonce shared with the security headers (security_headers.rs).
fn page_context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let state = state.clone();
    move || {
        provide_context(state.clone());
        security_headers::share_page_nonce();
    }
}

/// The path as request spans record it: a sign-in link's token replaced (it signs someone in).
pub fn trace_path(path: &str) -> std::borrow::Cow<'_, str> {
    const LINK: &str = "/auth/link/";
    // Any case: a mistyped link is still someone's token.
    if path.len() >= LINK.len() && path.as_bytes()[..LINK.len()].eq_ignore_ascii_case(LINK.as_bytes()) {
        format!("{LINK}[redacted]").into()
    } else {
        path.into()
    }
}

#[cfg(test)]
mod tests {
    use super::trace_path;

    #[test]
    fn link_tokens_are_redacted_from_traced_paths() {
        let token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
        assert_eq!(trace_path(&format!("/auth/link/{token}")), "/auth/link/[redacted]");
        assert_eq!(trace_path(&format!("/auth/link/{token}/more")), "/auth/link/[redacted]");
        assert_eq!(trace_path("/auth/link/"), "/auth/link/[redacted]");
        assert_eq!(trace_path(&format!("/Auth/LINK/{token}")), "/auth/link/[redacted]");
        assert_eq!(trace_path("/auth/link-problem"), "/auth/link-problem");
        assert_eq!(trace_path("/credits"), "/credits");
    }
}
