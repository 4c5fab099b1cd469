//! glibc's allocator for the daemon: two malloc arenas instead of up to eight per core, and a
//! fixed mmap threshold.
//!
//! A running channel has about 28 threads (each item bin's demuxer, queues and decoder
//! threads, the mixers, the encoder's), and items come and go every few seconds. glibc gives a
//! thread that allocates an arena of its own, up to 8 per core, each growing in 64 MB heaps;
//! the raw frames a bin frees stay in its thread's arena, and the next bin's threads land in
//! other arenas. Measured on 4 SD channels of 15-30 s items (`scripts/bench-memory.sh`, debug
//! build, 2 cores): 484 MB after 30 s and 578 MB two minutes later with glibc's default, 417 MB
//! and 440 MB with two arenas, at the same CPU (README, "Performance and reliability").
//!
//! Two arenas still left RSS breathing by a quarter within seconds (600-820 MB in one CI soak
//! of 4 channels): glibc's mmap threshold is dynamic, and once a bin frees a large block it
//! rises (up to 32 MB), so the next bins' raw frames (a 640x480 I420 frame is 450 KB, 1080p
//! 3 MB) come from the arena heaps, where one live block at the top keeps every freed one below
//! it in RAM. A fixed threshold of 256 KB sends every frame-sized block to its own mapping,
//! returned to the system when freed; a 4 MB trim threshold keeps small-block churn from
//! trimming and regrowing the heaps. Measured on the 180 s soak (4 channels, 20 viewers, debug
//! build): median RSS after warm-up 660 -> 500 MB, peaks 768 -> 590 MB (README).
//!
//! glibc reads these variables once, when the process starts; changing them later takes
//! `mallopt`, a foreign call that would have to come before any thread allocates. So `serve`
//! replaces itself once, before any thread exists, with the same program, arguments and
//! environment plus the [`SETTINGS`] it lacks ([`relaunch_with_malloc_settings`]). A variable the
//! environment already sets keeps its value, and a `glibc.malloc` tunable in `GLIBC_TUNABLES`
//! leaves all of them alone: the operator's word wins. Other C libraries (musl) have no such
//! variables and are left alone too.
//!
//! With a threshold of 256 KB the blocks still living in the arena heaps (everything smaller:
//! compressed frames, audio buffers, the elements and decoder contexts of each item bin) left
//! holes there as items came and went. The live data levels off, the holes do not: glibc hands a
//! heap's pages back only from its top. Measured on 4 SD channels of 15-30 s items (release
//! build, 2 cores, `malloc_stats`): the arenas' live blocks 78, 104, 110, 109 MB at minutes
//! 2.5, 12.5, 22.5, 32.5, their heaps 105, 166, 173, 200 MB, and the daemon's RSS rising
//! about 1.5 MB a minute all hour. So `serve` also runs [`trim_periodically`]: every
//! [`TRIM_EVERY`] glibc returns the free pages inside its heaps to the system
//! ([`release_free_memory`], `malloc_trim(0)`), which keeps the RSS near the live data. What
//! it cannot hand back are pages shared by live and freed blocks: over 80 minutes on a quiet
//! box the live blocks stayed flat (167-209 MB) while the arenas' span grew 97 -> 194 MB and the
//! RSS about 24 MB, most of it in the first 40 minutes (README, "the long run on a quiet box").
//!
//! Hence the threshold of 64 KB: the blocks of 64-256 KB that an item's bin holds and frees
//! now get mappings of their own too, returned whole when freed, and the heaps keep only small
//! blocks. The same 40 minutes of 4 channels (release, quiet box, `scripts/bench-memory.sh`):
//! heaps resident 34 -> 41 MB (79 -> 121 MB at 256 KB), the bench's growth +4.3 MB (221.1 ->
//! 225.4; +26 at 256 KB over the same minutes of an earlier run), peak 286 MB (297-309), CPU
//! per channel no worse (10.65 CPU-s a minute; 13.29 in the 256 KB run). [`heap_use`] reads
//! the live blocks and the holes (`/api/status`), so the bench can tell a rise of the RSS that
//! is holes from one that is memory held.

use std::ffi::OsString;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// glibc's malloc variables the daemon runs with, and their values.
pub const SETTINGS: [(&str, &str); 3] =
    [("MALLOC_ARENA_MAX", "2"), ("MALLOC_MMAP_THRESHOLD_", "65536"), ("MALLOC_TRIM_THRESHOLD_", "4194304")];

/// The [`SETTINGS`] an environment read through `var` lacks: none if it sets a `glibc.malloc`
/// tunable (the operator then owns the allocator), else each variable it does not set.
pub fn missing_settings(var: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, &'static str)> {
    if var("GLIBC_TUNABLES").is_some_and(|t| t.to_string_lossy().split(':').any(|s| s.starts_with("glibc.malloc."))) {
        return Vec::new();
    }
    SETTINGS.into_iter().filter(|(name, _)| var(name).is_none()).collect()
}

