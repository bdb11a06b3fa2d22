//! The admin dashboard's first page: API keys for the host app (create, see, revoke).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::admin::{admin_list_api_keys, AdminCreateApiKey, AdminRevokeApiKey};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{ApiKeyView, AppError};

#[component]
pub fn AdminPage() -> impl IntoView {
    let create = ServerAction::<AdminCreateApiKey>::new();
    let revoke = ServerAction::<AdminRevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| admin_list_api_keys(),
    );

    view! {
        <Title text="Admin"/>
        <Suspense fallback=|| view! { <Loading label="Loading…"/> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin"/> }.into_any(),
                    Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(list) => view! {
                        <h1>"Admin"</h1>
                        <AdminNav refresh=Signal::derive(|| 0usize)/>
                        <section class="card" aria-labelledby="keys-heading">
                            <h2 id="keys-heading">"API keys"</h2>
                            <p class="muted">"Atlas's backend uses these to read balances and spend credits (see the README for the API)."</p>
                            <ActionForm action=create attr:class="inline-form">
                                <label for="key-name">"Name"</label>
                                <input id="key-name" name="name" placeholder="atlas-backend" maxlength="100" required/>
                                <button type="submit" class="button primary" disabled=create.pending()>"Create key"</button>
                            </ActionForm>
                            {move || create.value().get().map(|r| match r {
                                Ok(made) => view! {
                                    <div class="notice ok" role="status" id="new-key">
                                        <p><strong>{format!("Key “{}” created.", made.view.name)}</strong>" Copy it now: it will not be shown again."</p>
                                        <code class="secret" id="new-key-value">{made.key}</code>
                                    </div>
                                }.into_any(),
                                Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                            })}
                            {move || revoke.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e/> })}
                            <KeyTable keys=list revoke=revoke/>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn KeyTable(keys: Vec<ApiKeyView>, revoke: ServerAction<AdminRevokeApiKey>) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="empty" id="keys-empty">"No API keys yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="keys" id="keys">
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Key"</th><th scope="col">"Created"</th><th scope="col">"Last used"</th><th scope="col">"Status"</th></tr></thead>
                <tbody>
                    {keys.into_iter().map(|k| {
                        let revoked = k.revoked_at.is_some();
                        view! {
                            <tr>
                                <td>{k.name.clone()}</td>
                                <td><code>{format!("{}…", k.prefix)}</code></td>
                                <td>{k.created_at.get(..10).unwrap_or_default().to_string()}</td>
                                <td>{k.last_used_at.as_deref().and_then(|t| t.get(..10)).unwrap_or("never").to_string()}</td>
                                <td>
                                    {if revoked {
                                        view! { <span class="tag">"Revoked"</span> }.into_any()
                                    } else {
                                        view! {
                                            <ActionForm action=revoke>
                                                <input type="hidden" name="id" value=k.id.to_string()/>
                                                <button type="submit" class="button small danger" aria-label=format!("Revoke key {}", k.name)>"Revoke"</button>
                                            </ActionForm>
                                        }.into_any()
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}
