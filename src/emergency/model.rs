//! What an alert is ([`Alert`]) and how a request for one is checked ([`AlertRequest::validate`])
//! before it reaches the database: message length, channels that exist, a start before the end.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lineup::{GuideNumber, Lineup};

/// Longest message accepted, in characters. A crawl at broadcast speed shows about 12
/// characters a second, so 1000 characters is well over a minute of text: anything longer is
/// a mistake (or an attack on the webhook), not a bulletin.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Highest priority value.
pub const MAX_PRIORITY: u8 = 100;

/// Database id of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(pub i64);

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How an alert is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertMode {
    /// Text crawl across the bottom of the program, which keeps playing with its sound.
    #[default]
    Crawl,
    /// Full-screen card with the message; program picture and sound are replaced.
    Slate,
}

impl AlertMode {
    /// The name stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crawl => "crawl",
            Self::Slate => "slate",
        }
    }
}

impl FromStr for AlertMode {
    type Err = AlertError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "crawl" => Ok(Self::Crawl),
            "slate" => Ok(Self::Slate),
            other => Err(AlertError::BadMode(other.to_owned())),
        }
    }
}

/// Which channels an alert covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertChannels {
    /// Every channel, including channels added or started while it runs.
    #[default]
    All,
    /// These channel numbers only.
    List(Vec<GuideNumber>),
}

impl AlertChannels {
    /// Whether the alert covers this channel.
    pub fn covers(&self, number: &GuideNumber) -> bool {
        match self {
            Self::All => true,
            Self::List(list) => list.contains(number),
        }
    }
}

impl fmt::Display for AlertChannels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::List(list) => {
                let s: Vec<&str> = list.iter().map(GuideNumber::as_str).collect();
                f.write_str(&s.join(","))
            }
        }
    }
}

impl FromStr for AlertChannels {
    type Err = AlertError;
    /// `all`, or a comma list of channel numbers (`5,7,12.1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(Self::All);
        }
        let mut list = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let n: GuideNumber = part.parse().map_err(|_| AlertError::BadChannel(part.to_owned()))?;
            if !list.contains(&n) {
                list.push(n);
            }
        }
        if list.is_empty() {
            return Err(AlertError::NoChannels);
        }
        Ok(Self::List(list))
    }
}

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertOrigin {
    /// `retrovue alert start`.
    #[default]
    Cli,
    /// The session-protected JSON API (web page).
    Api,
    /// The token-protected webhook.
    Webhook,
}

impl AlertOrigin {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Api => "api",
            Self::Webhook => "webhook",
        }
    }

    /// Parse a stored name (unknown names read as `cli`).
    pub fn from_db(s: &str) -> Self {
        match s {
            "api" => Self::Api,
            "webhook" => Self::Webhook,
            _ => Self::Cli,
        }
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Database id.
    pub id: AlertId,
    /// Text shown (crawl or slate).
    pub message: String,
    /// Higher wins when several are active on a channel.
    pub priority: u8,
    /// Channels covered.
    pub channels: AlertChannels,
    /// How it shows.
    pub mode: AlertMode,
    /// Play the EAS attention tone (853 + 960 Hz) at its start.
    pub tone: bool,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends by itself (`None`: until cleared).
    pub ends_at: Option<DateTime<Utc>>,
    /// When it was cleared by hand (`None`: not cleared).
    pub cleared_at: Option<DateTime<Utc>>,
    /// Where it came from.
    pub origin: AlertOrigin,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl Alert {
    /// The instant it stops: the earlier of its end and its clearing.
    pub fn stops_at(&self) -> Option<DateTime<Utc>> {
        match (self.ends_at, self.cleared_at) {
            (Some(e), Some(c)) => Some(e.min(c)),
            (e, c) => e.or(c),
        }
    }

    /// Whether it is on the air at `now` (on some channel, ignoring precedence).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && self.stops_at().is_none_or(|s| now < s)
    }

    /// Whether it has stopped for good at `now`.
    pub fn is_over(&self, now: DateTime<Utc>) -> bool {
        self.stops_at().is_some_and(|s| s <= now)
    }
}

/// A request to raise an alert, as a user or a webhook sends it (not yet checked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertRequest {
    /// Text.
    pub message: String,
    /// Priority (default 0).
    pub priority: u8,
    /// Channels (default all).
    pub channels: AlertChannels,
    /// Mode (default crawl).
    pub mode: AlertMode,
    /// Attention tone.
    pub tone: bool,
    /// Start (`None`: now).
    pub starts_at: Option<DateTime<Utc>>,
    /// Length (`None` with no `ends_at`: until cleared).
    pub duration: Option<std::time::Duration>,
    /// Explicit end (exclusive with `duration`).
    pub ends_at: Option<DateTime<Utc>>,
    /// Where it came from.
    pub origin: AlertOrigin,
}

