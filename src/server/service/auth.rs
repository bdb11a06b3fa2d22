//! Accounts: sign-up, log-in, sessions. Passwords are hashed with argon2id on the blocking pool
//! (never on the async threads); sessions live in the database so every app instance shares them,
//! and the cookie carries a random token whose SHA-256 is all the database keeps.

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::model::UserId;
use crate::server::store::{NewUser, Store, StoreError, UserRow};

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const SESSION_DAYS: i64 = 30;
/// The session cookie's name over plain http.
pub const SESSION_COOKIE: &str = "atlas_session";
/// Its name when Secure: browsers accept a `__Host-` cookie only with Secure, Path=/ and no
/// Domain, so no sibling subdomain can set (toss) one for us.
pub const SECURE_SESSION_COOKIE: &str = "__Host-atlas_session";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("Use a password of at least {MIN_PASSWORD_CHARS} characters.")]
    PasswordTooShort,
    #[error("Use a password of at most {MAX_PASSWORD_CHARS} characters.")]
    PasswordTooLong,
    #[error("An account with this email already exists. Log in instead.")]
    EmailTaken,
    /// The same answer for an unknown email and a wrong password.
    #[error("Email or password is incorrect.")]
    InvalidCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Trims and checks an email address; keeps its case (comparisons ignore case). Besides spaces
/// and control characters it refuses the replacement character (what a form decoder makes of
/// bytes that are not UTF-8: the address the user typed is lost) and invisible formatting
/// (zero-width characters, bidirectional overrides), with which one address could be made to
/// look like another in the admin's lists.
pub fn parse_email(raw: &str) -> Result<String, AuthError> {
    let email = raw.trim();
    let valid = email.len() <= 254
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible_or_lost(c))
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(email.to_string())
    } else {
        Err(AuthError::InvalidEmail)
    }
}

fn is_invisible_or_lost(c: char) -> bool {
    matches!(c,
        '\u{FFFD}' // replacement character
        | '\u{00AD}' // soft hyphen
        | '\u{200B}'..='\u{200F}' // zero-width space, joiners, direction marks
        | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidirectional isolates
        | '\u{FEFF}' // zero-width no-break space
    )
}

pub fn check_password_rules(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(AuthError::PasswordTooShort)
    } else if n > MAX_PASSWORD_CHARS {
        Err(AuthError::PasswordTooLong)
    } else {
        Ok(())
    }
}

/// argon2id with the crate's default (OWASP-recommended) parameters, off the async threads.
pub async fn hash_password(password: SecretString) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AuthError::Hashing(e.to_string()))?
}

