-- Schedule publication counter: bumped every time a plan is published, so playout and the
-- guide notice replans (also across processes: `retrovue schedule build` vs the daemon).
-- Owner: schedule::store.
CREATE TABLE schedule_publications (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    generation   INTEGER NOT NULL,
    published_at INTEGER NOT NULL
);
INSERT INTO schedule_publications (id, generation, published_at) VALUES (1, 0, 0);

CREATE INDEX schedule_items_program ON schedule_items(program_id);
CREATE INDEX programming_slots_channel ON programming_slots(channel_id);
