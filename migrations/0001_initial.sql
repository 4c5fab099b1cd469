-- Retrovue schema, version 1. Append-only: never edit this file once released;
-- add 000N_*.sql instead (see migrations/README.md).
-- Instants are UTC milliseconds since the Unix epoch (INTEGER); durations are ms.

-- Key/value settings the user changes at run time (config file values are the defaults).
-- Owner: config::store.
CREATE TABLE system_config (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Media sources. Owner: library::store.
CREATE TABLE sources (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('folder', 'plex')),
    name          TEXT NOT NULL,
    content_kind  TEXT,             -- folder sources: what the folder holds (shows, movies, commercials, ...)
    path          TEXT,             -- folder sources: the folder
    url           TEXT,             -- plex sources: server base URL
    token         TEXT,             -- plex sources: X-Plex-Token; never echoed back in full
    libraries     TEXT NOT NULL DEFAULT '[]',  -- plex: JSON array of library names to import ([] = all)
    path_map_from TEXT,             -- plex: prefix as Plex sees the files ...
    path_map_to   TEXT,             -- ... and as this box sees them
    enabled       INTEGER NOT NULL DEFAULT 1,
    last_sync_at  INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL
);

-- One playable thing. Owner: library::store.
CREATE TABLE content_items (
    id                INTEGER PRIMARY KEY,
    source_id         INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    external_id       TEXT NOT NULL,   -- folder: path relative to the source; plex: ratingKey
    kind              TEXT NOT NULL CHECK (kind IN ('episode', 'movie', 'commercial', 'bumper', 'promo',
                                                    'station_id', 'intro', 'outro', 'slate')),
    uri               TEXT NOT NULL,   -- file:///... or http(s)://... (Plex part URL)
    path              TEXT,            -- local file path when the item is a file on this box
    title             TEXT NOT NULL,
    series            TEXT,
    season            INTEGER,
    episode           INTEGER,
    year              INTEGER,
    plot              TEXT,
    rating            TEXT,            -- normalised: G, PG, PG-13, R, NC-17, TV-Y, TV-Y7, TV-G, TV-PG, TV-14, TV-MA, Adult
    genres            TEXT NOT NULL DEFAULT '[]',  -- JSON array
    tags              TEXT NOT NULL DEFAULT '[]',  -- JSON array
    duration_ms       INTEGER,
    file_size         INTEGER,
    file_mtime        INTEGER,
    remote_updated_at INTEGER,         -- plex updatedAt
    video_codec       TEXT,
    width             INTEGER,
    height            INTEGER,
    frame_rate        TEXT,            -- "30000/1001"
    interlaced        INTEGER,
    display_aspect    TEXT,            -- "4:3", "16:9"
    audio_codec       TEXT,
    audio_channels    INTEGER,
    playable          INTEGER NOT NULL DEFAULT 0,
    probe_error       TEXT,
    probed_at         INTEGER,
    loudness_lufs     REAL,
    loudness_error    TEXT,
    loudness_at       INTEGER,
    gone              INTEGER NOT NULL DEFAULT 0,  -- vanished from its source: kept for history, never scheduled
    last_aired_at     INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (source_id, external_id)
);
CREATE INDEX content_items_kind ON content_items(kind, playable, gone);
CREATE INDEX content_items_series ON content_items(series, season, episode);

-- Scheduling metadata. One row per origin: 'import' (nfo/plex, rewritten by scans) and
-- 'user' (edits, never touched by scans). Effective value = user, else import.
-- Owner: library::store.
CREATE TABLE content_scheduling_metadata (
    item_id             INTEGER NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    origin              TEXT NOT NULL CHECK (origin IN ('import', 'user')),
    daypart             TEXT,     -- comma list: morning, daytime, afternoon, primetime, late_night, overnight
    season              TEXT,     -- comma list: spring, summer, fall, winter, christmas, halloween, ...
    content_rating      TEXT,
    demographic         TEXT,     -- kids, family, teens, adults, ...
    commercial_company  TEXT,
    commercial_category TEXT,
    era                 TEXT,     -- decade: 1980s
    warnings            TEXT,
    notes               TEXT,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (item_id, origin)
);

