//! The error every server function returns to the browser. It carries a user-facing message
//! only: internal causes are logged on the server and never cross this boundary.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// For people whose account the host app made: they have no password here. Shown on the log-in
/// page and with every failed log-in (to everyone alike, so it says nothing about an account).
pub const HOST_USER_HINT: &str = "Came here from Atlas? Your account was made by Atlas and has no password here: \
     open Credits from inside Atlas.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The caller must sign in first.
    #[error("Please sign in to continue.")]
    Unauthorized,
    /// Log-in refused: the same answer for an unknown email, a wrong password and an account
    /// without a password (made by the host app), so it tells such users where to go instead.
    #[error("Email or password is incorrect. {}", HOST_USER_HINT)]
    InvalidCredentials,
    /// Signed in, but not allowed to do this.
    #[error("You are not allowed to do that.")]
    Forbidden,
    #[error("{0} was not found.")]
    NotFound(String),
    /// The input was refused; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with what exists (e.g. an email already registered).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; the message says when to try again.
    #[error("{0}")]
    RateLimited(String),
    /// A dependency (database, Whop) is down; trying again later may work.
    #[error("The service is temporarily unavailable. Please try again in a moment.")]
    Unavailable,
    /// Something failed on our side; details are in the server log.
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// The request never reached the server or its answer could not be read.
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(msg) | ServerFnErrorErr::Response(msg) => AppError::Transport(msg),
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::Deserialization(msg) => {
                AppError::Invalid(format!("The request could not be read: {msg}"))
            }
            _ => AppError::Internal,
        }
    }
}
