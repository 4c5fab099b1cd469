//! Keeps `src/elements.rs` true (issue #15): every GStreamer element the code can create is on
//! its list, every listed plugin is installed by `scripts/deps.sh` (checked against `dpkg -S`
//! of the plugin file) and selected by every `buildroot/configs/*_defconfig`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use gstreamer as gst;
use gstreamer::prelude::*;
use retrovue::elements::{Buildroot, Debian, ELEMENTS, Factory, PLUGINS, Use, launch_factories, plugin_named};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A Rust source split into code (string and comment contents blanked) and its string
/// literals (escapes resolved, line continuations joined), each with its line number.
struct Lexed {
    code: String,
    strings: Vec<(usize, String)>,
}

fn lex(src: &str) -> Lexed {
    let b: Vec<char> = src.chars().collect();
    let mut code = String::with_capacity(src.len());
    let mut strings = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    while i < b.len() {
        let c = b[i];
        if c == '/' && at(i + 1) == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i += 2;
            while i < b.len() && !(b[i] == '*' && at(i + 1) == '/') {
                line += usize::from(b[i] == '\n');
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (at(i + 1) == '"' || at(i + 1) == '#') && !at(i.wrapping_sub(1)).is_alphanumeric() {
            // Raw string r"..." / r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                code.push(c);
                i += 1;
                continue;
            }
            let start_line = line;
            let mut s = String::new();
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                line += usize::from(b[j] == '\n');
                s.push(b[j]);
                j += 1;
            }
            strings.push((start_line, s));
            code.push_str("\"\"");
            i = j;
        } else if c == '"' {
            let start_line = line;
            let mut s = String::new();
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                if b[j] == '\\' {
                    match at(j + 1) {
                        '\n' => {
                            // Continuation: skip the newline and the next line's indentation.
                            line += 1;
                            j += 2;
                            while at(j).is_whitespace() {
                                line += usize::from(at(j) == '\n');
                                j += 1;
                            }
                            continue;
                        }
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        other => s.push(other),
                    }
                    j += 2;
                    continue;
                }
                line += usize::from(b[j] == '\n');
                s.push(b[j]);
                j += 1;
            }
            strings.push((start_line, s));
            code.push_str("\"\"");
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('x', '\'', '\u{1F600}') is skipped; a lifetime ('a) is code.
            if at(i + 1) == '\\' {
                let mut j = i + 3;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                code.push_str("' '");
            } else if at(i + 2) == '\'' {
                i += 3;
                code.push_str("' '");
            } else {
                code.push(c);
                i += 1;
            }
        } else {
            line += usize::from(c == '\n');
            code.push(c);
            i += 1;
        }
    }
    Lexed { code, strings }
}

/// Calls that create (or look up) an element by a name of their own: only `src/elements.rs`
/// may make them.
const CREATION_CALLS: &[&str] = &[
    "ElementFactory::make",
    "ElementFactory::find",
    "ElementFactory::make_with_name",
    ".create()",
    "parse::launch",
    "parse::bin_from_description",
    "parse_launch",
    "parse::launchv",
];

/// Typed constructors that create listed elements behind the scenes.
const TYPED: &[(&str, &[&str])] = &[
    ("AppSink::builder", &["appsink"]),
    ("AppSrc::builder", &["appsrc"]),
    ("Discoverer::new", &["uridecodebin", "decodebin", "typefind"]),
    ("\"convert-sample\"", &["appsrc", "videoconvert", "videoscale", "jpegenc", "appsink"]),
];

#[test]
fn every_element_the_code_can_create_is_listed() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut launch_lines = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let lexed = lex(&text);
        if rel != "elements.rs" {
            for call in CREATION_CALLS {
                for (n, l) in lexed.code.lines().enumerate() {
                    if l.contains(call) {
                        problems.push(format!("src/{rel}:{}: {call} outside src/elements.rs", n + 1));
                    }
                }
            }
        }
        for (pattern, names) in TYPED {
            let used = match pattern.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(literal) => lexed.strings.iter().any(|(_, s)| s == literal),
                None => lexed.code.contains(pattern),
            };
            if used {
                for name in *names {
                    if Factory::listed(name).is_none() {
                        problems.push(format!("src/{rel}: {pattern} creates {name}, which is not listed"));
                    }
                }
            }
        }
        // Launch lines: a literal with " ! " in it; every factory word must be listed.
        for (line, s) in &lexed.strings {
            if !s.contains(" ! ") {
                continue;
            }
            launch_lines += 1;
            for word in launch_factories(s) {
                if Factory::listed(word).is_none() {
                    problems.push(format!("src/{rel}:{line}: launch line names {word:?}, which is not listed"));
                }
            }
        }
        if rel == "elements.rs" {
            // Every factory constant made here is in ELEMENTS.
            for (line, s) in &lexed.strings {
                let literal = format!("Factory(\"{s}\")");
                if text.contains(&literal) && Factory::listed(s).is_none() {
                    problems.push(format!("src/elements.rs:{line}: {literal} is not in ELEMENTS"));
                }
            }
        }
    }
    assert!(launch_lines >= 3, "found only {launch_lines} launch lines: is the scan still looking at the right thing?");
    assert!(problems.is_empty(), "elements outside the list:\n{}", problems.join("\n"));
}

