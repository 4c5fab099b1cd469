#!/usr/bin/env bash
# Vendor every crate of Cargo.lock into vendor/ and point cargo at it (.cargo/config.toml),
# so the Buildroot build of the daemon needs no network (buildroot/package/retrovue builds
# with --offline; a local package never goes through Buildroot's own vendoring).
# Both outputs are gitignored. Needs the network once (crates.io).
#
# Usage: scripts/vendor-crates.sh           vendor (again) for the current Cargo.lock
#        scripts/vendor-crates.sh --clean   remove vendor/ and .cargo/config.toml
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--clean" ]; then
  rm -rf vendor .cargo/config.toml
  rmdir .cargo 2>/dev/null || true
  echo "vendor-crates: removed vendor/ and .cargo/config.toml"
  exit 0
fi

stamp="vendor/.retrovue-vendored"
lock_sum="$(sha256sum Cargo.lock | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ] && [ -f .cargo/config.toml ]; then
  echo "vendor-crates: vendor/ already matches Cargo.lock"
  exit 0
fi

# A previous .cargo/config.toml would make `cargo vendor` read from the old vendor/.
rm -f .cargo/config.toml
mkdir -p .cargo
snippet="$(mktemp)"
trap 'rm -f "$snippet"' EXIT
# Not -q: the snippet cargo prints on stdout is the config we need.
cargo vendor --locked vendor >"$snippet"
if ! grep -q 'directory = "vendor"' "$snippet"; then
  echo "vendor-crates: cargo vendor printed no source replacement:" >&2
  cat "$snippet" >&2
  exit 1
fi
{
  echo "# Written by scripts/vendor-crates.sh: build from vendor/ (offline). Remove with --clean."
  cat "$snippet"
} >.cargo/config.toml
echo "$lock_sum" >"$stamp"
echo "vendor-crates: $(find vendor -mindepth 1 -maxdepth 1 -type d | wc -l) crates in vendor/, .cargo/config.toml written"
