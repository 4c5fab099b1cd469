//! Who the box claims to be: the [`DeviceId`] with its check digit (spec §2.7), the
//! DeviceAuth string, the model strings, and the UPnP `device.xml` description (spec §4.6).
//!
//! Model choice: we present an **HDHR5-4US** (`hdhomerun5_atsc`), not the `HDTC-2US` most
//! emulators use. Jellyfin and Emby treat a ModelNumber containing `HDTC` as "can transcode"
//! and then request `?transcode=<profile>` streams; we never transcode (every channel is
//! already H.264 + AAC at one bitrate), so claiming EXTEND would promise a `mobile` or
//! `internet360` stream we cannot deliver. HDHR5-4US is a current four-tuner model whose
//! firmware family answers the same HTTP API, and Plex accepts any ModelNumber (spec §9.7).

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::config::store as config_store;
use crate::db::{Db, DbError};

/// ModelNumber / `/sys/hwmodel`.
pub const MODEL_NUMBER: &str = "HDHR5-4US";
/// FirmwareName / `/sys/model`.
pub const FIRMWARE_NAME: &str = "hdhomerun5_atsc";
/// FirmwareVersion / `/sys/version` (YYYYMMDD, the libhdhomerun release we follow).
pub const FIRMWARE_VERSION: &str = "20250506";
/// Manufacturer in `discover.json` and `device.xml`.
pub const MANUFACTURER: &str = "Silicondust";

/// `system_config` key of the DeviceID (8 hex digits; the web page may show it from there).
pub const DEVICE_ID_KEY: &str = "hdhr.device_id";
/// `system_config` key of the DeviceAuth.
pub const DEVICE_AUTH_KEY: &str = "hdhr.device_auth";

/// The substitution table libhdhomerun applies to even nibbles (spec §2.7).
const CHECK_TABLE: [u8; 16] = [0xA, 0x5, 0xF, 0x6, 0x7, 0xC, 0x1, 0xB, 0x9, 0x2, 0x8, 0xD, 0x4, 0x3, 0xE, 0x0];

/// A 32-bit HDHomeRun device id whose last hex digit is a valid check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(u32);

/// Errors about device ids and the stored identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Not 8 hex digits with a valid check digit.
    #[error("invalid HDHomeRun device id {0:?}: expected 8 hex digits with a valid check digit")]
    InvalidId(String),
    /// The stored DeviceAuth is malformed.
    #[error("stored device auth {0:?} is not 24 letters and digits")]
    InvalidAuth(String),
    /// The database failed.
    #[error("cannot load the HDHomeRun identity: {0}")]
    Db(#[from] DbError),
    /// SQLite failed.
    #[error("cannot store the HDHomeRun identity: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn checksum(id: u32) -> u8 {
    (0..8).fold(0u8, |acc, i| {
        let nibble = ((id >> (28 - 4 * i)) & 0xF) as u8;
        acc ^ if i % 2 == 0 { CHECK_TABLE[usize::from(nibble)] } else { nibble }
    })
}

impl DeviceId {
    /// `id` if its check digit is valid and it is not the wildcard.
    pub fn new(id: u32) -> Option<Self> {
        (checksum(id) == 0 && id != 0xFFFF_FFFF && id != 0).then_some(Self(id))
    }

    /// The first seven hex digits of `prefix7` (`0x0105_ABCD` → `105ABCD?`) completed with
    /// their check digit.
    pub fn with_check_digit(prefix7: u32) -> Self {
        let base = (prefix7 & 0x0FFF_FFFF) << 4;
        // The last nibble sits at an odd position, so it enters the XOR as itself.
        Self(base | u32::from(checksum(base)))
    }

    /// A fresh random id `105xxxx` + check digit (a non-legacy prefix, spec §2.7).
    pub fn generate(rng: &mut impl Rng) -> Self {
        Self::with_check_digit(0x0105_0000 | rng.gen_range(0..0x1_0000))
    }

