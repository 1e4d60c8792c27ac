-- Devices that receive push while the app has no live socket: a phone's FCM or APNs token, or a browser's Web
-- Push subscription (`token` is then its endpoint). A token is one device whoever registers it again; `family`
-- is the sign-in that registered it, so ending that sign-in removes the device.
CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    family     TEXT,
    platform   TEXT NOT NULL,
    token      TEXT NOT NULL,
    p256dh     TEXT,
    auth       TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (platform, token)
);
CREATE INDEX devices_user ON devices(user_id);

-- Pushes not yet accepted by their service, one per device and notification. The push tailer fills it from the
-- change log and moves its cursor (`meta.push_cursor`) in the same transaction; a sender removes a row once the
-- service answered for good. So a crash anywhere loses no push, and at worst sends one again (collapsed per
-- order on the phone). `due_at` (Unix milliseconds) is when to try next.
CREATE TABLE push_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    platform   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    message    TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    due_at     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX push_outbox_due ON push_outbox(platform, due_at);
CREATE INDEX push_outbox_device ON push_outbox(device_id, id);
