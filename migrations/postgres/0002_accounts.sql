-- 0002 (PostgreSQL): sign-in sessions, host-app API keys and rate-limit counters.
-- Same numbering and meaning as migrations/sqlite/0002_accounts.sql.

create table sessions (
    token_hash text primary key,                           -- sha256 of the cookie's token (the token itself is never stored)
    user_id bigint not null references users (id) on delete cascade,
    created_at timestamptz not null,
    expires_at timestamptz not null,                       -- absolute expiry; a new login makes a new session
    user_agent text
);
create index sessions_user on sessions (user_id);
create index sessions_expiry on sessions (expires_at);

create table api_keys (
    id bigint generated always as identity primary key,
    name text not null,                                    -- what the operator called it, e.g. "atlas-backend"
    key_hash text not null unique,                         -- sha256 of the key (keys are random; shown once)
    key_prefix text not null,                              -- first characters, to recognise a key in lists
    created_by text not null,                              -- admin:ID or cli
    created_at timestamptz not null,
    last_used_at timestamptz,
    revoked_at timestamptz                                 -- set once; a revoked key never works again
);

create table rate_limits (
    bucket text primary key,                               -- e.g. login:ip:1.2.3.4, login:email:a@b.c
    window_start bigint not null,                          -- unix seconds when the current window began
    hits integer not null
);
