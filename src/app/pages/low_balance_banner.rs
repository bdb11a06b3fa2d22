//! The low-balance banner on /credits and /account: shown once per fall below the threshold an
//! admin set, until the user dismisses it or tops up (see `service::low_balance`).

use leptos::form::ActionForm;
use leptos::prelude::*;

use crate::api::low_balance::{get_low_balance_notice, DismissLowBalance};

#[component]
pub fn LowBalanceBanner() -> impl IntoView {
    let dismiss = ServerAction::<DismissLowBalance>::new();
    let notice = Resource::new(move || dismiss.version().get(), |_| get_low_balance_notice());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                // Signed out or failing: no banner (the page shows its own state).
                notice.await.ok().flatten().map(|n| view! {
                    <div class="notice warn low-balance" id="low-balance-banner" role="status">
                        <span>
                            <strong>{format!("Your balance is low: {} credits.", n.balance)}</strong>
                            {format!(" It fell below {} credits. ", n.threshold)}
                            <a href="/credits">"Buy credits"</a>
                        </span>
                        <ActionForm action=dismiss attr:class="inline-form">
                            <input type="hidden" name="crossing" value=n.crossing.to_string()/>
                            <button type="submit" class="link-button" id="low-balance-dismiss"
                                    aria-label="Dismiss the low-balance notice">"Dismiss"</button>
                        </ActionForm>
                    </div>
                })
            })}
        </Transition>
    }
}