/// Replace this process with the same program and arguments plus the [`SETTINGS`] its
/// environment lacks ([`missing_settings`]), unless it lacks none or the C library is not
/// glibc. Call first thing in `main`, before any thread starts. Returns only when nothing was
/// done (`Ok(false)`) or the replacement failed (the error; the caller goes on as it is).
pub fn relaunch_with_malloc_settings() -> std::io::Result<bool> {
    let missing = missing_settings(|k| std::env::var_os(k));
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || missing.is_empty() {
        return Ok(false);
    }
    relaunch(&missing)
}

/// The malloc settings this process runs with, for the log: `NAME=value` of each of
/// [`SETTINGS`] its environment has.
pub fn in_effect() -> String {
    let set: Vec<String> =
        SETTINGS.iter().filter_map(|(name, _)| std::env::var(name).ok().map(|v| format!("{name}={v}"))).collect();
    if set.is_empty() { "glibc's defaults".into() } else { set.join(" ") }
}

/// How often [`trim_periodically`] hands the arenas' free pages back: often enough that the
/// holes a few items leave never add up, seldom enough that pages given back and touched
/// again cost nothing measurable.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Hand the free pages inside glibc's malloc heaps back to the system (`malloc_trim(0)`: every
/// arena, not only the top of each heap). True if any memory was released. Other C libraries:
/// nothing to do, false.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        glibc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// [`release_free_memory`] every `every` until `stop`, on a blocking thread (glibc takes
/// each arena's lock while it walks it: a few milliseconds for a few hundred MB).
pub async fn trim_periodically(every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match tokio::task::spawn_blocking(release_free_memory).await {
            Ok(released) => tracing::trace!(released, "malloc_trim"),
            Err(e) => tracing::warn!(error = %e, "malloc_trim task failed"),
        }
    }
}

/// What glibc's malloc holds at one instant, every arena summed: the live blocks, and the free
/// space inside its heaps (holes; a trim hands back the pages a hole covers whole, never those
/// it shares with a live block). A resident size that rises while `in_use_bytes` stays level is
/// holes, not a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapUse {
    /// Bytes of live blocks: inside the arenas' heaps plus those in mappings of their own.
    pub in_use_bytes: u64,
    /// Bytes of free space inside the arenas' heaps.
    pub free_bytes: u64,
}

/// The allocator's [`HeapUse`] now (glibc's `mallinfo2`, which takes each arena's lock while
/// it walks that arena's free lists). Other C libraries: `None`.
pub fn heap_use() -> Option<HeapUse> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let m = glibc::mallinfo2();
        Some(HeapUse { in_use_bytes: (m.uordblks + m.hblkhd) as u64, free_bytes: m.fordblks as u64 })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

// The crate's only unsafe code: foreign declarations.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    /// glibc's `struct mallinfo2` (malloc.h, since 2.33): every field a `size_t`.
    #[repr(C)]
    #[allow(dead_code, reason = "the C layout needs every field; the daemon reads three")]
    pub struct Mallinfo2 {
        /// Bytes the arenas' heaps span (in use plus free).
        pub arena: usize,
        pub ordblks: usize,
        pub smblks: usize,
        /// Blocks in mappings of their own.
        pub hblks: usize,
        /// Bytes in mappings of their own.
        pub hblkhd: usize,
        pub usmblks: usize,
        pub fsmblks: usize,
        /// Bytes of live blocks in the heaps.
        pub uordblks: usize,
        /// Bytes of free space in the heaps.
        pub fordblks: usize,
        pub keepcost: usize,
    }

    unsafe extern "C" {
        /// glibc's `mallinfo2(3)` (since 2.33; Debian 12 has 2.36, the Bootlin toolchains of
        /// the defconfigs newer): takes no pointer and returns a plain struct, reading the
        /// allocator's own state under each arena's lock, so declared safe. (Its man page's
        /// thread notes concern a concurrent `mallopt`, which the daemon never calls.)
        pub safe fn mallinfo2() -> Mallinfo2;
        /// glibc's `malloc_trim(3)` (since 2.8 it also releases the free pages inside each
        /// arena's heaps). It takes a plain integer and works only on the allocator's own
        /// state, under the allocator's own locks: MT-Safe, callable from any thread at any
        /// time, so declared safe.
        pub safe fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
}

#[cfg(unix)]
fn relaunch(settings: &[(&str, &str)]) -> std::io::Result<bool> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe()?;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only on failure.
    Err(std::process::Command::new(&exe).arg0(arg0).args(args).envs(settings.iter().copied()).exec())
}

