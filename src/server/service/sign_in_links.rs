//! One-time sign-in links: the host app (Atlas) asks for one for its signed-in user, sends the
//! browser to it, and opening it signs that browser in as the user (a normal session) and goes on
//! to `return_to`. The link's token is 32 random bytes; the database keeps only its SHA-256, a
//! link works once and for a few minutes, and the token is never logged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

use crate::model::UserId;
use crate::server::config::HostOrigins;
use crate::server::http::safe_next;
use crate::server::service::auth::{self, NewSession, SESSION_DAYS};
use crate::server::service::host_users::{self, HostError};
use crate::server::store::{LinkOutcome, LinkSession, NewSignInLink, Store, StoreError};

/// How long a link works: long enough for a redirect, short enough that a leaked one is stale.
pub const LINK_MINUTES: i64 = 5;
/// Where a link goes when the host app names no `return_to`.
pub const DEFAULT_RETURN_TO: &str = "/credits";
/// The route that opens links; the token follows it.
pub const LINK_PATH: &str = "/auth/link/";
/// The page a link that cannot sign in leads to (`?reason=used|expired|invalid`).
pub const PROBLEM_PATH: &str = "/auth/link-problem";
const TOKEN_BYTES: usize = 32;
/// 32 bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 43;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("return_to must be a path on this app such as /credits (no scheme or host, no //, backslashes, spaces or control characters, at most {} characters)", safe_next::MAX_LEN)]
    InvalidReturnTo,
    #[error("back_url cannot be used: HOST_APP_ORIGINS is not configured on this server")]
    BackUrlNotConfigured,
    #[error("back_url must be an http(s) URL without user name or password on an origin listed in HOST_APP_ORIGINS")]
    BackUrlNotAllowed,
    /// An API key must not be a way into the admin pages: admins log in with their password.
    #[error("sign-in links cannot sign in an admin account; admins log in with their password")]
    AdminAccount,
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A link made for the host app: the URL (with the token) is shown to it once.
#[derive(Debug)]
pub struct CreatedLink {
    pub url: SecretString,
    pub expires_at: DateTime<Utc>,
}

/// What the host app asked for.
#[derive(Debug, Clone, Copy)]
pub struct LinkRequest<'a> {
    pub external_id: &'a str,
    pub return_to: Option<&'a str>,
    pub back_url: Option<&'a str>,
    /// The API key that asks (kept on the link, for the audit trail).
    pub api_key_id: i64,
}

/// Makes a link for the host user `external_id`. `base` is this app's origin as browsers reach
/// it (`PUBLIC_URL`, else the request's own origin).
pub async fn create(
    store: &dyn Store,
    origins: &HostOrigins,
    base: &str,
    req: LinkRequest<'_>,
    now: DateTime<Utc>,
) -> Result<CreatedLink, LinkError> {
    host_users::check_external_id(req.external_id)?;
    let return_to = match req.return_to {
        None => DEFAULT_RETURN_TO.to_string(),
        Some(r) if safe_next::is_safe(r) => r.to_string(),
        Some(_) => return Err(LinkError::InvalidReturnTo),
    };
    let back_url = match req.back_url {
        None => None,
        Some(_) if origins.is_empty() => return Err(LinkError::BackUrlNotConfigured),
        Some(raw) => Some(origins.accept_url(raw).ok_or(LinkError::BackUrlNotAllowed)?),
    };
    let user = host_users::user(store, req.external_id).await?;
    if user.role == "admin" {
        return Err(LinkError::AdminAccount);
    }
    let token = new_token();
    let expires_at = now + Duration::minutes(LINK_MINUTES);
    store
        .create_sign_in_link(&NewSignInLink {
            token_hash: auth::token_hash(&token),
            user: user.user_id(),
            api_key_id: req.api_key_id,
            return_to,
            back_url,
            created_at: now,
            expires_at,
        })
        .await?;
    tracing::info!(user = user.id, api_key = req.api_key_id, "sign-in link created");
    Ok(CreatedLink {
        url: SecretString::from(format!("{}{LINK_PATH}{token}", base.trim_end_matches('/'))),
        expires_at,
    })
}