/// Checks a password against a stored hash, off the async threads. Without a hash (unknown
/// email, or a user who cannot sign in) it still does the work of a check, so the answer takes
/// as long either way.
async fn verify_password(password: SecretString, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let ok = argon2::Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        ok && known
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password nobody knows, made once, to spend equal time on unknown emails.
fn dummy_hash() -> &'static str {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(random_token().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// A freshly issued session: the token goes into the cookie, once.
pub struct NewSession {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 random bytes, hex: for session tokens and API keys.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    hex::encode(bytes)
}

async fn start_session(store: &dyn Store, user: UserId, user_agent: Option<&str>) -> Result<NewSession, AuthError> {
    let token = random_token();
    let expires_at = Utc::now() + Duration::days(SESSION_DAYS);
    let ua = user_agent.map(|s| s.chars().take(300).collect::<String>());
    store
        .create_session(&token_hash(&token), user, expires_at, ua.as_deref())
        .await?;
    Ok(NewSession {
        token: SecretString::from(token),
        expires_at,
    })
}

pub async fn sign_up(
    store: &dyn Store,
    email: &str,
    password: SecretString,
    user_agent: Option<&str>,
) -> Result<(UserRow, NewSession), AuthError> {
    let email = parse_email(email)?;
    check_password_rules(password.expose_secret())?;
    let hash = hash_password(password).await?;
    let user = store
        .create_user(&NewUser {
            email,
            password_hash: Some(hash),
            role: "user".into(),
            external_id: None,
            name: None,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(ref what) if what == "email" => AuthError::EmailTaken,
            e => AuthError::Store(e),
        })?;
    let session = start_session(store, user.user_id(), user_agent).await?;
    tracing::info!(user = user.id, "account created");
    Ok((user, session))
}

/// Logs in; `previous_tokens` (the sessions the browser still holds, if any) are ended so each
/// login rotates.
pub async fn log_in(
    store: &dyn Store,
    email: &str,
    password: SecretString,
    previous_tokens: &[String],
    user_agent: Option<&str>,
) -> Result<(UserRow, NewSession), AuthError> {
    let user = store.user_by_email(email.trim()).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    if !verify_password(password, hash).await {
        return Err(AuthError::InvalidCredentials);
    }
    let user = user.ok_or(AuthError::InvalidCredentials)?;
    for old in previous_tokens {
        store.delete_session(&token_hash(old)).await?;
    }
    let session = start_session(store, user.user_id(), user_agent).await?;
    tracing::info!(user = user.id, "logged in");
    Ok((user, session))
}

pub async fn session_user(store: &dyn Store, token: &str) -> Result<Option<UserRow>, StoreError> {
    store.session_user(&token_hash(token), Utc::now()).await
}

pub async fn log_out(store: &dyn Store, token: &str) -> Result<(), StoreError> {
    store.delete_session(&token_hash(token)).await
}

/// What `create_or_promote_admin` did (or, for `NeedsPromoteExisting`, refused to do).
#[derive(Debug)]
pub enum AdminOutcome {
    /// A new admin account.
    Created(UserRow),
    /// An existing non-admin account became admin: password replaced, its sessions ended.
    Promoted { user: UserRow, sessions_ended: u64 },
    /// An existing admin got a new password; its sessions were ended.
    PasswordReset { user: UserRow, sessions_ended: u64 },
    /// The email belongs to an account that is not an admin, and `promote_existing` was not
    /// given: nothing was changed. Anyone can sign up with any email (no confirmation is sent),
    /// so such an account may belong to someone else.
    NeedsPromoteExisting { role: String },
}

/// The operator's `create-admin`: makes `email` an admin with `password_hash`.
///
/// - No account: one is created, role admin.
/// - An admin: its password is replaced and all its sessions are ended.
/// - Any other account (signed up by anyone, or made by the host app): only with
///   `promote_existing`; its password is replaced and all its sessions are ended, so whoever
///   held them (perhaps the person who registered the operator's email first) is signed out
///   and cannot sign in again without the new password.
pub async fn create_or_promote_admin(
    store: &dyn Store,
    email: &str,
    password_hash: &str,
    promote_existing: bool,
) -> Result<AdminOutcome, AuthError> {
    let email = parse_email(email)?;
    let Some(existing) = store.user_by_email(&email).await? else {
        let user = store
            .create_user(&NewUser {
                email,
                password_hash: Some(password_hash.to_string()),
                role: "admin".into(),
                external_id: None,
                name: None,
            })
            .await?;
        tracing::info!(user = user.id, "admin created");
        return Ok(AdminOutcome::Created(user));
    };
    let was_admin = existing.role == "admin";
    if !was_admin && !promote_existing {
        return Ok(AdminOutcome::NeedsPromoteExisting { role: existing.role });
    }
    let id = existing.user_id();
    // Order matters, so no session of the old owner is ever an admin one: replace the password
    // under the old role (no new sign-ins with the old one), end every session, only then grant
    // the role, and end sessions once more for a sign-in that was already past the password
    // check when it was replaced.
    store.set_user_credentials(id, &existing.role, password_hash).await?;
    let mut sessions_ended = store.delete_user_sessions(id).await?;
    store.set_user_credentials(id, "admin", password_hash).await?;
    sessions_ended += store.delete_user_sessions(id).await?;
    let user = store.user_by_id(id).await?.ok_or(StoreError::NotFound("user"))?;
    if was_admin {
        tracing::info!(user = user.id, sessions_ended, "admin password reset");
        Ok(AdminOutcome::PasswordReset { user, sessions_ended })
    } else {
        tracing::warn!(user = user.id, previous_role = %existing.role, sessions_ended, "existing account promoted to admin");
        Ok(AdminOutcome::Promoted { user, sessions_ended })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(parse_email("  Ann@Example.com ").unwrap(), "Ann@Example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "a@b",
            "a@@b.com",
            "a@.com",
            "a@com.",
            "ann\u{FFFD}@x.com",
            "ann@x.com\u{202E}",
            "a\u{200B}nn@x.com",
            "\u{FEFF}ann@x.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?}");
        }
        // Addresses in other scripts are still addresses.
        assert!(parse_email("jörg@bücher.example").is_ok());
    }

    #[test]
    fn password_rules() {
        assert!(check_password_rules("short").is_err());
        assert!(check_password_rules("long enough pw").is_ok());
        assert!(check_password_rules(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_dummy_never_matches() {
        let h = hash_password(SecretString::from("correct horse".to_string()))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(SecretString::from("correct horse".to_string()), Some(h.clone())).await);
        assert!(!verify_password(SecretString::from("wrong horse!".to_string()), Some(h)).await);
        assert!(!verify_password(SecretString::from("anything at all".to_string()), None).await);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
