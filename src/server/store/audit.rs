//! The one way a row reaches `audit_log`: `insert_audit!` inside the caller's open transaction, so
//! an admin action and its audit line commit together or not at all.

/// The statement every audit line is written with (both backends).
pub const INSERT_AUDIT: &str = "insert into audit_log (actor, action, subject, before_value, after_value, created_at) \
     values ($1, $2, $3, $4, $5, $6)";

/// `insert_audit!(executor, actor, action, subject, before, after, now)`: writes one audit line;
/// `before` and `after` are optional JSON text. Propagates the error with `?`.
macro_rules! insert_audit {
    ($exec:expr, $actor:expr, $action:expr, $subject:expr, $before:expr, $after:expr, $now:expr $(,)?) => {
        sqlx::query($crate::server::store::audit::INSERT_AUDIT)
            .bind($actor)
            .bind($action)
            .bind($subject)
            .bind($before)
            .bind($after)
            .bind($now)
            .execute($exec)
            .await?
    };
}
pub(crate) use insert_audit;