#[cfg(not(unix))]
fn relaunch(_settings: &[(&str, &str)]) -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_operator_s_choice_wins() {
        let names =
            |pairs: &[(&str, &str)]| missing_settings(env(pairs)).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(&[]), ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]);
        assert_eq!(names(&[("GLIBC_TUNABLES", "glibc.pthread.rseq=0")]).len(), 3);
        assert_eq!(names(&[("MALLOC_ARENA_MAX", "8")]), ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]);
        assert!(names(&[("GLIBC_TUNABLES", "glibc.pthread.rseq=0:glibc.malloc.arena_max=4")]).is_empty());
        assert!(names(&[("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")]).is_empty());
        let all: Vec<_> = SETTINGS.iter().map(|(n, v)| (*n, *v)).collect();
        assert!(names(&all).is_empty());
    }

    /// Freed blocks below a live one stay resident until trimmed; the trim gives their
    /// pages back. Blocks of 64 KB (under glibc's mmap threshold: they come from the heap),
    /// 96 MB of them, all freed but the last one, which keeps the heap's top in place.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_trim_gives_back_the_pages_of_freed_blocks_inside_the_heap() {
        fn rss_mb() -> f64 {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
            let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
            pages * 4096.0 / 1048576.0
        }
        // Its own thread: the blocks come from one arena, untouched by other tests.
        std::thread::spawn(|| {
            // Filled with a non-zero byte: zeroed blocks may come from calloc and never be
            // touched, so never resident.
            let mut blocks: Vec<Vec<u8>> = (0..1536).map(|_| vec![0xa5u8; 64 << 10]).collect();
            let last = blocks.pop().unwrap();
            let full = rss_mb();
            drop(blocks);
            let freed = rss_mb();
            assert!(release_free_memory(), "malloc_trim released nothing");
            let trimmed = rss_mb();
            assert!(last.iter().all(|&b| b == 0xa5), "the block kept in use is intact");
            assert!(
                full - freed < 48.0,
                "the freed blocks should stay resident until trimmed: {full:.0} -> {freed:.0} MB"
            );
            assert!(
                freed - trimmed > 80.0,
                "the trim gave back {:.0} MB of 96 ({freed:.0} -> {trimmed:.0} MB)",
                freed - trimmed
            );
        })
        .join()
        .unwrap();
    }

    /// The live-block figure follows what is allocated and freed, in the heaps and in mappings
    /// of their own: 64 MB in blocks of 64 KB (under glibc's mmap threshold: from a heap) and
    /// two blocks of 40 MB (over the highest threshold glibc ever sets itself, 32 MB: mapped).
    /// Other tests allocate beside it, so it allows 24 MB of their noise and tries three times.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn heap_use_counts_live_blocks_in_the_heap_and_in_their_own_mappings() {
        let mb = |b: u64| b as f64 / 1048576.0;
        let mut last = String::new();
        for _ in 0..3 {
            let before = heap_use().expect("glibc").in_use_bytes;
            let small: Vec<Vec<u8>> = (0..1024).map(|_| vec![0x5au8; 64 << 10]).collect();
            let large: Vec<Vec<u8>> = (0..2).map(|_| vec![0x5au8; 40 << 20]).collect();
            let held = heap_use().expect("glibc").in_use_bytes;
            drop((small, large));
            let after = heap_use().expect("glibc").in_use_bytes;
            let (rise, fall) = (mb(held) - mb(before), mb(held) - mb(after));
            if (120.0..168.0).contains(&rise) && (120.0..168.0).contains(&fall) {
                return;
            }
            last = format!("rose {rise:.0} MB and fell {fall:.0} MB for 144 MB allocated and freed");
        }
        panic!("{last}");
    }

    /// The CPU benchmarks' in-process players run with the daemon's settings
    /// (`scripts/bench-lib.sh`), so their figures are the daemon's; the box's unit file and the
    /// emulated aarch64 soak (which cannot re-execute) set the same values.
    #[test]
    fn every_copy_of_the_settings_is_the_daemons() {
        let read = |path: &str| std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let set: Vec<String> = SETTINGS.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let lib = read("scripts/bench-lib.sh");
        let line =
            lib.lines().find(|l| l.starts_with("BENCH_DAEMON_MALLOC=(")).expect("BENCH_DAEMON_MALLOC in bench-lib.sh");
        assert_eq!(line, format!("BENCH_DAEMON_MALLOC=({})", set.join(" ")));
        let unit = read("systemd/retrovue.service");
        let unit: Vec<&str> = unit.lines().filter_map(|l| l.strip_prefix("Environment=MALLOC_")).collect();
        assert_eq!(unit.iter().map(|l| format!("MALLOC_{l}")).collect::<Vec<_>>(), set, "systemd/retrovue.service");
        let soak = read("scripts/test-loaded-aarch64.sh");
        let line = soak.lines().find(|l| l.starts_with("export MALLOC_")).expect("the malloc line of the aarch64 soak");
        assert_eq!(line, format!("export {}", set.join(" ")));
    }
}
