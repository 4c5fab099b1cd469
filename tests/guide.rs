//! The guide as media servers read it (issue #19), end to end through the real binary: a
//! folder library with Kodi-style `.nfo` files and artwork is scanned for real, a channel is
//! built, and the daemon's `/xmltv.xml` is checked by `tv_validate_file` (offline, with the
//! Debian supplement) and element by element — categories, episode numbers, dates, reruns
//! and premieres, programme icons that resolve to the library's pictures (a remote `.nfo`
//! poster fetched once and cached) — along with the M3U and the generated channel logo.

mod hdhr_support;
mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hdhr_support::request;
use retrovue::db::Db;
use retrovue::library::store as ls;
use retrovue::lineup::logo::{Rgb, render_card};
use util::Home;

const CHANNELS: &str = r##"
[[channel]]
number = "3"
name = "Retro Robots TV"
call_sign = "RRTV"
colour = "#1f4e9c"
break_style = "none"
default_fill = "Home Videos"

[[channel.slot]]
start = "00:00"
length = 30
series = "Retro Robots"

[[channel.slot]]
start = "06:00"
length = 30
series = "Evening Report"

[[channel.slot]]
start = "12:00"
length = 120
movies = true
"##;

/// A one-file HTTP server on loopback answering every request with `body` (an image host an
/// `.nfo` links to); counts the requests.
fn image_host(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            counted.fetch_add(1, Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (addr, hits)
}

/// Every `<programme>` element of `xml` whose title is `title`.
fn programmes<'a>(xml: &'a str, title: &str) -> Vec<&'a str> {
    let needle = format!("<title lang=\"en\">{title}</title>");
    xml.split("  <programme ")
        .skip(1)
        .map(|p| &p[..p.find("</programme>").unwrap()])
        .filter(|p| p.contains(&needle))
        .collect()
}

fn categories(p: &str) -> Vec<&str> {
    p.lines().filter_map(|l| l.trim().strip_prefix("<category lang=\"en\">")?.strip_suffix("</category>")).collect()
}

fn icon_urls(p: &str) -> Vec<&str> {
    p.lines().filter_map(|l| l.trim().strip_prefix("<icon src=\"")?.strip_suffix("\"/>")).collect()
}

/// GET an absolute URL on the daemon: (status, content type, body).
fn fetch(addr: &str, url: &str) -> (u16, Option<String>, Vec<u8>) {
    let path = url.strip_prefix(&format!("http://{addr}")).unwrap_or_else(|| panic!("{url} is not on {addr}"));
    let r = request(addr, "GET", path, 1 << 24);
    (r.status, r.header("content-type").map(str::to_owned), r.body)
}