#[test]
fn the_scan_sees_creation_calls_and_launch_words() {
    let sample = "let a = gst::ElementFactory::make(\"x\"); // gst::parse::launch in a comment\n\
                  let b = \"videotestsrc ! \\\n    fancyenc name=e ! fakesink\"; let c = 'x'; fn f<'a>() {}\n";
    let lexed = lex(sample);
    assert!(lexed.code.contains("ElementFactory::make"));
    assert!(!lexed.code.contains("parse::launch"), "comments are not code");
    let launch = &lexed.strings.iter().find(|(_, s)| s.contains(" ! ")).unwrap().1;
    assert_eq!(launch_factories(launch), ["videotestsrc", "fancyenc", "fakesink"]);
    assert!(Factory::listed("fancyenc").is_none(), "an unknown word would be reported");
}

/// The base package list of `scripts/deps.sh` (the `packages=(...)` array a newcomer gets).
fn deps_sh_packages() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("scripts/deps.sh")).unwrap();
    let start = text.find("packages=(").expect("deps.sh has packages=(") + "packages=(".len();
    let mut packages = BTreeSet::new();
    for line in text[start..].lines() {
        let code = line.split('#').next().unwrap_or("");
        let (words, closed) = match code.split_once(')') {
            Some((words, _)) => (words, true),
            None => (code, false),
        };
        packages.extend(words.split_whitespace().map(str::to_owned));
        if closed {
            return packages;
        }
    }
    panic!("deps.sh: packages=( is not closed");
}

/// The packages owning `paths`, by path (`dpkg -S`).
fn dpkg_owners(paths: &[PathBuf]) -> BTreeMap<PathBuf, Vec<String>> {
    let out = Command::new("dpkg").arg("-S").args(paths).output().expect("run dpkg -S");
    let mut owners = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "pkg:arch[, pkg2:arch]: /path"
        let Some((pkgs, path)) = line.rsplit_once(": ") else { continue };
        let names = pkgs.split(", ").map(|p| p.split(':').next().unwrap_or(p).to_owned()).collect();
        owners.insert(PathBuf::from(path), names);
    }
    owners
}

#[test]
fn every_plugin_comes_from_a_package_deps_sh_installs() {
    // Retrovue's development and CI machines are Debian 12: without dpkg this cannot be
    // checked, which is a failure here, not a pass.
    assert!(Command::new("dpkg").arg("--version").output().is_ok(), "no dpkg: the package mapping cannot be checked");
    gst::init().unwrap();
    let registry = gst::Registry::get();
    let deps = deps_sh_packages();
    assert!(deps.contains("gstreamer1.0-plugins-base"), "deps.sh parsed wrongly: {deps:?}");
    let mut problems = Vec::new();
    // Plugin files, resolved (Debian 12 merges /lib into /usr/lib; dpkg knows the /usr path).
    let mut files = BTreeMap::new();
    for p in PLUGINS {
        let Some(plugin) = registry.find_plugin(p.name) else {
            match p.debian {
                Debian::Package(pkg) => problems.push(format!(
                    "plugin {} is not installed: scripts/deps.sh must install {pkg} (then run it)",
                    p.name
                )),
                Debian::Optional { package, .. } => {
                    println!("optional plugin {} ({package}) not installed: its mapping is not verified here", p.name)
                }
            }
            continue;
        };
        let file = plugin.filename().expect("a loaded plugin has a file");
        files.insert(p.name, std::fs::canonicalize(&file).unwrap_or(file));
    }
    let paths: Vec<PathBuf> = files.values().cloned().collect();
    let owners = dpkg_owners(&paths);
    for (name, file) in &files {
        let p = plugin_named(name).unwrap();
        let want = p.debian.package();
        let have = owners.get(file).cloned().unwrap_or_default();
        if !have.iter().any(|h| h == want) {
            problems.push(format!("plugin {name}: {} belongs to {have:?}, the list says {want}", file.display()));
        }
        match p.debian {
            Debian::Package(pkg) if !deps.contains(pkg) => {
                problems.push(format!("plugin {name}: scripts/deps.sh does not install {pkg}"))
            }
            Debian::Optional { package, .. } if deps.contains(package) => {
                problems.push(format!("plugin {name}: {package} is optional in the list but deps.sh installs it"))
            }
            _ => {}
        }
    }
    // Each element is registered by the plugin the list names. Hardware elements exist only
    // with their device, so for them the plugin check above is what can be checked here.
    for e in ELEMENTS {
        let optional = matches!(plugin_named(e.plugin).map(|p| p.debian), Some(Debian::Optional { .. }));
        match gst::ElementFactory::find(e.factory.name()) {
            Some(f) => {
                let plugin = f.plugin_name().map(|s| s.to_string()).unwrap_or_default();
                if plugin != e.plugin {
                    problems.push(format!("{}: registered by plugin {plugin}, the list says {}", e.factory, e.plugin));
                }
            }
            None if optional => println!("{}: optional plugin {} not installed", e.factory, e.plugin),
            None if e.hardware.is_some() => {
                println!(
                    "{}: needs {}; not registered here (plugin {} checked)",
                    e.factory,
                    e.hardware.unwrap(),
                    e.plugin
                )
            }
            None => problems.push(format!("{} is not registered: {}", e.factory, e.factory.missing())),
        }
    }
    println!("checked {} plugins ({} files) and {} elements", PLUGINS.len(), files.len(), ELEMENTS.len());
    assert!(problems.is_empty(), "the element list and this machine disagree:\n{}", problems.join("\n"));
}

