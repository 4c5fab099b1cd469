//! The library's tables: `sources`, `content_items`, `content_scheduling_metadata`,
//! `content_breakpoints`. Nothing else runs SQL on them.
