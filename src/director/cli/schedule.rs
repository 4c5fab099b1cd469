//! `retrovue channel|schedule|guide`: channels and their grids, building and inspecting the
//! schedule, and printing the guides. Thin: parsing and printing; the work is done by
//! `lineup::store`, `schedule::{import, auto, horizon, store}` and `guide`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;

use super::{Context, REPLAN_NOTE, ask_replan};
use crate::clock::{Clock, SystemClock, format_duration_ms};
use crate::db::Db;
use crate::lineup::store::{self as lineup_store, NewChannel};
use crate::lineup::{AudioKbps, Channel, ChannelSettings, Opacity, RatingLimit, VideoKbps};
use crate::schedule::rules::{Days, Fill, Slot, parse_start, validate_grid};
use crate::schedule::{auto, horizon, import, pool::LibraryIndex, station, store};

/// `retrovue channel ...`
#[derive(Debug, clap::Subcommand)]
pub enum ChannelCmd {
    /// List channels.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a channel.
    Add {
        /// Number: 5 or 5.1.
        number: String,
        /// Settings.
        #[command(flatten)]
        opts: Box<ChannelOpts>,
    },
    /// Change a channel (only the options given).
    Edit {
        /// Number of the channel to change.
        number: String,
        /// Give it this number instead.
        #[arg(long)]
        new_number: Option<String>,
        /// Enable it.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable it (not listed, not scheduled).
        #[arg(long)]
        disable: bool,
        /// Settings.
        #[command(flatten)]
        opts: Box<ChannelOpts>,
    },
    /// Remove a channel and its schedule.
    Remove {
        /// Number.
        number: String,
    },
    /// Add or update channels and their grids from a TOML file (see the README).
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Propose channels from the library (by genre, decade, kind); --apply creates them.
    Auto {
        /// Create the proposed channels.
        #[arg(long)]
        apply: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a channel's grid.
    Slots {
        /// Number.
        number: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a slot to a channel's grid.
    SlotAdd(SlotArgs),
    /// Remove a slot from a channel's grid.
    SlotRemove {
        /// Channel number.
        number: String,
        /// Slot id (see `channel slots`).
        id: i64,
    },
}

/// Channel settings on the command line.
#[derive(Debug, Default, clap::Args)]
pub struct ChannelOpts {
    /// Name.
    #[arg(long)]
    pub name: Option<String>,
    /// Call sign.
    #[arg(long)]
    pub call_sign: Option<String>,
    /// Logo image (PNG, JPEG, SVG).
    #[arg(long)]
    pub logo: Option<PathBuf>,
    /// Picture: sd640x480, sd704x480, hd720.
    #[arg(long)]
    pub format: Option<String>,
    /// Frame rate: 29.97 or 25.
    #[arg(long)]
    pub frame_rate: Option<String>,
    /// Video bitrate, kbit/s (200 to 20000).
    #[arg(long)]
    pub video_kbps: Option<VideoKbps>,
    /// Audio bitrate, kbit/s (32 to 512).
    #[arg(long)]
    pub audio_kbps: Option<AudioKbps>,
    /// Highest content rating (TV-PG, PG-13, ...; "" = no limit).
    #[arg(long)]
    pub rating_limit: Option<String>,
    /// Target demographic (kids, family, teens, adults).
    #[arg(long)]
    pub demographic: Option<String>,
    /// on_demand or always_on.
    #[arg(long)]
    pub mode: Option<String>,
    /// What fills time no slot covers: a genre, tag or series, `movies`, or a decade (1980s).
    #[arg(long)]
    pub default_fill: Option<String>,
    /// Breaks: us (about 8 min per half hour), uk (fewer, longer), none.
    #[arg(long)]
    pub break_style: Option<String>,
    /// M3U group.
    #[arg(long)]
    pub group: Option<String>,
    /// Bug corner: top_left, top_right, bottom_left, bottom_right.
    #[arg(long)]
    pub bug_corner: Option<String>,
    /// Bug visibility: programs_only, always, never.
    #[arg(long)]
    pub bug_rule: Option<String>,
    /// Bug opacity, 0.0 to 1.0.
    #[arg(long)]
    pub bug_opacity: Option<Opacity>,
    /// Bug image: a PNG with alpha, checked now ("" = back to the text bug).
    #[arg(long)]
    pub bug_image: Option<PathBuf>,
    /// Bug text when there is no image (default: call sign, else name).
    #[arg(long)]
    pub bug_text: Option<String>,
    /// Lower thirds (now/next, rating, coming up): on or off.
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    pub lower_thirds: Option<bool>,
    /// On-screen clock: on or off.
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    pub clock: Option<bool>,
    /// Closed captions (from the items' subtitles): on or off.
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
    pub captions: Option<bool>,
    /// What the channel is: regular, or guide (a programme guide of every channel).
    #[arg(long)]
    pub kind: Option<String>,
    /// The look of its generated bumpers, sign-off and test card: 1970s, 1980s, 1990s.
    #[arg(long)]
    pub era: Option<String>,
    /// Off-air hours, `[days] HH:MM-HH:MM [bars|classic]` (e.g. "weekdays 02:00-06:00");
    /// repeat for several windows; `none` for none. Replaces the channel's windows.
    #[arg(long)]
    pub off_air: Vec<String>,
    /// Guide channels: the library kind in the preview window (default promo).
    #[arg(long)]
    pub guide_preview: Option<String>,
    /// Guide channels: the library kind whose clips alternate with the previews ("" for none).
    #[arg(long)]
    pub guide_music: Option<String>,
    /// Audio tracks by language, main first (ISO 639: `eng,spa`); "" = one main track.
    #[arg(long)]
    pub audio_languages: Option<String>,
    /// What a second-language track carries when an item lacks that language: main or silence.
    #[arg(long)]
    pub missing_language: Option<String>,
}

/// `retrovue channel slot-add`
#[derive(Debug, clap::Args)]
pub struct SlotArgs {
    /// Channel number.
    pub number: String,
    /// Days: daily, weekdays, weekends, mon-fri, sat,sun ...
    #[arg(long, default_value = "daily")]
    pub days: String,
    /// Local start, HH:MM on a half hour.
    #[arg(long)]
    pub start: String,
    /// Minutes: 30, 60, 90, 120 ...
    #[arg(long)]
    pub length: u32,
    /// Fill with a series, in order.
    #[arg(long, group = "fill")]
    pub series: Option<String>,
    /// Fill with a tag or collection, shuffled.
    #[arg(long, group = "fill")]
    pub tag: Option<String>,
    /// Fill with a genre, shuffled.
    #[arg(long, group = "fill")]
    pub genre: Option<String>,
    /// Fill with a decade (1980s), shuffled.
    #[arg(long, group = "fill")]
    pub decade: Option<String>,
    /// Fill with movies (optionally of a genre).
    #[arg(long, group = "fill", num_args = 0..=1, default_missing_value = "")]
    pub movies: Option<String>,
}

/// `retrovue schedule ...`
#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCmd {
    /// Build the schedule: replan everything after the frozen window, up to --days ahead.
    Build {
        /// Days ahead (default schedule.horizon_days).
        #[arg(long)]
        days: Option<u32>,
        /// Also rebuild the frozen window (from the end of the program on air now).
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a channel's fine log.
    Show {
        /// Channel number.
        #[arg(long)]
        channel: String,
        /// From (RFC 3339, or "YYYY-MM-DD HH:MM" / "HH:MM" in schedule.timezone); default now.
        #[arg(long)]
        from: Option<String>,
        /// Hours to show.
        #[arg(long, default_value_t = 3.0)]
        hours: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What is on every channel now, and how far into it.
    Now {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `retrovue guide ...`
#[derive(Debug, clap::Subcommand)]
pub enum GuideCmd {
    /// Print XMLTV.
    Xmltv {
        /// Days ahead (default schedule.horizon_days).
        #[arg(long)]
        days: Option<u32>,
        /// Base URL for logo links (default server.base_url, else the listen address).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Print the M3U playlist.
    M3u {
        /// Base URL of this box as clients reach it, e.g. http://192.168.1.20.
        #[arg(long)]
        base_url: Option<String>,
    },
}

fn enum_arg<T: DeserializeOwned>(value: &str, what: &str, choices: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| anyhow::anyhow!("{what} {value:?}: expected one of {choices}"))
}

impl ChannelOpts {
    fn apply(&self, s: &mut ChannelSettings) -> anyhow::Result<()> {
        if let Some(v) = &self.format {
            s.profile.format = enum_arg(v, "format", "sd640x480, sd704x480, hd720")?;
        }
        if let Some(v) = &self.frame_rate {
            s.profile.frame_rate = enum_arg(v, "frame rate", "29.97, 25")?;
        }
        if let Some(v) = self.video_kbps {
            s.profile.video_kbps = v;
        }
        if let Some(v) = self.audio_kbps {
            s.profile.audio_kbps = v;
        }
        if let Some(v) = &self.rating_limit {
            s.rating_limit = if v.trim().is_empty() { None } else { Some(v.parse::<RatingLimit>()?) };
        }
        if let Some(v) = &self.demographic {
            s.demographic = Some(v.clone()).filter(|v| !v.is_empty());
        }
        if let Some(v) = &self.mode {
            s.mode = enum_arg(v, "mode", "on_demand, always_on")?;
        }
        if let Some(v) = &self.default_fill {
            s.default_fill = Some(v.clone()).filter(|v| !v.is_empty());
        }
        if let Some(v) = &self.break_style {
            s.break_style = enum_arg(v, "break style", "us, uk, none")?;
        }
        if let Some(v) = &self.group {
            s.group = Some(v.clone()).filter(|v| !v.is_empty());
        }
        if let Some(v) = &self.bug_corner {
            s.bug.corner = enum_arg(v, "bug corner", "top_left, top_right, bottom_left, bottom_right")?;
        }
        if let Some(v) = &self.bug_rule {
            s.bug.rule = enum_arg(v, "bug rule", "programs_only, always, never")?;
        }
        if let Some(v) = self.bug_opacity {
            s.bug.opacity = v;
        }
        if let Some(p) = &self.bug_image {
            if p.as_os_str().is_empty() {
                s.bug.image = None;
            } else {
                crate::playout::graphics::image::validate_bug_image(p)?;
                s.bug.image = Some(std::fs::canonicalize(p)?);
            }
        }
        if let Some(v) = &self.audio_languages {
            s.audio.languages = crate::lineup::AudioTracks::parse_list(v)?;
        }
        if let Some(v) = &self.missing_language {
            s.audio.missing = enum_arg(v, "missing language", "main, silence")?;
        }
        if let Some(v) = &self.bug_text {
            s.bug.text = Some(v.clone()).filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = self.lower_thirds {
            s.lower_thirds = v;
        }
        if let Some(v) = self.clock {
            s.clock = v;
        }
        if let Some(v) = self.captions {
            s.captions = v;
        }
        if let Some(v) = &self.kind {
            s.kind = enum_arg(v, "kind", "regular, guide")?;
        }
        if let Some(v) = &self.era {
            s.era = enum_arg(v, "era", "1970s, 1980s, 1990s")?;
        }
        if !self.off_air.is_empty() {
            s.off_air = self
                .off_air
                .iter()
                .filter(|w| !w.trim().eq_ignore_ascii_case("none"))
                .map(|w| station::parse_off_air(w))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = &self.guide_preview {
            s.guide.preview = v.clone();
        }
        if let Some(v) = &self.guide_music {
            s.guide.music = Some(v.clone()).filter(|v| !v.is_empty());
        }
        station::check_settings(s)?;
        Ok(())
    }
}

fn find(db: &Db, number: &str) -> anyhow::Result<Channel> {
    db.call_blocking(|c| lineup_store::by_number(c, number))?
        .with_context(|| format!("no channel {number} (see `retrovue channel list`)"))
}

fn now_ms() -> i64 {
    SystemClock.now().timestamp_millis()
}

fn print_channels(channels: &[Channel], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(channels)?);
        return Ok(());
    }
    for c in channels {
        let s = &c.settings;
        println!(
            "{:>6}  {:<24} {:<6} {:<16} breaks {:<4} rating {:<6} fill {:<12} {}",
            c.number.as_str(),
            c.name,
            c.call_sign,
            c.xmltv_id,
            serde_json::to_value(s.break_style)?.as_str().unwrap_or(""),
            s.rating_limit.as_ref().map_or("any", RatingLimit::as_str),
            s.default_fill.as_deref().unwrap_or("anything"),
            if c.enabled { "" } else { "(disabled)" }
        );
    }
    if channels.is_empty() {
        println!("no channels: add one with `retrovue channel add`, `channel import FILE` or `channel auto --apply`");
    }
    Ok(())
}

/// Run `retrovue channel ...`.
pub fn channel(ctx: &Context, cmd: ChannelCmd) -> anyhow::Result<()> {
    let db = ctx.open_db()?;
    match cmd {
        ChannelCmd::List { json } => print_channels(&db.call_blocking(|c| lineup_store::list(c))?, json),
        ChannelCmd::Add { number, opts } => {
            let mut settings = ChannelSettings::default();
            opts.apply(&mut settings)?;
            let name = opts.name.clone().context("a new channel needs --name")?;
            let new = NewChannel {
                number: number.parse()?,
                call_sign: opts.call_sign.clone().unwrap_or_default(),
                name,
                logo: opts.logo.clone(),
                settings,
            };
            let ch = db.call_blocking(|c| lineup_store::insert(c, &new, now_ms()))?;
            ask_replan(&db, Some(ch.id), &format!("channel {} added", ch.number))?;
            println!("added channel {} {} ({})", ch.number, ch.name, ch.xmltv_id);
            Ok(())
        }
        ChannelCmd::Edit { number, new_number, enable, disable, opts } => {
            let mut ch = find(&db, &number)?;
            opts.apply(&mut ch.settings)?;
            if let Some(n) = new_number {
                ch.number = n.parse()?;
            }
            ch.name = opts.name.clone().unwrap_or(ch.name);
            ch.call_sign = opts.call_sign.clone().unwrap_or(ch.call_sign);
            ch.logo = opts.logo.clone().or(ch.logo);
            ch.enabled = if enable {
                true
            } else if disable {
                false
            } else {
                ch.enabled
            };
            db.call_blocking(|c| lineup_store::update(c, &ch, now_ms()))?;
            ask_replan(&db, Some(ch.id), &format!("channel {} edited", ch.number))?;
            println!("updated channel {} {}; {REPLAN_NOTE}", ch.number, ch.name);
            Ok(())
        }
        ChannelCmd::Remove { number } => {
            let ch = find(&db, &number)?;
            db.call_blocking(|c| lineup_store::remove(c, ch.id))?;
            println!("removed channel {} {}", ch.number, ch.name);
            Ok(())
        }
        ChannelCmd::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = import::parse(&text).with_context(|| format!("{}", file.display()))?;
            for (number, name, added, slots) in import::apply(&db, &parsed, now_ms())? {
                println!("{} channel {number} {name} ({slots} slots)", if added { "added" } else { "updated" });
            }
            ask_replan(&db, None, &format!("channels imported from {}", file.display()))?;
            Ok(())
        }
        ChannelCmd::Auto { apply, json } => {
            let filter = crate::library::store::ItemFilter { playable_only: true, ..Default::default() };
            let items = db.call_blocking(|c| crate::library::store::list_items(c, &filter))?;
            let lib = LibraryIndex::new(items);
            let proposals = auto::propose(&lib, &db.call_blocking(|c| lineup_store::list(c))?);
            if json {
                println!("{}", serde_json::to_string_pretty(&proposals)?);
            } else if proposals.is_empty() {
                println!(
                    "nothing to propose: the library needs at least 3 playable programs of a genre, decade or kind"
                );
            } else {
                for p in &proposals {
                    println!("{:>6}  {:<24} {:<5} {}", p.number.as_str(), p.name, p.call_sign, p.reason);
                    for s in &p.slots {
                        println!("          {s}");
                    }
                }
            }
            if apply {
                let made = auto::apply(&db, &proposals, now_ms())?;
                ask_replan(&db, None, "channels created by `channel auto`")?;
                eprintln!("created {} channels; {REPLAN_NOTE}", made.len());
            } else if !json && !proposals.is_empty() {
                eprintln!("run `retrovue channel auto --apply` to create these channels");
            }
            Ok(())
        }
        ChannelCmd::Slots { number, json } => {
            let ch = find(&db, &number)?;
            let slots = db.call_blocking(|c| store::list_slots(c, ch.id))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&slots)?);
            } else {
                for s in &slots {
                    println!("{:>5}  {s}", s.id);
                }
            }
            Ok(())
        }
        ChannelCmd::SlotAdd(a) => {
            let ch = find(&db, &a.number)?;
            let fill = match (&a.series, &a.tag, &a.genre, &a.decade, &a.movies) {
                (Some(s), ..) => Fill::Series(s.clone()),
                (_, Some(t), ..) => Fill::Tag(t.clone()),
                (_, _, Some(g), ..) => Fill::Genre(g.clone()),
                (_, _, _, Some(d), _) => Fill::Decade(d.clone()),
                (_, _, _, _, Some(m)) => Fill::Movies(Some(m.clone()).filter(|m| !m.is_empty())),
                _ => bail!("give one of --series, --tag, --genre, --decade, --movies"),
            };
            let slot = Slot {
                id: 0,
                days: Days::parse(&a.days)?,
                start_minute: parse_start(&a.start)?,
                length_min: a.length,
                fill,
            };
            let mut grid = db.call_blocking(|c| store::list_slots(c, ch.id))?;
            grid.push(slot.clone());
            validate_grid(&grid)?;
            let id = db.call_blocking(|c| store::add_slot(c, ch.id, &slot, now_ms()))?;
            ask_replan(&db, Some(ch.id), &format!("slot added to channel {}", ch.number))?;
            println!("added slot {id}: {slot}; {REPLAN_NOTE}");
            Ok(())
        }
        ChannelCmd::SlotRemove { number, id } => {
            let ch = find(&db, &number)?;
            db.call_blocking(|c| store::remove_slot(c, ch.id, id))?;
            ask_replan(&db, Some(ch.id), &format!("slot removed from channel {}", ch.number))?;
            println!("removed slot {id} from channel {}; {REPLAN_NOTE}", ch.number);
            Ok(())
        }
    }
}

/// Parse `--from`: RFC 3339, or a local "YYYY-MM-DD HH:MM" / "HH:MM" (today).
fn parse_from(text: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            chrono::NaiveTime::parse_from_str(text, "%H:%M").map(|t| now.with_timezone(&tz).date_naive().and_time(t))
        })
        .with_context(|| format!("--from {text:?}: expected RFC 3339, \"YYYY-MM-DD HH:MM\" or \"HH:MM\""))?;
    tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).context("that local time does not exist")
}

