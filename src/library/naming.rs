//! What a file's name and folders say when there is no `.nfo` (pure).
//!
//! Understands `Show/Season 01/Show - S01E02 - Title.ext`, `Show.S01E02.Title.ext`,
//! `Show 1x02 Title.ext` and `Movie (1985).ext`; anything else is titled by its file stem.

/// Facts guessed from a relative path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameGuess {
    /// Title (episode title for episodes; file stem as a last resort).
    pub title: String,
    /// Series.
    pub series: Option<String>,
    /// Season.
    pub season: Option<u32>,
    /// Episode.
    pub episode: Option<u32>,
    /// Year in parentheses.
    pub year: Option<i32>,
}

/// Guess from the path relative to the source root, split in components (lossy UTF-8);
/// the last component is the file name.
pub fn guess(components: &[String]) -> NameGuess {
    let Some(file) = components.last() else { return NameGuess::default() };
    let stem = match file.rfind('.') {
        Some(i) if i > 0 => &file[..i],
        _ => file.as_str(),
    };
    let folders = &components[..components.len() - 1];
    let mut g = NameGuess::default();
    if let Some((before, season, episode, after)) = find_episode_marker(stem) {
        g.season = Some(season);
        g.episode = Some(episode);
        let series = clean(before);
        g.series = (!series.is_empty()).then_some(series);
        let title = clean(after);
        g.title = title;
    } else {
        let (title, year) = split_year(&clean(stem));
        g.title = title;
        g.year = year;
    }
    // Folders: `Show/Season 01/...` or `Show/...`.
    let mut folder_series = None;
    for (i, f) in folders.iter().enumerate() {
        if let Some(n) = season_folder(f) {
            g.season = g.season.or(Some(n));
            if i > 0 {
                folder_series = Some(clean(&folders[i - 1]));
            }
        }
    }
    if folder_series.is_none() {
        folder_series = folders.first().map(|f| clean(f)).filter(|f| season_folder(f).is_none());
    }
    if g.series.is_none() {
        g.series = folder_series.filter(|s| !s.is_empty());
    }
    if g.title.is_empty() {
        g.title = match (g.season, g.episode) {
            (Some(s), Some(e)) => format!("S{s:02}E{e:02}"),
            _ => clean(stem),
        };
    }
    if g.title.is_empty() {
        g.title = file.clone();
    }
    g
}

/// `Season 01`, `Season 1`, `S01`, `Specials` (= 0).
fn season_folder(name: &str) -> Option<u32> {
    let l = name.trim().to_ascii_lowercase();
    if l == "specials" {
        return Some(0);
    }
    let n = l.strip_prefix("season").or_else(|| l.strip_prefix('s'))?.trim();
    n.parse().ok()
}

/// Find `S01E02` or `1x02`: (text before, season, episode, text after).
fn find_episode_marker(stem: &str) -> Option<(&str, u32, u32, &str)> {
    let b = stem.as_bytes();
    let digits_at = |mut i: usize, max: usize| -> (usize, usize) {
        let start = i;
        while i < b.len() && i - start < max && b[i].is_ascii_digit() {
            i += 1;
        }
        (start, i)
    };
    for i in 0..b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if !boundary {
            continue;
        }
        if b[i] == b'S' || b[i] == b's' {
            let (s0, s1) = digits_at(i + 1, 3);
            if s1 > s0 && s1 < b.len() && (b[s1] == b'E' || b[s1] == b'e') {
                let (e0, e1) = digits_at(s1 + 1, 4);
                if e1 > e0 && (e1 == b.len() || !b[e1].is_ascii_alphanumeric()) {
                    return Some((&stem[..i], stem[s0..s1].parse().ok()?, stem[e0..e1].parse().ok()?, &stem[e1..]));
                }
            }
        } else if b[i].is_ascii_digit() {
            let (s0, s1) = digits_at(i, 2);
            if s1 < b.len() && (b[s1] == b'x' || b[s1] == b'X') {
                let (e0, e1) = digits_at(s1 + 1, 3);
                if e1 > e0 && (e1 == b.len() || !b[e1].is_ascii_alphanumeric()) {
                    return Some((&stem[..i], stem[s0..s1].parse().ok()?, stem[e0..e1].parse().ok()?, &stem[e1..]));
                }
            }
        }
    }
    None
}

/// `Movie (1985)` → ("Movie", 1985).
fn split_year(title: &str) -> (String, Option<i32>) {
    let t = title.trim_end();
    if let Some(rest) = t.strip_suffix(')')
        && let Some(open) = rest.rfind('(')
    {
        let inner = &rest[open + 1..];
        if inner.len() == 4
            && let Ok(y) = inner.parse::<i32>()
            && (1880..2200).contains(&y)
        {
            return (rest[..open].trim().to_owned(), Some(y));
        }
    }
    (t.to_owned(), None)
}

/// Dots and underscores to spaces (unless the name has spaces already), trim separators.
fn clean(s: &str) -> String {
    let s = if s.contains(' ') { s.to_owned() } else { s.replace(['.', '_'], " ") };
    s.trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '.' || c == '_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(path: &str) -> NameGuess {
        guess(&path.split('/').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn kodi_layout() {
        let n = g("Retro Robots/Season 01/Retro Robots - S01E02 - The Big Beep.mkv");
        assert_eq!(n.series.as_deref(), Some("Retro Robots"));
        assert_eq!((n.season, n.episode), (Some(1), Some(2)));
        assert_eq!(n.title, "The Big Beep");
    }

    #[test]
    fn dotted_scene_names() {
        let n = g("Retro.Robots.S02E10.Return.of.the.Beep.mp4");
        assert_eq!(n.series.as_deref(), Some("Retro Robots"));
        assert_eq!((n.season, n.episode), (Some(2), Some(10)));
        assert_eq!(n.title, "Return of the Beep");
        let x = g("Show/Show 1x03.avi");
        assert_eq!(
            (x.series.as_deref(), x.season, x.episode, x.title.as_str()),
            (Some("Show"), Some(1), Some(3), "S01E03")
        );
    }

    #[test]
    fn movies_and_plain_files() {
        let m = g("Back to the Past (1985).mkv");
        assert_eq!((m.title.as_str(), m.year, m.series), ("Back to the Past", Some(1985), None));
        let c = g("Acme Toys 30s.mp4");
        assert_eq!(c.title, "Acme Toys 30s");
        let s = g("Show/Season 2/episode one.mkv");
        assert_eq!(
            (s.series.as_deref(), s.season, s.episode, s.title.as_str()),
            (Some("Show"), Some(2), None, "episode one")
        );
        let sx = g("Classic Movies/Mystery (1941).mkv");
        assert_eq!((sx.title.as_str(), sx.year), ("Mystery", Some(1941)));
    }
}
