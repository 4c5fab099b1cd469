-- Guide data that media servers use (issue #19).
--
-- The original air (episodes) or release (movies) date, `YYYY-MM-DD`, from `.nfo`
-- `<aired>`/`<premiered>` or Plex `originallyAvailableAt`: the XMLTV `<date>` and the
-- `<previously-shown start>` of a rerun. And the item's artwork as the library found it:
-- JSON {"poster": ref, "thumb": ref, "fanart": ref}, each ref {"file": "/abs/path"},
-- {"plex": "/library/metadata/..."} (fetched from the item's Plex source with its token) or
-- {"url": "http://..."} (an `.nfo` link); served by the box at /art/<id>/<kind>.
-- Owner: library::store.
ALTER TABLE content_items ADD COLUMN aired TEXT;
ALTER TABLE content_items ADD COLUMN art TEXT NOT NULL DEFAULT '{}';
-- Items scanned before this version have neither: forget what made the next scan skip them
-- (side-file signatures, Plex updatedAt), so it reads them again. Probes are kept.
UPDATE content_items SET sidecar_sig = NULL, remote_updated_at = NULL;

-- The guide asks when each program's item first aired on this box (to tell a rerun from a
-- premiere): one index lookup per item instead of a scan of the whole as-run log.
-- Owner: schedule::store.
CREATE INDEX playout_log_item ON playout_log(item_id, planned_start_ms);
