#!/usr/bin/env bash
# Vendor the prebuilt hls.js light build (the guide's in-page HLS preview in browsers without
# native HLS) into src/web/assets/, from the npm registry's package tarball: no Node toolchain
# is needed to build the daemon, only `npm` here, once, to fetch the tarball.
#
# Usage: scripts/update-hlsjs.sh [VERSION]   (default: the registry's `latest`, which must be 1.x:
#        the page uses the 1.x API)
# Then: check src/web/assets/README.md, run `cargo test --test web_browser`, commit.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-$(npm view hls.js dist-tags.latest)}"
case "$version" in
  1.*) ;;
  *) echo "update-hlsjs: $version is not 1.x; give a 1.x version" >&2; exit 1 ;;
esac
assets=src/web/assets
old="$(find "$assets" -maxdepth 1 -name 'hls-*.light.min.js' -printf '%f\n' | head -n 1)"
new="hls-$version.light.min.js"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "hls.js@$version" >/dev/null && tar xzf "hls.js-$version.tgz")
cp "$work/package/dist/hls.light.min.js" "$assets/$new"
cp "$work/package/LICENSE" "$assets/hls.js-LICENSE.txt"
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  rm -f "$assets/$old"
  # The file name carries the version (it is served with a year-long cache).
  sed -i "s/$old/$new/g" src/web/pages.rs "$assets/app.js" "$assets/README.md"
fi
sum="$(sha256sum "$assets/$new" | cut -d' ' -f1)"
tarsum="$(sha1sum "$work/hls.js-$version.tgz" | cut -d' ' -f1)"
sed -i -e "s/^- version: .*/- version: $version/" -e "s/^- sha256: .*/- sha256: $sum/" \
  -e "s/^- from: .*/- from: the npm registry, \`npm pack hls.js@$version\` (tarball sha1 $tarsum)/" "$assets/README.md"
echo "update-hlsjs: $assets/$new ($(wc -c <"$assets/$new") bytes, sha256 $sum)"
