//! Where a sign-in link that cannot sign in leads (`?reason=used|expired|invalid`): says what
//! happened and offers a way back (to Atlas when one host origin is configured, and to log in).
//! Answers 410 for a used or expired link and 404 for an invalid one. The token is never here.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::get_host_app_home;

#[component]
pub fn LinkProblemPage() -> impl IntoView {
    let query = use_query_map();
    // Only the three known reasons; anything else in the query is "invalid" and never echoed.
    let reason = match query.read_untracked().get("reason").as_deref() {
        Some("used") => "used",
        Some("expired") => "expired",
        _ => "invalid",
    };
    let (heading, text, gone) = match reason {
        "used" => (
            "This sign-in link was already used",
            "Each link signs in once. Open Credits from Atlas again to get a new one.",
            true,
        ),
        "expired" => (
            "This sign-in link has expired",
            "Links work for a few minutes only. Open Credits from Atlas again to get a new one.",
            true,
        ),
        _ => (
            "This sign-in link is not valid",
            "It may have been copied incompletely. Open Credits from Atlas again to get a new one.",
            false,
        ),
    };
    #[cfg(feature = "ssr")]
    {
        use axum::http::StatusCode;
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(if gone { StatusCode::GONE } else { StatusCode::NOT_FOUND });
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = gone;
    let home = Resource::new(|| (), |_| get_host_app_home());

    view! {
        <Title text="Sign-in link"/>
        <section class="card narrow" id="link-problem" data-reason=reason>
            <h1>{heading}</h1>
            <p>{text}</p>
            <ul class="link-problem-actions">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        home.await.ok().flatten().map(|href| view! {
                            <li><a class="button primary" id="back-to-host" href=href rel="noopener">"Back to Atlas"</a></li>
                        })
                    })}
                </Suspense>
                <li><a class="button" href="/login">"Log in"</a></li>
            </ul>
        </section>
    }
}
