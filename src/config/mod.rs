//! Configuration: a TOML file (all keys optional) validated into typed sections.
//!
//! [`RawConfig`] is what the user wrote, refused on unknown keys; [`Config`] is what the
//! daemon uses, with real types. Values the user changes at run time (web page) live in the
//! database (`system_config`, see [`store`]) and override the file.
//! The documented sample is `overlay/etc/retrovue/retrovue.toml`; a test keeps it in step.

pub mod overrides;
pub mod store;
pub mod urls;

pub use urls::BaseUrl;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key or a value of the wrong type.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml said (names the key and what was expected).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A value has the right type but is out of range.
    #[error("config key `{key}` = {value}: expected {expected}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// The value found.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
}

/// The file as written: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where the database, HLS segments and demo media live.
    pub data_dir: Option<PathBuf>,
    /// `[server]`
    pub server: Option<RawServer>,
    /// `[device]`
    pub device: Option<RawDevice>,
    /// `[schedule]`
    pub schedule: Option<RawSchedule>,
    /// `[playout]`
    pub playout: Option<RawPlayout>,
    /// `[library]`
    pub library: Option<RawLibrary>,
    /// `[emergency]`
    pub emergency: Option<RawEmergency>,
    /// [links]
    pub links: Option<RawLinks>,
}

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address and port for HTTP (web page, API, tuner endpoints, streams).
    pub listen: Option<String>,
    /// The absolute URL clients should use, when the address the box sees is not it.
    pub base_url: Option<String>,
}

/// `[device]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    /// Name shown in Plex and on the web page.
    pub friendly_name: Option<String>,
    /// Tuners offered (0 = sized for the encoder found).
    pub tuner_count: Option<u32>,
    /// Send SSDP NOTIFY and mDNS announcements.
    pub announce: Option<bool>,
    /// mDNS host name (without `.local`).
    pub hostname: Option<String>,
    /// Answer HDHomeRun discovery and control on UDP/TCP 65001.
    pub discovery: Option<bool>,
}

/// `[schedule]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// IANA time zone the grid is written in.
    pub timezone: Option<String>,
    /// Days of fine schedule kept materialised ahead.
    pub horizon_days: Option<u32>,
    /// Hours ahead that never change once published.
    pub frozen_hours: Option<u32>,
    /// Seed for shuffles (same seed, same schedule).
    pub seed: Option<u64>,
    /// Minutes within which the same commercial is not repeated on a channel.
    pub commercial_repeat_window_min: Option<u32>,
}

/// `[playout]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlayout {
    /// `auto`, or an encoder element name.
    pub encoder: Option<String>,
    /// Seconds an on-demand channel keeps running after its last viewer leaves.
    pub idle_grace_secs: Option<u64>,
    /// Seconds before a channel that fell back from a failed encoder tries it again
    /// (doubling after each new failure, up to 30 minutes).
    pub encoder_retry_secs: Option<u64>,
    /// Loudness standard: `atsc_a85` (-24 LKFS) or `ebu_r128` (-23 LUFS).
    pub loudness_standard: Option<String>,
    /// Loudness every item is brought to (LUFS), overriding the standard's number.
    pub target_lufs: Option<f64>,
    /// HLS playlist length in segments.
    pub hls_window: Option<u32>,
    /// Where HLS segments are written (default: `<data_dir>/hls`; tmpfs on the box).
    pub hls_dir: Option<PathBuf>,
}

/// `[library]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLibrary {
    /// Files probed in parallel.
    pub probe_parallelism: Option<usize>,
    /// Measure loudness in the background.
    pub loudness: Option<bool>,
}

/// `[emergency]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmergency {
    /// Bearer token for the webhook endpoint (empty: webhook off).
    pub webhook_token: Option<String>,
}