/// A checked request, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Text, trimmed, control characters replaced by spaces.
    pub message: String,
    /// Priority.
    pub priority: u8,
    /// Channels, each one existing.
    pub channels: AlertChannels,
    /// Mode.
    pub mode: AlertMode,
    /// Tone.
    pub tone: bool,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End, after the start.
    pub ends_at: Option<DateTime<Utc>>,
    /// Origin.
    pub origin: AlertOrigin,
}

/// Why an alert request or command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// Empty message.
    #[error("the alert message is empty")]
    EmptyMessage,
    /// Message over the limit.
    #[error("the alert message is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}")]
    MessageTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// Priority over the limit.
    #[error("priority {0} is out of range (0 to {MAX_PRIORITY})")]
    BadPriority(i64),
    /// Not `crawl` or `slate`.
    #[error("unknown alert mode {0:?}: expected crawl or slate")]
    BadMode(String),
    /// Not a channel number.
    #[error("{0:?} is not a channel number (expected all, or numbers such as 5,7)")]
    BadChannel(String),
    /// An empty channel list.
    #[error("no channels given (use all, or numbers such as 5,7)")]
    NoChannels,
    /// Numbers that are not in the lineup.
    #[error("no such channel: {}", .0.join(", "))]
    UnknownChannels(Vec<String>),
    /// End at or before start.
    #[error("the alert would end ({ends}) at or before it starts ({starts})")]
    EndBeforeStart {
        /// Start.
        starts: DateTime<Utc>,
        /// End.
        ends: DateTime<Utc>,
    },
    /// Both a duration and an end time.
    #[error("give either a duration or an end time, not both")]
    DurationAndEnd,
    /// A duration that is zero or absurd.
    #[error("duration {0:?} is out of range (1 s to 7 days)")]
    BadDuration(std::time::Duration),
    /// A duration string that does not parse.
    #[error("cannot read duration {0:?}: expected e.g. 90s, 2m, 1h30m")]
    BadDurationText(String),
    /// A time string that does not parse.
    #[error("cannot read time {0:?}: expected RFC 3339 (2026-11-23T21:00:00Z) or HH:MM")]
    BadTime(String),
    /// No alert with that id.
    #[error("no alert {0}")]
    NotFound(AlertId),
}

impl AlertRequest {
    /// Check the request against the lineup at `now`.
    pub fn validate(&self, lineup: &Lineup, now: DateTime<Utc>) -> Result<NewAlert, AlertError> {
        let message = clean_message(&self.message)?;
        if self.priority > MAX_PRIORITY {
            return Err(AlertError::BadPriority(self.priority.into()));
        }
        if let AlertChannels::List(list) = &self.channels {
            if list.is_empty() {
                return Err(AlertError::NoChannels);
            }
            let unknown: Vec<String> =
                list.iter().filter(|n| lineup.by_number(n.as_str()).is_none()).map(ToString::to_string).collect();
            if !unknown.is_empty() {
                return Err(AlertError::UnknownChannels(unknown));
            }
        }
        let starts_at = self.starts_at.unwrap_or(now);
        let ends_at = match (self.duration, self.ends_at) {
            (Some(_), Some(_)) => return Err(AlertError::DurationAndEnd),
            (Some(d), None) => {
                if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(7 * 86_400) {
                    return Err(AlertError::BadDuration(d));
                }
                Some(starts_at + chrono::Duration::from_std(d).map_err(|_| AlertError::BadDuration(d))?)
            }
            (None, e) => e,
        };
        if let Some(ends) = ends_at
            && (ends <= starts_at || ends <= now)
        {
            return Err(AlertError::EndBeforeStart { starts: starts_at, ends });
        }
        Ok(NewAlert {
            message,
            priority: self.priority,
            channels: self.channels.clone(),
            mode: self.mode,
            tone: self.tone,
            starts_at,
            ends_at,
            origin: self.origin,
        })
    }
}

/// Trim, turn control characters (newlines included) into spaces, check the length.
fn clean_message(raw: &str) -> Result<String, AlertError> {
    let chars = raw.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(AlertError::MessageTooLong { chars });
    }
    let cleaned: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return Err(AlertError::EmptyMessage);
    }
    Ok(collapsed)
}

/// Parse a duration such as `90s`, `2m`, `1h30m`, `45` (seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, AlertError> {
    let bad = || AlertError::BadDurationText(text.to_owned());
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(total))
}

