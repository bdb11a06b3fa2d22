//! The user interface: the HTML shell, the router and the pages. Shared by server rendering and
//! hydration, so nothing here may touch server-only code directly: data comes through `crate::api`.

mod client_key;
mod components;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::api::auth::{get_viewer, LogIn, LogOut, SignUp};
use crate::model::{AppError, Viewer};
use pages::{
    account::AccountPage, admin::AdminPage, admin_alerts::AdminAlertsPage, admin_orders::detail::AdminOrderPage,
    admin_orders::AdminOrdersPage, admin_plans::AdminPlansPage, admin_settings::AdminSettingsPage,
    admin_unmatched::AdminUnmatchedPage, credits::CreditsPage, home::HomePage, login::LoginPage, not_found::NotFound,
    payment_status::PaymentStatusPage, signup::SignupPage,
};

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The session actions and who is signed in, shared by the header and the pages. The viewer is
/// fetched again whenever one of the actions completes.
#[derive(Clone, Copy)]
pub struct Session {
    pub log_in: ServerAction<LogIn>,
    pub sign_up: ServerAction<SignUp>,
    pub log_out: ServerAction<LogOut>,
    pub viewer: Resource<Result<Option<Viewer>, AppError>>,
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    let log_in = ServerAction::<LogIn>::new();
    let sign_up = ServerAction::<SignUp>::new();
    let log_out = ServerAction::<LogOut>::new();
    let viewer = Resource::new(
        move || (log_in.version().get(), sign_up.version().get(), log_out.version().get()),
        |_| get_viewer(),
    );
    provide_context(Session {
        log_in,
        sign_up,
        log_out,
        viewer,
    });
    // "false" in the server\'s HTML, "true" once the bundle runs: tests wait on it.
    let hydrated = components::use_hydrated();

    view! {
        <Stylesheet id="leptos" href="/pkg/atlas-credits.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Meta name="description" content="Buy and track Atlas credits."/>
        <Title formatter=|text| format!("{text} · Atlas Credits")/>
        <Router>
            <components::SiteHeader/>
            <main id="main" class="page" data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=HomePage/>
                    <Route path=path!("/login") view=LoginPage/>
                    // Async: its status (410 or 404) and its "Back to Atlas" are in the first HTML.
                    <Route path=path!("/auth/link-problem") view=pages::link_problem::LinkProblemPage ssr=SsrMode::Async/>
                    <Route path=path!("/signup") view=SignupPage/>
                    // Async: the page waits for its data, so a signed-out visit can answer with a
                    // real redirect and a non-admin with a real 403.
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/unmatched") view=AdminUnmatchedPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/webhooks") view=pages::admin_webhooks::AdminWebhooksPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/webhooks/:id") view=pages::admin_webhooks::AdminWebhookPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view=pages::admin_audit::AdminAuditPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/metrics") view=pages::admin_metrics::AdminMetricsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/plans") view=AdminPlansPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/settings") view=AdminSettingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/orders") view=AdminOrdersPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/orders/:id") view=AdminOrderPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/alerts") view=AdminAlertsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/webhook-endpoints") view=pages::admin_host_webhooks::AdminWebhookEndpointsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/webhook-endpoints/deliveries/:id") view=pages::admin_host_webhooks::AdminHostDeliveryPage ssr=SsrMode::Async/>
                    // Async too: the plan forms must be in the first HTML to post without JS.
                    <Route path=path!("/credits") view=CreditsPage ssr=SsrMode::Async/>
                    <Route path=path!("/payment/status") view=PaymentStatusPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
