//! Kodi / TinyMediaManager `.nfo` files → [`Nfo`] (pure: bytes in, facts out).
//!
//! Reads the three roots Kodi writes: `<tvshow>`, `<episodedetails>` and `<movie>`, and
//! from them `title`, `showtitle`, `season`, `episode`, `aired` / `premiered` / `year`,
//! `mpaa` (normalised by [`normalise_rating`]), `genre`, `tag`, `runtime`, `plot`, and the
//! artwork Kodi names: `<thumb aspect="poster">` (not a season's, `type="season"`), a plain
//! `<thumb>` (an episode's still) and `<fanart><thumb>` (the backdrop) — URLs or local paths.
//!
//! # The Retrovue convention for scheduling metadata
//!
//! Either a `<retrovue>` element anywhere under the root:
//!
//! ```xml
//! <episodedetails>
//!   <title>Pilot</title>
//!   <retrovue>
//!     <daypart>primetime</daypart>      <!-- repeatable, or comma separated -->
//!     <season>christmas</season>        <!-- holiday / time of year, repeatable -->
//!     <demographic>family</demographic>
//!     <company>Acme Toys</company>      <!-- commercials: advertiser -->
//!     <category>toys</category>         <!-- commercials: product category -->
//!     <era>1980s</era>                  <!-- a year such as 1985 becomes 1980s -->
//!     <rating>TV-PG</rating>            <!-- rating for scheduling -->
//!     <warnings>flashing lights</warnings>
//!     <notes>free text</notes>
//!     <breakpoint>7:30</breakpoint>     <!-- ms (450000) or timecode h:mm:ss.f / m:ss.f -->
//!     <breakpoint>15:02.5</breakpoint>
//!   </retrovue>
//! </episodedetails>
//! ```
//!
//! or, for tools that only edit tags, `<tag>retrovue:KEY=VALUE</tag>` with the same keys
//! (`retrovue:daypart=primetime`, `retrovue:breakpoint=12:10.5`, ...). Such tags are consumed:
//! they do not appear among the item's ordinary tags.
//!
//! # Hostile input
//!
//! Files over [`MAX_NFO_BYTES`] and nesting deeper than [`MAX_DEPTH`] are refused. Entities:
//! quick-xml never reads DTDs, so a custom entity (`<!ENTITY lol ...>`, "billion laughs",
//! external `SYSTEM` entities) is never expanded: text that uses one is kept verbatim. Broken
//! XML is an [`NfoError`]; the scanner then imports the item from its file name. A value that
//! cannot be read in well-formed XML (a `<breakpoint>` that is no timecode) costs only that
//! value: it is listed in [`Nfo::problems`], which the scan reports, and the rest is kept.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::SchedulingMetadata;

/// Larger `.nfo` files are refused without being parsed.
pub const MAX_NFO_BYTES: usize = 1024 * 1024;
/// Deeper element nesting is refused.
pub const MAX_DEPTH: usize = 32;

/// Which `.nfo` root the file had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NfoKind {
    /// `<tvshow>`: series-level facts.
    TvShow,
    /// `<episodedetails>`.
    Episode,
    /// `<movie>`.
    Movie,
}

