#!/usr/bin/env bash
# Builds the stage for the browser into web/dist: the wasm32 build (WebGL2), wasm-bindgen's glue, the page,
# the scenes and the demo's stems. Installs what it needs from the registries: the wasm32 target and
# wasm-bindgen-cli at exactly the version Cargo.lock holds (the glue and the crate must match).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ -z "$version" ]; then echo "build-web: no wasm-bindgen in Cargo.lock" >&2; exit 1; fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
# The CLI lives with cargo's own binaries, built once per machine (and again only when Cargo.lock moves on).
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  echo "build-web: installing wasm-bindgen-cli $version"
  # Its own lockfile first; where the registry lacks a version that lockfile names, the newest compatible ones.
  # No TLS: the CLI only talks to a WebDriver on localhost (and we use none).
  cargo install wasm-bindgen-cli --version "$version" --locked --no-default-features \
    || cargo install wasm-bindgen-cli --version "$version" --no-default-features
fi

cargo build --profile web --target wasm32-unknown-unknown --bin proxemix

dist=web/dist
rm -rf "$dist.new"
mkdir -p "$dist.new/scenes" "$dist.new/assets/stems"
# Without the name section (function names for the console's stack traces: 18 of the wasm's 65 MB); a panic
# still says what happened.
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-dir "$dist.new" --out-name proxemix \
  "$target_dir/wasm32-unknown-unknown/web/proxemix.wasm"
cp web/index.html web/app.js web/decode-worker.js web/style.css "$dist.new/"
cp scenes/*.ron "$dist.new/scenes/"
cp assets/stems/*.ogg assets/stems/SONG.md assets/LICENSES.md "$dist.new/assets/stems/"
# The scene picker's list: each scene's file and its name, the demo first.
python3 - "$dist.new" <<'PY'
import json, pathlib, re, sys
dist = pathlib.Path(sys.argv[1])
scenes = []
for path in sorted((dist / "scenes").glob("*.ron"), key=lambda p: (p.name != "demo.ron", p.name)):
    match = re.search(r'^\s*name:\s*"((?:[^"\\]|\\.)*)"', path.read_text(), re.M)
    scenes.append({"path": f"scenes/{path.name}", "name": match.group(1) if match else path.stem})
(dist / "scenes.json").write_text(json.dumps(scenes, indent=1, ensure_ascii=False))
PY
rm -rf "$dist"
mv "$dist.new" "$dist"
wasm="$dist/proxemix_bg.wasm"
# Compressed copies beside the big files, for servers that send them as they are (`make web`'s does, with
# Content-Encoding; nginx's gzip_static and brotli_static, Caddy's precompressed): brotli where the tool is
# there (the setup step installs it), gzip always.
for f in "$wasm" "$dist/proxemix.js"; do
  gzip -9 -k -n "$f"
  if command -v brotli >/dev/null; then brotli -q 9 -w 24 -k "$f"; fi
done
mb() { awk '{printf "%.1f MB", $1/1e6}' <<<"$(wc -c <"$1")"; }
echo "build-web: $dist ready: wasm $(mb "$wasm"), gzipped $(mb "$wasm.gz")$( [ -f "$wasm.br" ] && echo ", brotli $(mb "$wasm.br")")"
