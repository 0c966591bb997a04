#!/usr/bin/env bash
# Install the browser the report tests drive (tests/browser.rs): Debian's `chromium`.
# Does nothing when a Chromium is already there; exits non-zero when it cannot install
# one (no apt-get, no root and no sudo, or no package mirror), so the caller can say so.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    echo "chromium: $(command -v chromium || command -v chromium-browser)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "cannot install chromium: no apt-get here (set CHROMIUM=/path/to/chromium instead)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
        echo "cannot install chromium: not root and no sudo" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium: installed $(chromium --version 2>/dev/null || echo)"
