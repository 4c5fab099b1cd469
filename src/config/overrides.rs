//! Settings changed on the web page, stored in `system_config`, laid over the file's values
//! when the daemon starts. Each key is validated by the same rules as the file
//! ([`Config::from_raw`]), so a stored value can never make the daemon refuse to start: an
//! invalid one is reported and skipped.

use super::{Config, ConfigError, RawConfig, RawDevice, RawPlayout, RawSchedule};

/// Device name shown in Plex and on the page.
pub const FRIENDLY_NAME: &str = "device.friendly_name";
/// Tuner count (`0` = automatic).
pub const TUNER_COUNT: &str = "device.tuner_count";
/// SSDP/mDNS announcements (`true`/`false`).
pub const ANNOUNCE: &str = "device.announce";
/// IANA time zone of the grid.
pub const TIMEZONE: &str = "schedule.timezone";
/// Encoder element or `auto`.
pub const ENCODER: &str = "playout.encoder";

/// Every key this module lays over the configuration.
pub const KEYS: [&str; 5] = [FRIENDLY_NAME, TUNER_COUNT, ANNOUNCE, TIMEZONE, ENCODER];

/// Lay one stored value over `config`. Returns `Ok(false)` for a key that is not a
/// configuration override (other modules' settings share the table).
pub fn apply(config: &mut Config, key: &str, value: &str) -> Result<bool, ConfigError> {
    let invalid =
        |key: &'static str, expected: &'static str| ConfigError::Invalid { key, value: value.to_owned(), expected };
    match key {
        FRIENDLY_NAME => {
            let name = value.trim();
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(invalid(FRIENDLY_NAME, "a name of 1 to 64 printable characters"));
            }
            config.device.friendly_name = name.to_owned();
        }
        TUNER_COUNT => {
            let n: u32 = value.parse().map_err(|_| invalid(TUNER_COUNT, "0 (automatic) or a count from 1 to 16"))?;
            let raw = RawConfig {
                device: Some(RawDevice { tuner_count: Some(n), ..Default::default() }),
                ..Default::default()
            };
            config.device.tuner_count = Config::from_raw(raw)?.device.tuner_count;
        }
        ANNOUNCE => {
            config.device.announce = value.parse().map_err(|_| invalid(ANNOUNCE, "true or false"))?;
        }
        TIMEZONE => {
            let raw = RawConfig {
                schedule: Some(RawSchedule { timezone: Some(value.to_owned()), ..Default::default() }),
                ..Default::default()
            };
            config.schedule.timezone = Config::from_raw(raw)?.schedule.timezone;
        }
        ENCODER => {
            let raw = RawConfig {
                playout: Some(RawPlayout { encoder: Some(value.to_owned()), ..Default::default() }),
                ..Default::default()
            };
            config.playout.encoder = Config::from_raw(raw)?.playout.encoder;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Lay every stored value over `config`; invalid ones are skipped and returned.
pub fn apply_all(config: &mut Config, stored: &[(String, String)]) -> Vec<ConfigError> {
    stored.iter().filter_map(|(k, v)| apply(config, k, v).err()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EncoderChoice;

    #[test]
    fn stored_values_override_and_bad_ones_are_skipped() {
        let mut c = Config::default();
        let stored = [
            (FRIENDLY_NAME.to_owned(), "Den TV".to_owned()),
            (TUNER_COUNT.to_owned(), "3".to_owned()),
            (ANNOUNCE.to_owned(), "false".to_owned()),
            (TIMEZONE.to_owned(), "Europe/Paris".to_owned()),
            (ENCODER.to_owned(), "x264enc".to_owned()),
            ("plex.token".to_owned(), "abc".to_owned()),
        ];
        assert!(apply_all(&mut c, &stored).is_empty());
        assert_eq!(c.device.friendly_name, "Den TV");
        assert_eq!(c.device.tuner_count, Some(3));
        assert!(!c.device.announce);
        assert_eq!(c.schedule.timezone, chrono_tz::Europe::Paris);
        assert_eq!(c.playout.encoder, EncoderChoice::Named("x264enc".into()));
        let bad = [(TUNER_COUNT.to_owned(), "99".to_owned()), (TIMEZONE.to_owned(), "Mars/Base".to_owned())];
        let errs = apply_all(&mut c, &bad);
        assert_eq!(errs.len(), 2);
        assert_eq!(c.device.tuner_count, Some(3), "unchanged");
        assert!(errs[1].to_string().contains("schedule.timezone"));
    }
}
