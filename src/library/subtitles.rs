//! Text subtitles an item carries beside it: SubRip (`.srt`) cues, parsed to plain text lines
//! with their times. Playout turns them into closed captions (`playout::captions`).
//!
//! Parsing is lenient the way players are: a block without a valid timing line is skipped,
//! `\r\n` and a UTF-8 byte-order mark are accepted, markup (`<i>`, `{\an8}`) is dropped and
//! the text's lines are kept as they are (the caption encoder wraps what is too long).

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
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n").replace('\r', "\n");
    let mut cues = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().map(str::trim_end).skip_while(|l| l.trim().is_empty());
        let Some(first) = lines.next() else { continue };
        // The counter line is optional in practice: the timing line may come first.
        let timing = if first.contains("-->") { Some(first) } else { lines.next() };
        let Some((start, end)) = timing.and_then(parse_timing) else { continue };
        let lines: Vec<String> =
            lines.map(strip_markup).map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
        if lines.is_empty() || end <= start {
            continue;
        }
        cues.push(Cue { start, end, lines });
    }
    cues.sort_by_key(|c| c.start);
    cues
}

/// Largest sidecar read (a feature film's SubRip is about 100 kB).
const MAX_SIDECAR_BYTES: u64 = 4 << 20;

/// The cues of the SubRip file beside the media at `uri` (`file://` only): `NAME.srt`, else
/// `NAME.en.srt`, else `NAME.eng.srt`. `None` when there is none or it has no cue.
pub fn sidecar_cues(uri: &str) -> Option<Vec<Cue>> {
    let path = url::Url::parse(uri).ok().filter(|u| u.scheme() == "file")?.to_file_path().ok()?;
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let dir = path.parent()?;
    ["srt", "en.srt", "eng.srt"].iter().find_map(|ext| {
        let candidate = dir.join(format!("{stem}.{ext}"));
        std::fs::metadata(&candidate).ok().filter(|m| m.is_file() && m.len() <= MAX_SIDECAR_BYTES)?;
        let bytes = std::fs::read(&candidate).ok()?;
        let cues = parse_srt(&String::from_utf8_lossy(&bytes));
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

/// The line without HTML-like tags (`<i>`, `</font>`) and ASS overrides (`{\an8}`).
fn strip_markup(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut depth: Option<char> = None;
    for c in line.chars() {
        match (depth, c) {
            (None, '<') => depth = Some('>'),
            (None, '{') => depth = Some('}'),
            (Some(close), c) if c == close => depth = None,
            (Some(_), _) => {}
            (None, c) => out.push(c),
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
    fn bad_times_are_refused() {
        assert_eq!(parse_time("00:61:00,000"), None);
        assert_eq!(parse_time("00:00:01,5000"), None);
        assert_eq!(parse_time("1:02:03,4"), Some(ms(3_723_400)));
    }
}
