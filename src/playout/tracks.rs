//! Which of an item's decoded audio streams feeds each of the channel's audio tracks (pure).
//!
//! A channel carries a fixed set of tracks ([`AudioTracks`]); an item has zero or more audio
//! streams, each perhaps tagged with a language. Track 0 (main) takes the stream in its
//! language, else the item's first stream. Every other track takes the stream in its
//! language, else — by the channel's [`MissingLanguage`] — the main track's audio or nothing
//! (the track's silent background shows through). A track is never added or dropped, so the
//! PMT stays the same across items.

use crate::lineup::{AudioTracks, Language, MissingLanguage};

/// What feeds one of the channel's tracks during an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackFeed {
    /// The item's decoded audio stream with this index (in the order they appeared).
    Stream(usize),
    /// A copy of what feeds the main track.
    MainCopy,
    /// Nothing: silence.
    Silence,
}

/// The feed of each of `tracks`' tracks for an item whose audio streams have `languages`.
pub fn choose(tracks: &AudioTracks, languages: &[Option<Language>]) -> Vec<TrackFeed> {
    let find = |want: Option<&Language>| {
        let want = want?;
        languages.iter().position(|l| l.as_ref().is_some_and(|l| l.is_specific() && l == want))
    };
    let main = find(tracks.language(0)).or(if languages.is_empty() { None } else { Some(0) });
    (0..tracks.count())
        .map(|i| {
            if i == 0 {
                return main.map_or(TrackFeed::Silence, TrackFeed::Stream);
            }
            match (find(tracks.language(i)), tracks.missing) {
                (Some(s), _) if Some(s) != main => TrackFeed::Stream(s),
                // The main track already plays this language (the item has only it).
                (Some(_), _) => TrackFeed::MainCopy,
                _ if main.is_none() => TrackFeed::Silence,
                (_, MissingLanguage::Main) => TrackFeed::MainCopy,
                (_, MissingLanguage::Silence) => TrackFeed::Silence,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(s: &str) -> Option<Language> {
        Some(s.parse().unwrap())
    }

    fn tracks(list: &str, missing: MissingLanguage) -> AudioTracks {
        AudioTracks { languages: AudioTracks::parse_list(list).unwrap(), missing }
    }

    #[test]
    fn one_main_track_takes_the_first_stream() {
        let t = AudioTracks::default();
        assert_eq!(choose(&t, &[lang("spa"), lang("eng")]), [TrackFeed::Stream(0)]);
        assert_eq!(choose(&t, &[]), [TrackFeed::Silence]);
    }

    #[test]
    fn tracks_take_their_language_wherever_it_is() {
        let t = tracks("eng,spa", MissingLanguage::Main);
        assert_eq!(choose(&t, &[lang("spa"), lang("en")]), [TrackFeed::Stream(1), TrackFeed::Stream(0)]);
        assert_eq!(choose(&t, &[lang("eng"), None, lang("es")]), [TrackFeed::Stream(0), TrackFeed::Stream(2)]);
    }

    #[test]
    fn a_missing_language_plays_the_main_audio_or_silence() {
        let main = tracks("eng,spa", MissingLanguage::Main);
        let silence = tracks("eng,spa", MissingLanguage::Silence);
        // Untagged single stream: it is the main audio.
        assert_eq!(choose(&main, &[None]), [TrackFeed::Stream(0), TrackFeed::MainCopy]);
        assert_eq!(choose(&silence, &[None]), [TrackFeed::Stream(0), TrackFeed::Silence]);
        // Only the second language: it is also the best the main track has ("und" says nothing).
        assert_eq!(choose(&main, &[lang("und"), lang("fre")]), [TrackFeed::Stream(0), TrackFeed::MainCopy]);
        assert_eq!(choose(&main, &[lang("spa")]), [TrackFeed::Stream(0), TrackFeed::MainCopy]);
        assert_eq!(choose(&silence, &[lang("spa")]), [TrackFeed::Stream(0), TrackFeed::MainCopy]);
        // No audio at all: silence everywhere, whatever the setting.
        assert_eq!(choose(&main, &[]), [TrackFeed::Silence, TrackFeed::Silence]);
    }
}
