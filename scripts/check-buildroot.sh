#!/usr/bin/env bash
# Check the Buildroot external tree against a Buildroot source tree, offline.
#
# Usage: scripts/check-buildroot.sh [BUILDROOT_DIR]
#
# For every buildroot/configs/*_defconfig: load it with the external tree into a scratch
# output dir (kconfig only, no download, ~1 s) and fail if any line of the defconfig did not
# survive into .config (a symbol that vanished because of a missing dependency or a typo is
# otherwise silently dropped). Then run Buildroot's utils/check-package on the tree.
# BUILDROOT_DIR may also come from $BUILDROOT_DIR. Without one, the check is skipped with a
# message (CI has no Buildroot tree; scripts/build-image.sh fetches one).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
external="$repo/buildroot"

br="${1:-${BUILDROOT_DIR:-}}"
if [ -z "$br" ]; then
  echo "check-buildroot: SKIPPED: no Buildroot tree given (usage: scripts/check-buildroot.sh BUILDROOT_DIR)"
  exit 0
fi
if [ ! -f "$br/Makefile" ] || [ ! -d "$br/support/kconfig" ]; then
  echo "check-buildroot: $br is not a Buildroot source tree" >&2
  exit 1
fi
br="$(cd "$br" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=0
for defconfig in "$external"/configs/*_defconfig; do
  name="$(basename "$defconfig")"
  out="$scratch/${name%_defconfig}"
  if ! make -s -C "$br" BR2_EXTERNAL="$external" O="$out" "$name" >"$out.log" 2>&1; then
    echo "FAIL $name: make $name failed:" >&2
    cat "$out.log" >&2
    failed=1
    continue
  fi
  lost=0
  while IFS= read -r line; do
    case "$line" in
      '# BR2_'*' is not set')
        symbol="${line#\# }"
        symbol="${symbol%% *}"
        if grep -q "^$symbol=" "$out/.config"; then
          echo "FAIL $name: '$line' but .config has $(grep "^$symbol=" "$out/.config")" >&2
          lost=1
        fi
        ;;
      '' | '#'*) continue ;;
      *)
        if ! grep -qxF -- "$line" "$out/.config"; then
          symbol="${line%%=*}"
          now="$(grep -E "^(# )?${symbol}[= ]" "$out/.config" || echo "absent")"
          echo "FAIL $name: '$line' did not survive kconfig (.config: $now)" >&2
          lost=1
        fi
        ;;
    esac
  done <"$defconfig"
  if [ "$lost" -eq 0 ]; then
    echo "ok   $name: every line survived kconfig ($(grep -c . "$defconfig") lines)"
  else
    failed=1
  fi
done

echo "check-buildroot: utils/check-package"
if (cd "$external" && "$br/utils/check-package" -b \
  package/*/* Config.in external.mk external.desc configs/* board/*/*.sh); then
  echo "ok   check-package"
else
  echo "FAIL check-package (needs the python modules python-magic and flake8)" >&2
  failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "check-buildroot: FAILED" >&2
  exit 1
fi
echo "check-buildroot: all defconfigs and the package pass"
