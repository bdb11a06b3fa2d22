//! The signed-in user's balance (with the debt case spelled out) and their history, newest
//! first, loaded a page at a time; the whole history downloads as CSV.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::account::{get_account, list_my_transactions};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::low_balance_banner::LowBalanceBanner;
use crate::model::{AccountView, AppError, OrderView, TransactionView};

#[component]
pub fn AccountPage() -> impl IntoView {
    let account = Resource::new(|| (), |_| get_account());
    view! {
        <Title text="Your account"/>
        <Suspense fallback=|| view! { <Loading label="Loading your account…"/> }>
            {move || Suspend::new(async move {
                match account.await {
                    Ok(a) => {
                        let requests = a.requests.clone();
                        view! { <LowBalanceBanner/> <BalanceCard account=a/> <Requests requests=requests/> <History/> }.into_any()
                    }
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/account"/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BalanceCard(account: AccountView) -> impl IntoView {
    let debt = account.debt();
    view! {
        <section class="card balance-card" aria-labelledby="balance-heading">
            <h1 id="balance-heading">"Your credits"</h1>
            <p class="muted">{format!("Signed in as {}", account.email)}</p>
            <p class="balance" id="balance" class:negative=debt.is_some()>
                {account.balance.to_string()}
                <span class="unit">" credits"</span>
            </p>
            {debt.map(|d| view! {
                <div class="notice warn" id="debt-notice" role="note">
                    <strong>{format!("You owe {d} credits.")}</strong>
                    " Credits from a refunded or disputed payment were already spent. Spending is paused "
                    "until your next purchase, which pays this back first."
                </div>
            })}
        </section>
    }
}

/// The user's manual requests and what an admin decided (with the reason of a rejection).
#[component]
fn Requests(requests: Vec<OrderView>) -> impl IntoView {
    use crate::app::pages::credits::{review_reason, state_class, state_label};
    (!requests.is_empty()).then(|| {
        view! {
            <section class="card" aria-labelledby="requests-heading">
                <h2 id="requests-heading">"Your requests"</h2>
                <ul class="requests" id="requests">
                    {requests.into_iter().map(|o| view! {
                        <li data-order-id=o.id.to_string()>
                            <strong>{o.plan_name.clone()}</strong>
                            {format!(" · {} credits · ", o.credits)}
                            <span class=format!("state state-{}", state_class(&o.state))>{state_label(&o.state)}</span>
                            {review_reason(&o.state).map(|r| view! { <p class="review-reason">{r}</p> })}
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}

#[component]
fn History() -> impl IntoView {
    let first = Resource::new(|| (), |_| list_my_transactions(None));
    let older = RwSignal::new(Vec::<TransactionView>::new());
    let next_before = RwSignal::new(None::<i64>);
    let load_more = Action::new(|before: &i64| list_my_transactions(Some(*before)));
    let more_error = RwSignal::new(None::<AppError>);

    Effect::new(move |_| {
        if let Some(result) = load_more.value().get() {
            match result {
                Ok(page) => {
                    older.update(|rows| rows.extend(page.items));
                    next_before.set(page.next_before);
                    more_error.set(None);
                }
                Err(e) => more_error.set(Some(e)),
            }
        }
    });

    view! {
        <section class="card" aria-labelledby="history-heading">
            <div class="card-head">
                <h2 id="history-heading">"History"</h2>
                <a class="button small" href="/account/transactions.csv" download="">"Download CSV"</a>
            </div>
            <Suspense fallback=|| view! { <Loading label="Loading history…"/> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <p class="empty" id="history-empty">"No transactions yet. Credits you buy or spend will show up here."</p>
                        }.into_any(),
                        Ok(page) => {
                            if load_more.version().get_untracked() == 0 {
                                next_before.set(page.next_before);
                            }
                            view! {
                                <div class="table-wrap">
                                    <table class="history" id="history">
                                        <thead>
                                            <tr><th scope="col">"Date"</th><th scope="col">"What"</th><th scope="col" class="num">"Credits"</th><th scope="col" class="num">"Balance"</th></tr>
                                        </thead>
                                        <tbody>
                                            {page.items.into_iter().map(|t| view! { <Row t=t/> }).collect_view()}
                                            <For each=move || older.get() key=|t| t.id let:t>
                                                <Row t=t/>
                                            </For>
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
            {move || more_error.get().map(|e| view! { <ErrorNote error=e/> })}
            {move || next_before.get().map(|before| view! {
                <button
                    class="button"
                    id="load-more"
                    disabled=move || load_more.pending().get()
                    on:click=move |_| { load_more.dispatch(before); }
                >
                    {move || if load_more.pending().get() { "Loading…" } else { "Show older" }}
                </button>
            })}
        </section>
    }
}

#[component]
fn Row(t: TransactionView) -> impl IntoView {
    let sign = if t.amount.get() > 0 { "+" } else { "" };
    let amount_class = if t.amount.get() > 0 { "num credit" } else { "num debit" };
    let date = t.created_at.get(..10).unwrap_or(&t.created_at).to_string();
    view! {
        <tr>
            <td><time datetime=t.created_at.clone()>{date}</time></td>
            <td>
                {t.kind.label()}
                {t.reason.map(|r| view! { <span class="reason">{format!(" · {r}")}</span> })}
            </td>
            <td class=amount_class>{format!("{sign}{}", t.amount)}</td>
            <td class="num">{t.balance_after.to_string()}</td>
        </tr>
    }
}