#[test]
fn xmltv_carries_what_media_servers_read_and_validates() {
    let home = Home::new();
    let media = home.path().join("media");
    let clip = home.path().join("clip.mkv");
    util::Clip::new(320, 240, 2.0).write(&clip);
    let put = |rel: &str| {
        let p = media.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(&clip, &p).unwrap();
    };
    let text = |rel: &str, body: &str| std::fs::write(media.join(rel), body).unwrap();
    let picture = |rel: &str, label: &str, rgb: Rgb| -> Vec<u8> {
        let png = render_card(label, rgb, 96);
        std::fs::write(media.join(rel), &png).unwrap();
        png
    };
    // A children's cartoon with its pictures next to the files.
    put("shows/Retro Robots/Season 01/Retro Robots - S01E01.mkv");
    put("shows/Retro Robots/Season 01/Retro Robots - S01E02.mkv");
    text(
        "shows/Retro Robots/tvshow.nfo",
        "<tvshow><title>Retro Robots</title><premiered>1984-10-05</premiered><genre>Animation</genre>\
         <genre>Children</genre><mpaa>TV-Y7</mpaa></tvshow>",
    );
    text(
        "shows/Retro Robots/Season 01/Retro Robots - S01E01.nfo",
        "<episodedetails><title>Pilot</title><season>1</season><episode>1</episode><aired>1984-10-05</aired>\
         <plot>The robots wake up.</plot></episodedetails>",
    );
    text(
        "shows/Retro Robots/Season 01/Retro Robots - S01E02.nfo",
        "<episodedetails><title>Gears</title><season>1</season><episode>2</episode><aired>1984-10-12</aired>\
         </episodedetails>",
    );
    let show_poster = picture("shows/Retro Robots/poster.png", "RR", Rgb(200, 30, 30));
    picture("shows/Retro Robots/fanart.png", "BG", Rgb(30, 30, 30));
    let still = picture("shows/Retro Robots/Season 01/Retro Robots - S01E01-thumb.png", "E1", Rgb(30, 160, 30));
    // The pilot has subtitles beside it (WebVTT): it airs with closed captions.
    text(
        "shows/Retro Robots/Season 01/Retro Robots - S01E01.en.vtt",
        "WEBVTT\n\n00:00.500 --> 00:01.500\nBeep boop.\n",
    );
    // A news programme, and home videos nobody ever dated.
    put("shows/Evening Report/Evening Report - S01E01.mkv");
    text("shows/Evening Report/tvshow.nfo", "<tvshow><title>Evening Report</title><genre>News</genre></tvshow>");
    text(
        "shows/Evening Report/Evening Report - S01E01.nfo",
        "<episodedetails><title>Monday</title><season>1</season><episode>1</episode><aired>1985-01-07</aired>\
         </episodedetails>",
    );
    put("shows/Home Videos/Home Videos - S01E01.mkv");
    // A movie whose poster is a link in its .nfo.
    let movie_poster = render_card("MV", Rgb(240, 200, 0), 96);
    let (host, host_hits) = image_host(movie_poster.clone());
    put("movies/Back to the Past (1985)/Back to the Past (1985).mkv");
    text(
        "movies/Back to the Past (1985)/Back to the Past (1985).nfo",
        &format!(
            "<movie><title>Back to the Past</title><premiered>1985-07-03</premiered><genre>Adventure</genre>\
             <mpaa>PG</mpaa><thumb aspect=\"poster\">http://{host}/poster.png</thumb></movie>"
        ),
    );
    home.ok(&["source", "add", "--folder", media.join("shows").to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["source", "add", "--folder", media.join("movies").to_str().unwrap(), "--kind", "movies"]);
    home.ok(&["scan", "--no-loudness"]);
    // A picture added later counts as a changed side file: the next scan picks it up.
    let art_of = |title: &str| {
        let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
        db.call_blocking(|c| {
            let items = ls::list_items(c, &ls::ItemFilter::default()).unwrap();
            let item = items.iter().find(|i| i.title == title).unwrap_or_else(|| panic!("{title}"));
            ls::item_art(c, item.id).unwrap().unwrap().1
        })
    };
    assert_eq!(art_of("Gears").thumb, None);
    let gears = picture("shows/Retro Robots/Season 01/Retro Robots - S01E02-thumb.png", "E2", Rgb(30, 30, 160));
    home.ok(&["scan", "--no-loudness"]);
    let thumb = art_of("Gears").thumb.expect("the new still");
    assert!(matches!(&thumb, retrovue::library::art::ArtRef::File(p) if std::fs::read(p).unwrap() == gears));
    // The clips are 2 s; give the programs broadcast lengths so they fill their slots.
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    db.call_blocking(|c| {
        for item in ls::list_items(c, &ls::ItemFilter::default()).unwrap() {
            assert!(item.playable, "{} did not probe: {:?}", item.title, item.error);
            let ms = if item.series.is_some() { 22 * 60_000 } else { 95 * 60_000 };
            ls::set_probe(c, item.id, Ok(&ls::ProbeFacts { duration_ms: Some(ms), ..Default::default() }), 1).unwrap();
        }
    });
    drop(db);
    let file = home.path().join("channels.toml");
    std::fs::write(&file, CHANNELS).unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);

    let d = home.serve(&[]);
    let addr = d.addr.clone();
    let r = request(&addr, "GET", "/xmltv.xml", 1 << 24);
    assert_eq!(r.status, 200);
    let xml = r.text();
    let path = home.path().join("guide.xml");
    std::fs::write(&path, &xml).unwrap();
    let v = Command::new("tv_validate_file").arg(&path).env("XMLTV_SUPPLEMENT", "/usr/share/xmltv").output().unwrap();
    assert!(
        v.status.success(),
        "tv_validate_file: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );

    // The channel: its generated logo at an absolute URL, the call sign on its colour.
    let logo_url = format!("http://{addr}/logos/1.png");
    assert!(xml.contains(&format!("<icon src=\"{logo_url}\"/>")), "{xml}");
    let (status, ctype, png) = fetch(&addr, &logo_url);
    assert_eq!((status, ctype.as_deref()), (200, Some("image/png")));
    let mut reader = png::Decoder::new(png.as_slice()).read_info().unwrap();
    let mut px = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut px).unwrap();
    assert_eq!((info.width, info.height, &px[..3]), (256, 256, &[0x1f, 0x4e, 0x9c][..]));

    // The cartoon: Series + Kids + genres, numbering, original air date, a rerun of 1984,
    // its poster and (episode 1) its still, both served by the box.
    let robots = programmes(&xml, "Retro Robots");
    assert!(!robots.is_empty(), "{xml}");
    for p in &robots {
        assert_eq!(categories(p), ["Series", "Kids", "Animation", "Children"], "{p}");
        assert!(
            p.contains("<episode-num system=\"xmltv_ns\">0.") && p.contains("<episode-num system=\"onscreen\">S01E0"),
            "{p}"
        );
        assert!(p.contains("<episode-num system=\"dd_progid\">EP"), "{p}");
        assert!(!p.contains("<new/>"), "{p}");
        let (date, pilot) =
            if p.contains("<sub-title lang=\"en\">Pilot") { ("19841005", true) } else { ("19841012", false) };
        assert!(p.contains(&format!("<date>{date}</date>")), "{p}");
        assert!(p.contains(&format!("<previously-shown start=\"{date}\"/>")), "{p}");
        // Closed captions where the item has subtitles (XMLTV's `teletext`), nowhere else.
        assert_eq!(p.contains("<subtitles type=\"teletext\"/>"), pilot, "{p}");
        let icons = icon_urls(p);
        let (status, ctype, body) = fetch(&addr, icons[0]);
        assert_eq!((status, ctype.as_deref(), &body), (200, Some("image/png"), &show_poster), "{}", icons[0]);
        assert!(icons[0].ends_with("/poster"));
        assert_eq!(icons.len(), 2, "{p}");
        assert_eq!(fetch(&addr, icons[1]).2, if pilot { still.clone() } else { gears.clone() });
    }
    // The news.
    let news = programmes(&xml, "Evening Report");
    assert!(!news.is_empty());
    assert!(news.iter().all(|p| categories(p) == ["Series", "News"] && icon_urls(p).is_empty()), "{news:?}");
    // The movie: Movie, its release date, its poster fetched once from the link and cached.
    let movie = programmes(&xml, "Back to the Past");
    assert!(!movie.is_empty());
    for p in &movie {
        assert_eq!(categories(p), ["Movie", "Adventure"], "{p}");
        assert!(p.contains("<date>19850703</date>") && p.contains("<previously-shown start=\"19850703\"/>"), "{p}");
        assert!(p.contains("<episode-num system=\"dd_progid\">MV"), "{p}");
        let icons = icon_urls(p);
        assert_eq!(icons.len(), 1);
        for _ in 0..2 {
            assert_eq!(fetch(&addr, icons[0]), (200, Some("image/png".into()), movie_poster.clone()));
        }
    }
    assert_eq!(host_hits.load(Ordering::SeqCst), 1, "the linked poster is fetched once, then cached");
    // Home videos have no date: the first showing on this box is new, later ones reruns of it.
    let home_videos = programmes(&xml, "Home Videos");
    assert!(home_videos.len() >= 2, "{}", home_videos.len());
    assert!(home_videos[0].contains("<new/>") && !home_videos[0].contains("previously-shown"), "{}", home_videos[0]);
    let start = home_videos[0].split('"').nth(1).unwrap();
    for p in &home_videos[1..] {
        assert!(!p.contains("<new/>"), "{p}");
        assert!(p.contains(&format!("<previously-shown start=\"{start}\" channel=\"retrovue.ch1\"/>")), "{p}");
        assert!(categories(p) == ["Series"], "{p}");
    }
    assert_eq!(xml.matches("<new/>").count(), 1, "one premiere in the whole guide");
    let pilots = robots.iter().filter(|p| p.contains("<sub-title lang=\"en\">Pilot")).count();
    assert!(pilots > 0, "the pilot is listed");
    assert_eq!(xml.matches("<subtitles").count(), pilots, "only the pilot's programmes are captioned");

    // The playlist: the name alone after the comma, the logo absolute.
    let m3u = request(&addr, "GET", "/playlist.m3u", 1 << 20).text();
    assert!(m3u.contains(&format!("tvg-chno=\"3\" tvg-name=\"Retro Robots TV\" tvg-logo=\"{logo_url}\"")), "{m3u}");
    assert!(m3u.contains(",Retro Robots TV\n"), "{m3u}");
}
