#!/usr/bin/env bash
# Make sure Debian's Chromium is installed (the web env drives it through Playwright with
# executable_path; we never run `playwright install`). Idempotent.
set -euo pipefail
bin=${AGENTGYM_CHROMIUM:-/usr/bin/chromium}
if [ -x "$bin" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-chromium: $bin is missing and we are not root; install Debian's chromium package" >&2
  exit 1
fi
echo "ensure-chromium: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
"$bin" --version
