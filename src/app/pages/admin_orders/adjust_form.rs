//! The hand adjustment form (on the orders list by email, on an order page for its user). Its
//! one-time key is this page view's base (made on the server, so a plain post carries it too)
//! plus the count of adjustments made here: a double submit repeats the key and posts once.

use leptos::form::ActionForm;
use leptos::prelude::*;

use crate::api::admin_orders::AdminAdjustCredits;
use crate::app::components::ErrorNote;

#[component]
pub fn AdjustForm(
    action: ServerAction<AdminAdjustCredits>,
    key_base: String,
    /// The order page's user; None: the form asks for an email.
    user_id: Option<i64>,
) -> impl IntoView {
    let key = move || format!("{key_base}-adjust-{}", action.version().get());
    let result = action.value();
    view! {
        <details class="action" id="adjust">
            <summary>"Adjust credits by hand"</summary>
            <ActionForm action=action attr:class="form">
                <input type="hidden" name="key" value=key/>
                {match user_id {
                    Some(id) => view! { <input type="hidden" name="user_id" value=id.to_string()/> }.into_any(),
                    None => view! {
                        <label for="adjust-email">"Account email"</label>
                        <input id="adjust-email" name="email" type="email" required maxlength="254"/>
                    }.into_any(),
                }}
                <label for="adjust-credits">"Credits (negative to remove)"</label>
                <input id="adjust-credits" name="credits" required inputmode="numeric" aria-describedby="adjust-hint"/>
                <p class="hint" id="adjust-hint">"A removal never takes the balance below zero."</p>
                <label for="adjust-reason">"Reason (the user sees it in their history)"</label>
                <input id="adjust-reason" name="reason" required maxlength="500"/>
                <label class="check">
                    <input type="checkbox" name="confirm" value="yes" required/>
                    " I confirm this change to the balance."
                </label>
                <button type="submit" class="button primary" disabled=action.pending()>"Post adjustment"</button>
            </ActionForm>
            {move || result.get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="adjust-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="adjust-result"><ErrorNote error=e/></div> }.into_any(),
            })}
        </details>
    }
}
