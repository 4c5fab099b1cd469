//! XMLTV from the lineup and the published programs: what Plex, Jellyfin and Kodi read.
//!
//! Valid against the XMLTV DTD (element order matters); times carry an explicit `+0000`;
//! each channel has the display-names `"<number> <name>"`, `"<number>"`, `"<name>"` (and its
//! call sign) so Plex auto-maps tuner channels; its id is the stable `retrovue.ch<id>`.
//! Programs are contiguous, so coverage has no gaps; breaks sit inside their program.

use std::fmt::Write as _;

use crate::lineup::Channel;
use crate::schedule::{Program, ProgramKind};

/// Escape text for XML 1.0 (dropping characters XML cannot carry).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The URL path of a channel's logo (served by `guide::http`), if it has one.
pub fn logo_path(channel: &Channel) -> Option<String> {
    let logo = channel.logo.as_ref()?;
    let ext = logo.extension().and_then(|e| e.to_str()).unwrap_or("png").to_ascii_lowercase();
    Some(format!("/logos/{}.{ext}", channel.id))
}

fn xmltv_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y%m%d%H%M%S +0000").to_string()
}

fn rating_system(rating: &str) -> &'static str {
    if rating.to_ascii_uppercase().starts_with("TV-") { "VCHIP" } else { "MPAA" }
}

/// Render XMLTV for `channels`, each with its programs (contiguous, by start). Icon URLs are
/// made absolute with `base_url` (no icons without one).
pub fn render(channels: &[(Channel, Vec<Program>)], base_url: Option<&str>) -> String {
    let mut x = String::with_capacity(256 + channels.iter().map(|c| c.1.len() * 400).sum::<usize>());
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n");
    let _ = writeln!(
        x,
        "<tv source-info-name=\"Retrovue\" generator-info-name=\"retrovue/{}\">",
        env!("CARGO_PKG_VERSION")
    );
    let base = base_url.map(|b| b.trim_end_matches('/'));
    for (c, _) in channels {
        let _ = writeln!(x, "  <channel id=\"{}\">", escape(&c.xmltv_id));
        let (num, name) = (escape(c.number.as_str()), escape(&c.name));
        let _ = writeln!(x, "    <display-name>{num} {name}</display-name>");
        let _ = writeln!(x, "    <display-name>{num}</display-name>");
        let _ = writeln!(x, "    <display-name>{name}</display-name>");
        if !c.call_sign.is_empty() && c.call_sign != c.name {
            let _ = writeln!(x, "    <display-name>{}</display-name>", escape(&c.call_sign));
        }
        if let (Some(b), Some(path)) = (base, logo_path(c)) {
            let _ = writeln!(x, "    <icon src=\"{}{}\"/>", escape(b), path);
        }
        x.push_str("  </channel>\n");
    }
    for (c, programs) in channels {
        let id = escape(&c.xmltv_id);
        for p in programs {
            programme(&mut x, &id, p);
        }
    }
    x.push_str("</tv>\n");
    x
}

fn programme(x: &mut String, channel: &str, p: &Program) {
    let i = &p.info;
    let _ = writeln!(
        x,
        "  <programme start=\"{}\" stop=\"{}\" channel=\"{channel}\">",
        xmltv_time(p.start),
        xmltv_time(p.end)
    );
    let _ = writeln!(x, "    <title lang=\"en\">{}</title>", escape(&i.title));
    if let Some(s) = &i.sub_title {
        let _ = writeln!(x, "    <sub-title lang=\"en\">{}</sub-title>", escape(s));
    }
    if let Some(d) = &i.description {
        let _ = writeln!(x, "    <desc lang=\"en\">{}</desc>", escape(d));
    }
    if let Some(y) = i.year {
        let _ = writeln!(x, "    <date>{y}</date>");
    }
    for cat in &i.categories {
        let _ = writeln!(x, "    <category lang=\"en\">{}</category>", escape(cat));
    }
    if i.kind == ProgramKind::Episode && i.series.is_some() {
        let _ = writeln!(x, "    <category lang=\"en\">Series</category>");
    }
    if let (Some(s), Some(e)) = (i.season, i.episode) {
        let _ = writeln!(
            x,
            "    <episode-num system=\"xmltv_ns\">{}.{}.</episode-num>",
            s.saturating_sub(1),
            e.saturating_sub(1)
        );
        let _ = writeln!(x, "    <episode-num system=\"onscreen\">S{s:02}E{e:02}</episode-num>");
    } else if let Some(e) = i.episode {
        let _ = writeln!(x, "    <episode-num system=\"xmltv_ns\">.{}.</episode-num>", e.saturating_sub(1));
    }
    // Everything on a retro channel is a rerun; only filler is not "shown before".
    if i.kind != ProgramKind::Filler {
        match i.year {
            Some(y) if (1900..=9999).contains(&y) => {
                let _ = writeln!(x, "    <previously-shown start=\"{y}0101000000 +0000\"/>");
            }
            _ => x.push_str("    <previously-shown/>\n"),
        }
    }
    if let Some(r) = &i.rating {
        let _ = writeln!(
            x,
            "    <rating system=\"{}\">\n      <value>{}</value>\n    </rating>",
            rating_system(r),
            escape(r)
        );
    }
    x.push_str("  </programme>\n");
}
