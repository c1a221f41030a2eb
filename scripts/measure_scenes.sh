#!/usr/bin/env bash
# Renders every workshop scene and prints what a workshop wants to know of it: integrated loudness, true peak,
# the lead vocal's level against the rest of the mix (energy over the whole song), and the vocal's
# direct-to-reverb ratio as rendered (vocal alone with and without the room).
# Usage: scripts/measure_scenes.sh [PROXEMIX_BINARY]   (needs sox and python3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/proxemix}
[ -x "$bin" ] || cargo build --release --no-default-features
out=$(mktemp -d)
trap 'rm -rf "$out" scenes/.dry-*.ron' EXIT
energy() { python3 -c '
import array, subprocess, sys
raw = subprocess.run(["sox", "-V1", sys.argv[1], "-t", "f32", "-"], capture_output=True, check=True).stdout
x = array.array("f"); x.frombytes(raw)
print(sum(v * v for v in x))' "$1"; }
db() { python3 -c 'import math, sys; print("%+.1f" % (10 * math.log10(float(sys.argv[1]) / float(sys.argv[2]))))' "$1" "$2"; }
printf '%-16s %10s %10s %14s %12s\n' scene LUFS "TP dBTP" "vocal/rest dB" "vocal DRR dB"
for scene in scenes/*.ron; do
  name=$(basename "$scene" .ron)
  mix=$("$bin" render "$scene" -o "$out/mix.wav" --bits 32f)
  lufs=$(sed -n 's/^loudness: \(-\?[0-9.]*\) LUFS.*/\1/p' <<<"$mix")
  tp=$(sed -n 's/.*true peak \(-\?[0-9.]*\) dBTP.*/\1/p' <<<"$mix")
  "$bin" render "$scene" -o "$out/vocal.wav" --bits 32f --solo vocal >/dev/null
  "$bin" render "$scene" -o "$out/rest.wav" --bits 32f --mute vocal >/dev/null
  # The same scene with the room switched off gives the direct sound alone.
  sed -E 's/reverb_db: *-?[0-9.]+/reverb_db: -60.0/' "$scene" > "scenes/.dry-$name.ron"
  "$bin" render "scenes/.dry-$name.ron" -o "$out/dry.wav" --bits 32f --solo vocal >/dev/null
  rm -f "scenes/.dry-$name.ron"
  sox -V1 -m -v 1 "$out/vocal.wav" -v -1 "$out/dry.wav" "$out/reverb.wav"
  printf '%-16s %10s %10s %14s %12s\n' "$name" "$lufs" "$tp" \
    "$(db "$(energy "$out/vocal.wav")" "$(energy "$out/rest.wav")")" \
    "$(db "$(energy "$out/dry.wav")" "$(energy "$out/reverb.wav")")"
done
