-- Text subtitle tracks inside the media (issue #18: captions from the source's text subtitle
-- tracks, SRT/ASS/mov_text in MKV/MP4). Owner: library/store.
--
-- The background analysis pass reads an item's first text subtitle track along with its sound
-- and keeps the cues here; playout airs them as closed captions. `subtitles_at` says when the
-- item was looked at (NULL: not yet; items measured before this version are looked at once,
-- reading only their headers when they have no text track).
ALTER TABLE content_items ADD COLUMN subtitles_at INTEGER;

CREATE TABLE content_subtitle_cues (
    item_id  INTEGER NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    text     TEXT NOT NULL     -- the cue's lines, joined by a line feed
);
CREATE INDEX content_subtitle_cues_item ON content_subtitle_cues(item_id, start_ms);
