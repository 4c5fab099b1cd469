//! Text subtitles an item carries beside it: SubRip (`.srt`) and WebVTT (`.vtt`) cues, parsed
//! to plain text lines with their times, and inside it: the buffers of its first text subtitle
//! track ([`track_cue`]), which the library's analysis pass reads and stores
//! ([`ItemSubtitles`]). Playout turns them into closed captions (`playout::captions`).
//!
//! Parsing is lenient the way players are: a block without a valid timing line is skipped,
//! `\r\n` and a UTF-8 byte-order mark are accepted, markup (`<i>`, `{\an8}`; WebVTT's `<c.x>`,
//! `<v Name>`, inline timestamps, character references) is dropped and the text's lines are
//! kept as they are (the caption encoder wraps what is too long).

use std::time::Duration;

/// One subtitle: shown from `start` to `end` (media time), its text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// When it appears, from the start of the media.
    pub start: Duration,
    /// When it goes away.
    pub end: Duration,
    /// Its lines, markup removed, none empty.
    pub lines: Vec<String>,
}

/// The cues of a SubRip file, in start order (blocks without a valid timing or text are left
/// out).
pub fn parse_srt(text: &str) -> Vec<Cue> {
    in_order(
        normalise(text).split("\n\n").filter_map(|block| cue(block, |l| strip_markup(l, &[('<', '>'), ('{', '}')]))),
    )
}

/// `text` without a byte-order mark, its line ends `\n`.
fn normalise(text: &str) -> String {
    text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n").replace('\r', "\n")
}

/// The cue of one block of a SubRip or WebVTT file: an optional identifier line (SubRip's
/// counter, WebVTT's cue id), the timing line, then the text lines as `text` makes them
/// plain. `None` for a block without timing or text, or one that ends before it starts.
fn cue(block: &str, text: impl Fn(&str) -> String) -> Option<Cue> {
    let mut lines = block.lines().map(str::trim_end).skip_while(|l| l.trim().is_empty());
    let first = lines.next()?;
    let timing = if first.contains("-->") { Some(first) } else { lines.next() };
    let (start, end) = timing.and_then(parse_timing)?;
    let lines: Vec<String> = lines.map(text).map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
    (!lines.is_empty() && end > start).then_some(Cue { start, end, lines })
}

/// `cues` in start order.
pub(crate) fn in_order(cues: impl Iterator<Item = Cue>) -> Vec<Cue> {
    let mut cues: Vec<Cue> = cues.collect();
    cues.sort_by_key(|c| c.start);
    cues
}

/// The cues of a WebVTT file, in start order: the `WEBVTT` header and `NOTE`, `STYLE` and
/// `REGION` blocks are skipped, a cue's identifier line and its timing line's cue settings
/// (`position:10% align:start`) are ignored, tags are dropped and character references
/// (`&amp;`, `&lt;`, `&gt;`, `&nbsp;`, …) decoded. A file that does not start with `WEBVTT`
/// has no cues (as players refuse it).
pub fn parse_vtt(text: &str) -> Vec<Cue> {
    let text = normalise(text);
    let mut blocks = text.split("\n\n");
    let header = blocks.next().unwrap_or("");
    let magic = header.lines().next().unwrap_or("");
    if !(magic == "WEBVTT" || magic.starts_with("WEBVTT ") || magic.starts_with("WEBVTT\t")) {
        return Vec::new();
    }
    let is_cue = |block: &&str| {
        let first = block.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let keyword = first.split([' ', '\t']).next().unwrap_or("");
        !matches!(keyword, "NOTE" | "STYLE" | "REGION") || first.contains("-->")
    };
    in_order(blocks.filter(is_cue).filter_map(|block| cue(block, vtt_text)))
}