/// `[links]`: how linked media servers (Plex, Jellyfin, Emby) are kept up to date.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLinks {
    /// Quiet seconds after a guide change before linked servers reload their guide.
    pub debounce_secs: Option<u64>,
    /// Longest wait after the first of a burst of changes.
    pub max_delay_secs: Option<u64>,
    /// Seconds between health checks (repairs) of each linked server.
    pub check_every_secs: Option<u64>,
    /// First retry after a server failed; doubles up to `retry_max_secs`.
    pub retry_secs: Option<u64>,
    /// Longest wait between retries.
    pub retry_max_secs: Option<u64>,
    /// Seconds each request to a media server may take.
    pub timeout_secs: Option<u64>,
    /// Seconds `link` waits for the server to match the channels to the guide.
    pub link_wait_secs: Option<u64>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the database, HLS segments and demo media live.
    pub data_dir: PathBuf,
    /// HTTP server settings.
    pub server: ServerConfig,
    /// What the box presents itself as.
    pub device: DeviceConfig,
    /// Scheduling settings.
    pub schedule: ScheduleConfig,
    /// Playout settings.
    pub playout: PlayoutConfig,
    /// Library settings.
    pub library: LibraryConfig,
    /// Emergency alert settings.
    pub emergency: EmergencyConfig,
    /// Linked media servers.
    pub links: LinksConfig,
}

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address and port to bind.
    pub listen: SocketAddr,
    /// Absolute URL advertised to clients, if set.
    pub base_url: Option<String>,
}

/// What the box presents itself as on the LAN.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    /// FriendlyName.
    pub friendly_name: String,
    /// Tuners offered; `None` = sized for the encoder found.
    pub tuner_count: Option<u32>,
    /// SSDP NOTIFY and mDNS announcements on.
    pub announce: bool,
    /// mDNS host name.
    pub hostname: String,
    /// UDP/TCP 65001 on.
    pub discovery: bool,
}

/// Scheduling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    /// Time zone of the grid.
    pub timezone: chrono_tz::Tz,
    /// Days materialised ahead.
    pub horizon_days: u32,
    /// Frozen window.
    pub frozen: Duration,
    /// Shuffle seed.
    pub seed: u64,
    /// No repeat of a commercial within this window on one channel.
    pub commercial_repeat_window: Duration,
}

/// Encoder choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderChoice {
    /// Probe and verify: v4l2h264enc, vah264enc, vah264lpenc, vaapih264enc, x264enc, openh264enc.
    Auto,
    /// This element, by name.
    Named(String),
}

/// The loudness standard a box is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoudnessStandard {
    /// ATSC A/85 (US): -24 LKFS. The default: Retrovue's channels are US-style cable.
    #[default]
    AtscA85,
    /// EBU R128 (Europe): -23 LUFS.
    EbuR128,
}

impl LoudnessStandard {
    /// The standard's target loudness (LUFS; an LKFS is the same unit).
    pub fn target_lufs(self) -> f64 {
        match self {
            Self::AtscA85 => -24.0,
            Self::EbuR128 => -23.0,
        }
    }

    /// The name written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtscA85 => "atsc_a85",
            Self::EbuR128 => "ebu_r128",
        }
    }
}

/// Playout settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayoutConfig {
    /// Encoder choice.
    pub encoder: EncoderChoice,
    /// Idle grace for on-demand channels.
    pub idle_grace: Duration,
    /// First wait before a channel that fell back from a failed encoder tries it again.
    pub encoder_retry: Duration,
    /// The loudness standard the box follows.
    pub loudness_standard: LoudnessStandard,
    /// Loudness target in LUFS (the standard's, unless overridden).
    pub target_lufs: f64,
    /// HLS playlist length in segments.
    pub hls_window: u32,
    /// HLS segment directory.
    pub hls_dir: PathBuf,
}

/// Library settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryConfig {
    /// Files probed in parallel.
    pub probe_parallelism: usize,
    /// Background loudness measurement on.
    pub loudness: bool,
}

