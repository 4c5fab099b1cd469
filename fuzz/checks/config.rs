//! Property check for the configuration loader, shared by the `config` fuzz target and the
//! corpus regression test: any text is either a valid `Config` or an error naming what is
//! wrong; never a panic.

/// Check one input; panics on a violated property.
pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        match retrovue::config::Config::from_toml(text) {
            Ok(c) => assert!(c.schedule.horizon_days >= 1),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}
