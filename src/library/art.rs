//! Artwork of library items — the show or movie poster, the episode still ("thumb") and the
//! backdrop ("fanart") — as the guide's programme `<icon>`s use them.
//!
//! Scans record where each picture is ([`Art`], stored with the item): a file on this box
//! (Kodi-style `poster.jpg`/`folder.jpg`/`<name>-thumb.jpg` next to the media, or a local path
//! an `.nfo` names), a Plex server path (`thumb`, `grandparentThumb`, `art`), a Jellyfin/Emby
//! image path (`/Items/{id}/Images/Primary`), or a URL an `.nfo` names. [`ArtStore::image`]
//! returns the bytes: files are read where they are; server and URL pictures are fetched
//! once — a server's with the source's token or API key in a request header, server side —
//! and kept in a cache directory, so clients only ever see the box's own `/art/<id>/<kind>`
//! URL, never a secret or the server's address. Only images leave
//! (JPEG, PNG, GIF, WebP, told by their first bytes), at most [`MAX_ART_BYTES`] each.

use std::path::{Path, PathBuf};
use std::time::Duration;

use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};

use super::MediaId;
use super::store::{self, SourceSpec};
use crate::db::{Db, DbError};

/// Larger pictures are refused (a poster is well under 5 MB).
pub const MAX_ART_BYTES: u64 = 16 * 1024 * 1024;

/// Image file extensions a scan takes for artwork (lower case).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];

/// Where one picture is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtRef {
    /// A file on this box.
    File(PathBuf),
    /// A path on the item's Plex server (`/library/metadata/1/thumb/1699999999`).
    Plex(String),
    /// An http(s) URL (named by an `.nfo`).
    Url(String),
    /// A path under the item's Jellyfin/Emby API (`/Items/{id}/Images/Primary`).
    Server(String),
}

impl ArtRef {
    /// Read what an `.nfo` `<thumb>` says: a URL, or a path (relative to the `.nfo`'s folder)
    /// to an existing image file.
    pub fn from_nfo(text: &str, nfo_dir: &Path) -> Option<Self> {
        let t = text.trim();
        if t.starts_with("http://") || t.starts_with("https://") {
            return url::Url::parse(t).is_ok().then(|| Self::Url(t.to_owned()));
        }
        let p = nfo_dir.join(t);
        (is_image_path(&p) && p.is_file()).then_some(Self::File(p))
    }

    /// What Plex says (`thumb`, `art`, ...): a server path, or (rarely) an absolute URL.
    pub fn from_plex(value: &str) -> Option<Self> {
        let v = value.trim();
        if v.starts_with('/') {
            Some(Self::Plex(v.to_owned()))
        } else if v.starts_with("http://") || v.starts_with("https://") {
            Some(Self::Url(v.to_owned()))
        } else {
            None
        }
    }
}

/// Whether a path has an image extension.
pub fn is_image_path(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// An item's pictures (stored as JSON in `content_items.art`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Art {
    /// Show poster (episodes) or movie poster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<ArtRef>,
    /// Episode still.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<ArtRef>,
    /// Backdrop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanart: Option<ArtRef>,
}

impl Art {
    /// The picture of one kind.
    pub fn get(&self, kind: ArtKind) -> Option<&ArtRef> {
        match kind {
            ArtKind::Poster => self.poster.as_ref(),
            ArtKind::Thumb => self.thumb.as_ref(),
            ArtKind::Fanart => self.fanart.as_ref(),
        }
    }

    /// Whether there is no picture at all.
    pub fn is_empty(&self) -> bool {
        self.poster.is_none() && self.thumb.is_none() && self.fanart.is_none()
    }
}

/// Which picture of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtKind {
    /// Show or movie poster.
    Poster,
    /// Episode still.
    Thumb,
    /// Backdrop.
    Fanart,
}

impl ArtKind {
    /// Every kind.
    pub const ALL: [ArtKind; 3] = [Self::Poster, Self::Thumb, Self::Fanart];

    /// The name in `/art/<id>/<kind>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poster => "poster",
            Self::Thumb => "thumb",
            Self::Fanart => "fanart",
        }
    }

    /// The kind a `/art/<id>/<kind>` path names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A picture to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtImage {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `image/jpeg`, `image/png`, `image/gif` or `image/webp`.
    pub mime: &'static str,
}

