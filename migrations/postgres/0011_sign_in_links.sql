-- 0011 (PostgreSQL): one-time sign-in links made by the host app (Atlas) for its users, and the
-- "Back to Atlas" address a session made by such a link carries. Same numbering and meaning as
-- the SQLite file.

-- A link signs one browser in once: opening it sets used_at in the same statement that checks it
-- is unused and unexpired, so two opens (or a replay) never make two sessions.
create table sign_in_links (
    token_hash text primary key,                           -- hex sha256 of the link's token (the token itself is never stored)
    user_id bigint not null references users (id) on delete cascade,
    api_key_id bigint not null references api_keys (id),  -- the key that asked for it (keys are revoked, never deleted)
    return_to text not null,                               -- a path on this app, checked like a log-in's `next`
    back_url text,                                         -- where "Back to Atlas" points; an origin of HOST_APP_ORIGINS
    created_at timestamptz not null,
    expires_at timestamptz not null,                       -- minutes after created_at
    used_at timestamptz                                    -- set once, when the link signed a browser in
);
-- Housekeeping deletes links long expired.
create index sign_in_links_expiry on sign_in_links (expires_at);

-- The back_url of the link that made this session; null for sessions from a log-in or sign-up.
alter table sessions add column back_url text;
