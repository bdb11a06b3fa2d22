-- 0013 (SQLite): read-only tokens for the credits widget on the host app's pages. Same numbering
-- and meaning as the PostgreSQL file.

-- The host app's backend asks for one per page view (POST /api/v1/users/{id}/widget-tokens); the
-- widget shows that user's balance with it and nothing else: it cannot sign in, spend or buy.
-- Only the token's sha256 is kept; rows are removed by housekeeping a day after they expire.
create table widget_tokens (
    token_hash text primary key,
    user_id integer not null references users (id) on delete cascade,
    api_key_id integer not null references api_keys (id),
    created_at text not null,
    expires_at text not null
);
create index widget_tokens_expiry on widget_tokens (expires_at);
