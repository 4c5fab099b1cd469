-- The Plex token is kept only with its source (`sources.token`): item URIs are part URLs
-- without it, and it is added when an item is opened (issue 16). Databases written before
-- held `…?X-Plex-Token=<token>` in every Plex item's URI and in the schedule rows copied from
-- it, and GStreamer error texts in the as-run log and the loudness/probe errors quoted it.
-- Owners: library::store (content_items), schedule::store (schedule_items, playout_log).

UPDATE content_items SET uri = substr(uri, 1, instr(uri, '?X-Plex-Token=') - 1)
WHERE instr(uri, '?X-Plex-Token=') > 0;

UPDATE schedule_items SET uri = substr(uri, 1, instr(uri, '?X-Plex-Token=') - 1)
WHERE instr(uri, '?X-Plex-Token=') > 0;

-- Texts that quote a token: replace each known token by the mask. Three passes cover a
-- text that quotes the tokens of up to three different servers.
CREATE TEMP TABLE plex_tokens AS
SELECT DISTINCT token FROM sources WHERE kind = 'plex' AND length(token) >= 4;

UPDATE playout_log SET error = replace(error,
    (SELECT token FROM plex_tokens WHERE instr(playout_log.error, token) > 0 LIMIT 1), '••••')
WHERE EXISTS (SELECT 1 FROM plex_tokens WHERE instr(playout_log.error, token) > 0);
UPDATE playout_log SET error = replace(error,
    (SELECT token FROM plex_tokens WHERE instr(playout_log.error, token) > 0 LIMIT 1), '••••')
WHERE EXISTS (SELECT 1 FROM plex_tokens WHERE instr(playout_log.error, token) > 0);
UPDATE playout_log SET error = replace(error,
    (SELECT token FROM plex_tokens WHERE instr(playout_log.error, token) > 0 LIMIT 1), '••••')
WHERE EXISTS (SELECT 1 FROM plex_tokens WHERE instr(playout_log.error, token) > 0);

UPDATE content_items SET probe_error = replace(probe_error,
    (SELECT token FROM plex_tokens WHERE instr(content_items.probe_error, token) > 0 LIMIT 1), '••••')
WHERE EXISTS (SELECT 1 FROM plex_tokens WHERE instr(content_items.probe_error, token) > 0);
UPDATE content_items SET loudness_error = replace(loudness_error,
    (SELECT token FROM plex_tokens WHERE instr(content_items.loudness_error, token) > 0 LIMIT 1), '••••')
WHERE EXISTS (SELECT 1 FROM plex_tokens WHERE instr(content_items.loudness_error, token) > 0);

DROP TABLE plex_tokens;
