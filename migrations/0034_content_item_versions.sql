-- Items in several parts (a movie split across files) or several versions (a 1080p and a
-- 480p copy), as Plex lists them: JSON `[{"width": …, "height": …, "frame_rate": …,
-- "video_codec": …, "audio_codec": …, "parts": [{"uri": …, "duration_ms": …}, …]}, …]`.
-- NULL for an item that is one file (its `uri`). The schedule airs every part in order and
-- picks the version that fits the channel (issue 16).
-- Owner: library::store.
ALTER TABLE content_items ADD COLUMN versions TEXT;
