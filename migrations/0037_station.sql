-- The station feels real (issue #20).
--
-- Generated cards: a schedule item of kind 'card' carries no media but what the graphics
-- layer draws, as JSON {"template": "break_out" | "break_in" | "coming_up" | "sign_off" |
-- "sign_on" | "test_bars" | "test_classic" | "stand_by", "lines": [text, ...]}.
-- Owner: schedule::store.
ALTER TABLE schedule_items ADD COLUMN card TEXT;

-- Break points found in the media itself: black-and-silent moments (and the fades to black
-- before them) found by the loudness pass, one row per gap, with the user's decision.
-- `start_ms`/`end_ms` is the black-and-silent gap as detected, `offset_ms` where a break goes
-- (the gap's middle, or where the user moved it), `fade_ms` how long the picture faded to
-- black before the gap (0: a cut), `confidence` 0..1. `state`: 'candidate' (as detected:
-- used by the scheduler only for items with no chapter, .nfo, Plex or hand-set breakpoints),
-- 'accepted' (counts as hand-set), 'rejected' (never used). A re-scan of a changed file
-- replaces the candidates and keeps the decisions. Owner: library::store.
CREATE TABLE content_break_candidates (
    item_id    INTEGER NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    start_ms   INTEGER NOT NULL,
    end_ms     INTEGER NOT NULL,
    offset_ms  INTEGER NOT NULL,
    fade_ms    INTEGER NOT NULL DEFAULT 0,
    confidence REAL NOT NULL,
    state      TEXT NOT NULL DEFAULT 'candidate' CHECK (state IN ('candidate', 'accepted', 'rejected')),
    PRIMARY KEY (item_id, start_ms)
);
-- When the loudness pass last looked for break points in an item (NULL: not yet; programs
-- scanned before this version are looked at by the background job).
-- Owner: library::store.
ALTER TABLE content_items ADD COLUMN breaks_at INTEGER;
CREATE INDEX content_items_breaks_todo ON content_items(breaks_at)
    WHERE breaks_at IS NULL AND kind IN ('episode', 'movie');