/// A line of tagged text as plain text: a WebVTT cue line (`<i>`, `<c.yellow>`, `<v Bob>`,
/// `<00:00:01.500>`) or Pango markup (a text track's), tags dropped and character references
/// decoded (`&amp;` last, so an escaped reference stays as written).
fn vtt_text(line: &str) -> String {
    let out = strip_markup(line, &[('<', '>')]);
    const REFS: [(&str, &str); 8] = [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&nbsp;", " "),
        ("&lrm;", ""),
        ("&rlm;", ""),
        ("&quot;", "\""),
        ("&apos;", "'"),
        ("&amp;", "&"),
    ];
    REFS.iter().fold(out, |s, (from, to)| s.replace(from, to))
}

/// The cue of one buffer of a text subtitle track as GStreamer's demuxers give them
/// (`text/x-raw`): `markup` for `format=pango-markup` (Matroska's SubRip and, through
/// `ssaparse`, ASS tracks), whose tags are dropped and character references decoded; plain
/// UTF-8 otherwise (MP4's mov_text). `None` without text, or without a positive duration.
pub fn track_cue(start: Duration, end: Duration, text: &str, markup: bool) -> Option<Cue> {
    let text = normalise(text);
    let lines: Vec<String> = text
        .lines()
        .map(|l| if markup { vtt_text(l) } else { l.to_owned() })
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty() && end > start).then_some(Cue { start, end, lines })
}

/// The subtitles the library keeps for an item, each in start order (empty: none, or not read
/// yet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredCues {
    /// Its text subtitle track, read from the media by the analysis pass.
    pub track: Vec<Cue>,
    /// The subtitle file its source offers beside the media (a Plex subtitle stream), fetched
    /// when the source synced it.
    pub offered: Vec<Cue>,
}

/// Subtitles of items as the library keeps them, for playout. [`LibrarySubtitles`] is the
/// library store's.
pub trait ItemSubtitles: Send + Sync + 'static {
    /// What the library keeps for `item`. Asked on a channel's actor thread when the item is
    /// opened (a quick read).
    fn cues(&self, item: crate::library::MediaId) -> StoredCues;
}

/// [`ItemSubtitles`] over the library store: quick blocking reads on a connection of their
/// own ([`crate::db::Reader`]), so a channel preparing its next item never waits for whatever
/// holds the shared one.
pub struct LibrarySubtitles {
    reader: crate::db::Reader,
}

impl LibrarySubtitles {
    /// Over `db`.
    pub fn new(db: crate::db::Db) -> Self {
        Self { reader: crate::db::Reader::new(db) }
    }
}

impl ItemSubtitles for LibrarySubtitles {
    fn cues(&self, item: crate::library::MediaId) -> StoredCues {
        self.reader.call(|c| super::store::subtitle_cues(c, item)).unwrap_or_else(|e| {
            tracing::warn!(%item, error = %e, "cannot read the item's subtitle cues");
            StoredCues::default()
        })
    }
}

/// Largest subtitle file read, beside the media or from a source (a feature film's SubRip is
/// about 100 kB).
pub const MAX_FILE_BYTES: usize = 4 << 20;

/// A subtitle file format the library reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// SubRip (`.srt`).
    SubRip,
    /// WebVTT (`.vtt`).
    WebVtt,
}

impl FileFormat {
    /// The format a file extension or codec name (`srt`/`subrip`, `vtt`/`webvtt`) names.
    pub fn named(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "srt" | "subrip" => Some(Self::SubRip),
            "vtt" | "webvtt" => Some(Self::WebVtt),
            _ => None,
        }
    }

    /// The cues of `text` in this format.
    pub fn cues(self, text: &str) -> Vec<Cue> {
        match self {
            Self::SubRip => parse_srt(text),
            Self::WebVtt => parse_vtt(text),
        }
    }
}