/// `BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_FLV` needs `BR2_PACKAGE_GST1_PLUGINS_GOOD`.
fn family_of(option: &str) -> Option<&'static str> {
    ["BASE", "GOOD", "BAD", "UGLY"].into_iter().find_map(|f| {
        let family: &'static str = match f {
            "BASE" => "BR2_PACKAGE_GST1_PLUGINS_BASE",
            "GOOD" => "BR2_PACKAGE_GST1_PLUGINS_GOOD",
            "BAD" => "BR2_PACKAGE_GST1_PLUGINS_BAD",
            _ => "BR2_PACKAGE_GST1_PLUGINS_UGLY",
        };
        option.strip_prefix(family).is_some_and(|rest| rest.starts_with('_')).then_some(family)
    })
}

#[test]
fn every_defconfig_selects_every_plugin() {
    let dir = repo().join("buildroot/configs");
    let mut defconfigs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_defconfig")))
        .collect();
    defconfigs.sort();
    assert!(defconfigs.len() >= 2, "no defconfigs in {}", dir.display());
    let mut problems = Vec::new();
    for p in PLUGINS {
        if let Buildroot::Boards { boards, .. } = p.buildroot {
            for b in boards {
                if !defconfigs.iter().any(|d| d.to_string_lossy().contains(b)) {
                    problems.push(format!("plugin {}: no defconfig for board {b}", p.name));
                }
            }
        }
    }
    for path in &defconfigs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let set: BTreeSet<&str> = text.lines().filter_map(|l| l.strip_suffix("=y")).collect();
        for p in PLUGINS {
            for option in p.buildroot.options_for(&name) {
                if !set.contains(option) {
                    problems.push(format!("{name}: plugin {} needs {option}=y", p.name));
                }
                if let Some(family) = family_of(option)
                    && !set.contains(family)
                {
                    problems.push(format!("{name}: {option} needs {family}=y"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "defconfigs miss options:\n{}", problems.join("\n"));
}

#[test]
fn every_listed_element_is_mapped_to_a_package_and_an_image_or_says_why_not() {
    for e in ELEMENTS {
        let p = plugin_named(e.plugin).unwrap_or_else(|| panic!("{}: plugin {} not in PLUGINS", e.factory, e.plugin));
        if e.used != Use::Encoder {
            // Required elements must be in every image and installed by deps.sh.
            assert!(
                matches!(p.buildroot, Buildroot::All(o) if !o.is_empty()),
                "{}: required but not in every image",
                e.factory
            );
            assert!(matches!(p.debian, Debian::Package(_)), "{}: required but optional on Debian", e.factory);
        }
    }
}

/// The newcomer's failure of issue #15, replayed: a machine whose GStreamer lacks the pango
/// plugin (Debian's gstreamer1.0-x, which deps.sh used to leave out). `retrovue demo` and
/// `retrovue selftest` must stop at once with the one line that says what to install.
#[test]
fn a_missing_plugin_is_one_line_that_says_what_to_install() {
    gst::init().unwrap();
    let pango = gst::Registry::get()
        .find_plugin("pango")
        .and_then(|p| p.filename())
        .expect("the pango plugin is not installed here (run scripts/deps.sh)");
    let system_dir = std::fs::canonicalize(&pango).unwrap().parent().unwrap().to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for e in std::fs::read_dir(&system_dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "so") && p.file_name() != pango.file_name() {
            std::os::unix::fs::symlink(&p, plugins.join(p.file_name().unwrap())).unwrap();
        }
    }
    let line =
        "missing GStreamer element \"textoverlay\" (plugin pango): install it with: apt-get install gstreamer1.0-x";
    let data = tmp.path().join("data");
    for args in [&["selftest"][..], &["demo", "--dir", tmp.path().join("demo").to_str().unwrap(), "--no-scan"]] {
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_retrovue"))
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("GST_PLUGIN_SYSTEM_PATH", &plugins)
            .env("GST_REGISTRY", tmp.path().join("registry.bin"))
            .env_remove("GST_PLUGIN_PATH")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded without textoverlay");
        assert_eq!(stderr.lines().last(), Some(format!("retrovue: {line}").as_str()), "{args:?}: {stderr}");
        assert!(started.elapsed().as_secs() < 60, "{args:?} took {:?} to say it", started.elapsed());
    }
    assert!(!tmp.path().join("demo/slates/Please Stand By.mp4").exists(), "no clip before the check");
}
