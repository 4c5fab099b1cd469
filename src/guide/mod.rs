//! Guides: XMLTV and M3U rendered from the lineup and the published schedule (the same rows
//! playout reads, so the guide is what airs). Pure renderers plus their HTTP routes.
