//! Loading Atlas's legacy data (`atlas-credits import`): every user and order of one run is
//! written in ONE transaction, so a refused row leaves nothing half-imported, and each write is
//! keyed (user by external id or email, balance by its `migration` ledger source, order by
//! `client_key = 'import:<legacy id>'`) so a second run writes nothing. The rows arrive parsed and
//! validated (`service::import`); here only what needs the database is checked. SQL shared by
//! both backends (`impl_import_queries!`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// One users.csv row, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyUser {
    /// Where it came from, for errors: the file and its line.
    pub file: String,
    pub line: u64,
    pub email: String,
    pub external_id: Option<String>,
    pub name: Option<String>,
    /// Credits, >= 0; 0 posts no ledger row.
    pub balance: i64,
}

impl LegacyUser {
    /// The `migration` ledger row's source id: the external id, else the lowercased email.
    pub fn source_id(&self) -> String {
        self.external_id.clone().unwrap_or_else(|| self.email.to_lowercase())
    }
}

/// One orders.csv row, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyOrder {
    pub file: String,
    pub line: u64,
    pub legacy_id: String,
    /// Who bought it: by external id when given, else by email (at least one is set).
    pub user_external_id: Option<String>,
    pub user_email: Option<String>,
    pub plan_name: String,
    pub credits: i64,
    pub price_cents: i64,
    pub currency: String,
    /// manual or whop.
    pub method: String,
    /// pending, paid, failed, refunded, partially_refunded, disputed.
    pub payment_status: String,
    /// pending, approved, rejected, cancelled.
    pub review_status: String,
    pub created_at: DateTime<Utc>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub users_created: u64,
    pub users_present: u64,
    pub balances_posted: u64,
    pub balances_present: u64,
    pub orders_created: u64,
    pub orders_present: u64,
}

/// A row the database refused; nothing of the run was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRefusal {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

impl ImportRefusal {
    pub fn new(file: &str, line: u64, reason: String) -> ImportRefusal {
        ImportRefusal {
            file: file.to_owned(),
            line,
            reason,
        }
    }
}

#[async_trait]
pub trait ImportQueries: Send + Sync {
    /// Writes every user (created if missing, its balance as one `migration` ledger row) and then
    /// every order, in one transaction; a refusal rolls it all back.
    async fn import_legacy(
        &self,
        users: &[LegacyUser],
        orders: &[LegacyOrder],
        now: DateTime<Utc>,
    ) -> Result<Result<ImportCounts, ImportRefusal>, StoreError>;
}

