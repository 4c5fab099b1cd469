//! Free space on the data disk (the filesystem holding the database, and usually the HLS
//! segments): a `statvfs` of a directory, and when that counts as full. A full disk does
//! not stop playout (viewers are fed from memory); it stops what writes there, so the
//! daemon watches it and says so.

use std::path::Path;

use serde::Serialize;

/// Below this many free bytes a data disk counts as full: SQLite, the HLS segmenter and the
/// as-run log need a few MiB of headroom to keep working.
pub const FULL_BELOW_BYTES: u64 = 16 << 20;

/// Space on the filesystem holding a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskSpace {
    /// Bytes an unprivileged writer may still use.
    pub free_bytes: u64,
    /// Size of the filesystem.
    pub total_bytes: u64,
}

impl DiskSpace {
    /// Whether writes are about to fail (or already do).
    pub fn is_full(&self) -> bool {
        self.free_bytes < FULL_BELOW_BYTES.min(self.total_bytes / 4)
    }
}

/// The space on the filesystem holding `dir`.
pub fn disk_space(dir: &Path) -> std::io::Result<DiskSpace> {
    let st = rustix::fs::statvfs(dir)?;
    let block = st.f_frsize.max(1);
    Ok(DiskSpace { free_bytes: st.f_bavail.saturating_mul(block), total_bytes: st.f_blocks.saturating_mul(block) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_dir_has_a_size_and_full_means_little_left() {
        let s = disk_space(&std::env::temp_dir()).unwrap();
        assert!(s.total_bytes > 0 && s.free_bytes <= s.total_bytes, "{s:?}");
        let big = 100 << 30;
        assert!(DiskSpace { free_bytes: 1 << 20, total_bytes: big }.is_full());
        assert!(!DiskSpace { free_bytes: 1 << 30, total_bytes: big }.is_full());
        // A tiny filesystem is full when less than a quarter is left.
        assert!(!DiskSpace { free_bytes: 10 << 20, total_bytes: 32 << 20 }.is_full());
        assert!(DiskSpace { free_bytes: 7 << 20, total_bytes: 32 << 20 }.is_full());
        assert!(disk_space(Path::new("/nonexistent/retrovue")).is_err());
    }
}