/// Parse a start/end time: RFC 3339, or `HH:MM` today in `tz`.
pub fn parse_time(text: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, AlertError> {
    use chrono::TimeZone;
    let bad = || AlertError::BadTime(text.to_owned());
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    let time = chrono::NaiveTime::parse_from_str(t, "%H:%M")
        .or_else(|_| chrono::NaiveTime::parse_from_str(t, "%H:%M:%S"))
        .map_err(|_| bad())?;
    let date = now.with_timezone(&tz).date_naive();
    tz.from_local_datetime(&date.and_time(time)).earliest().map(|d| d.with_timezone(&Utc)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineup::{Channel, ChannelId, ChannelSettings};
    use chrono::TimeZone;

    fn lineup(numbers: &[&str]) -> Lineup {
        Lineup {
            channels: numbers
                .iter()
                .enumerate()
                .map(|(i, n)| Channel {
                    id: ChannelId(i as i64 + 1),
                    number: n.parse().unwrap(),
                    name: format!("Ch {n}"),
                    call_sign: String::new(),
                    xmltv_id: format!("x{i}"),
                    logo: None,
                    settings: ChannelSettings::default(),
                    enabled: true,
                })
                .collect(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 21, 0, 0).unwrap()
    }

    fn req(msg: &str) -> AlertRequest {
        AlertRequest { message: msg.into(), ..Default::default() }
    }

    #[test]
    fn messages_are_cleaned_and_bounded() {
        let l = lineup(&["5"]);
        assert_eq!(req("  Tornado\nwarning \t now ").validate(&l, now()).unwrap().message, "Tornado warning now");
        assert_eq!(req("   \n ").validate(&l, now()), Err(AlertError::EmptyMessage));
        let big = "x".repeat(10_000);
        let err = req(&big).validate(&l, now()).unwrap_err();
        assert_eq!(err, AlertError::MessageTooLong { chars: 10_000 });
        assert!(err.to_string().contains("limit is 1000"), "{err}");
        assert!(req(&"é".repeat(MAX_MESSAGE_CHARS)).validate(&l, now()).is_ok());
    }

    #[test]
    fn channels_must_exist() {
        let l = lineup(&["5", "7"]);
        let mut r = req("x");
        r.channels = "5, 9,12".parse().unwrap();
        let err = r.validate(&l, now()).unwrap_err();
        assert_eq!(err, AlertError::UnknownChannels(vec!["9".into(), "12".into()]));
        assert_eq!(err.to_string(), "no such channel: 9, 12");
        r.channels = "7,5,7".parse().unwrap();
        assert_eq!(r.validate(&l, now()).unwrap().channels.to_string(), "7,5");
        assert_eq!("".parse::<AlertChannels>(), Err(AlertError::NoChannels));
        assert!(matches!("5,abc".parse::<AlertChannels>(), Err(AlertError::BadChannel(_))));
        assert_eq!("ALL".parse::<AlertChannels>(), Ok(AlertChannels::All));
    }

    #[test]
    fn ends_must_follow_starts() {
        let l = lineup(&["5"]);
        let mut r = req("x");
        r.starts_at = Some(now() + chrono::Duration::minutes(10));
        r.ends_at = Some(now() + chrono::Duration::minutes(5));
        assert!(matches!(r.validate(&l, now()), Err(AlertError::EndBeforeStart { .. })));
        r.ends_at = None;
        r.duration = Some(std::time::Duration::from_secs(120));
        let a = r.validate(&l, now()).unwrap();
        assert_eq!(a.ends_at, Some(now() + chrono::Duration::minutes(12)));
        r.ends_at = Some(now() + chrono::Duration::hours(1));
        assert_eq!(r.validate(&l, now()), Err(AlertError::DurationAndEnd));
        r.ends_at = None;
        r.duration = Some(std::time::Duration::ZERO);
        assert!(matches!(r.validate(&l, now()), Err(AlertError::BadDuration(_))));
        // Already over when raised.
        let mut past = req("x");
        past.starts_at = Some(now() - chrono::Duration::hours(2));
        past.duration = Some(std::time::Duration::from_secs(60));
        assert!(matches!(past.validate(&l, now()), Err(AlertError::EndBeforeStart { .. })));
        let mut p = req("x");
        p.priority = 101;
        assert_eq!(p.validate(&l, now()), Err(AlertError::BadPriority(101)));
    }

    #[test]
    fn durations_and_times_parse() {
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("45").unwrap().as_secs(), 45);
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        for bad in ["", "2x", "m", "5m3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
        assert_eq!(parse_time("2026-11-23T22:00:00Z", tz, now()).unwrap(), now() + chrono::Duration::hours(1));
        // 21:00 UTC is 16:00 in New York (EST).
        assert_eq!(parse_time("17:30", tz, now()).unwrap(), now() + chrono::Duration::minutes(90));
        assert!(parse_time("tomorrow", tz, now()).is_err());
    }
}
