-- Library scans: remember what the side files (.nfo, tvshow.nfo) looked like when an item
-- was last read, so an unchanged item is skipped without reading them again.
-- Owner: library::store.
ALTER TABLE content_items ADD COLUMN sidecar_sig TEXT;
CREATE INDEX content_items_loudness_todo ON content_items(loudness_at) WHERE loudness_at IS NULL;