/// Emergency settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EmergencyConfig {
    /// Webhook bearer token; `None` = webhook off.
    pub webhook_token: Option<String>,
}

/// Linked media servers' timing (see `mediaserver`).
#[derive(Debug, Clone, PartialEq)]
pub struct LinksConfig {
    /// Quiet time after a guide change before linked servers reload their guide.
    pub debounce: Duration,
    /// Longest wait after the first of a burst of changes.
    pub max_delay: Duration,
    /// Time between health checks of each linked server.
    pub check_every: Duration,
    /// First retry after a failure.
    pub retry: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// Limit of one request to a media server.
    pub timeout: Duration,
    /// How long `link` waits for the server to match the channels.
    pub link_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_raw(RawConfig::default()).expect("built-in defaults are valid")
    }
}

impl Config {
    /// Load from `path`, or from `./retrovue.toml` if present, else the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => Self::from_file(p),
            None => {
                let local = Path::new("retrovue.toml");
                if local.exists() { Self::from_file(local) } else { Ok(Self::default()) }
            }
        }
    }

    /// Load and validate one file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse { path: path.to_owned(), source },
            other => other,
        })
    }

    /// Parse and validate TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: PathBuf::from("<text>"), source: Box::new(e) })?;
        Self::from_raw(raw)
    }

    /// Validate a parsed file.
    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let data_dir = raw.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        let server = raw.server.unwrap_or_default();
        let listen_text = server.listen.unwrap_or_else(|| "0.0.0.0:80".to_owned());
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            key: "server.listen",
            value: listen_text.clone(),
            expected: "an address and port such as \"0.0.0.0:80\" or \"127.0.0.1:8080\"",
        })?;
        let base_url = server.base_url.filter(|s| !s.is_empty());
        if let Some(url) = &base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                key: "server.base_url",
                value: url.clone(),
                expected: "an absolute http:// URL such as \"http://192.168.1.50\"",
            });
        }

        let device = raw.device.unwrap_or_default();
        let tuner_count = match device.tuner_count {
            None | Some(0) => None,
            Some(n @ 1..=16) => Some(n),
            Some(n) => {
                return Err(ConfigError::Invalid {
                    key: "device.tuner_count",
                    value: n.to_string(),
                    expected: "0 (automatic) or a count from 1 to 16",
                });
            }
        };
        let hostname = device.hostname.unwrap_or_else(|| "retrovue".to_owned());
        if hostname.is_empty() || !hostname.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConfigError::Invalid {
                key: "device.hostname",
                value: hostname,
                expected: "letters, digits and '-' only",
            });
        }

        let schedule = raw.schedule.unwrap_or_default();
        let tz_text = schedule.timezone.unwrap_or_else(|| "UTC".to_owned());
        let timezone = tz_text.parse().map_err(|_| ConfigError::Invalid {
            key: "schedule.timezone",
            value: tz_text.clone(),
            expected: "an IANA time zone such as \"America/New_York\" or \"Europe/London\"",
        })?;
        let horizon_days = schedule.horizon_days.unwrap_or(3);
        if !(1..=14).contains(&horizon_days) {
            return Err(ConfigError::Invalid {
                key: "schedule.horizon_days",
                value: horizon_days.to_string(),
                expected: "1 to 14 days",
            });
        }
        let frozen_hours = schedule.frozen_hours.unwrap_or(24);
        if frozen_hours > horizon_days * 24 {
            return Err(ConfigError::Invalid {
                key: "schedule.frozen_hours",
                value: frozen_hours.to_string(),
                expected: "no more hours than schedule.horizon_days covers",
            });
        }

        let playout = raw.playout.unwrap_or_default();
        let encoder = match playout.encoder.as_deref() {
            None | Some("auto") | Some("") => EncoderChoice::Auto,
            Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                EncoderChoice::Named(name.to_owned())
            }
            Some(name) => {
                return Err(ConfigError::Invalid {
                    key: "playout.encoder",
                    value: name.to_owned(),
                    expected: "\"auto\" or a GStreamer element name such as \"x264enc\"",
                });
            }
        };
        let loudness_standard = match playout.loudness_standard.as_deref() {
            None | Some("atsc_a85") => LoudnessStandard::AtscA85,
            Some("ebu_r128") => LoudnessStandard::EbuR128,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "playout.loudness_standard",
                    value: other.to_owned(),
                    expected: "\"atsc_a85\" (-24 LKFS) or \"ebu_r128\" (-23 LUFS)",
                });
            }
        };
        let target_lufs = playout.target_lufs.unwrap_or(loudness_standard.target_lufs());
        if !(-40.0..=-5.0).contains(&target_lufs) {
            return Err(ConfigError::Invalid {
                key: "playout.target_lufs",
                value: target_lufs.to_string(),
                expected: "a loudness from -40 to -5 LUFS (broadcast uses -24 or -23)",
            });
        }
        let hls_window = playout.hls_window.unwrap_or(6);
        if !(3..=60).contains(&hls_window) {
            return Err(ConfigError::Invalid {
                key: "playout.hls_window",
                value: hls_window.to_string(),
                expected: "3 to 60 segments",
            });
        }
        let library = raw.library.unwrap_or_default();
        let probe_parallelism = library.probe_parallelism.unwrap_or(2);
        if !(1..=32).contains(&probe_parallelism) {
            return Err(ConfigError::Invalid {
                key: "library.probe_parallelism",
                value: probe_parallelism.to_string(),
                expected: "1 to 32",
            });
        }

        Ok(Self {
            server: ServerConfig { listen, base_url },
            device: DeviceConfig {
                friendly_name: device.friendly_name.filter(|s| !s.is_empty()).unwrap_or_else(|| "Retrovue".to_owned()),
                tuner_count,
                announce: device.announce.unwrap_or(true),
                hostname,
                discovery: device.discovery.unwrap_or(true),
            },
            schedule: ScheduleConfig {
                timezone,
                horizon_days,
                frozen: Duration::from_secs(u64::from(frozen_hours) * 3600),
                seed: schedule.seed.unwrap_or(1),
                commercial_repeat_window: Duration::from_secs(
                    u64::from(schedule.commercial_repeat_window_min.unwrap_or(120)) * 60,
                ),
            },
            playout: PlayoutConfig {
                encoder,
                idle_grace: Duration::from_secs(playout.idle_grace_secs.unwrap_or(30)),
                encoder_retry: Duration::from_secs(playout.encoder_retry_secs.unwrap_or(60).max(1)),
                loudness_standard,
                target_lufs,
                hls_window,
                hls_dir: playout.hls_dir.unwrap_or_else(|| data_dir.join("hls")),
            },
            library: LibraryConfig { probe_parallelism, loudness: library.loudness.unwrap_or(true) },
            links: links_config(raw.links.unwrap_or_default())?,
            emergency: EmergencyConfig {
                webhook_token: raw.emergency.and_then(|e| e.webhook_token).filter(|t| !t.is_empty()),
            },
            data_dir,
        })
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("retrovue.db")
    }
}

