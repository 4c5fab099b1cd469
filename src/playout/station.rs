//! Playout's side of the station's presentation (issue #20), apart from the graphics that
//! draw it: [`Standby`], the actor's word to the graphics that it covers an airing that cannot
//! play (the overlay then shows "Please stand by" instead of black), and [`Presentation`],
//! what a channel's player gets besides its items (that, and the window a guide channel
//! plays its preview clips in). Card airings themselves need nothing here: like slates they
//! have no media, so the actor builds no bin and the graphics draw the card over the
//! background for exactly the frames of the airing's slot.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::graphics::raster::Rect;

/// Spans during which playout covers an airing that cannot play, shared by the actor (which
/// opens and closes them) and the graphics (which draw the stand-by card on their frames).
#[derive(Debug, Clone, Default)]
pub struct Standby {
    // std Mutex: a few entries, looked at once per frame, never held across an await.
    covers: Arc<Mutex<Vec<Cover>>>,
}

#[derive(Debug, Clone, Copy)]
struct Cover {
    key: (i64, i64),
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

impl Standby {
    /// The airing `key` (row id, end ms) cannot play from `from` until `until` (its end),
    /// unless [`Self::uncover`] says it came back.
    pub fn cover(&self, key: (i64, i64), from: DateTime<Utc>, until: DateTime<Utc>) {
        let mut covers = self.covers.lock().unwrap_or_else(|p| p.into_inner());
        covers.retain(|c| c.key != key && c.until > from - Duration::minutes(1));
        if until > from {
            covers.push(Cover { key, from, until });
        }
    }

    /// The airing `key` is on the air again (a retry worked): from `at` on it is not covered.
    pub fn uncover(&self, key: (i64, i64), at: DateTime<Utc>) {
        let mut covers = self.covers.lock().unwrap_or_else(|p| p.into_inner());
        for c in covers.iter_mut().filter(|c| c.key == key) {
            c.until = c.until.min(at);
        }
    }

    /// Whether the frame at `at` is covered.
    pub fn covering(&self, at: DateTime<Utc>) -> bool {
        let covers = self.covers.lock().unwrap_or_else(|p| p.into_inner());
        covers.iter().any(|c| c.from <= at && at < c.until)
    }
}

/// What a channel's player does besides playing items.
#[derive(Debug, Clone, Default)]
pub struct Presentation {
    /// Where the actor reports airings it covers (the channel's graphics draw the card).
    pub standby: Option<Standby>,
    /// Guide channels: the rectangle of the frame items play in (scaled by the compositor);
    /// `None`: full frame.
    pub item_window: Option<Rect>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_cover_lasts_until_the_end_or_the_retry() {
        let t = |s: i64| Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap() + Duration::seconds(s);
        let s = Standby::default();
        s.cover((1, 100), t(10), t(40));
        assert!(!s.covering(t(9)) && s.covering(t(10)) && s.covering(t(39)) && !s.covering(t(40)));
        s.uncover((1, 100), t(20));
        assert!(s.covering(t(19)) && !s.covering(t(20)));
        // A second failure of the same airing covers again.
        s.cover((1, 100), t(25), t(40));
        assert!(s.covering(t(30)));
        s.cover((2, 200), t(50), t(50));
        assert!(!s.covering(t(50)));
    }
}
