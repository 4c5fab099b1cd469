//! "What is on channel C at instant t, and how far into it": a binary search over a channel's
//! fine log held in memory. Instants are UTC, so midnight, DST changes and leap days need no
//! special case. (The SQL equivalent is [`super::store::airing_at`].)

use chrono::{DateTime, Utc};

use super::Airing;

/// A channel's airings, sorted by start, searchable by instant.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    starts: Vec<i64>,
    ends: Vec<i64>,
    airings: Vec<Airing>,
}

impl Timeline {
    /// A timeline of `airings` (sorted here by start).
    pub fn new(mut airings: Vec<Airing>) -> Self {
        airings.sort_by_key(|a| a.start);
        Self {
            starts: airings.iter().map(|a| a.start.timestamp_millis()).collect(),
            ends: airings.iter().map(|a| a.end.timestamp_millis()).collect(),
            airings,
        }
    }

    /// The airing on at `at_ms` and the offset into it in ms (`None` outside the timeline).
    pub fn at_ms(&self, at_ms: i64) -> Option<(&Airing, i64)> {
        let i = self.starts.partition_point(|&s| s <= at_ms).checked_sub(1)?;
        (self.ends[i] > at_ms).then(|| (&self.airings[i], at_ms - self.starts[i]))
    }

    /// The airing on at `t` and the offset into it in ms.
    pub fn at(&self, t: DateTime<Utc>) -> Option<(&Airing, i64)> {
        self.at_ms(t.timestamp_millis())
    }

    /// The airings from the one on at `t` onwards.
    pub fn from(&self, t: DateTime<Utc>) -> &[Airing] {
        let ms = t.timestamp_millis();
        let i = self.starts.partition_point(|&s| s <= ms).saturating_sub(1);
        let i = if self.ends.get(i).is_some_and(|&e| e > ms) { i } else { self.starts.partition_point(|&s| s < ms) };
        &self.airings[i.min(self.airings.len())..]
    }

    /// The end of the last airing.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.airings.last().map(|a| a.end)
    }

    /// Number of airings.
    pub fn len(&self) -> usize {
        self.airings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.airings.is_empty()
    }

    /// The airings.
    pub fn airings(&self) -> &[Airing] {
        &self.airings
    }
}
