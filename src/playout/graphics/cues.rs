//! Schedule-driven graphics (pure): which lower third shows at an instant, and how visible
//! the bug is, from the channel's upcoming items ([`Cue`]s) and "now".
//!
//! - **Rating** ("TV-PG") at the start of a program.
//! - **Now / Next** a few seconds after each return from a break.
//! - **Coming up** (the next program and its time) shortly before a break.
//! - **Bug**: shown during program segments (or always / never), faded in and out at the
//!   edges of each segment, so it leaves the screen as the commercials start.

use chrono::{DateTime, Duration, Utc};

use crate::lineup::BugRule;
use crate::schedule::AiringKind;

/// Delay after a program starts before its rating shows.
pub const RATING_AT: Duration = Duration::seconds(1);
/// How long the rating shows.
pub const RATING_FOR: Duration = Duration::seconds(6);
/// Delay after a return from a break before Now/Next shows.
pub const NOW_NEXT_AT: Duration = Duration::seconds(3);
/// How long Now/Next shows.
pub const NOW_NEXT_FOR: Duration = Duration::seconds(8);
/// How long before a break "Coming up" starts.
pub const COMING_UP_BEFORE: Duration = Duration::seconds(10);
/// How long "Coming up" shows (it leaves before the break starts).
pub const COMING_UP_FOR: Duration = Duration::seconds(7);
/// Fade in/out time of the bug and lower thirds.
pub const FADE: Duration = Duration::milliseconds(500);

/// One scheduled item as graphics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    /// Start.
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// What it is.
    pub kind: AiringKind,
    /// The guide entry it belongs to (segments of one episode share it).
    pub program_id: Option<i64>,
    /// Title.
    pub title: String,
    /// Content rating ("TV-PG"), if known.
    pub rating: Option<String>,
    /// Display aspect of its picture (4:3 = 1.333), if known.
    pub aspect: Option<f64>,
    /// What a generated card shows ([`AiringKind::Card`]).
    pub card: Option<crate::schedule::card::CardSpec>,
}

/// Which template a lower third uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LowerThirdKind {
    /// The program's rating.
    Rating,
    /// What is on now and next.
    NowNext,
    /// What comes up after the break.
    ComingUp,
}

/// A lower third to show.
#[derive(Debug, Clone, PartialEq)]
pub struct LowerThird {
    /// Template.
    pub kind: LowerThirdKind,
    /// Text lines (label, text) top to bottom.
    pub lines: Vec<(String, String)>,
    /// First instant shown.
    pub from: DateTime<Utc>,
    /// First instant no longer shown.
    pub until: DateTime<Utc>,
}

impl LowerThird {
    /// Opacity at `now` (fades at both ends).
    pub fn alpha(&self, now: DateTime<Utc>) -> f64 {
        edge_alpha(self.from, self.until, now)
    }
}

fn edge_alpha(from: DateTime<Utc>, until: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    if now < from || now >= until {
        return 0.0;
    }
    let fade = FADE.num_milliseconds() as f64;
    let a_in = (now - from).num_milliseconds() as f64 / fade;
    let a_out = (until - now).num_milliseconds() as f64 / fade;
    a_in.min(a_out).clamp(0.0, 1.0)
}

/// The cue on air at `now`, and its index.
pub fn current(cues: &[Cue], now: DateTime<Utc>) -> Option<(usize, &Cue)> {
    cues.iter().enumerate().find(|(_, c)| c.start <= now && now < c.end)
}

/// The next program (a different guide entry) after cue `i`.
fn next_program(cues: &[Cue], i: usize) -> Option<&Cue> {
    let this = cues[i].program_id;
    cues[i + 1..].iter().find(|c| c.kind == AiringKind::Program && (this.is_none() || c.program_id != this))
}