/// Why a picture could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ArtError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The library's tables failed.
    #[error("library: {0}")]
    Store(#[from] store::StoreError),
    /// A local picture could not be read.
    #[error("cannot read picture {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A remote picture could not be fetched (the URL carries no token).
    #[error("cannot fetch picture {url}: {source}")]
    Fetch {
        /// What was asked for.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("fetching picture {url}: HTTP {status}")]
    Status {
        /// What was asked for.
        url: String,
        /// The status.
        status: u16,
    },
    /// Not a JPEG, PNG, GIF or WebP, or over [`MAX_ART_BYTES`].
    #[error("{0} is not an image of at most 16 MiB")]
    NotImage(String),
    /// The cache could not be written.
    #[error("cannot write the picture cache {path}: {source}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The image type of `bytes`, by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

/// Serves item pictures (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct ArtStore {
    db: Db,
    cache_dir: PathBuf,
    http: reqwest::Client,
}

impl ArtStore {
    /// A store reading the library in `db`, caching fetched pictures under `cache_dir`, giving
    /// a remote server `timeout` per picture.
    pub fn new(db: Db, cache_dir: PathBuf, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("reqwest client with rustls");
        Self { db, cache_dir, http }
    }

    /// The picture `kind` of item `id`, or `None` when the item has none (or does not exist).
    pub async fn image(&self, id: MediaId, kind: ArtKind) -> Result<Option<ArtImage>, ArtError> {
        let Some((spec, art)) = self.db.call(move |c| store::item_art(c, id)).await?? else { return Ok(None) };
        let Some(r) = art.get(kind).cloned() else { return Ok(None) };
        match r {
            ArtRef::File(path) => read_image(&path).await.map(Some),
            ArtRef::Plex(path) => {
                let SourceSpec::Plex { url, token, .. } = spec else { return Ok(None) };
                let target = format!("{}{path}", url.trim_end_matches('/'));
                self.cached(&target, Some(("X-Plex-Token", &token))).await.map(Some)
            }
            ArtRef::Url(url) => self.cached(&url, None).await.map(Some),
            ArtRef::Server(path) => {
                let SourceSpec::MediaServer { server, url, api_key, .. } = spec else { return Ok(None) };
                let target = format!("{}{path}", server.api_base(&url));
                self.cached(&target, Some(("X-Emby-Token", &api_key))).await.map(Some)
            }
        }
    }

    /// `url` from the cache, else fetched (with the secret in its header: `X-Plex-Token`,
    /// `X-Emby-Token`) and cached.
    async fn cached(&self, url: &str, secret: Option<(&str, &str)>) -> Result<ArtImage, ArtError> {
        let key = hex(&Blake2s256::digest(url.as_bytes()));
        let path = self.cache_dir.join(format!("{key}.img"));
        if let Ok(img) = read_image(&path).await {
            return Ok(img);
        }
        let mut req = self.http.get(url).header("Accept", "image/*");
        match secret {
            Some((header @ "X-Plex-Token", t)) => {
                req = req.header(header, t).header("X-Plex-Client-Identifier", "retrovue");
            }
            Some((header, t)) => req = req.header(header, t),
            None => {}
        }
        let fail = |source| ArtError::Fetch { url: url.to_owned(), source };
        let mut resp = req.send().await.map_err(fail)?;
        if !resp.status().is_success() {
            return Err(ArtError::Status { url: url.to_owned(), status: resp.status().as_u16() });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_ART_BYTES {
                return Err(ArtError::NotImage(url.to_owned()));
            }
        }
        let mime = sniff(&bytes).ok_or_else(|| ArtError::NotImage(url.to_owned()))?;
        let cache = |source| ArtError::Cache { path: path.clone(), source };
        tokio::fs::create_dir_all(&self.cache_dir).await.map_err(cache)?;
        // Write aside and rename, so a reader never sees half a picture.
        let tmp = self.cache_dir.join(format!("{key}.{}.tmp", std::process::id()));
        tokio::fs::write(&tmp, &bytes).await.map_err(cache)?;
        tokio::fs::rename(&tmp, &path).await.map_err(cache)?;
        Ok(ArtImage { bytes, mime })
    }
}

async fn read_image(path: &Path) -> Result<ArtImage, ArtError> {
    let read = |source| ArtError::Read { path: path.to_owned(), source };
    let len = tokio::fs::metadata(path).await.map_err(read)?.len();
    if len > MAX_ART_BYTES {
        return Err(ArtError::NotImage(path.display().to_string()));
    }
    let bytes = tokio::fs::read(path).await.map_err(read)?;
    let mime = sniff(&bytes).ok_or_else(|| ArtError::NotImage(path.display().to_string()))?;
    Ok(ArtImage { bytes, mime })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_read_from_nfo_and_plex_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("poster.jpg"), b"\xff\xd8\xff").unwrap();
        assert_eq!(ArtRef::from_nfo(" poster.jpg ", dir.path()), Some(ArtRef::File(dir.path().join("poster.jpg"))));
        assert_eq!(ArtRef::from_nfo("missing.jpg", dir.path()), None);
        assert_eq!(ArtRef::from_nfo("../etc/passwd", dir.path()), None, "not an image");
        assert_eq!(
            ArtRef::from_nfo("https://image.tmdb.org/t/p/original/x.jpg", dir.path()),
            Some(ArtRef::Url("https://image.tmdb.org/t/p/original/x.jpg".into()))
        );
        assert_eq!(
            ArtRef::from_plex("/library/metadata/7/thumb/17"),
            Some(ArtRef::Plex("/library/metadata/7/thumb/17".into()))
        );
        assert_eq!(ArtRef::from_plex("metadata://posters/x"), None);
        let art = Art { poster: Some(ArtRef::Plex("/p".into())), ..Default::default() };
        let json = serde_json::to_string(&art).unwrap();
        assert_eq!(json, r#"{"poster":{"plex":"/p"}}"#);
        assert_eq!(serde_json::from_str::<Art>(&json).unwrap(), art);
        assert_eq!(serde_json::from_str::<Art>("{}").unwrap(), Art::default());
        assert_eq!(ArtKind::parse("thumb"), Some(ArtKind::Thumb));
        assert_eq!(ArtKind::parse("../x"), None);
    }

    #[test]
    fn images_are_told_by_their_first_bytes() {
        assert_eq!(sniff(b"\xff\xd8\xff\xe0rest"), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<html>"), None);
    }
}
