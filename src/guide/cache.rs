//! The XMLTV guide, gathered once and kept until what it shows changes: the lineup, a
//! publication, the library items it lists or their pictures (by this process or another,
//! [`crate::db::changes`]), or the window it covers has moved on. Media servers fetch the
//! guide often (Plex on every refresh, Jellyfin per tuner, Kodi at start); a 50-channel week
//! is thousands of rows, so a fetch between changes costs a render from memory, not a read
//! of the schedule. The rendered XML is kept per base URL (the address clients asked by).

use std::sync::{Arc, Mutex};

use crate::clock::SharedClock;
use crate::db::Db;
use crate::db::changes::TableWatch;

use super::{Guide, GuideError, gather};

/// The tables a guide is read from. (Not the as-run log, written at every item: the first
/// airings it adds reach the guide with the next publication or window move, minutes later,
/// instead of every few seconds emptying the cache.)
pub const TABLES: &[&str] =
    &["channels", "schedule_items", "schedule_programs", "schedule_publications", "content_items"];

/// How far the window may move on (the clock) before the guide is gathered again: its
/// "from" is two hours back, so a few minutes of drift lists a few more past programmes.
const STALE_AFTER_MS: i64 = 10 * 60_000;
/// Listed before now.
const PAST_MS: i64 = 2 * 3_600_000;

/// The cached guide; clonable.
#[derive(Clone)]
pub struct GuideCache {
    db: Db,
    clock: SharedClock,
    tz: chrono_tz::Tz,
    horizon_ms: i64,
    // std Mutex: swaps and clones of `Arc`s only, never across an await.
    state: Arc<Mutex<State>>,
}

struct State {
    watch: TableWatch,
    gathered: Option<Gathered>,
}

struct Gathered {
    from_ms: i64,
    guide: Arc<Guide>,
    /// The last rendering, with the base URL it was made for.
    xml: Option<(String, Arc<str>)>,
}

impl GuideCache {
    /// A cache over `db`, covering `horizon_days` ahead in `tz`.
    pub fn new(db: Db, clock: SharedClock, tz: chrono_tz::Tz, horizon_days: u32) -> Self {
        let watch = db.changes().watch(TABLES);
        Self {
            db,
            clock,
            tz,
            horizon_ms: i64::from(horizon_days) * 86_400_000,
            state: Arc::new(Mutex::new(State { watch, gathered: None })),
        }
    }

    /// The guide's XMLTV with absolute URLs under `base`. Blocking (it may read the
    /// database): call it on a blocking thread.
    pub fn xmltv(&self, base: &str) -> Result<Arc<str>, GuideError> {
        let now = self.clock.now().timestamp_millis();
        let cached = {
            let mut st = self.state.lock().expect("guide cache lock");
            if st.watch.has_changed()
                || st.gathered.as_ref().is_some_and(|g| now - PAST_MS - g.from_ms > STALE_AFTER_MS)
            {
                st.gathered = None;
            }
            st.gathered.as_ref().map(|g| (g.guide.clone(), g.xml.clone()))
        };
        let guide = match cached {
            Some((_, Some((b, xml)))) if b == base => return Ok(xml),
            Some((guide, _)) => guide,
            None => {
                let from = now - PAST_MS;
                let guide = Arc::new(gather(&self.db, from, now + self.horizon_ms, self.tz)?);
                let mut st = self.state.lock().expect("guide cache lock");
                // A change that landed while gathering: this copy may miss it, so it is used
                // once and not kept.
                if !st.watch.has_changed() {
                    st.gathered = Some(Gathered { from_ms: from, guide: guide.clone(), xml: None });
                } else {
                    st.gathered = None;
                }
                guide
            }
        };
        let xml: Arc<str> = super::xmltv::render(&guide, base).into();
        let mut st = self.state.lock().expect("guide cache lock");
        if let Some(g) = st.gathered.as_mut().filter(|g| Arc::ptr_eq(&g.guide, &guide)) {
            g.xml = Some((base.to_owned(), xml.clone()));
        }
        Ok(xml)
    }

    #[cfg(test)]
    fn is_cached(&self) -> bool {
        self.state.lock().expect("guide cache lock").gathered.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with_channel() -> Db {
        let db = Db::open_in_memory().unwrap();
        let new = crate::lineup::store::NewChannel {
            number: "5".parse().unwrap(),
            name: "Five".into(),
            call_sign: "FIVE".into(),
            logo: None,
            settings: Default::default(),
        };
        db.call_blocking(move |c| crate::lineup::store::insert(c, &new, 0).map(|_| ())).unwrap();
        db
    }

    #[test]
    fn the_guide_is_gathered_once_and_again_after_a_change() {
        let db = db_with_channel();
        let cache = GuideCache::new(db.clone(), Arc::new(crate::clock::SystemClock), chrono_tz::UTC, 1);
        let a = cache.xmltv("http://box:8080").unwrap();
        assert!(a.contains("Five"), "{a}");
        assert!(cache.is_cached());
        let b = cache.xmltv("http://box:8080").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same guide rendered again");
        let other = cache.xmltv("http://10.0.0.2:8080").unwrap();
        assert!(other.contains("http://10.0.0.2:8080"), "rendered for the address asked by");
        // A rename reaches the next fetch.
        db.call_blocking(|c| c.execute("UPDATE channels SET name = 'Fifty' WHERE number = '5'", [])).unwrap();
        let c = cache.xmltv("http://box:8080").unwrap();
        assert!(c.contains("Fifty") && !c.contains(">Five<"), "{c}");
    }
}
