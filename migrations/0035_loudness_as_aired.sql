-- Loudness as aired (issue #18). Owner: library/store.rs.
--
-- Items are now measured in the layout that airs (decoded, converted to 48 kHz stereo as the
-- channel's audio branch does): a mono item measured on its one channel airs 3 LU louder
-- once duplicated to two, a 5.1 item about 10 LU quieter once downmixed. Measurements of
-- items that are not stereo were made in the file's own layout: forget them, the background
-- job measures them again (stereo measurements are the same in both).
UPDATE content_items SET loudness_lufs = NULL, loudness_error = NULL, loudness_at = NULL
 WHERE loudness_lufs IS NOT NULL AND (audio_channels IS NULL OR audio_channels <> 2);

-- What playout measured while the item aired before it had a full measurement (a part of it
-- at least ten seconds long): the gain of its next airing until the background job's
-- measurement of the whole item replaces it.
ALTER TABLE content_items ADD COLUMN loudness_on_air_lufs REAL;
ALTER TABLE content_items ADD COLUMN loudness_on_air_at INTEGER;
