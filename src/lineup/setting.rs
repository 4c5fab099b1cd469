//! The checked values of a channel's settings: [`VideoKbps`], [`AudioKbps`], [`Opacity`] and
//! [`RatingLimit`]. Each is made only through one `TryFrom` (and `FromStr`, and serde, which
//! use it), so the CLI, the web API, `channel import` and the stored settings apply the same
//! rule and refuse a bad value with the same [`InvalidSetting`] message.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A channel setting value out of its range; the message names the setting, the value and
/// what is accepted (the same words whichever way the value came in).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidSetting {
    /// Video bitrate out of range.
    #[error("video bitrate {0} kbit/s: expected {min} to {max}", min = VideoKbps::MIN, max = VideoKbps::MAX)]
    VideoKbps(String),
    /// Audio bitrate out of range.
    #[error("audio bitrate {0} kbit/s: expected {min} to {max}", min = AudioKbps::MIN, max = AudioKbps::MAX)]
    AudioKbps(String),
    /// Opacity out of range.
    #[error("bug opacity {0}: expected 0.0 to 1.0")]
    Opacity(String),
    /// Not a rating the scheduler knows.
    #[error("rating limit {0:?}: expected one of {known}", known = RATINGS.join(", "))]
    RatingLimit(String),
}

macro_rules! kbps {
    ($name:ident, $what:literal, $min:literal, $max:literal, $variant:ident) => {
        #[doc = concat!($what, " in kbit/s, ", stringify!($min), " to ", stringify!($max), ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "u32", into = "u32")]
        pub struct $name(u32);

        impl $name {
            /// The lowest accepted.
            pub const MIN: u32 = $min;
            /// The highest accepted.
            pub const MAX: u32 = $max;

            /// The value, kbit/s.
            pub fn get(self) -> u32 {
                self.0
            }

            /// A value known to be in range (constants, tests); panics otherwise.
            pub const fn of(v: u32) -> Self {
                assert!(v >= Self::MIN && v <= Self::MAX, "out of range");
                Self(v)
            }
        }

        impl TryFrom<u32> for $name {
            type Error = InvalidSetting;

            fn try_from(v: u32) -> Result<Self, InvalidSetting> {
                if (Self::MIN..=Self::MAX).contains(&v) {
                    Ok(Self(v))
                } else {
                    Err(InvalidSetting::$variant(v.to_string()))
                }
            }
        }

        impl FromStr for $name {
            type Err = InvalidSetting;

            fn from_str(s: &str) -> Result<Self, InvalidSetting> {
                s.trim().parse::<u32>().map_err(|_| InvalidSetting::$variant(s.to_owned()))?.try_into()
            }
        }

        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

kbps!(VideoKbps, "Video bitrate (CBR)", 200, 20000, VideoKbps);
kbps!(AudioKbps, "Audio bitrate (AAC)", 32, 512, AudioKbps);

/// How opaque a graphic is: 0.0 (invisible) to 1.0 (opaque).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Opacity(f64);

impl Opacity {
    /// The value, 0.0 to 1.0.
    pub fn get(self) -> f64 {
        self.0
    }

    /// A value known to be in range (constants, tests); panics otherwise.
    pub const fn of(v: f64) -> Self {
        assert!(v >= 0.0 && v <= 1.0, "out of range");
        Self(v)
    }
}

impl TryFrom<f64> for Opacity {
    type Error = InvalidSetting;

    fn try_from(v: f64) -> Result<Self, InvalidSetting> {
        if (0.0..=1.0).contains(&v) { Ok(Self(v)) } else { Err(InvalidSetting::Opacity(v.to_string())) }
    }
}

impl FromStr for Opacity {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, InvalidSetting> {
        s.trim().parse::<f64>().map_err(|_| InvalidSetting::Opacity(s.to_owned()))?.try_into()
    }
}

impl From<Opacity> for f64 {
    fn from(v: Opacity) -> f64 {
        v.0
    }
}

impl fmt::Display for Opacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The ratings a limit may name, from the youngest audience up.
pub const RATINGS: [&str; 12] =
    ["TV-Y", "TV-Y7", "TV-G", "TV-PG", "TV-14", "TV-MA", "G", "PG", "PG-13", "R", "NC-17", "Adult"];

/// The restrictiveness of a rating, 0 (for the youngest) to 7 (adult); `None` for a rating
/// this table does not know. Case, spaces and `TV-Y7-FV` are forgiven.
pub fn rating_level(rating: &str) -> Option<u8> {
    Some(match rating.trim().to_ascii_uppercase().replace(' ', "-").as_str() {
        "TV-Y" => 0,
        "TV-Y7" | "TV-Y7-FV" => 1,
        "G" | "TV-G" => 2,
        "PG" | "TV-PG" => 3,
        "PG-13" | "TV-14" => 4,
        "R" | "TV-MA" => 5,
        "NC-17" => 6,
        "ADULT" | "X" | "XXX" => 7,
        _ => return None,
    })
}

/// The highest content rating a channel airs: a rating [`rating_level`] knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RatingLimit(String);

impl RatingLimit {
    /// The rating as given ("TV-PG").
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its level ([`rating_level`]).
    pub fn level(&self) -> u8 {
        rating_level(&self.0).expect("a RatingLimit is a known rating")
    }
}

impl TryFrom<String> for RatingLimit {
    type Error = InvalidSetting;

    fn try_from(s: String) -> Result<Self, InvalidSetting> {
        match rating_level(&s) {
            Some(_) => Ok(Self(s.trim().to_owned())),
            None => Err(InvalidSetting::RatingLimit(s)),
        }
    }
}

impl FromStr for RatingLimit {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, InvalidSetting> {
        s.to_owned().try_into()
    }
}

impl From<RatingLimit> for String {
    fn from(v: RatingLimit) -> String {
        v.0
    }
}

impl fmt::Display for RatingLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Bring settings stored before these rules were shared (the CLI took any bitrate, the web
/// API any rating limit) back within them, in the stored JSON: bitrates and opacity to the
/// nearest accepted value, an unknown rating limit to the strictest rating (an unknown limit
/// used to refuse every rated item). Returns what was changed, for the log.
pub fn repair_stored(settings: &mut serde_json::Value) -> Vec<String> {
    let mut changed = Vec::new();
    let mut clamp = |path: &str, lo: f64, hi: f64, v: Option<&mut serde_json::Value>| {
        if let Some(v) = v
            && let Some(x) = v.as_f64()
            && !(lo..=hi).contains(&x)
        {
            let fixed = x.clamp(lo, hi);
            changed.push(format!("{path} {x} -> {fixed}"));
            *v = if v.is_f64() { fixed.into() } else { (fixed as u64).into() };
        }
    };
    let (vmin, vmax) = (f64::from(VideoKbps::MIN), f64::from(VideoKbps::MAX));
    let (amin, amax) = (f64::from(AudioKbps::MIN), f64::from(AudioKbps::MAX));
    clamp("profile.video_kbps", vmin, vmax, settings.pointer_mut("/profile/video_kbps"));
    clamp("profile.audio_kbps", amin, amax, settings.pointer_mut("/profile/audio_kbps"));
    clamp("bug.opacity", 0.0, 1.0, settings.pointer_mut("/bug/opacity"));
    if let Some(v) = settings.pointer_mut("/rating_limit")
        && let Some(r) = v.as_str()
        && rating_level(r).is_none()
    {
        changed.push(format!("rating_limit {r:?} -> {:?}", RATINGS[0]));
        *v = RATINGS[0].into();
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_stored_out_of_range_are_brought_back_within_the_rules() {
        let mut v = serde_json::json!({
            "profile": { "video_kbps": 50, "audio_kbps": 128 },
            "bug": { "opacity": 1.5 },
            "rating_limit": "nonsense"
        });
        let changed = repair_stored(&mut v);
        assert_eq!(changed.len(), 3, "{changed:?}");
        assert_eq!(v["profile"]["video_kbps"], 200);
        assert_eq!(v["bug"]["opacity"], 1.0);
        assert_eq!(v["rating_limit"], "TV-Y");
        assert!(serde_json::from_value::<VideoKbps>(v["profile"]["video_kbps"].clone()).is_ok());
        assert!(repair_stored(&mut v).is_empty(), "nothing more to repair");
    }

    #[test]
    fn each_value_is_checked_the_same_way_from_a_number_text_and_serde() {
        assert_eq!(VideoKbps::try_from(2000).unwrap().get(), 2000);
        let bad = VideoKbps::try_from(50).unwrap_err();
        assert_eq!(bad.to_string(), "video bitrate 50 kbit/s: expected 200 to 20000");
        assert_eq!("50".parse::<VideoKbps>().unwrap_err(), bad);
        let json = serde_json::from_str::<VideoKbps>("50").unwrap_err().to_string();
        assert!(json.contains(&bad.to_string()), "{json}");
        assert_eq!(
            "fast".parse::<VideoKbps>().unwrap_err().to_string(),
            "video bitrate fast kbit/s: expected 200 to 20000"
        );
        assert!(AudioKbps::try_from(31).is_err() && AudioKbps::try_from(512).is_ok());
        assert_eq!(Opacity::try_from(1.5).unwrap_err().to_string(), "bug opacity 1.5: expected 0.0 to 1.0");
        assert!(Opacity::try_from(f64::NAN).is_err());
        assert_eq!(serde_json::to_string(&Opacity::try_from(0.5).unwrap()).unwrap(), "0.5");
        assert_eq!("tv-pg".parse::<RatingLimit>().unwrap().level(), 3);
        let bad = "nonsense".parse::<RatingLimit>().unwrap_err().to_string();
        assert!(bad.starts_with("rating limit \"nonsense\": expected one of TV-Y, TV-Y7"), "{bad}");
        assert!(RATINGS.iter().all(|r| rating_level(r).is_some()));
    }
}