/// What an `.nfo` file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Nfo {
    /// The root element.
    pub kind: NfoKind,
    /// `<title>`.
    pub title: Option<String>,
    /// `<showtitle>` (episodes).
    pub show_title: Option<String>,
    /// `<season>` number.
    pub season: Option<u32>,
    /// `<episode>` number.
    pub episode: Option<u32>,
    /// `<year>`, else the year of `<aired>` / `<premiered>`.
    pub year: Option<i32>,
    /// `<aired>` (episodes), else `<premiered>` (movies, shows): the original air or release
    /// date, when it is a full `YYYY-MM-DD` date.
    pub aired: Option<chrono::NaiveDate>,
    /// First `<thumb aspect="poster">` that is not a season's.
    pub poster: Option<String>,
    /// First `<thumb>` without an aspect (or `aspect="thumb"`): an episode's still.
    pub thumb: Option<String>,
    /// First `<fanart><thumb>`.
    pub fanart: Option<String>,
    /// `<mpaa>`, normalised.
    pub rating: Option<String>,
    /// `<genre>` (repeatable).
    pub genres: Vec<String>,
    /// `<tag>` (repeatable), without the `retrovue:` ones.
    pub tags: Vec<String>,
    /// `<runtime>` in minutes.
    pub runtime_min: Option<u32>,
    /// `<plot>`.
    pub plot: Option<String>,
    /// Scheduling metadata from `<retrovue>` and `retrovue:` tags.
    pub meta: SchedulingMetadata,
    /// Breakpoints (ms) from `<retrovue><breakpoint>` and `retrovue:breakpoint=` tags, sorted.
    pub breakpoints_ms: Vec<i64>,
    /// Values that could not be read and were left out (the rest of the file still counts),
    /// e.g. a `<breakpoint>` that is no timecode.
    pub problems: Vec<String>,
}

/// Why an `.nfo` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NfoError {
    /// Over [`MAX_NFO_BYTES`].
    #[error("nfo file is {0} bytes, more than the 1 MiB allowed")]
    TooLarge(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nfo elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not well-formed XML.
    #[error("nfo is not well-formed XML at byte {position}: {source}")]
    Xml {
        /// Byte offset of the problem.
        position: u64,
        /// What quick-xml said.
        #[source]
        source: quick_xml::Error,
    },
    /// The root is not `tvshow`, `episodedetails` or `movie`.
    #[error("nfo root element is <{0}>, expected <tvshow>, <episodedetails> or <movie>")]
    UnknownRoot(String),
    /// No element at all.
    #[error("nfo has no root element")]
    Empty,
}

/// Parse an `.nfo` file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Nfo, NfoError> {
    if bytes.len() > MAX_NFO_BYTES {
        return Err(NfoError::TooLarge(bytes.len()));
    }
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<String> = Vec::new();
    let mut nfo: Option<Nfo> = None;
    let mut text = String::new();
    // `aspect` and `type` of the `<thumb>` being read (it has no children).
    let mut thumb_attrs: (Option<String>, Option<String>) = (None, None);
    loop {
        let event =
            reader.read_event().map_err(|source| NfoError::Xml { position: reader.error_position(), source })?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if stack.is_empty() {
                    if nfo.is_some() {
                        // Multi-episode files hold several roots: the first one wins.
                        break;
                    }
                    nfo = Some(Nfo::empty(root_kind(&name)?));
                }
                if name == "thumb" {
                    let attr = |key: &[u8]| {
                        e.attributes()
                            .flatten()
                            .find(|a| a.key.local_name().as_ref() == key)
                            .map(|a| String::from_utf8_lossy(&a.value).trim().to_ascii_lowercase())
                    };
                    thumb_attrs = (attr(b"aspect"), attr(b"type"));
                }
                stack.push(name);
                if stack.len() > MAX_DEPTH {
                    return Err(NfoError::TooDeep);
                }
                text.clear();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if stack.is_empty() && nfo.is_none() {
                    nfo = Some(Nfo::empty(root_kind(&name)?));
                }
            }
            Event::Text(t) => {
                // Unknown (custom) entities are not expanded: keep the raw text.
                let s = t.unescape().map(|c| c.into_owned()).unwrap_or_else(|_| String::from_utf8_lossy(&t).into());
                text.push_str(&s);
            }
            Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c)),
            Event::End(_) => {
                if let Some(n) = nfo.as_mut() {
                    n.apply(&stack, text.trim(), &thumb_attrs);
                }
                text.clear();
                stack.pop();
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(NfoError::Xml {
                        position: reader.buffer_position(),
                        source: quick_xml::Error::Syntax(quick_xml::errors::SyntaxError::UnclosedTag),
                    });
                }
                break;
            }
            _ => {}
        }
    }
    let mut nfo = nfo.ok_or(NfoError::Empty)?;
    nfo.breakpoints_ms.sort_unstable();
    nfo.breakpoints_ms.dedup();
    Ok(nfo)
}