/// The cues of the subtitle file beside the media at `uri` (`file://` only): `NAME.srt`, else
/// `NAME.en.srt`, else `NAME.eng.srt`, else the same as WebVTT (`NAME.vtt`, `NAME.en.vtt`,
/// `NAME.eng.vtt`). `None` when there is none or it has no cue.
pub fn sidecar_cues(uri: &str) -> Option<Vec<Cue>> {
    let path = url::Url::parse(uri).ok().filter(|u| u.scheme() == "file")?.to_file_path().ok()?;
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let dir = path.parent()?;
    ["srt", "en.srt", "eng.srt", "vtt", "en.vtt", "eng.vtt"].iter().find_map(|ext| {
        let candidate = dir.join(format!("{stem}.{ext}"));
        std::fs::metadata(&candidate).ok().filter(|m| m.is_file() && m.len() <= MAX_FILE_BYTES as u64)?;
        let bytes = std::fs::read(&candidate).ok()?;
        let format = FileFormat::named(ext.rsplit('.').next()?)?;
        let cues = format.cues(&String::from_utf8_lossy(&bytes));
        (!cues.is_empty()).then_some(cues)
    })
}

/// `00:01:02,500 --> 00:01:04,000` (a dot is accepted for the comma, trailing position
/// settings are ignored).
fn parse_timing(line: &str) -> Option<(Duration, Duration)> {
    let (a, b) = line.split_once("-->")?;
    let b = b.split_whitespace().next()?;
    Some((parse_time(a.trim())?, parse_time(b)?))
}

fn parse_time(s: &str) -> Option<Duration> {
    let (hms, ms) = s.split_once([',', '.']).unwrap_or((s, "0"));
    let parts: Vec<u64> = hms.split(':').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    let (h, m, sec) = match parts[..] {
        [h, m, s] => (h, m, s),
        [m, s] => (0, m, s),
        _ => return None,
    };
    if m >= 60 || sec >= 60 {
        return None;
    }
    let ms_digits = ms.trim();
    if ms_digits.is_empty() || ms_digits.len() > 3 || !ms_digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = format!("{ms_digits:0<3}").parse().ok()?;
    Some(Duration::from_millis(((h * 60 + m) * 60 + sec) * 1000 + ms))
}

