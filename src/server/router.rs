//! The whole HTTP surface: plain axum routes (health, webhooks) beside the Leptos pages and
//! server functions, with static files from the site root as the fallback.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::trace::TraceLayer;

use crate::app::{shell, App};
use crate::server::http::{api_v1, frame_policy, health, metrics, origin_check, transactions_csv, webhooks, widget};
use crate::server::state::AppState;

pub fn build(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();

    let mut router = Router::new();
    if state.whop.simulator.is_some() {
        router = router.nest(
            crate::server::whop::simulator::MOUNT,
            crate::server::whop::simulator::routes(),
        );
    }
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .route(
            "/api/webhooks/whop",
            post(webhooks::receive_whop_webhook).layer(DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES)),
        )
        .route("/account/transactions.csv", get(transactions_csv::download))
        .nest("/api/v1", api_v1::routes(state.clone()))
        .merge(widget::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            move || shell(options.clone()),
        )
        // Unknown paths: a static file, else the app's 404 page, rendered with the same context
        // as every other page (its header's resources need the state too).
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin_check::refuse_cross_site,
        ))
        .layer(axum::middleware::from_fn(frame_policy::deny_framing_by_default))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