/// Run `retrovue schedule ...`.
pub fn schedule(ctx: &Context, cmd: ScheduleCmd) -> anyhow::Result<()> {
    let db = ctx.open_db()?;
    let cfg = &ctx.config.schedule;
    let tz = cfg.timezone;
    let now = SystemClock.now();
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S%.3f %Z").to_string();
    match cmd {
        ScheduleCmd::Build { days, force, json } => {
            let days = days.unwrap_or(cfg.horizon_days);
            if !(1..=14).contains(&days) {
                bail!("--days {days}: expected 1 to 14");
            }
            let r = horizon::build(&db, cfg, now, days, horizon::BuildMode::Replan { force })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            for ch in &r.channels {
                match (ch.from, ch.until) {
                    (Some(f), Some(u)) => println!(
                        "channel {:>5} {:<24} {} programs, {} airings, {} → {}{}",
                        ch.number,
                        ch.name,
                        ch.programs,
                        ch.airings,
                        local(f),
                        local(u),
                        if ch.replaced > 0 { format!(" ({} replaced)", ch.replaced) } else { String::new() }
                    ),
                    _ => println!(
                        "channel {:>5} {:<24} already built to the horizon (frozen window)",
                        ch.number, ch.name
                    ),
                }
            }
            if r.channels.is_empty() {
                println!("no enabled channels: nothing to build");
            }
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            for s in &r.skipped_items {
                eprintln!("skipped: {s}");
            }
            Ok(())
        }
        ScheduleCmd::Show { channel, from, hours, json } => {
            let ch = find(&db, &channel)?;
            let from = from.map(|f| parse_from(&f, tz, now)).transpose()?.unwrap_or(now);
            let to = from + chrono::Duration::milliseconds((hours.clamp(0.0, 24.0 * 14.0) * 3_600_000.0) as i64);
            let airings =
                db.call_blocking(|c| store::airings_between(c, ch.id, from.timestamp_millis(), to.timestamp_millis()))?;
            if json {
                let rows: Vec<_> = airings
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "start": a.start, "end": a.end, "kind": a.kind, "title": a.title,
                            "content_id": a.media_id, "offset_in_ms": a.offset_in_ms, "offset_out_ms": a.offset_out_ms,
                            "program_id": a.program_id, "uri": a.uri,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                if airings.is_empty() {
                    println!("nothing scheduled on channel {} then: run `retrovue schedule build`", ch.number);
                }
                for a in &airings {
                    println!(
                        "{}  {}  {:<10} {:<40} {:>7}  {} → {}",
                        local(a.start),
                        format_duration_ms(a.duration_ms()),
                        a.kind.as_str(),
                        a.title,
                        a.media_id.map_or_else(|| "-".into(), |m| format!("#{m}")),
                        format_duration_ms(a.offset_in_ms),
                        format_duration_ms(a.offset_out_ms)
                    );
                }
            }
            Ok(())
        }
        ScheduleCmd::Now { json } => {
            let mut rows = Vec::new();
            for ch in db.call_blocking(|c| lineup_store::lineup(c))?.channels {
                let at = now.timestamp_millis();
                let airing = db.call_blocking(|c| store::airing_at(c, ch.id, at))?;
                let program = db.call_blocking(|c| store::programs_between(c, ch.id, at, at + 1))?.into_iter().next();
                rows.push(serde_json::json!({
                    "channel": ch.number, "name": ch.name,
                    "program": program.as_ref().map(|p| &p.info.title),
                    "episode": program.as_ref().and_then(|p| p.info.sub_title.clone()),
                    "kind": airing.as_ref().map(|a| a.kind), "title": airing.as_ref().map(|a| &a.title),
                    "content_id": airing.as_ref().and_then(|a| a.media_id),
                    "start": airing.as_ref().map(|a| a.start), "end": airing.as_ref().map(|a| a.end),
                    "offset_ms": airing.as_ref().map(|a| at - a.start.timestamp_millis() + a.offset_in_ms),
                }));
                if !json {
                    match &airing {
                        Some(a) => println!(
                            "{:>6}  {:<24} {:<30} {:<10} {} at {}",
                            ch.number.as_str(),
                            ch.name,
                            program.as_ref().map_or("", |p| p.info.title.as_str()),
                            a.kind.as_str(),
                            a.title,
                            format_duration_ms(at - a.start.timestamp_millis() + a.offset_in_ms)
                        ),
                        None => println!(
                            "{:>6}  {:<24} nothing scheduled (run `retrovue schedule build`)",
                            ch.number.as_str(),
                            ch.name
                        ),
                    }
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            }
            Ok(())
        }
    }
}

/// Run `retrovue guide ...`.
pub fn guide(ctx: &Context, cmd: GuideCmd) -> anyhow::Result<()> {
    let db = ctx.open_db()?;
    let now = SystemClock.now().timestamp_millis();
    match cmd {
        GuideCmd::Xmltv { days, base_url } => {
            let days = i64::from(days.unwrap_or(ctx.config.schedule.horizon_days).clamp(1, 14));
            let base = base_url.unwrap_or_else(|| crate::config::BaseUrl::of(&ctx.config).for_request(None, None));
            let guide = crate::guide::gather(&db, now, now + days * 86_400_000, ctx.config.schedule.timezone)?;
            print!("{}", crate::guide::xmltv::render(&guide, &base));
            Ok(())
        }
        GuideCmd::M3u { base_url } => {
            let base = base_url.unwrap_or_else(|| crate::config::BaseUrl::of(&ctx.config).for_request(None, None));
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                bail!("--base-url {base:?}: expected an absolute http:// or https:// URL");
            }
            let lineup = db.call_blocking(|c| lineup_store::lineup(c))?;
            print!("{}", crate::lineup::m3u::render(&lineup.channels, &base, crate::lineup::m3u::StreamUrls::Direct));
            Ok(())
        }
    }
}
