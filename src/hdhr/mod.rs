//! Pretend to be a SiliconDust HDHomeRun network tuner: UDP discovery and TCP control on
//! 65001, SSDP, mDNS, the HTTP JSON API and `/auto/v<N>` streams with tuner leases.
//! (Specification: `reference/hdhomerun.md`.) Never imports `guide`, `web` or `playout`.
