-- Media servers (Plex, Jellyfin, Emby) this box has registered itself with: their address,
-- the secret that opens their API, the remote objects the link created (Plex device key and
-- DVR key; Jellyfin/Emby tuner host id and listing provider id) and the link's health.
-- The secret is a Plex token or a Jellyfin/Emby API key: it never leaves this table except
-- in the request headers sent to that server (no log line, no API answer carries it).
-- Owner: mediaserver::store.

CREATE TABLE media_server_links (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('plex', 'jellyfin', 'emby')),
    url             TEXT NOT NULL,              -- base URL, no trailing slash
    secret          TEXT NOT NULL,              -- X-Plex-Token / X-Emby-Token
    name            TEXT NOT NULL DEFAULT '',   -- what the user calls it (source name, host)
    device_key      TEXT,                       -- Plex device key / Jellyfin tuner host id
    guide_key       TEXT,                       -- Plex DVR key / Jellyfin listing provider id
    state           TEXT NOT NULL DEFAULT 'linked' CHECK (state IN ('linked', 'attention')),
    problem         TEXT,                       -- why it needs attention (no secret in it)
    guide_mark      INTEGER,                    -- fingerprint of the guide the server last loaded
    last_refresh_at INTEGER,                    -- UTC ms of the last guide reload we asked for
    last_check_at   INTEGER,                    -- UTC ms of the last successful check
    last_action     TEXT,                       -- what the last check changed, for the page
    created_at      INTEGER NOT NULL,
    UNIQUE (kind, url)
);
