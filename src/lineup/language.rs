//! Audio languages: a channel's fixed set of audio tracks ([`AudioTracks`]), each with an
//! ISO 639-2 [`Language`] that the multiplexer writes into the PMT so a player can switch
//! (the "SAP" second-language track of US cable). Pure: the matching of an item's decoded
//! streams to these tracks is `playout::tracks`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 639-2 language code in its bibliographic (B) form, three lowercase letters
/// (`eng`, `spa`, `ger`): the form the MPEG-TS ISO 639 descriptor and `gst_tag_get_language_
/// code_iso_639_2B` use. Parsing also takes the two-letter ISO 639-1 codes of the common
/// languages (`en`, `es`, `de`) and the terminology (T) forms (`deu`, `fra`, `zho`), which
/// containers write as often as the B ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

/// A string that is not a language code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid language {0:?}: expected an ISO 639 code such as eng, spa or fr")]
pub struct InvalidLanguage(pub String);

/// ISO 639-1 → ISO 639-2/B for the languages a cable box is likely to carry.
const TWO_LETTER: &[(&str, &str)] = &[
    ("ar", "ara"),
    ("bg", "bul"),
    ("cs", "cze"),
    ("cy", "wel"),
    ("da", "dan"),
    ("de", "ger"),
    ("el", "gre"),
    ("en", "eng"),
    ("es", "spa"),
    ("et", "est"),
    ("eu", "baq"),
    ("fa", "per"),
    ("fi", "fin"),
    ("fr", "fre"),
    ("ga", "gle"),
    ("he", "heb"),
    ("hi", "hin"),
    ("hr", "hrv"),
    ("hu", "hun"),
    ("hy", "arm"),
    ("id", "ind"),
    ("is", "ice"),
    ("it", "ita"),
    ("ja", "jpn"),
    ("ka", "geo"),
    ("ko", "kor"),
    ("lt", "lit"),
    ("lv", "lav"),
    ("mk", "mac"),
    ("ms", "may"),
    ("nl", "dut"),
    ("no", "nor"),
    ("pl", "pol"),
    ("pt", "por"),
    ("ro", "rum"),
    ("ru", "rus"),
    ("sk", "slo"),
    ("sl", "slv"),
    ("sq", "alb"),
    ("sr", "srp"),
    ("sv", "swe"),
    ("th", "tha"),
    ("tl", "tgl"),
    ("tr", "tur"),
    ("uk", "ukr"),
    ("vi", "vie"),
    ("zh", "chi"),
];

/// ISO 639-2/T → ISO 639-2/B where the two differ.
const T_TO_B: &[(&str, &str)] = &[
    ("bod", "tib"),
    ("ces", "cze"),
    ("cym", "wel"),
    ("deu", "ger"),
    ("ell", "gre"),
    ("eus", "baq"),
    ("fas", "per"),
    ("fra", "fre"),
    ("hye", "arm"),
    ("isl", "ice"),
    ("kat", "geo"),
    ("mkd", "mac"),
    ("mri", "mao"),
    ("msa", "may"),
    ("mya", "bur"),
    ("nld", "dut"),
    ("ron", "rum"),
    ("slk", "slo"),
    ("sqi", "alb"),
    ("zho", "chi"),
];

impl Language {
    /// The three-letter code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// "Undetermined" (`und`), "multiple" (`mul`) and "no linguistic content" (`zxx`) say
    /// nothing about which language a stream is in.
    pub fn is_specific(&self) -> bool {
        !matches!(self.0.as_str(), "und" | "mul" | "zxx" | "mis")
    }
}

impl FromStr for Language {
    type Err = InvalidLanguage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Containers also write "en-US" or "eng_US": the language is the part before.
        let code = s.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        if !code.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(InvalidLanguage(s.to_owned()));
        }
        let b = match code.len() {
            2 => TWO_LETTER.iter().find(|(k, _)| *k == code).map(|(_, v)| (*v).to_owned()),
            3 => Some(T_TO_B.iter().find(|(k, _)| *k == code).map_or(code, |(_, v)| (*v).to_owned())),
            _ => None,
        };
        b.map(Self).ok_or_else(|| InvalidLanguage(s.to_owned()))
    }
}

impl TryFrom<String> for Language {
    type Error = InvalidLanguage;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Language> for String {
    fn from(l: Language) -> Self {
        l.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a second-language track carries while the item has no stream in its language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingLanguage {
    /// The item's main audio (what US cable's SAP does when a show has no second language).
    #[default]
    Main,
    /// Silence.
    Silence,
}

/// Most audio tracks a channel carries (each costs an AAC encoder and a limiter).
pub const MAX_AUDIO_TRACKS: usize = 4;

/// The audio tracks a channel carries for its whole life: tracks never appear or disappear
/// at item changes, so a player that switched to the second language stays there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AudioTracks {
    /// One track per language, the first being the main track. Empty: one main track with
    /// no language in the PMT (the item's first audio stream).
    pub languages: Vec<Language>,
    /// What a track other than the main one carries when the item lacks its language.
    pub missing: MissingLanguage,
}

impl AudioTracks {
    /// How many tracks the channel carries (at least one).
    pub fn count(&self) -> usize {
        self.languages.len().clamp(1, MAX_AUDIO_TRACKS)
    }

    /// The language of track `i`, if the channel names one.
    pub fn language(&self, i: usize) -> Option<&Language> {
        self.languages.get(i)
    }

    /// Parse a comma-separated list (`eng,spa`); the empty string means no languages.
    pub fn parse_list(s: &str) -> Result<Vec<Language>, InvalidLanguage> {
        let list: Vec<Language> =
            s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
        if list.len() > MAX_AUDIO_TRACKS {
            return Err(InvalidLanguage(format!("{s} (at most {MAX_AUDIO_TRACKS} tracks)")));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = list.iter().find(|l| !seen.insert(*l)) {
            return Err(InvalidLanguage(format!("{dup} twice")));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_normalise_to_iso_639_2b() {
        for (input, code) in [
            ("eng", "eng"),
            ("en", "eng"),
            ("EN-us", "eng"),
            ("es", "spa"),
            ("deu", "ger"),
            ("ger", "ger"),
            ("fra", "fre"),
            ("fr", "fre"),
            ("zho", "chi"),
            ("und", "und"),
        ] {
            assert_eq!(input.parse::<Language>().unwrap().as_str(), code, "{input}");
        }
        for bad in ["", "e", "english", "12", "x!"] {
            assert!(bad.parse::<Language>().is_err(), "{bad}");
        }
        assert!(!"und".parse::<Language>().unwrap().is_specific());
        assert!("spa".parse::<Language>().unwrap().is_specific());
    }

    #[test]
    fn track_lists_parse_and_count() {
        let l = AudioTracks::parse_list("eng, es").unwrap();
        assert_eq!(l.iter().map(Language::as_str).collect::<Vec<_>>(), ["eng", "spa"]);
        assert!(AudioTracks::parse_list("eng,en").is_err());
        assert!(AudioTracks::parse_list("eng,spa,fre,ger,ita").is_err());
        assert_eq!(AudioTracks::parse_list("").unwrap(), vec![]);
        assert_eq!(AudioTracks::default().count(), 1);
        let t = AudioTracks { languages: l, missing: MissingLanguage::Silence };
        assert_eq!(t.count(), 2);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"languages":["eng","spa"],"missing":"silence"}"#);
        assert_eq!(serde_json::from_str::<AudioTracks>(&json).unwrap(), t);
    }
}
