-- Sign-in sessions as token families: one row per sign-in, whose token is rotated by every refresh. A token is
-- accepted only while its family lives and it is the family's current token (or the one just replaced, for a
-- short grace); presenting an older one ends the family (refresh-token reuse detection, as OAuth 2.1 asks).
-- `expires_at` is the sign-in's absolute lifetime: no refresh reaches past it.
CREATE TABLE token_families (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    current_jti  TEXT NOT NULL,
    current_exp  INTEGER NOT NULL,
    previous_jti TEXT,
    rotated_at   INTEGER,
    ended_at     INTEGER,
    end_reason   TEXT
);
CREATE INDEX token_families_user ON token_families(user_id);

-- Sessions that ended (logout, revocation, role change), in order: every server process tails this table and
-- disconnects the matching sockets, whichever process ended the session. `family` NULL: all of the user's.
CREATE TABLE session_ends (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    family     TEXT,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Revocation now lives in token_families.
DROP TABLE revoked_tokens;

-- `changes?since=` of one customer reads only that customer's changes.
CREATE INDEX changes_customer ON changes(customer_id, seq);

-- Orders by status, per customer and store-wide (`scope` = '*'), kept in the transaction of every change, so
-- the stats an event carries cost a lookup instead of a count over all orders.
CREATE TABLE order_counts (
    scope  TEXT NOT NULL,
    status TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (scope, status)
) WITHOUT ROWID;
INSERT INTO order_counts (scope, status, n) SELECT customer_id, status, COUNT(*) FROM orders GROUP BY customer_id, status;
INSERT INTO order_counts (scope, status, n) SELECT '*', status, COUNT(*) FROM orders GROUP BY status;
