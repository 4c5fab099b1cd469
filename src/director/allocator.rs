//! glibc's allocator for the daemon: two malloc arenas instead of up to eight per core.
//!
//! A running channel has about 28 threads (each item bin's demuxer, queues and decoder
//! threads, the mixers, the encoder's), and items come and go every few seconds. glibc gives a
//! thread that allocates an arena of its own, up to 8 per core, each growing in 64 MB heaps;
//! the raw frames a bin frees stay in its thread's arena, and the next bin's threads land in
//! other arenas. Measured on 4 SD channels of 15-30 s items (`scripts/bench-memory.sh`, debug
//! build, 2 cores): 484 MB after 30 s and 578 MB two minutes later with glibc's default, 417 MB
//! and 440 MB with two arenas, at the same CPU (README, "Performance and reliability").
//!
//! glibc reads `MALLOC_ARENA_MAX` once, when the process starts; changing it later takes
//! `mallopt`, a foreign call the crate's `unsafe_code = "forbid"` rules out. So `serve`
//! replaces itself once, before any thread exists, with the same program, arguments and
//! environment plus `MALLOC_ARENA_MAX=2` ([`relaunch_with_arena_limit`]). An environment that
//! already chooses (`MALLOC_ARENA_MAX`, or a `glibc.malloc` tunable in `GLIBC_TUNABLES`) is left
//! alone: the operator's word wins. Other C libraries (musl) have no such variable and are
//! left alone too.

use std::ffi::OsString;

/// The arena limit the daemon runs with.
pub const ARENAS: &str = "2";
/// glibc's variable for it.
pub const ARENA_VAR: &str = "MALLOC_ARENA_MAX";

/// Whether an environment read through `var` already chooses glibc's arenas (or any malloc
/// tunable, which the operator then owns).
pub fn environment_chooses(var: impl Fn(&str) -> Option<OsString>) -> bool {
    var(ARENA_VAR).is_some()
        || var("GLIBC_TUNABLES").is_some_and(|t| t.to_string_lossy().split(':').any(|s| s.starts_with("glibc.malloc.")))
}

/// Replace this process with the same program and arguments plus `MALLOC_ARENA_MAX=2`,
/// unless the environment already chooses ([`environment_chooses`]) or the C library is not
/// glibc. Call first thing in `main`, before any thread starts. Returns only when nothing was
/// done (`Ok(false)`) or the replacement failed (the error; the caller goes on as it is).
pub fn relaunch_with_arena_limit() -> std::io::Result<bool> {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || environment_chooses(|k| std::env::var_os(k)) {
        return Ok(false);
    }
    relaunch()
}

#[cfg(unix)]
fn relaunch() -> std::io::Result<bool> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe()?;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only on failure.
    Err(std::process::Command::new(&exe).arg0(arg0).args(args).env(ARENA_VAR, ARENAS).exec())
}

#[cfg(not(unix))]
fn relaunch() -> std::io::Result<bool> {
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
        assert!(!environment_chooses(env(&[])));
        assert!(!environment_chooses(env(&[("GLIBC_TUNABLES", "glibc.pthread.rseq=0")])));
        assert!(environment_chooses(env(&[("MALLOC_ARENA_MAX", "8")])));
        assert!(environment_chooses(env(&[("GLIBC_TUNABLES", "glibc.pthread.rseq=0:glibc.malloc.arena_max=4")])));
        assert!(environment_chooses(env(&[("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")])));
    }
}
