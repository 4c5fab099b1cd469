//! The `channels` table. Nothing else runs SQL on it.
