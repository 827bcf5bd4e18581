#!/bin/sh
# Chromium with its DevTools endpoint on 127.0.0.1:9222, published on :9223 by socat. When either
# exits the container exits (the env sees a dead browser and reports it).
set -u
# The switches Playwright's own launch adds on the host, so that pages behave the same in both modes:
# no throttled timers or backgrounded renderers, popups allowed (target=_blank tabs), the same hover
# and pointer media, hidden scrollbars, sRGB. The env's own switches (envs/web/browser.py
# CHROMIUM_ARGS) arrive as arguments and come after them, as they do on the host.
chromium --headless --no-sandbox --disable-dev-shm-usage --disable-background-networking \
  --disable-component-update --no-first-run --disable-extensions --disable-default-apps --mute-audio \
  --disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,PaintHolding --disable-field-trial-config \
  --disable-background-timer-throttling --disable-backgrounding-occluded-windows \
  --disable-back-forward-cache --disable-breakpad --disable-component-extensions-with-background-pages \
  --no-default-browser-check --allow-pre-commit-input --disable-hang-monitor --disable-ipc-flooding-protection \
  --disable-popup-blocking --disable-prompt-on-repost --disable-renderer-backgrounding --force-color-profile=srgb \
  --metrics-recording-only --password-store=basic --use-mock-keychain --no-service-autorun --hide-scrollbars \
  --blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4 \
  --user-data-dir=/home/browser/profile --remote-debugging-port=9222 "$@" about:blank &
chrome=$!
socat TCP-LISTEN:9223,fork,reuseaddr TCP:127.0.0.1:9222 &
relay=$!
trap 'kill $chrome $relay 2>/dev/null' TERM INT
while kill -0 $chrome 2>/dev/null && kill -0 $relay 2>/dev/null; do sleep 1; done
kill $chrome $relay 2>/dev/null
exit 1
