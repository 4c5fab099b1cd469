-- Edits that must reach the schedule after the frozen window (a channel's settings or grid,
-- an item's metadata or breakpoints, media added or removed, a source edited): any process
-- (the CLI, the web page) records a request here, and the daemon's horizon job replans the
-- channels named (NULL: every channel) within seconds, then deletes the requests it served.
-- Owner: schedule::store.
CREATE TABLE schedule_replans (
    id           INTEGER PRIMARY KEY,
    channel_id   INTEGER,             -- channels.id, or NULL for every channel
    reason       TEXT NOT NULL,
    requested_at INTEGER NOT NULL
);
