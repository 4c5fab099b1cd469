//! Orders in which a pool is played: sequential (series) and seeded shuffles without repeats
//! inside a cycle. Everything here is a pure function of (seed, key, counter), so the same
//! library, config and seed always give the same schedule, and an extension continues exactly
//! where the previous build stopped.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// A stable 64-bit hash (FNV-1a) of a seed and some text parts; never changes between builds
/// or platforms (unlike `std`'s hasher).
pub fn mix(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// A deterministic random generator for `(seed, parts)`.
pub fn rng(seed: u64, parts: &[&str]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed, parts))
}

/// A shuffle of `0..n` that changes every cycle: the `k`-th pick is
/// `perm(k / n)[k % n]`, so no index repeats inside a cycle of `n` picks.
#[derive(Debug, Clone)]
pub struct Shuffle {
    seed: u64,
    key: String,
    n: usize,
    /// The two most recently used cycles (a scan often straddles a cycle boundary).
    perms: [(Option<u64>, Vec<usize>); 2],
}

impl Shuffle {
    /// A shuffle of a pool of `n` for this seed and key.
    pub fn new(seed: u64, key: &str, n: usize) -> Self {
        Self { seed, key: key.to_owned(), n, perms: [(None, Vec::new()), (None, Vec::new())] }
    }

    /// The pool index of the `k`-th pick (`None` for an empty pool).
    pub fn pick(&mut self, k: u64) -> Option<usize> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as u64;
        let cycle = k / n;
        if self.perms[0].0 != Some(cycle) {
            if self.perms[1].0 == Some(cycle) {
                self.perms.swap(0, 1);
            } else {
                let mut perm: Vec<usize> = (0..self.n).collect();
                perm.shuffle(&mut rng(self.seed, &[&self.key, &cycle.to_string()]));
                self.perms.swap(0, 1);
                self.perms[0] = (Some(cycle), perm);
            }
        }
        Some(self.perms[0].1[(k % n) as usize])
    }
}

/// The `k`-th episode of a series of `n` episodes played in order (wrapping round).
pub fn sequential(k: u64, n: usize) -> Option<usize> {
    (n > 0).then(|| (k % n as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_repeat_nothing_inside_a_cycle_and_are_reproducible() {
        let mut a = Shuffle::new(7, "tag:comedy", 10);
        let mut b = Shuffle::new(7, "tag:comedy", 10);
        let first: Vec<usize> = (0..10).map(|k| a.pick(k).unwrap()).collect();
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        let second: Vec<usize> = (10..20).map(|k| a.pick(k).unwrap()).collect();
        assert_ne!(first, second, "each cycle is shuffled anew");
        assert_eq!((0..10).map(|k| b.pick(k).unwrap()).collect::<Vec<_>>(), first);
        let mut c = Shuffle::new(8, "tag:comedy", 10);
        assert_ne!((0..10).map(|k| c.pick(k).unwrap()).collect::<Vec<_>>(), first, "the seed matters");
        assert_eq!(Shuffle::new(1, "x", 0).pick(3), None);
        assert_eq!(sequential(12, 5), Some(2));
        assert_eq!(mix(1, &["a", "b"]), mix(1, &["a", "b"]));
        assert_ne!(mix(1, &["ab"]), mix(1, &["a", "b"]));
    }
}
