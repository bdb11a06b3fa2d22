//! `/api/v1/users/{external_id}...`: create or update a user, read the balance, spend, history.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller};
use crate::server::service::host_users::{self, SPEND_SOURCE};
use crate::server::state::AppState;
use crate::server::store::{TransactionRow, UserRow};

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutUserBody {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Link an account already signed up here with this email (and no external id yet) instead
    /// of answering 409 for the taken email.
    #[serde(default)]
    pub link_existing_account: bool,
}

#[derive(Debug, Serialize)]
pub struct UserBody {
    pub external_id: String,
    pub email: String,
    pub name: Option<String>,
    pub balance: i64,
}

impl UserBody {
    fn of(u: UserRow) -> Self {
        UserBody {
            external_id: u.external_id.unwrap_or_default(),
            email: u.email,
            name: u.name,
            balance: u.credits_balance,
        }
    }
}

/// `PUT /api/v1/users/{external_id}`: 201 when created, 200 when updated.
pub async fn put_user(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<PutUserBody>, JsonRejection>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let Path(external_id) = path?;
    let Json(body) = body?;
    let (user, created) = host_users::upsert(
        state.store.as_ref(),
        &external_id,
        &body.email,
        body.name.as_deref(),
        body.link_existing_account,
    )
    .await?;
    Ok((
        if created { StatusCode::CREATED } else { StatusCode::OK },
        Json(UserBody::of(user)),
    ))
}

#[derive(Debug, Serialize)]
pub struct BalanceBody {
    pub external_id: String,
    pub balance: i64,
    /// True when refunds or disputes took back credits already spent: spending is blocked until
    /// a purchase repays the debt.
    pub in_debt: bool,
}

pub async fn get_balance(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BalanceBody>, ApiError> {
    let Path(external_id) = path?;
    let user = host_users::user(state.store.as_ref(), &external_id).await?;
    Ok(Json(BalanceBody {
        external_id,
        balance: user.credits_balance,
        in_debt: user.credits_balance < 0,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendBody {
    pub amount: i64,
    pub idempotency_key: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SpendResult {
    pub transaction_id: i64,
    pub external_id: String,
    pub amount: i64,
    pub balance: i64,
    pub idempotency_key: String,
    /// True when this key had been used before: nothing was spent now; this is the first result.
    pub replayed: bool,
}

pub async fn post_spend(
    State(state): State<AppState>,
    Extension(Caller(key)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<SpendBody>, JsonRejection>,
) -> Result<Json<SpendResult>, ApiError> {
    let Path(external_id) = path?;
    let Json(body) = body?;
    let posted = host_users::spend(
        state.store.as_ref(),
        &external_id,
        body.amount,
        &body.idempotency_key,
        body.reason.as_deref(),
        key.id,
    )
    .await?;
    Ok(Json(SpendResult {
        transaction_id: posted.transaction.id,
        external_id,
        amount: body.amount,
        balance: posted.transaction.balance_after,
        idempotency_key: body.idempotency_key,
        replayed: !posted.applied,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub before: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct TransactionBody {
    pub id: i64,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub reason: Option<String>,
    /// The host's idempotency key, for spends made through this API.
    pub idempotency_key: Option<String>,
    pub created_at: String,
}

impl TransactionBody {
    fn of(r: TransactionRow) -> Self {
        TransactionBody {
            id: r.id,
            idempotency_key: (r.source_kind == SPEND_SOURCE).then(|| r.source_id.clone()),
            kind: r.kind,
            amount: r.amount,
            balance_after: r.balance_after,
            reason: r.reason,
            created_at: r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TransactionList {
    pub data: Vec<TransactionBody>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<i64>,
}

pub async fn get_transactions(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<TransactionList>, ApiError> {
    let Path(external_id) = path?;
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be from 1 to {MAX_PAGE}")));
    }
    let user = host_users::user(state.store.as_ref(), &external_id).await?;
    let mut rows = state
        .store
        .list_transactions(user.user_id(), q.before, limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_before = if more { rows.last().map(|r| r.id) } else { None };
    Ok(Json(TransactionList {
        data: rows.into_iter().map(TransactionBody::of).collect(),
        next_before,
    }))
}
