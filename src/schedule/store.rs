//! The schedule's tables. Nothing else runs SQL on them.