    /// The raw value.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The UPnP UDN (without `uuid:`): the id as the first group plus a fixed RFC 4122
    /// shaped tail, so it is stable for as long as the id is.
    pub fn uuid(self) -> String {
        format!("{:08x}-5265-4000-8000-{:012x}", self.0, u64::from(self.0))
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

impl FromStr for DeviceId {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdentityError::InvalidId(s.to_owned());
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let v = u32::from_str_radix(s, 16).map_err(|_| bad())?;
        Self::new(v).ok_or_else(bad)
    }
}

/// A fresh DeviceAuth: 24 random letters and digits.
pub fn generate_auth(rng: &mut impl Rng) -> String {
    (0..24).map(|_| char::from(rng.sample(rand::distributions::Alphanumeric))).collect()
}

/// The identity of this box, created once and kept in `system_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// DeviceID.
    pub device_id: DeviceId,
    /// DeviceAuth (24 alphanumerics).
    pub device_auth: String,
    /// FriendlyName (from config).
    pub friendly_name: String,
}

impl Identity {
    /// Load the stored DeviceID/DeviceAuth, generating them on the first start.
    pub async fn load_or_create(db: &Db, friendly_name: &str, now_ms: i64) -> Result<Self, IdentityError> {
        let (id, auth) = db
            .call(move |c| {
                let mut rng = rand::thread_rng();
                let id =
                    config_store::get_or_create(c, DEVICE_ID_KEY, now_ms, || DeviceId::generate(&mut rng).to_string())?;
                let auth = config_store::get_or_create(c, DEVICE_AUTH_KEY, now_ms, || generate_auth(&mut rng))?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((id, auth))
            })
            .await?
            .map_err(IdentityError::Store)?;
        let device_id = id.parse()?;
        if auth.len() != 24 || !auth.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdentityError::InvalidAuth(auth));
        }
        Ok(Self { device_id, device_auth: auth, friendly_name: friendly_name.to_owned() })
    }

    /// The UPnP root-device description served at `/device.xml` (spec §4.6).
    pub fn device_xml(&self, base_url: &str) -> String {
        use quick_xml::escape::escape;
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<URLBase>{base}</URLBase>
<device>
<deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>
<friendlyName>{name}</friendlyName>
<manufacturer>{MANUFACTURER}</manufacturer>
<modelName>{MODEL_NUMBER}</modelName>
<modelNumber>{MODEL_NUMBER}</modelNumber>
<serialNumber>{id}</serialNumber>
<UDN>uuid:{uuid}</UDN>
</device>
</root>
"#,
            base = escape(base_url),
            name = escape(self.friendly_name.as_str()),
            id = self.device_id,
            uuid = self.device_id.uuid(),
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn check_digits_match_the_spec_examples_and_real_devices() {
        assert_eq!(DeviceId::with_check_digit(0x0105_0000).to_string(), "10500009");
        assert_eq!(DeviceId::with_check_digit(0x0105_0ABC).to_string(), "1050ABCE");
        for real in ["10439EFD", "1047C695", "1053C0CA", "10611B4C", "1050ABCE"] {
            assert!(real.parse::<DeviceId>().is_ok(), "{real}");
        }
        for bad in ["12345678", "FFFFFFFF", "1050ABCF", "1050ABC", "XYZ0ABCE", "+050ABCE", "00000000"] {
            assert!(bad.parse::<DeviceId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_ids_are_valid_non_legacy_and_auth_is_24_alphanumerics() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..1000 {
            let id = DeviceId::generate(&mut rng);
            assert!(DeviceId::new(id.get()).is_some());
            assert_eq!(id.get() >> 20, 0x105, "{id}");
        }
        let auth = generate_auth(&mut rng);
        assert_eq!(auth.len(), 24);
        assert!(auth.bytes().all(|b| b.is_ascii_alphanumeric()));
        let uuid = DeviceId::with_check_digit(0x0105_0ABC).uuid();
        assert_eq!(uuid, "1050abce-5265-4000-8000-00001050abce");
    }

    #[tokio::test]
    async fn the_identity_is_created_once_and_kept() {
        let db = Db::open_in_memory().unwrap();
        let a = Identity::load_or_create(&db, "Den", 1).await.unwrap();
        let b = Identity::load_or_create(&db, "Den", 2).await.unwrap();
        assert_eq!(a, b);
        let xml = a.device_xml("http://10.1.2.3:80");
        assert!(xml.contains(&format!("<UDN>uuid:{}</UDN>", a.device_id.uuid())));
        assert!(xml.contains("<URLBase>http://10.1.2.3:80</URLBase>"));
    }
}
