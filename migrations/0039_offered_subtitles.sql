-- Subtitle files a media server offers beside an item's media (issue #18: subtitle streams
-- offered by a Plex source). Owner: library/store.
--
-- Kept with the cues of the item's own text subtitle track, told apart by `origin`: 'track'
-- (read from the media by the background analysis pass) or 'offered' (fetched from the source
-- when it syncs the item: a Plex subtitle stream with a key of its own). Each writer replaces
-- only the rows of its origin; playout prefers the track.
ALTER TABLE content_subtitle_cues ADD COLUMN origin TEXT NOT NULL DEFAULT 'track';