fn root_kind(name: &str) -> Result<NfoKind, NfoError> {
    match name {
        "tvshow" => Ok(NfoKind::TvShow),
        "episodedetails" => Ok(NfoKind::Episode),
        "movie" => Ok(NfoKind::Movie),
        other => Err(NfoError::UnknownRoot(other.to_owned())),
    }
}

impl Nfo {
    fn empty(kind: NfoKind) -> Self {
        Self {
            kind,
            title: None,
            show_title: None,
            season: None,
            episode: None,
            year: None,
            aired: None,
            poster: None,
            thumb: None,
            fanart: None,
            rating: None,
            genres: Vec::new(),
            tags: Vec::new(),
            runtime_min: None,
            plot: None,
            meta: SchedulingMetadata::default(),
            breakpoints_ms: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Take the text of the element that just closed; `path` is root..element, `thumb` the
    /// `aspect` and `type` of the last `<thumb>` opened.
    fn apply(&mut self, path: &[String], text: &str, thumb: &(Option<String>, Option<String>)) {
        if text.is_empty() {
            return;
        }
        let owned = || Some(text.to_owned());
        match path {
            [_, e] => match e.as_str() {
                "title" => self.title = owned(),
                "showtitle" => self.show_title = owned(),
                "season" => self.season = text.parse().ok(),
                "episode" => self.episode = text.parse().ok(),
                "year" => self.year = text.parse().ok().or(self.year),
                "aired" | "premiered" => {
                    if self.year.is_none() {
                        self.year = text.get(..4).and_then(|y| y.parse().ok());
                    }
                    let date = chrono::NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d").ok();
                    // An episode's own `<aired>` wins over a `<premiered>` beside it.
                    if date.is_some() && (e == "aired" || self.aired.is_none()) {
                        self.aired = date;
                    }
                }
                "thumb" => {
                    let slot = match (thumb.0.as_deref(), thumb.1.as_deref()) {
                        (_, Some("season")) => None,
                        (Some("poster"), _) => Some(&mut self.poster),
                        (None | Some("thumb"), _) => Some(&mut self.thumb),
                        _ => None,
                    };
                    if let Some(slot) = slot
                        && slot.is_none()
                    {
                        *slot = owned();
                    }
                }
                "mpaa" => self.rating = normalise_rating(text),
                "genre" => self.genres.extend(split_list(text, &['/', ','])),
                "tag" => match text.strip_prefix("retrovue:") {
                    Some(kv) => {
                        if let Some((k, v)) = kv.split_once('=') {
                            self.retrovue(k.trim(), v.trim());
                        }
                    }
                    None => self.tags.push(text.to_owned()),
                },
                "runtime" => self.runtime_min = text.parse().ok(),
                "plot" => self.plot = owned(),
                _ => {}
            },
            [_, r, e] if r == "retrovue" => self.retrovue(e, text),
            [_, f, t] if f == "fanart" && t == "thumb" && self.fanart.is_none() => self.fanart = owned(),
            _ => {}
        }
    }

    fn retrovue(&mut self, key: &str, value: &str) {
        let m = &mut self.meta;
        let one = || Some(value.to_owned());
        match key {
            "daypart" => m.daypart.extend(split_list(value, &[','])),
            "season" => m.season.extend(split_list(value, &[','])),
            "demographic" => m.demographic = one(),
            "company" => m.commercial_company = one(),
            "category" => m.commercial_category = one(),
            "era" => m.era = Some(normalise_era(value)),
            "rating" => m.content_rating = normalise_rating(value).or_else(one),
            "warnings" => m.warnings = one(),
            "notes" => m.notes = one(),
            "breakpoint" => match parse_timecode(value) {
                Some(ms) => self.breakpoints_ms.push(ms),
                None => self.problems.push(format!(
                    "breakpoint {value:?} is neither milliseconds nor a timecode like 12:10.5; left out"
                )),
            },
            _ => {}
        }
    }
}

fn split_list(text: &str, seps: &[char]) -> Vec<String> {
    text.split(seps).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A year (`1985`) becomes its decade (`1980s`); anything else is kept as written.
pub fn normalise_era(text: &str) -> String {
    let t = text.trim();
    match t.parse::<i32>() {
        Ok(y) if (1900..2100).contains(&y) => format!("{}s", y - y % 10),
        _ => t.to_owned(),
    }
}

/// Map a rating as Kodi, TMM or Plex write it (`Rated PG-13`, `US:TV-14`, `us/R`, `X`,
/// `TV-MA`) onto Retrovue's scale: G, PG, PG-13, R, NC-17, Adult, TV-Y, TV-Y7, TV-G, TV-PG,
/// TV-14, TV-MA. Unknown and "not rated" give `None`.
pub fn normalise_rating(text: &str) -> Option<String> {
    let first = text.split(" / ").next().unwrap_or(text).trim();
    let bare = first.rsplit([':', '/']).next().unwrap_or(first).trim();
    let upper = bare.to_ascii_uppercase();
    let upper = upper.strip_prefix("RATED ").unwrap_or(&upper).trim();
    let compact: String = upper.chars().filter(|c| !c.is_whitespace() && *c != '_').collect();
    let r = match compact.as_str() {
        "G" => "G",
        "PG" => "PG",
        "PG-13" | "PG13" => "PG-13",
        "R" => "R",
        "NC-17" | "NC17" => "NC-17",
        "X" | "XXX" | "ADULT" | "AO" => "Adult",
        "TV-Y" | "TVY" => "TV-Y",
        "TV-Y7" | "TVY7" | "TV-Y7-FV" | "TVY7FV" => "TV-Y7",
        "TV-G" | "TVG" => "TV-G",
        "TV-PG" | "TVPG" => "TV-PG",
        "TV-14" | "TV14" => "TV-14",
        "TV-MA" | "TVMA" => "TV-MA",
        _ => return None,
    };
    Some(r.to_owned())
}

/// Parse a breakpoint: plain milliseconds (`450000`) or a timecode `h:mm:ss[.f]` /
/// `m:ss[.f]` (`12:10.5` = 730 500 ms). Negative or malformed values give `None`.
pub fn parse_timecode(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if !t.contains(':') {
        return t.parse::<i64>().ok().filter(|ms| *ms >= 0);
    }
    let parts: Vec<&str> = t.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let (whole, frac) = match parts[parts.len() - 1].split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (parts[parts.len() - 1], None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || parts[..parts.len() - 1].iter().any(|p| !digits(p)) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let mut ms = secs * 1000;
    if let Some(f) = frac {
        if !digits(f) {
            return None;
        }
        let f3 = format!("{f:0<3}");
        ms += f3[..3].parse::<i64>().ok()?;
    }
    let mut unit = 60_000;
    for p in parts[..parts.len() - 1].iter().rev() {
        ms += p.parse::<i64>().ok()? * unit;
        unit *= 60;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_with_retrovue_block_and_tags() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<episodedetails>
  <title>Pilot &amp; Friends</title>
  <showtitle>Retro Robots</showtitle>
  <season>1</season><episode>2</episode>
  <aired>1986-09-14</aired>
  <mpaa>US:TV-PG</mpaa>
  <genre>Animation / Comedy</genre>
  <tag>robots</tag><tag>retrovue:daypart=morning</tag><tag>retrovue:breakpoint=90000</tag>
  <runtime>22</runtime>
  <plot><![CDATA[They <beep>.]]></plot>
  <actor><name>X</name><season>9</season></actor>
  <retrovue>
    <daypart>afternoon, primetime</daypart>
    <season>christmas</season>
    <demographic>kids</demographic>
    <era>1986</era>
    <breakpoint>12:10.5</breakpoint>
    <breakpoint>1:02:03</breakpoint>
  </retrovue>
</episodedetails>"#;
        let n = parse(xml).unwrap();
        assert_eq!(n.kind, NfoKind::Episode);
        assert_eq!(n.title.as_deref(), Some("Pilot & Friends"));
        assert_eq!(n.show_title.as_deref(), Some("Retro Robots"));
        assert_eq!((n.season, n.episode, n.year), (Some(1), Some(2), Some(1986)));
        assert_eq!(n.rating.as_deref(), Some("TV-PG"));
        assert_eq!(n.genres, ["Animation", "Comedy"]);
        assert_eq!(n.tags, ["robots"]);
        assert_eq!(n.runtime_min, Some(22));
        assert_eq!(n.plot.as_deref(), Some("They <beep>."));
        assert_eq!(n.meta.daypart, ["morning", "afternoon", "primetime"]);
        assert_eq!(n.meta.season, ["christmas"]);
        assert_eq!(n.meta.demographic.as_deref(), Some("kids"));
        assert_eq!(n.meta.era.as_deref(), Some("1980s"));
        assert_eq!(n.breakpoints_ms, [90_000, 730_500, 3_723_000]);
        assert_eq!(n.aired, chrono::NaiveDate::from_ymd_opt(1986, 9, 14));
        assert_eq!((n.poster, n.thumb, n.fanart), (None, None, None));
    }

    #[test]
    fn air_dates_and_artwork() {
        let e = parse(
            br#"<episodedetails><premiered>1986-09-01</premiered><aired>1986-09-14</aired>
                <thumb>https://img.example/ep.jpg</thumb><thumb>https://img.example/second.jpg</thumb>
              </episodedetails>"#,
        )
        .unwrap();
        assert_eq!(e.aired, chrono::NaiveDate::from_ymd_opt(1986, 9, 14), "an episode's own <aired> wins");
        assert_eq!(e.thumb.as_deref(), Some("https://img.example/ep.jpg"));
        let s = parse(
            br#"<tvshow><title>Show</title><premiered>1984-10-05</premiered>
                <thumb aspect="banner">b.jpg</thumb>
                <thumb aspect="poster" type="season" season="1">s1.jpg</thumb>
                <thumb aspect="poster" preview="p.jpg">https://img.example/poster.jpg</thumb>
                <fanart><thumb preview="x">https://img.example/fanart.jpg</thumb></fanart>
              </tvshow>"#,
        )
        .unwrap();
        assert_eq!(s.aired, chrono::NaiveDate::from_ymd_opt(1984, 10, 5));
        assert_eq!(s.poster.as_deref(), Some("https://img.example/poster.jpg"), "not the banner, not a season's");
        assert_eq!(s.thumb, None);
        assert_eq!(s.fanart.as_deref(), Some("https://img.example/fanart.jpg"));
        let y = parse(b"<movie><premiered>1985</premiered></movie>").unwrap();
        assert_eq!((y.year, y.aired), (Some(1985), None), "a year alone is no date");
    }

    #[test]
    fn movie_and_tvshow_roots() {
        let m = parse(b"<movie><title>Back</title><year>1985</year><mpaa>Rated PG</mpaa></movie>").unwrap();
        assert_eq!(
            (m.kind, m.title.as_deref(), m.year, m.rating.as_deref()),
            (NfoKind::Movie, Some("Back"), Some(1985), Some("PG"))
        );
        let s = parse(b"<tvshow><title>Show</title><premiered>1990-01-02</premiered></tvshow>").unwrap();
        assert_eq!((s.kind, s.year), (NfoKind::TvShow, Some(1990)));
        assert!(matches!(parse(b"<html/>"), Err(NfoError::UnknownRoot(_))));
        assert!(matches!(parse(b"   "), Err(NfoError::Empty)));
    }

    #[test]
    fn commercial_metadata() {
        let n = parse(
            b"<movie><title>Crunchy O's</title><retrovue><company>General Mills</company>\
              <category>cereal</category><era>1990s</era><rating>tv-g</rating></retrovue></movie>",
        )
        .unwrap();
        assert_eq!(n.meta.commercial_company.as_deref(), Some("General Mills"));
        assert_eq!(n.meta.commercial_category.as_deref(), Some("cereal"));
        assert_eq!(n.meta.era.as_deref(), Some("1990s"));
        assert_eq!(n.meta.content_rating.as_deref(), Some("TV-G"));
    }

    #[test]
    fn hostile_input_is_refused_or_harmless() {
        let huge = vec![b' '; MAX_NFO_BYTES + 1];
        assert!(matches!(parse(&huge), Err(NfoError::TooLarge(_))));
        let deep = format!("<movie>{}{}</movie>", "<a>".repeat(100), "</a>".repeat(100));
        assert!(matches!(parse(deep.as_bytes()), Err(NfoError::TooDeep)));
        let laughs = br#"<?xml version="1.0"?>
<!DOCTYPE movie [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<movie><title>&lol2;</title><plot>&xxe;</plot></movie>"#;
        let n = parse(laughs).unwrap();
        assert_eq!(n.title.as_deref(), Some("&lol2;"));
        assert_eq!(n.plot.as_deref(), Some("&xxe;"));
        assert!(matches!(parse(b"<movie><title>x</movie>"), Err(NfoError::Xml { .. })));
        assert!(matches!(parse(b"<movie><title>x</title>"), Err(NfoError::Xml { .. })));
        // One bad value costs that value, not the file (issue 16).
        let n = parse(
            b"<movie><title>Kept</title><year>1987</year><mpaa>PG</mpaa><retrovue><breakpoint>soon</breakpoint>\
              <breakpoint>7:30</breakpoint><daypart>primetime</daypart></retrovue><tag>retrovue:breakpoint=1:x</tag></movie>",
        )
        .unwrap();
        assert_eq!((n.title.as_deref(), n.year, n.rating.as_deref()), (Some("Kept"), Some(1987), Some("PG")));
        assert_eq!(n.breakpoints_ms, [450_000]);
        assert_eq!(n.meta.daypart, ["primetime"]);
        assert_eq!(n.problems.len(), 2, "{:?}", n.problems);
        assert!(n.problems[0].contains("\"soon\"") && n.problems[1].contains("\"1:x\""), "{:?}", n.problems);
    }

    #[test]
    fn ratings_normalise() {
        for (given, want) in [
            ("Rated PG-13", Some("PG-13")),
            ("US:R / US:Rated R", Some("R")),
            ("us/TV-14", Some("TV-14")),
            ("TV-Y7-FV", Some("TV-Y7")),
            ("NC-17", Some("NC-17")),
            ("X", Some("Adult")),
            ("tv-ma", Some("TV-MA")),
            ("TV-Y", Some("TV-Y")),
            ("G", Some("G")),
            ("Not Rated", None),
            ("gb/15", None),
        ] {
            assert_eq!(normalise_rating(given).as_deref(), want, "{given}");
        }
    }

    #[test]
    fn timecodes() {
        assert_eq!(parse_timecode("1:30"), Some(90_000));
        assert_eq!(parse_timecode("12:10.5"), Some(730_500));
        assert_eq!(parse_timecode("0:00:01.25"), Some(1_250));
        assert_eq!(parse_timecode("450000"), Some(450_000));
        for bad in ["", "-5", "1:x", "1::2", "a", "1:2:3:4", "1.5.5"] {
            assert_eq!(parse_timecode(bad), None, "{bad}");
        }
    }
}
