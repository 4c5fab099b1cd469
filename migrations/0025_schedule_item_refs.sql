-- Schedule rows keep the content item they air as a plain id, not a foreign key.
-- With `REFERENCES content_items(id) ON DELETE SET NULL` and no index on the column, every
-- deleted item (removing a source deletes all of its items) scanned both schedule tables:
-- removing a 50,000-item source under a 7-day horizon (345,000 rows) took tens of minutes.
-- An index on the column would make that instant but costs every schedule build 1.7 s of
-- CPU (345,000 random index inserts). Readers already treat an id with no live item as gone
-- (LEFT JOIN); the trigger below clears a removed source's ids in one pass per table so that
-- an item id SQLite may reuse later never points an old airing at a new item.
-- Owner: schedule::store.

CREATE TABLE schedule_programs_new (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    item_id     INTEGER,                    -- content_items.id (no foreign key: see above)
    info        TEXT NOT NULL,              -- JSON snapshot: title, sub-title, episode, rating, categories, ...
    built_at    INTEGER NOT NULL
);
INSERT INTO schedule_programs_new SELECT id, channel_id, start_ms, end_ms, item_id, info, built_at
FROM schedule_programs;

CREATE TABLE schedule_items_new (
    id            INTEGER PRIMARY KEY,
    channel_id    INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    program_id    INTEGER REFERENCES schedule_programs_new(id) ON DELETE CASCADE,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    kind          TEXT NOT NULL,            -- program, commercial, bumper, promo, station_id, intro, outro, filler, slate
    item_id       INTEGER,                  -- content_items.id (no foreign key: see above)
    uri           TEXT,
    title         TEXT NOT NULL,
    offset_in_ms  INTEGER NOT NULL DEFAULT 0,
    offset_out_ms INTEGER NOT NULL DEFAULT 0,
    loudness_lufs REAL,
    built_at      INTEGER NOT NULL
);
INSERT INTO schedule_items_new SELECT id, channel_id, program_id, start_ms, end_ms, kind, item_id, uri, title,
    offset_in_ms, offset_out_ms, loudness_lufs, built_at
FROM schedule_items;

DROP TABLE schedule_items;
DROP TABLE schedule_programs;
ALTER TABLE schedule_programs_new RENAME TO schedule_programs;
ALTER TABLE schedule_items_new RENAME TO schedule_items;
CREATE INDEX schedule_programs_time ON schedule_programs(channel_id, start_ms);
CREATE INDEX schedule_items_time ON schedule_items(channel_id, start_ms);
CREATE INDEX schedule_items_program ON schedule_items(program_id);

CREATE TRIGGER schedule_forgets_removed_source BEFORE DELETE ON sources
BEGIN
    UPDATE schedule_items SET item_id = NULL
    WHERE item_id IN (SELECT id FROM content_items WHERE source_id = OLD.id);
    UPDATE schedule_programs SET item_id = NULL
    WHERE item_id IN (SELECT id FROM content_items WHERE source_id = OLD.id);
END;
