-- The whole schema. Orders are stored as their contract JSON (`doc`) plus the columns queries filter on;
-- `changes` is the change log (its AUTOINCREMENT key is the `seq` of CONTRACT.md, never reused), and
-- `change_events` holds the exact events each change emits, so live dispatch and replay send the same bytes.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    num         INTEGER NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES users(id),
    status      TEXT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id, status);
CREATE INDEX orders_status ON orders(status);

CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- audience is a bit set: 1 = the customer's room, 2 = the order's room, 4 = the store owners' room.
CREATE TABLE change_events (
    seq      INTEGER NOT NULL REFERENCES changes(seq) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    event    TEXT NOT NULL,
    audience INTEGER NOT NULL,
    payload  TEXT NOT NULL,
    PRIMARY KEY (seq, idx)
);

-- audience is a room name: `customer_<id>` or `store_owners`.
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    audience   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    order_id   TEXT,
    created_at TEXT NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX notifications_audience ON notifications(audience, seq);

CREATE TABLE notification_reads (
    notification_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

-- key/value facts about the database, e.g. `pruned_through` (the highest seq removed by retention).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