/// 32 random bytes, unpadded base64url (43 characters, safe in a path).
fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// True when `raw` has the exact shape of a token we hand out (length, alphabet, and the
/// canonical encoding of 32 bytes), so nothing else ever reaches the database.
pub fn is_well_formed(raw: &str) -> bool {
    raw.len() == TOKEN_CHARS
        && URL_SAFE_NO_PAD
            .decode(raw.as_bytes())
            .is_ok_and(|b| b.len() == TOKEN_BYTES)
}

/// Why a link did not sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// Opened before.
    Used,
    Expired,
    /// Malformed or unknown.
    Invalid,
}

impl LinkProblem {
    /// The `reason` of the problem page.
    pub fn reason(self) -> &'static str {
        match self {
            LinkProblem::Used => "used",
            LinkProblem::Expired => "expired",
            LinkProblem::Invalid => "invalid",
        }
    }
}

/// A link that signed the browser in: the session to hand it, and where to go.
pub struct Opened {
    pub user: UserId,
    pub session: NewSession,
    pub return_to: String,
}

/// Opens a link: uses it up and starts a session for its user (the user's other sessions stay).
/// The sessions the browser held before (`previous_tokens`, perhaps someone else's) are ended,
/// as a log-in does, so the browser is now only the link's user.
pub async fn open(
    store: &dyn Store,
    raw_token: &str,
    previous_tokens: &[String],
    user_agent: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<Opened, LinkProblem>, StoreError> {
    if !is_well_formed(raw_token) {
        return Ok(Err(LinkProblem::Invalid));
    }
    let session_token = auth::random_token();
    let session = LinkSession {
        token_hash: auth::token_hash(&session_token),
        expires_at: now + Duration::days(SESSION_DAYS),
        user_agent: user_agent.map(|s| s.chars().take(300).collect()),
    };
    let (user, return_to) = match store
        .consume_sign_in_link(&auth::token_hash(raw_token), &session, now)
        .await?
    {
        LinkOutcome::SignedIn { user, return_to, .. } => (user, return_to),
        LinkOutcome::Used => return Ok(Err(LinkProblem::Used)),
        LinkOutcome::Expired => return Ok(Err(LinkProblem::Expired)),
        LinkOutcome::Unknown => return Ok(Err(LinkProblem::Invalid)),
    };
    for old in previous_tokens {
        store.delete_session(&auth::token_hash(old)).await?;
    }
    tracing::info!(user = user.0, "signed in by a sign-in link");
    Ok(Ok(Opened {
        user,
        session: NewSession {
            token: SecretString::from(session_token),
            expires_at: session.expires_at,
        },
        // Checked when the link was made; checked again because it goes into `Location`.
        return_to: safe_next::safe_next(Some(&return_to)),
    }))
}

/// The "Back to Atlas" address of the session `session_token`, if it came from a link with one
/// and the address's origin is still listed in `HOST_APP_ORIGINS` (the list may have changed).
pub async fn back_url(
    store: &dyn Store,
    origins: &HostOrigins,
    session_token: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let stored = store.session_back_url(&auth::token_hash(session_token), now).await?;
    Ok(stored.and_then(|u| origins.accept_url(&u)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_shape() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_CHARS);
        assert!(is_well_formed(&a) && is_well_formed(&b));
        for bad in [
            String::new(),
            a[..42].to_string(),
            format!("{a}A"),
            format!("{}=", &a[..42]),
            format!("{}+", &a[..42]),
            format!("{}/", &a[..42]),
            format!("{}.", &a[..42]),
            format!("{}é", &a[..41]),
            // 43 characters whose last one carries bits beyond the 32 bytes.
            format!("{}B", &"A".repeat(42)),
        ] {
            assert!(!is_well_formed(&bad), "{bad:?}");
        }
        assert!(is_well_formed(&"A".repeat(43)));
    }
}
