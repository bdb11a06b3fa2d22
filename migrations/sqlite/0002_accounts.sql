-- 0002 (SQLite): sign-in sessions, host-app API keys and rate-limit counters.
-- Same numbering and meaning as migrations/postgres/0002_accounts.sql.

create table sessions (
    token_hash text primary key,                           -- sha256 of the cookie's token (the token itself is never stored)
    user_id integer not null references users (id) on delete cascade,
    created_at text not null,
    expires_at text not null,                              -- absolute expiry; a new login makes a new session
    user_agent text
);
create index sessions_user on sessions (user_id);
create index sessions_expiry on sessions (expires_at);

create table api_keys (
    id integer primary key autoincrement,
    name text not null,                                    -- what the operator called it, e.g. "atlas-backend"
    key_hash text not null unique,                         -- sha256 of the key (keys are random; shown once)
    key_prefix text not null,                              -- first characters, to recognise a key in lists
    created_by text not null,                              -- admin:ID or cli
    created_at text not null,
    last_used_at text,
    revoked_at text                                        -- set once; a revoked key never works again
);

create table rate_limits (
    bucket text primary key,                               -- e.g. login:ip:1.2.3.4, login:email:a@b.c
    window_start integer not null,                         -- unix seconds when the current window began
    hits integer not null
);