fn links_config(raw: RawLinks) -> Result<LinksConfig, ConfigError> {
    let secs = |v: Option<u64>, default: u64, key: &'static str, range: std::ops::RangeInclusive<u64>| {
        let n = v.unwrap_or(default);
        if range.contains(&n) {
            Ok(Duration::from_secs(n))
        } else {
            Err(ConfigError::Invalid {
                key,
                value: n.to_string(),
                expected: "a number of seconds in the documented range",
            })
        }
    };
    let debounce = secs(raw.debounce_secs, 15, "links.debounce_secs", 0..=600)?;
    let max_delay = secs(raw.max_delay_secs, 45, "links.max_delay_secs", 0..=3600)?.max(debounce);
    let retry = secs(raw.retry_secs, 10, "links.retry_secs", 1..=3600)?;
    Ok(LinksConfig {
        debounce,
        max_delay,
        check_every: secs(raw.check_every_secs, 600, "links.check_every_secs", 1..=86_400)?,
        retry,
        retry_max: secs(raw.retry_max_secs, 600, "links.retry_max_secs", 1..=86_400)?.max(retry),
        timeout: secs(raw.timeout_secs, 10, "links.timeout_secs", 1..=300)?,
        link_wait: secs(raw.link_wait_secs, 120, "links.link_wait_secs", 0..=900)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.server.listen, "0.0.0.0:80".parse().unwrap());
        assert_eq!(c.device.friendly_name, "Retrovue");
        assert!(c.device.announce);
        assert_eq!(c.schedule.horizon_days, 3);
        assert_eq!(c.schedule.frozen, Duration::from_secs(24 * 3600));
        assert_eq!(c.playout.idle_grace, Duration::from_secs(30));
        assert_eq!(c.playout.hls_dir, PathBuf::from("./data/hls"));
        assert_eq!(c.playout.loudness_standard, LoudnessStandard::AtscA85);
        assert_eq!(c.playout.target_lufs, -24.0);
    }

    #[test]
    fn the_loudness_standard_sets_the_target_unless_a_number_is_given() {
        let c = Config::from_toml("[playout]\nloudness_standard = \"ebu_r128\"").unwrap();
        assert_eq!((c.playout.loudness_standard, c.playout.target_lufs), (LoudnessStandard::EbuR128, -23.0));
        let c = Config::from_toml("[playout]\nloudness_standard = \"ebu_r128\"\ntarget_lufs = -20.0").unwrap();
        assert_eq!(c.playout.target_lufs, -20.0);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Config::from_toml("[device]\nfriendly_nam = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("friendly_nam"), "{err}");
        let err = Config::from_toml("colour = 1\n").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_what_was_expected() {
        let cases = [
            ("[server]\nlisten = \"nowhere\"", "server.listen"),
            ("[schedule]\ntimezone = \"Mars/Olympus\"", "schedule.timezone"),
            ("[schedule]\nhorizon_days = 0", "schedule.horizon_days"),
            ("[device]\ntuner_count = 99", "device.tuner_count"),
            ("[playout]\ntarget_lufs = 3.0", "playout.target_lufs"),
            ("[playout]\nloudness_standard = \"loud\"", "playout.loudness_standard"),
            ("[playout]\nencoder = \"x264enc; rm -rf\"", "playout.encoder"),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
            assert!(err.contains("expected"), "{text}: {err}");
        }
        let err = Config::from_toml("[device]\nannounce = \"yes\"").unwrap_err().to_string();
        assert!(err.contains("announce"), "{err}");
    }

    #[test]
    fn the_sample_config_is_valid_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("overlay/etc/retrovue/retrovue.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/retrovue"));
        assert!(c.device.announce);
        // Every key the parser knows appears in the sample, commented or not.
        for key in [
            "data_dir",
            "[server]",
            "listen",
            "base_url",
            "[device]",
            "friendly_name",
            "tuner_count",
            "announce",
            "hostname",
            "discovery",
            "[schedule]",
            "timezone",
            "horizon_days",
            "frozen_hours",
            "seed",
            "commercial_repeat_window_min",
            "[playout]",
            "encoder",
            "idle_grace_secs",
            "encoder_retry_secs",
            "loudness_standard",
            "target_lufs",
            "hls_window",
            "hls_dir",
            "[library]",
            "probe_parallelism",
            "loudness",
            "[emergency]",
            "webhook_token",
            "[links]",
            "debounce_secs",
            "max_delay_secs",
            "check_every_secs",
            "retry_secs",
            "retry_max_secs",
            "timeout_secs",
            "link_wait_secs",
        ] {
            assert!(text.contains(key), "sample config does not document {key}");
        }
    }
}