macro_rules! impl_import_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::import_queries::ImportQueries for $store {
            async fn import_legacy(
                &self,
                users: &[$crate::server::store::import_queries::LegacyUser],
                orders: &[$crate::server::store::import_queries::LegacyOrder],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<
                Result<
                    $crate::server::store::import_queries::ImportCounts,
                    $crate::server::store::import_queries::ImportRefusal,
                >,
                StoreError,
            > {
                use $crate::server::store::import_queries::{ImportCounts, ImportRefusal};
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let mut counts = ImportCounts::default();
                // Ledger rows this run wrote, counted in the metrics only once it has committed.
                let mut migration_rows = 0u64;
                // Every check that refuses a row breaks out of this block with the refusal.
                let refusal: Option<ImportRefusal> = 'work: {
                for u in users {
                    let by_external: Option<(i64, String)> = match &u.external_id {
                        Some(x) => sqlx::query_as("select id, email from users where external_id = $1")
                            .bind(x)
                            .fetch_optional(&mut *tx)
                            .await?,
                        None => None,
                    };
                    let by_email: Option<(i64, Option<String>)> =
                        sqlx::query_as("select id, external_id from users where lower(email) = lower($1)")
                            .bind(&u.email)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let user_id = match (by_external, by_email) {
                        (Some((a, _)), Some((b, _))) if a != b => break 'work Some(ImportRefusal::new(&u.file, u.line, format!("the email and the external_id belong to two different users (#{b} and #{a})"
                        ))),
                        (Some((a, _)), _) => {
                            counts.users_present += 1;
                            a
                        }
                        (None, Some((b, existing))) => {
                            match (existing, &u.external_id) {
                                (Some(other), Some(mine)) if &other != mine => break 'work Some(ImportRefusal::new(&u.file, u.line, format!("the user with this email has another external_id ({other})"
                                ))),
                                (None, Some(mine)) => {
                                    sqlx::query("update users set external_id = $1, updated_at = $2 where id = $3")
                                        .bind(mine)
                                        .bind(now)
                                        .bind(b)
                                        .execute(&mut *tx)
                                        .await?;
                                }
                                _ => {}
                            }
                            counts.users_present += 1;
                            b
                        }
                        (None, None) => {
                            // No password: legacy users arrive through the host app.
                            let row = sqlx::query_as::<_, $crate::server::store::UserRow>(sql::INSERT_USER)
                                .bind(&u.email)
                                .bind(None::<String>)
                                .bind("user")
                                .bind(&u.external_id)
                                .bind(&u.name)
                                .bind(now)
                                .fetch_one(&mut *tx)
                                .await?;
                            counts.users_created += 1;
                            row.id
                        }
                    };
                    if u.balance == 0 {
                        continue;
                    }
                    let source_id = u.source_id();
                    let existing = sqlx::query_as::<_, $crate::server::store::TransactionRow>(sql::TX_BY_SOURCE)
                        .bind("migration")
                        .bind("legacy_user")
                        .bind(&source_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(existing) = existing {
                        if existing.user_id != user_id {
                            break 'work Some(ImportRefusal::new(&u.file, u.line, format!("the legacy balance {source_id} was imported for another user (#{})",
                                existing.user_id
                            )));
                        }
                        counts.balances_present += 1;
                        continue;
                    }
                    let balance: i64 = sqlx::query_scalar("select credits_balance from users where id = $1")
                        .bind(user_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let Some(new_balance) = balance.checked_add(u.balance) else {
                        break 'work Some(ImportRefusal::new(&u.file, u.line, format!("the balance would be out of range")));
                    };
                    let posted = sqlx::query_as::<_, $crate::server::store::TransactionRow>(sql::INSERT_TX)
                        .bind(user_id)
                        .bind(u.balance)
                        .bind("migration")
                        .bind("legacy_user")
                        .bind(&source_id)
                        .bind(None::<i64>)
                        .bind("system:import")
                        .bind("balance imported from the legacy Atlas")
                        .bind(new_balance)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                    migration_rows += u64::from(posted.is_some());
                    sqlx::query(sql::SET_BALANCE)
                        .bind(new_balance)
                        .bind(now)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    // An imported debt can take a balance below the low-balance threshold.
                    $crate::server::store::host_webhook_queries::emit_balance_low!(
                        tx,
                        user_id,
                        balance,
                        new_balance,
                        serde_json::json!({ "ledger_entry_id": posted.map(|p| p.id) }),
                        now
                    );
                    counts.balances_posted += 1;
                }
                for o in orders {
                    let user_id: Option<i64> = match (&o.user_external_id, &o.user_email) {
                        (Some(x), _) => sqlx::query_scalar("select id from users where external_id = $1")
                            .bind(x)
                            .fetch_optional(&mut *tx)
                            .await?,
                        (None, Some(email)) => {
                            sqlx::query_scalar("select id from users where lower(email) = lower($1)")
                                .bind(email)
                                .fetch_optional(&mut *tx)
                                .await?
                        }
                        (None, None) => None,
                    };
                    let Some(user_id) = user_id else {
                        break 'work Some(ImportRefusal::new(&o.file, o.line, format!("no such user {} (import users.csv first, or in the same run)", o.user_external_id.as_deref().or(o.user_email.as_deref()).unwrap_or("(none given)"))));
                    };
                    let client_key = format!("import:{}", o.legacy_id);
                    let existing: Option<i64> =
                        sqlx::query_scalar("select user_id from credit_orders where client_key = $1")
                            .bind(&client_key)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if let Some(owner) = existing {
                        if owner != user_id {
                            break 'work Some(ImportRefusal::new(&o.file, o.line, format!("legacy order {} was imported for another user", o.legacy_id)));
                        }
                        counts.orders_present += 1;
                        continue;
                    }
                    // A paid order posts no ledger row: the user's imported balance covers it.
                    // It is marked credited at its time so nothing tries to credit it again.
                    let settled = (o.payment_status != "pending" && o.payment_status != "failed").then_some(o.created_at);
                    sqlx::query(
                        "insert into credit_orders (user_id, plan_name, credits_amount, price_cents, currency, status, \
                         payment_method, payment_status, notes, created_at, updated_at, paid_at, credited_at, client_key) \
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)",
                    )
                    .bind(user_id)
                    .bind(&o.plan_name)
                    .bind(o.credits)
                    .bind(o.price_cents)
                    .bind(&o.currency)
                    .bind(&o.review_status)
                    .bind(&o.method)
                    .bind(&o.payment_status)
                    .bind(&o.notes)
                    .bind(o.created_at)
                    .bind(now)
                    .bind(settled)
                    .bind(&client_key)
                    .execute(&mut *tx)
                    .await?;
                    counts.orders_created += 1;
                }
                None
                };
                if let Some(r) = refusal {
                    tx.rollback().await?;
                    return Ok(Err(r));
                }
                tx.commit().await?;
                $crate::server::metrics::ledger_posts("migration", migration_rows);
                Ok(Ok(counts))
            }
        }
    };
}
pub(crate) use impl_import_queries;
