-- The whole schema on PostgreSQL, the same tables as on SQLite (see ../sqlite), for several order-server
-- instances on one database. Integers are BIGINT throughout, so every column reads back as the same Rust type
-- on both backends.
--
-- `counters` hands out the numbers that readers tail: a change's `seq` and a session end's `id`. Each writer
-- takes the next number by updating its row inside the writing transaction, which holds that row's lock until
-- it commits: numbers are then gapless and committed in their order, so a reader that has seen N has seen
-- everything below N. (A sequence would hand numbers out in one order and commit them in another, and a
-- reader tailing "after N" could pass a number that commits later.)
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('changes', 0), ('session_ends', 0);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
-- One account per address whatever its case, as SQLite's `COLLATE NOCASE` gives.
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    num         BIGINT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES users(id),
    status      TEXT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id, status);
CREATE INDEX orders_status ON orders(status);

CREATE TABLE changes (
    seq         BIGINT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX changes_customer ON changes(customer_id, seq);

-- audience is a bit set: 1 = the customer's room, 2 = the order's room, 4 = the store owners' room.
CREATE TABLE change_events (
    seq      BIGINT NOT NULL REFERENCES changes(seq) ON DELETE CASCADE,
    idx      BIGINT NOT NULL,
    event    TEXT NOT NULL,
    audience BIGINT NOT NULL,
    payload  TEXT NOT NULL,
    PRIMARY KEY (seq, idx)
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    audience   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    order_id   TEXT,
    created_at TEXT NOT NULL,
    seq        BIGINT NOT NULL
);
CREATE INDEX notifications_audience ON notifications(audience, seq);

CREATE TABLE notification_reads (
    notification_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE token_families (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    current_jti  TEXT NOT NULL,
    current_exp  BIGINT NOT NULL,
    previous_jti TEXT,
    rotated_at   BIGINT,
    ended_at     BIGINT,
    end_reason   TEXT
);
CREATE INDEX token_families_user ON token_families(user_id);

-- `id` comes from `counters`, so every instance's session tailer sees the ends in commit order.
CREATE TABLE session_ends (
    id         BIGINT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    family     TEXT,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE order_counts (
    scope  TEXT NOT NULL,
    status TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (scope, status)
);

CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    family     TEXT,
    platform   TEXT NOT NULL,
    token      TEXT NOT NULL,
    p256dh     TEXT,
    auth       TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (platform, token)
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE push_outbox (
    id         BIGSERIAL PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    platform   TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    message    TEXT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    due_at     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_outbox_due ON push_outbox(platform, due_at);
CREATE INDEX push_outbox_device ON push_outbox(device_id, id);
