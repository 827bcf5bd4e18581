#!/bin/sh
# Chromium with its DevTools endpoint on 127.0.0.1:9222, published on :9223 by socat. When either
# exits the container exits (the env sees a dead browser and reports it).
set -u
chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --disable-extensions --disable-default-apps \
  --mute-audio --disable-features=Translate,MediaRouter --webrtc-ip-handling-policy=disable_non_proxied_udp \
  --user-data-dir=/home/browser/profile --remote-debugging-port=9222 "$@" about:blank &
chrome=$!
socat TCP-LISTEN:9223,fork,reuseaddr TCP:127.0.0.1:9222 &
relay=$!
trap 'kill $chrome $relay 2>/dev/null' TERM INT
while kill -0 $chrome 2>/dev/null && kill -0 $relay 2>/dev/null; do sleep 1; done
kill $chrome $relay 2>/dev/null
exit 1
