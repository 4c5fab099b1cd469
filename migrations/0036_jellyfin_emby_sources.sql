-- Jellyfin and Emby servers as media sources (issue #19): `sources.kind` and the breakpoint
-- `origin` (chapters read from the server) accept 'jellyfin' and 'emby'. SQLite cannot change
-- a CHECK constraint in place, so both tables are rebuilt (SQLite's documented procedure: the
-- migration runner applies migrations with foreign keys off and checks them before commit).
-- Owner: library::store.

CREATE TABLE sources_new (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('folder', 'plex', 'jellyfin', 'emby')),
    name          TEXT NOT NULL,
    content_kind  TEXT,             -- folder sources: what the folder holds (shows, movies, commercials, ...)
    path          TEXT,             -- folder sources: the folder
    url           TEXT,             -- plex/jellyfin/emby sources: server base URL
    token         TEXT,             -- X-Plex-Token or Jellyfin/Emby API key; never echoed back in full
    libraries     TEXT NOT NULL DEFAULT '[]',  -- servers: JSON array of library names to import ([] = all)
    path_map_from TEXT,             -- servers: prefix as the server sees the files ...
    path_map_to   TEXT,             -- ... and as this box sees them
    enabled       INTEGER NOT NULL DEFAULT 1,
    last_sync_at  INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL
);
INSERT INTO sources_new (id, kind, name, content_kind, path, url, token, libraries, path_map_from, path_map_to,
    enabled, last_sync_at, last_error, created_at)
SELECT id, kind, name, content_kind, path, url, token, libraries, path_map_from, path_map_to,
    enabled, last_sync_at, last_error, created_at
FROM sources;
DROP TABLE sources;
ALTER TABLE sources_new RENAME TO sources;

-- Dropped with the old table (0025): recreated as it was. Owner: schedule::store.
CREATE TRIGGER schedule_forgets_removed_source BEFORE DELETE ON sources
BEGIN
    UPDATE schedule_items SET item_id = NULL
    WHERE item_id IN (SELECT id FROM content_items WHERE source_id = OLD.id);
    UPDATE schedule_programs SET item_id = NULL
    WHERE item_id IN (SELECT id FROM content_items WHERE source_id = OLD.id);
END;

CREATE TABLE content_breakpoints_new (
    item_id   INTEGER NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    offset_ms INTEGER NOT NULL,
    origin    TEXT NOT NULL CHECK (origin IN ('chapter', 'nfo', 'plex', 'jellyfin', 'emby', 'user')),
    PRIMARY KEY (item_id, origin, offset_ms)
);
INSERT INTO content_breakpoints_new (item_id, offset_ms, origin)
SELECT item_id, offset_ms, origin FROM content_breakpoints;
DROP TABLE content_breakpoints;
ALTER TABLE content_breakpoints_new RENAME TO content_breakpoints;