/// The lower third showing at `now`; times are formatted in `tz`.
pub fn lower_third(cues: &[Cue], now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<LowerThird> {
    let (i, cur) = current(cues, now)?;
    if cur.kind != AiringKind::Program {
        return None;
    }
    let prev = i.checked_sub(1).map(|p| &cues[p]);
    let next = cues.get(i + 1);
    let starts_program = prev.is_none_or(|p| p.program_id != cur.program_id || cur.program_id.is_none());
    let after_break = prev.is_some_and(|p| p.kind.is_interstitial() && p.end == cur.start);
    let at = |c: &Cue| c.start.with_timezone(&tz).format("%-I:%M").to_string();
    let mut candidates = Vec::new();
    if starts_program && let Some(rating) = &cur.rating {
        let from = cur.start + RATING_AT;
        candidates.push(LowerThird {
            kind: LowerThirdKind::Rating,
            lines: vec![("RATED".into(), rating.clone())],
            from,
            until: (from + RATING_FOR).min(cur.end),
        });
    }
    if after_break || (starts_program && cur.rating.is_none()) {
        let from = cur.start + NOW_NEXT_AT;
        let mut lines = vec![("NOW".to_owned(), cur.title.clone())];
        if let Some(n) = next_program(cues, i) {
            lines.push(("NEXT".into(), format!("{} at {}", n.title, at(n))));
        }
        candidates.push(LowerThird {
            kind: LowerThirdKind::NowNext,
            lines,
            from,
            until: (from + NOW_NEXT_FOR).min(cur.end),
        });
    }
    if let Some(n) = next
        && n.kind.is_interstitial()
        && n.start == cur.end
        && let Some(up) = next_program(cues, i)
    {
        let from = cur.end - COMING_UP_BEFORE;
        candidates.push(LowerThird {
            kind: LowerThirdKind::ComingUp,
            lines: vec![("COMING UP".into(), format!("{} at {}", up.title, at(up)))],
            from: from.max(cur.start),
            until: from + COMING_UP_FOR,
        });
    }
    candidates.into_iter().find(|l| l.from <= now && now < l.until && l.until > l.from)
}

/// The bug's opacity at `now` (0 = hidden), from the rule and its full `opacity`.
pub fn bug_alpha(cues: &[Cue], now: DateTime<Utc>, rule: BugRule, opacity: f64) -> f64 {
    let opacity = opacity.clamp(0.0, 1.0);
    match rule {
        BugRule::Never => 0.0,
        BugRule::Always => opacity,
        BugRule::ProgramsOnly => {
            let Some((i, cur)) = current(cues, now) else { return 0.0 };
            if cur.kind != AiringKind::Program {
                return 0.0;
            }
            // Fade only at edges that border a break: consecutive program cues join up.
            let joined_before = i > 0 && cues[i - 1].kind == AiringKind::Program && cues[i - 1].end == cur.start;
            let joined_after = cues.get(i + 1).is_some_and(|n| n.kind == AiringKind::Program && n.start == cur.end);
            let from = if joined_before { cur.start - FADE } else { cur.start };
            let until = if joined_after { cur.end + FADE } else { cur.end };
            opacity * edge_alpha(from, until, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn cue(start: i64, end: i64, kind: AiringKind, program: i64, title: &str) -> Cue {
        Cue {
            start: t(start),
            end: t(end),
            kind,
            program_id: Some(program),
            title: title.into(),
            rating: None,
            aspect: None,
            card: None,
        }
    }

    fn day() -> Vec<Cue> {
        let mut show = cue(0, 600, AiringKind::Program, 1, "Cheers");
        show.rating = Some("TV-PG".into());
        vec![
            show,
            cue(600, 630, AiringKind::Commercial, 1, "Soap"),
            cue(630, 640, AiringKind::Bumper, 1, "Bump"),
            cue(640, 1800, AiringKind::Program, 1, "Cheers"),
            cue(1800, 3600, AiringKind::Program, 2, "Taxi"),
        ]
    }

    const TZ: chrono_tz::Tz = chrono_tz::UTC;

    #[test]
    fn rating_at_program_start_now_next_after_breaks_coming_up_before() {
        let cues = day();
        let kind = |s| lower_third(&cues, t(s), TZ).map(|l| l.kind);
        assert_eq!(kind(0), None);
        assert_eq!(kind(2), Some(LowerThirdKind::Rating));
        assert_eq!(lower_third(&cues, t(2), TZ).unwrap().lines[0].1, "TV-PG");
        assert_eq!(kind(8), None);
        // Coming up 10 s before the break, gone before it starts.
        assert_eq!(kind(589), None);
        let up = lower_third(&cues, t(591), TZ).unwrap();
        assert_eq!((up.kind, up.lines[0].1.as_str()), (LowerThirdKind::ComingUp, "Taxi at 8:30"));
        assert_eq!(kind(598), None);
        // Nothing during the break.
        assert_eq!(kind(610), None);
        // Now/Next 3 s after the return.
        assert_eq!(kind(642), None);
        let nn = lower_third(&cues, t(644), TZ).unwrap();
        assert_eq!(nn.kind, LowerThirdKind::NowNext);
        assert_eq!(nn.lines, vec![("NOW".into(), "Cheers".into()), ("NEXT".into(), "Taxi at 8:30".into())]);
        assert_eq!(kind(652), None);
        // A new program without a rating gets Now/Next at its start.
        assert_eq!(kind(1804), Some(LowerThirdKind::NowNext));
        // Fades: half-way through the fade-in, half opacity.
        assert!((nn.alpha(t(643) + Duration::milliseconds(250)) - 0.5).abs() < 0.01);
    }

    #[test]
    fn the_bug_hides_in_breaks_and_fades_at_their_edges() {
        let cues = day();
        let a = |s: DateTime<Utc>| bug_alpha(&cues, s, BugRule::ProgramsOnly, 0.8);
        assert_eq!(a(t(0)), 0.0);
        assert!((a(t(300)) - 0.8).abs() < 1e-9);
        assert!((a(t(600) - Duration::milliseconds(250)) - 0.4).abs() < 0.01);
        assert_eq!(a(t(615)), 0.0);
        assert!(a(t(640) + Duration::milliseconds(100)) < 0.8);
        // Program to program: no dip.
        assert!((a(t(1800)) - 0.8).abs() < 1e-9);
        assert!((a(t(1800) - Duration::milliseconds(1)) - 0.8).abs() < 1e-9);
        assert_eq!(bug_alpha(&cues, t(615), BugRule::Always, 0.8), 0.8);
        assert_eq!(bug_alpha(&cues, t(300), BugRule::Never, 0.8), 0.0);
        assert_eq!(a(t(99_999)), 0.0);
    }
}
