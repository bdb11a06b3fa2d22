//! The signed-in user's balance and history.

use leptos::prelude::*;

use crate::model::{AccountView, AppError, TransactionPage};

pub const HISTORY_PAGE_SIZE: i64 = 20;
/// How many of the user's manual requests the account page shows.
pub const RECENT_REQUESTS: i64 = 10;

#[server(endpoint = "get_account")]
pub async fn get_account() -> Result<AccountView, AppError> {
    use crate::model::Role;
    use crate::server::fn_ctx::{fail, require_user};
    use crate::server::service::orders;
    use crate::server::store::admin_order_queries::OrderFilter;

    let (state, user) = require_user().await?;
    let mine = OrderFilter {
        method: Some("manual".into()),
        user_id: Some(user.user_id()),
        ..OrderFilter::default()
    };
    let requests = state
        .store
        .list_orders(&mine, None, RECENT_REQUESTS)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(AccountView {
        email: user.email.clone(),
        role: Role::parse(&user.role),
        balance: user.balance(),
        requests: requests.iter().map(|r| orders::view(&r.order)).collect(),
    })
}

/// One page of the signed-in user's history, newest first, below `before` (a transaction id).
#[server(endpoint = "list_my_transactions")]
pub async fn list_my_transactions(before: Option<i64>) -> Result<TransactionPage, AppError> {
    use crate::server::fn_ctx::{fail, require_user};

    let (state, user) = require_user().await?;
    let rows = state
        .store
        .list_transactions(user.user_id(), before, HISTORY_PAGE_SIZE + 1)
        .await
        .map_err(|e| fail(e.into()))?;
    let more = rows.len() as i64 > HISTORY_PAGE_SIZE;
    let items: Vec<_> = rows
        .iter()
        .take(HISTORY_PAGE_SIZE as usize)
        .map(|r| r.to_view())
        .collect();
    let next_before = if more { items.last().map(|t| t.id) } else { None };
    Ok(TransactionPage { items, next_before })
}