/// The line without what stands between each of `brackets` (open, close): HTML-like tags
/// (`<i>`, `</font>`) and, in SubRip, ASS overrides (`{\an8}`).
fn strip_markup(line: &str, brackets: &[(char, char)]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut inside: Option<char> = None;
    for c in line.chars() {
        match inside {
            Some(close) => {
                if c == close {
                    inside = None;
                }
            }
            None => match brackets.iter().find(|(open, _)| *open == c) {
                Some(&(_, close)) => inside = Some(close),
                None => out.push(c),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn cues_come_with_their_times_and_lines() {
        let srt = "\u{feff}1\r\n00:00:01,500 --> 00:00:03,000\r\nHello <i>there</i>\r\n{\\an8}General Kenobi\r\n\r\n\
                   2\n00:01:02.25 --> 00:01:04,000 X1:10 X2:20\nSecond\n\n\
                   3\nnot a timing\nDropped\n\n\
                   4\n00:00:05,000 --> 00:00:04,000\nBackwards\n\n\
                   00:00:00,200 --> 00:00:00,900\nNo counter\n";
        let cues = parse_srt(srt);
        assert_eq!(
            cues,
            vec![
                Cue { start: ms(200), end: ms(900), lines: vec!["No counter".into()] },
                Cue { start: ms(1500), end: ms(3000), lines: vec!["Hello there".into(), "General Kenobi".into()] },
                Cue { start: ms(62_250), end: ms(64_000), lines: vec!["Second".into()] },
            ]
        );
    }

    #[test]
    fn track_buffers_become_plain_cues() {
        let markup = track_cue(ms(1000), ms(2500), "First <i>caption</i> &amp; more\r\n<b>line &lt;2&gt;</b>\n", true);
        assert_eq!(
            markup,
            Some(Cue { start: ms(1000), end: ms(2500), lines: vec!["First caption & more".into(), "line <2>".into()] })
        );
        let plain = track_cue(ms(0), ms(10), "a <b> is kept\nin mov_text", false).unwrap();
        assert_eq!(plain.lines, ["a <b> is kept", "in mov_text"]);
        assert_eq!(track_cue(ms(5), ms(5), "no time", true), None);
        assert_eq!(track_cue(ms(0), ms(5), " \n<i></i>", true), None);
    }

    #[test]
    fn the_sidecar_beside_the_media_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("Show S01E01.mkv");
        std::fs::write(&media, b"").unwrap();
        let uri = url::Url::from_file_path(&media).unwrap().to_string();
        assert_eq!(sidecar_cues(&uri), None);
        std::fs::write(dir.path().join("Show S01E01.en.srt"), "1\n00:00:01,000 --> 00:00:02,000\nHi\n").unwrap();
        assert_eq!(sidecar_cues(&uri).unwrap()[0].lines, ["Hi"]);
        assert_eq!(sidecar_cues("http://example.invalid/a.mkv"), None);
    }

    #[test]
    fn webvtt_cues_come_without_settings_notes_or_tags() {
        let vtt = "\u{feff}WEBVTT - Some title\r\nKind: captions\r\nLanguage: en\r\n\r\n\
                   NOTE This file was made by hand\nand the note runs on\n\n\
                   STYLE\n::cue { color: yellow }\n\n\
                   REGION\nid:fred width:40%\n\n\
                   intro\n00:01.000 --> 00:04.000 position:10%,line-left align:left size:35%\n\
                   <v Roger Bingham>We are in New York City</v>\n\n\
                   00:00:05.250 --> 00:00:07.000 line:0\n<c.yellow.bg_blue>Yellow</c> and <i>italic</i>,\n\
                   <b>bold</b> &amp; <u>under</u> &lt;3&gt;\n\n\
                   NOTE\nA note alone\n\n\n\
                   3\n00:00:08.000 --> 00:00:09.500\nKaraoke <00:00:08.500>style&nbsp;timing\n\n\
                   00:00:10.000 --> 00:00:09.000\nBackwards\n\n\
                   00:00:11.000 --> 00:00:12.000\n\n";
        let cues = parse_vtt(vtt);
        assert_eq!(
            cues,
            vec![
                Cue { start: ms(1000), end: ms(4000), lines: vec!["We are in New York City".into()] },
                Cue {
                    start: ms(5250),
                    end: ms(7000),
                    lines: vec!["Yellow and italic,".into(), "bold & under <3>".into()],
                },
                Cue { start: ms(8000), end: ms(9500), lines: vec!["Karaoke style timing".into()] },
            ]
        );
        assert_eq!(parse_vtt("1\n00:00:01,000 --> 00:00:02,000\nA SubRip file\n"), vec![], "no WEBVTT header");
        assert_eq!(parse_vtt("WEBVTTX\n\n00:01.000 --> 00:02.000\nHi\n"), vec![]);
    }

    #[test]
    fn a_webvtt_sidecar_is_found_after_subrip() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("Movie (1984).mp4");
        std::fs::write(&media, b"").unwrap();
        let uri = url::Url::from_file_path(&media).unwrap().to_string();
        std::fs::write(dir.path().join("Movie (1984).en.vtt"), "WEBVTT\n\n00:01.000 --> 00:02.000\n<i>Hi</i>\n")
            .unwrap();
        let cues = sidecar_cues(&uri).unwrap();
        assert_eq!((cues[0].start, &cues[0].lines[..]), (ms(1000), &["Hi".to_owned()][..]));
        std::fs::write(dir.path().join("Movie (1984).srt"), "1\n00:00:03,000 --> 00:00:04,000\nFrom SRT\n").unwrap();
        assert_eq!(sidecar_cues(&uri).unwrap()[0].lines, ["From SRT"]);
    }

    #[test]
    fn bad_times_are_refused() {
        assert_eq!(parse_time("00:61:00,000"), None);
        assert_eq!(parse_time("00:00:01,5000"), None);
        assert_eq!(parse_time("1:02:03,4"), Some(ms(3_723_400)));
    }
}
