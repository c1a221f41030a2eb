#!/usr/bin/env bash
# Installs what Proxemix needs on a fresh Debian/Ubuntu machine; fast no-op when all is present.
set -euo pipefail

# System packages: Bevy on Linux (ALSA, udev, Wayland, xkbcommon), a fast linker (mold, clang as driver),
# sox for measuring renders by hand, Xvfb + Mesa's software Vulkan for the screenshot tests, xdotool and xwd to
# work the real window as a person would and look at it, and a PulseAudio server with ALSA's "pulse" device to
# hear the stage through a private null sink (benchmarks, live tests); Chromium (and a font for the page's own
# text) to drive the browser build in the browser tests; GNU time for the hostile-input tests' peak memory;
# brotli and gzip for the browser build's compressed files.
packages=(pkg-config libasound2-dev libudev-dev libwayland-dev libxkbcommon-dev
          clang mold sox xvfb xauth mesa-vulkan-drivers libvulkan1 xdotool x11-apps
          pulseaudio pulseaudio-utils libasound2-plugins chromium fonts-liberation time brotli gzip)
# Node.js drives Chromium in the browser tests (playwright-core); machines that have it keep theirs.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The wasm target: the browser build (make web, and the browser tests in make test).
if command -v rustup >/dev/null && ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
