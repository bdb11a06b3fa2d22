//! Mapping internal errors to what crosses a boundary. Policy: a caller sees what it can act on
//! (not found, invalid input, insufficient credits); everything else is logged here with its cause
//! and answered with a generic message, so internals never reach a browser or API client.

use crate::model::AppError;
use crate::server::service::api_keys::ApiKeyError;
use crate::server::service::auth::AuthError;
use crate::server::service::checkout::CheckoutError;
use crate::server::service::ledger::LedgerError;
use crate::server::service::rate_limit::RateLimitError;
use crate::server::store::StoreError;

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(what.to_string()),
            StoreError::InsufficientCredits { balance } => {
                AppError::Invalid(format!("Not enough credits: the balance is {balance}."))
            }
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                AppError::Unavailable
            }
            e => {
                tracing::error!(error = %e, "internal error");
                AppError::Internal
            }
        }
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidEmail | AuthError::PasswordTooShort | AuthError::PasswordTooLong => {
                AppError::Invalid(e.to_string())
            }
            AuthError::EmailTaken => AppError::Conflict(e.to_string()),
            AuthError::InvalidCredentials => AppError::InvalidCredentials,
            AuthError::Store(e) => e.into(),
            AuthError::Hashing(msg) => {
                tracing::error!(error = %msg, "password hashing failed");
                AppError::Internal
            }
        }
    }
}

impl From<RateLimitError> for AppError {
    fn from(e: RateLimitError) -> Self {
        match e {
            RateLimitError::Limited { .. } => AppError::RateLimited(e.to_string()),
            RateLimitError::Store(e) => e.into(),
        }
    }
}

impl From<ApiKeyError> for AppError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::InvalidName => AppError::Invalid(e.to_string()),
            ApiKeyError::NotFound => AppError::NotFound("API key".into()),
            ApiKeyError::Store(e) => e.into(),
        }
    }
}

impl From<LedgerError> for AppError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Invalid(msg) => AppError::Invalid(msg),
            LedgerError::UserNotFound => AppError::NotFound("User".into()),
            LedgerError::InsufficientCredits { balance } => {
                AppError::Invalid(format!("Not enough credits: the balance is {balance}."))
            }
            LedgerError::SourceConflict { .. } => AppError::Conflict(e.to_string()),
            LedgerError::Store(e) => e.into(),
        }
    }
}

impl From<CheckoutError> for AppError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::PlanNotFound => AppError::NotFound("Plan".into()),
            CheckoutError::OrderNotFound => AppError::NotFound("Order".into()),
            CheckoutError::NotForSale
            | CheckoutError::WhopDisabled
            | CheckoutError::InvalidClientKey
            | CheckoutError::InvalidNote(_)
            | CheckoutError::BadHost => AppError::Invalid(e.to_string()),
            CheckoutError::KeyReused | CheckoutError::AlreadyPaid | CheckoutError::Failed(_) => {
                AppError::Conflict(e.to_string())
            }
            // Logged (with the order) where it happened; the order shows Whop's message.
            CheckoutError::Whop(_) | CheckoutError::BadPurchaseUrl(_) => AppError::Unavailable,
            CheckoutError::Store(e) => e.into(),
        }
    }
}

impl From<crate::server::service::unmatched::UnmatchedError> for AppError {
    fn from(e: crate::server::service::unmatched::UnmatchedError) -> Self {
        use crate::server::service::unmatched::UnmatchedError as E;
        match e {
            E::NotFound => AppError::NotFound("Unmatched payment".into()),
            E::UnknownUser(_) | E::Invalid(_) => AppError::Invalid(e.to_string()),
            E::NotOpen(_) | E::NotCredited(_) => AppError::Conflict(e.to_string()),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::server::service::admin_events::AdminEventsError> for AppError {
    fn from(e: crate::server::service::admin_events::AdminEventsError) -> Self {
        use crate::server::service::admin_events::AdminEventsError as E;
        match e {
            E::NotFound => AppError::NotFound("Webhook event".into()),
            E::Invalid(_) => AppError::Invalid(e.to_string()),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::server::service::refunds::RefundRequestError> for AppError {
    fn from(e: crate::server::service::refunds::RefundRequestError) -> Self {
        use crate::server::service::refunds::RefundRequestError as E;
        match e {
            E::NotFound => AppError::NotFound("Order".into()),
            E::Invalid(_) => AppError::Invalid(e.to_string()),
            E::NotRefundable(_) => AppError::Conflict(e.to_string()),
            // Whop's own refusal says what is wrong with the request (e.g. not refundable).
            E::Whop(crate::server::whop::error::WhopError::InvalidRequest { message, .. }) => {
                AppError::Conflict(format!("Whop refused the refund: {message}"))
            }
            E::Whop(other) => {
                tracing::error!(error = %other, "refund request to Whop failed");
                AppError::Unavailable
            }
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::server::service::plans::PlanError> for AppError {
    fn from(e: crate::server::service::plans::PlanError) -> Self {
        use crate::server::service::plans::PlanError as E;
        match e {
            E::NotFound => AppError::NotFound("Plan".into()),
            E::Invalid(_) => AppError::Invalid(e.to_string()),
            E::NameTaken(_) | E::Changed => AppError::Conflict(e.to_string()),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::server::service::settings::SettingsError> for AppError {
    fn from(e: crate::server::service::settings::SettingsError) -> Self {
        use crate::server::service::settings::SettingsError as E;
        match e {
            E::Invalid(m) => AppError::Invalid(m),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::server::service::alerts::AlertError> for AppError {
    fn from(e: crate::server::service::alerts::AlertError) -> Self {
        use crate::server::service::alerts::AlertError as E;
        match e {
            E::NotFound => AppError::NotFound("Alert".into()),
            E::NotOpen => AppError::Conflict(e.to_string()),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::server::service::host_webhooks::HostWebhookError> for AppError {
    fn from(e: crate::server::service::host_webhooks::HostWebhookError) -> Self {
        use crate::server::service::host_webhooks::HostWebhookError as E;
        match e {
            E::Invalid(msg) => AppError::Invalid(msg),
            E::TooMany | E::AlreadyPending => AppError::Conflict(e.to_string()),
            E::EndpointNotFound => AppError::NotFound("Endpoint".into()),
            E::DeliveryNotFound => AppError::NotFound("Delivery".into()),
            E::Store(e) => e.into(),
        }
    }
}
