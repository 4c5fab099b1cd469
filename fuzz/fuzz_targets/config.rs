//! Fuzz the configuration loader: any text is either a valid `Config` or an error naming
//! what is wrong; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match retrovue::config::Config::from_toml(text) {
            Ok(c) => assert!(c.schedule.horizon_days >= 1),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
});