-- Where a break may go. Owner: library::store.
CREATE TABLE content_breakpoints (
    item_id   INTEGER NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    offset_ms INTEGER NOT NULL,
    origin    TEXT NOT NULL CHECK (origin IN ('chapter', 'nfo', 'plex', 'user')),
    PRIMARY KEY (item_id, origin, offset_ms)
);

-- Channels. Owner: lineup::store.
CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,     -- GuideNumber: "5" or "5.1"
    name            TEXT NOT NULL,
    call_sign       TEXT NOT NULL DEFAULT '',
    xmltv_id        TEXT NOT NULL UNIQUE,     -- stable: survives renumbering and renaming
    logo_path       TEXT,
    settings        TEXT NOT NULL DEFAULT '{}',  -- JSON: profile, rating limit, fills, breaks, bug, graphics
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- The coarse grid. Owner: schedule::store.
CREATE TABLE programming_slots (
    id           INTEGER PRIMARY KEY,
    channel_id   INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    days         INTEGER NOT NULL,          -- bit 0 = Monday ... bit 6 = Sunday
    start_minute INTEGER NOT NULL CHECK (start_minute >= 0 AND start_minute < 1440),  -- local time
    length_min   INTEGER NOT NULL CHECK (length_min > 0),
    fill         TEXT NOT NULL,             -- JSON: {"series": ...} | {"tag": ...} | {"movies": ...}
    created_at   INTEGER NOT NULL
);

-- Next episode per channel and series. Owner: schedule::store.
CREATE TABLE series_progress (
    channel_id   INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    series       TEXT NOT NULL,
    next_index   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (channel_id, series)
);

-- Guide-level entries (one per program, breaks inside). Owner: schedule::store.
CREATE TABLE schedule_programs (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    item_id     INTEGER REFERENCES content_items(id) ON DELETE SET NULL,
    info        TEXT NOT NULL,              -- JSON snapshot: title, sub-title, episode, rating, categories, ...
    built_at    INTEGER NOT NULL
);
CREATE INDEX schedule_programs_time ON schedule_programs(channel_id, start_ms);

-- The fine log: every item with its exact start/end. Owner: schedule::store.
CREATE TABLE schedule_items (
    id            INTEGER PRIMARY KEY,
    channel_id    INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    program_id    INTEGER REFERENCES schedule_programs(id) ON DELETE CASCADE,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    kind          TEXT NOT NULL,            -- program, commercial, bumper, promo, station_id, intro, outro, filler, slate
    item_id       INTEGER REFERENCES content_items(id) ON DELETE SET NULL,
    uri           TEXT,
    title         TEXT NOT NULL,
    offset_in_ms  INTEGER NOT NULL DEFAULT 0,
    offset_out_ms INTEGER NOT NULL DEFAULT 0,
    loudness_lufs REAL,
    built_at      INTEGER NOT NULL
);
CREATE INDEX schedule_items_time ON schedule_items(channel_id, start_ms);

-- As-run log. Owner: schedule::store (written through the schedule API by playout).
CREATE TABLE playout_log (
    id               INTEGER PRIMARY KEY,
    channel_id       INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    schedule_item_id INTEGER,
    item_id          INTEGER,
    kind             TEXT NOT NULL,
    title            TEXT NOT NULL,
    planned_start_ms INTEGER,
    planned_end_ms   INTEGER,
    actual_start_ms  INTEGER NOT NULL,
    actual_end_ms    INTEGER,
    status           TEXT NOT NULL,         -- aired, failed, partial, alert
    error            TEXT
);
CREATE INDEX playout_log_time ON playout_log(channel_id, actual_start_ms);

-- Emergency alerts. Owner: emergency::store.
CREATE TABLE emergency_alerts (
    id          INTEGER PRIMARY KEY,
    message     TEXT NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    channels    TEXT NOT NULL DEFAULT 'all',  -- 'all' or JSON array of GuideNumbers
    mode        TEXT NOT NULL CHECK (mode IN ('crawl', 'slate')),
    tone        INTEGER NOT NULL DEFAULT 0,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER,                      -- NULL: until cleared
    cleared_at  INTEGER,
    origin      TEXT NOT NULL DEFAULT 'cli',  -- cli, api, webhook
    created_at  INTEGER NOT NULL
);

-- Web users and sessions. Owner: web::store.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
