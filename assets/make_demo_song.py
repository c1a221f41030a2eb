#!/usr/bin/env python3
"""Regenerates the Proxemix demo song ("Closer") as stems in assets/stems/.

Everything comes from this file: the arrangement is written here as notes, rendered through the FluidR3 General
MIDI SoundFont with FluidSynth (instruments, dry: no FluidSynth reverb or chorus, the stage adds the room), and
the voices are espeak-ng syllables tuned to the melody with sox. Needs: fluidsynth, fluid-soundfont-gm,
espeak-ng, sox, libsox-fmt-base (OGG). `make demo-song` installs them and runs this script.

Python standard library only. Deterministic: the same tools give the same stems.
"""

import array
import math
import os
import struct
import subprocess
import sys
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "stems")
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

RATE = 48_000
TEMPO = 96  # beats per minute: a beat is exactly 30 000 samples, so the loop is a whole number of samples
BEAT_S = 60.0 / TEMPO
BAR_BEATS = 4
BARS = 18
LOOP_BEATS = BARS * BAR_BEATS
LOOP_FRAMES = round(LOOP_BEATS * BEAT_S * RATE)  # 45 s

# Named sections (name, first bar, bars); SONG.md and later scenes refer to these.
SECTIONS = [("intro", 0, 2), ("verse", 2, 4), ("pre-chorus", 6, 2), ("chorus", 8, 6), ("outro", 14, 4)]

# One chord per bar: (name, root MIDI note in the bass octave, chord tones as MIDI notes around middle C).
A, B, C, D, E, F, G = 45, 47, 36, 38, 40, 41, 43  # bass roots (A2 .. G2, C2 .. G2)
CHORDS = {
    "Am": (A, [57, 60, 64]),
    "F": (F, [57, 60, 65]),
    "C": (C, [55, 60, 64]),
    "G": (G, [55, 59, 62]),
    "Dm": (D, [57, 62, 65]),
    "E": (E, [56, 59, 64]),
}
PROGRESSION = ["Am", "F",  # intro
               "Am", "F", "C", "G",  # verse
               "Dm", "E",  # pre-chorus
               "F", "G", "Am", "C", "F", "G",  # chorus
               "Am", "F", "C", "G"]  # outro (G leads back to the intro's Am)
assert len(PROGRESSION) == BARS

# The lead melody: (beat, length in beats, MIDI note, syllable as espeak should say it). Original lyrics.
LEAD = [
    # verse: "Come a little closer, hear me when I whisper, every little word I say is only meant for you"
    (8.0, 0.5, 52, "come"), (8.5, 0.5, 52, "uh"), (9.0, 0.5, 55, "lit"), (9.5, 0.5, 57, "tle"),
    (10.0, 1.0, 55, "close"), (11.0, 1.0, 52, "sir"),
    (12.0, 0.5, 60, "hear"), (12.5, 0.5, 57, "me"), (13.0, 0.5, 57, "when"), (13.5, 0.5, 55, "eye"),
    (14.0, 1.0, 57, "whis"), (15.0, 1.0, 53, "purr"),
    (16.0, 0.5, 52, "ev"), (16.5, 0.5, 55, "ree"), (17.0, 0.5, 55, "lit"), (17.5, 0.5, 57, "tle"),
    (18.0, 0.5, 60, "word"), (18.5, 0.5, 59, "eye"), (19.0, 1.0, 55, "say"),
    (20.0, 0.5, 55, "is"), (20.5, 0.5, 57, "own"), (21.0, 0.5, 59, "lee"), (21.5, 0.5, 62, "meant"),
    (22.0, 0.5, 59, "for"), (22.5, 1.5, 55, "you"),
    # pre-chorus: "Step into the light now"
    (24.0, 1.0, 62, "step"), (25.0, 0.5, 60, "in"), (25.5, 0.5, 57, "to"), (26.0, 0.5, 57, "the"),
    (26.5, 1.5, 53, "light"), (28.0, 3.0, 56, "now"),
    # chorus: "Sing it out, sing it loud, let the whole room know, oh; sing it out, sing it loud, never let it go"
    (32.0, 1.0, 60, "sing"), (33.0, 0.5, 60, "it"), (33.5, 2.0, 57, "out"),
    (36.0, 1.0, 62, "sing"), (37.0, 0.5, 62, "it"), (37.5, 2.0, 59, "loud"),
    (40.0, 0.5, 60, "let"), (40.5, 0.5, 60, "the"), (41.0, 1.0, 64, "whole"), (42.0, 1.0, 62, "room"),
    (43.0, 1.0, 60, "know"), (44.0, 2.5, 60, "oh"),
    (48.0, 0.5, 60, "sing"), (48.5, 0.5, 60, "it"), (49.0, 1.0, 57, "out"), (50.0, 0.5, 60, "sing"),
    (50.5, 0.5, 60, "it"), (51.0, 1.0, 62, "loud"),
    (52.0, 0.5, 62, "nev"), (52.5, 0.5, 60, "er"), (53.0, 0.5, 59, "let"), (53.5, 0.5, 57, "it"),
    (54.0, 2.0, 59, "go"),
    # outro
    (56.0, 3.0, 57, "oh"), (60.0, 3.0, 55, "oh"),
]

# Backing vocals: sustained "ooh" on two chord tones through the chorus, "ah" in the pre-chorus.
BACKING_BARS = {6: ("ah", [62, 65]), 7: ("ah", [59, 64]), 8: ("ooh", [60, 65]), 9: ("ooh", [59, 62]),
                10: ("ooh", [60, 64]), 11: ("ooh", [60, 64]), 12: ("ooh", [60, 65]), 13: ("ooh", [59, 62])}


def section_of(bar):
    for name, start, length in SECTIONS:
        if start <= bar < start + length:
            return name
    raise ValueError(bar)


class Rng:
    """A tiny LCG so humanised velocities are the same on every run."""

    def __init__(self, seed):
        self.state = seed

    def uniform(self):
        self.state = (self.state * 1103515245 + 12345) % (1 << 31)
        return self.state / (1 << 31)


# --- MIDI -------------------------------------------------------------------------------------------------

TICKS = 480


def varlen(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def write_midi(path, notes, program, channel):
    """notes: (beat, length_beats, note, velocity); written for two loops back to back."""
    events = []
    for loop in range(2):
        for beat, length, note, velocity in notes:
            on = round((beat + loop * LOOP_BEATS) * TICKS)
            off = round((beat + length + loop * LOOP_BEATS) * TICKS)
            events.append((on, 1, bytes([0x90 | channel, note, velocity])))
            events.append((off, 0, bytes([0x80 | channel, note, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    tempo = round(60_000_000 / TEMPO)
    track = bytearray()
    track += b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big")
    if channel != 9:
        track += b"\x00" + bytes([0xC0 | channel, program])
    now = 0
    for tick, _, data in events:
        track += varlen(tick - now) + data
        now = tick
    track += varlen(4 * TICKS) + b"\xff\x2f\x00"  # a bar of silence so the last notes ring out
    with open(path, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS))
        f.write(b"MTrk" + struct.pack(">I", len(track)) + track)


# --- the parts ----------------------------------------------------------------------------------------------

def drum_parts():
    rng = Rng(7)
    kick, snare, overheads = [], [], []

    def vel(base, spread=10):
        return max(1, min(127, int(base + (rng.uniform() - 0.5) * spread)))

    for bar in range(BARS):
        sec = section_of(bar)
        b = bar * BAR_BEATS
        if sec == "intro":
            for i in range(8):
                overheads.append((b + i * 0.5, 0.25, 42, vel(55 if i % 2 else 70)))
            if bar == 1:
                kick.append((b + 3.5, 0.25, 36, vel(80)))
            continue
        if sec in ("verse", "outro"):
            for beat in (0, 1.5, 2.5):
                kick.append((b + beat, 0.25, 36, vel(100)))
            for beat in (1, 3):
                snare.append((b + beat, 0.25, 38, vel(95)))
            for i in range(8):
                overheads.append((b + i * 0.5, 0.25, 42, vel(80 if i % 2 == 0 else 60)))
        elif sec == "pre-chorus":
            for i in range(8 if bar == 6 else 16):
                step = 0.5 if bar == 6 else 0.25
                kick.append((b + i * step, 0.2, 36, vel(70 + i * 2)))
            for i in range(4 if bar == 6 else 16):
                step = 1.0 if bar == 6 else 0.25
                snare.append((b + i * step, 0.2, 38, vel(60 + i * 3)))
            overheads.append((b, 2.0, 49 if bar == 6 else 51, vel(80)))
        elif sec == "chorus":
            for beat in (0, 1, 2, 3, 3.5):
                kick.append((b + beat, 0.25, 36, vel(110)))
            for beat in (1, 3):
                snare.append((b + beat, 0.25, 38, vel(115)))
            for i in range(8):
                overheads.append((b + i * 0.5, 0.25, 46 if i % 2 else 42, vel(85)))
            if bar in (8, 12):
                overheads.append((b, 2.0, 49, vel(110)))
        if bar == 17:  # turnaround fill into the loop
            snare.extend((b + 3 + i * 0.25, 0.2, 38, vel(70 + 10 * i)) for i in range(4))
    return kick, snare, overheads


def bass_part():
    notes = []
    for bar, chord in enumerate(PROGRESSION):
        root = CHORDS[chord][0]
        b = bar * BAR_BEATS
        sec = section_of(bar)
        if sec == "intro":
            notes.append((b, 3.5, root, 80))
        elif sec == "pre-chorus":
            notes.extend((b + i * 0.5, 0.45, root, 90) for i in range(8))
        else:
            pattern = [(0, 1.4, 0), (1.5, 0.9, 0), (2.5, 0.5, 12), (3, 0.9, 7 if chord != "E" else 4)]
            notes.extend((b + t, length, root + offset, 100) for t, length, offset in pattern)
    return notes


def keys_part():
    notes = []
    for bar, chord in enumerate(PROGRESSION):
        tones = CHORDS[chord][1]
        b = bar * BAR_BEATS
        sec = section_of(bar)
        if sec in ("intro", "verse", "outro"):
            # broken chord in eighths
            order = [0, 1, 2, 1, 0, 1, 2, 1]
            notes.extend((b + i * 0.5, 0.9, tones[order[i]] + (12 if i in (2, 6) else 0), 70) for i in range(8))
        elif sec == "pre-chorus":
            notes.extend((b + beat, 0.9, t, 75) for beat in (0, 1, 2, 3) for t in tones)
        else:
            notes.extend((b + beat, 0.45, t + 12, 85) for beat in (0, 0.5, 1.5, 2, 3, 3.5) for t in tones)
    return notes


def pad_part():
    notes = []
    for bar, chord in enumerate(PROGRESSION):
        sec = section_of(bar)
        tones = CHORDS[chord][1]
        velocity = {"intro": 60, "verse": 55, "pre-chorus": 80, "chorus": 90, "outro": 60}[sec]
        notes.extend((bar * BAR_BEATS, 4.0, t - 12, velocity) for t in tones)
    return notes


# --- rendering ----------------------------------------------------------------------------------------------

def run(*cmd):
    if cmd[0] == "sox":
        # -R: sox's dither uses the same random numbers on every run, so the stems are reproducible.
        cmd = ("sox", "-R") + tuple(cmd[1:])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def render_midi(name, notes, program, channel, tmp):
    """Renders two loops with FluidSynth and keeps the second, so the start holds the tails of the end."""
    mid = os.path.join(tmp, name + ".mid")
    raw = os.path.join(tmp, name + "-raw.wav")
    write_midi(mid, notes, program, channel)
    run("fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(RATE), "-T", "wav",
        "-O", "float", "-F", raw, SOUNDFONT, mid)
    return read_float(raw, trim=(LOOP_FRAMES, LOOP_FRAMES))


def read_float(path, trim=None):
    """Reads any WAV via sox into interleaved stereo floats (list of [l, r])."""
    raw = subprocess.run(["sox", "-R", path, "-t", "f32", "-r", str(RATE), "-c", "2", "-"], check=True,
                         capture_output=True).stdout
    samples = array.array("f")
    samples.frombytes(raw)
    if trim:
        start, length = trim
        samples = samples[2 * start: 2 * (start + length)]
        if len(samples) < 2 * length:
            samples.extend([0.0] * (2 * length - len(samples)))
    return samples


def read_mono(path):
    raw = subprocess.run(["sox", "-R", path, "-t", "f32", "-c", "1", "-"], check=True, capture_output=True).stdout
    samples = array.array("f")
    samples.frombytes(raw)
    return samples


def estimate_f0(samples, rate):
    """Median fundamental of the voiced middle of a syllable, by autocorrelation (good enough for tuning)."""
    estimates = []
    window = int(rate * 0.03)
    lo, hi = int(rate / 500), int(rate / 70)
    n = len(samples)
    for centre in (0.35, 0.5, 0.65):
        start = int(n * centre) - window // 2
        seg = samples[max(0, start): max(0, start) + window + hi]
        if len(seg) < window + hi:
            continue
        energy = sum(v * v for v in seg[:window])
        if energy < 1e-4:
            continue
        best, best_lag = 0.0, 0
        for lag in range(lo, hi):
            s = sum(seg[i] * seg[i + lag] for i in range(0, window, 2))
            if s > best:
                best, best_lag = s, lag
        if best_lag:
            estimates.append(rate / best_lag)
    estimates.sort()
    return estimates[len(estimates) // 2] if estimates else None


def sing(text, midi_note, length_s, voice, espeak_pitch, tmp, tag):
    """One sung syllable: espeak-ng says it, sox tunes it to the note and fits it to the length."""
    spoken = os.path.join(tmp, tag + "-spoken.wav")
    trimmed = os.path.join(tmp, tag + "-trim.wav")
    tuned = os.path.join(tmp, tag + "-tuned.wav")
    speed = 110 if length_s > 0.6 else 160
    run("espeak-ng", "-v", voice, "-p", str(espeak_pitch), "-s", str(speed), "-w", spoken,
        "-m", '<speak><prosody range="0">' + text + "</prosody></speak>")
    run("sox", spoken, trimmed, "silence", "1", "0.005", "1%", "reverse", "silence", "1", "0.005", "1%", "reverse")
    source = read_mono(trimmed)
    rate = 22050
    f0 = estimate_f0(source, rate) or 120.0
    target = 440.0 * 2 ** ((midi_note - 69) / 12)
    cents = 1200 * math.log2(target / f0)
    duration = len(source) / rate
    fit = max(0.25, min(4.0, duration / max(0.12, length_s * 0.92)))
    run("sox", trimmed, "-r", str(RATE), tuned, "pitch", "%.1f" % cents, "tempo", "-s", "%.4f" % fit,
        "fade", "t", "0.005", "-0", "0.04")
    return read_mono(tuned)


def place(track, samples, at_frame, gain):
    for i, v in enumerate(samples):
        j = at_frame + i
        if 0 <= j < LOOP_FRAMES:
            track[2 * j] += v * gain
            track[2 * j + 1] += v * gain


def vocal_stem(parts, voice, espeak_pitch, tmp, tag):
    track = array.array("f", [0.0] * (2 * LOOP_FRAMES))
    for k, (beat, length, note, text) in enumerate(parts):
        samples = sing(text, note, length * BEAT_S, voice, espeak_pitch, tmp, "%s%03d" % (tag, k))
        # Consonants lead the beat slightly, as singers do.
        place(track, samples, round(beat * BEAT_S * RATE) - int(0.03 * RATE), 1.0)
    return track


def peak(samples):
    return max(abs(v) for v in samples) if samples else 0.0


def rms_db(samples):
    active = [v for v in samples if abs(v) > 1e-4]
    if not active:
        return -120.0
    return 10 * math.log10(sum(v * v for v in active) / len(active))


def write_stem(name, samples, target_rms_db, tmp):
    """Scales a stem to its level in the arrangement, caps its peak at -1.5 dBFS, writes OGG Vorbis."""
    gain_db = target_rms_db - rms_db(samples)
    p = peak(samples) * 10 ** (gain_db / 20)
    cap = 10 ** (-1.5 / 20)
    if p > cap:
        gain_db += 20 * math.log10(cap / p)
    g = 10 ** (gain_db / 20)
    scaled = array.array("f", (v * g for v in samples))
    raw = os.path.join(tmp, name + ".f32")
    with open(raw, "wb") as f:
        scaled.tofile(f)
    out = os.path.join(OUT, name + ".ogg")
    run("sox", "-t", "f32", "-r", str(RATE), "-c", "2", raw, "-C", "5", out)
    print("  %-10s peak %6.2f dBFS  rms %6.1f dB  -> %s" % (name, 20 * math.log10(max(peak(scaled), 1e-9)),
                                                            rms_db(scaled), os.path.relpath(out, HERE)))


def write_song_notes():
    lines = ["# Closer — the Proxemix demo song", "",
             "An original arrangement made for Proxemix by `make_demo_song.py`: %d BPM, 4/4, %d bars, %.1f s, "
             "A minor. It loops: the last bar (G) leads back to the first (Am)." % (TEMPO, BARS, LOOP_FRAMES / RATE),
             "", "| section | bars | starts at (s) | length (s) |", "|---|---|---|---|"]
    for name, start, length in SECTIONS:
        lines.append("| %s | %d–%d | %.2f | %.2f |" % (name, start + 1, start + length, start * BAR_BEATS * BEAT_S,
                                                       length * BAR_BEATS * BEAT_S))
    lines += ["", "Chords, one per bar: " + " ".join(PROGRESSION), "",
              "Stems (all %d Hz stereo OGG Vorbis, %d frames, starting together at 0): kick, snare, overheads, "
              "bass, keys, pad, vocal (lead), backing (backing vocals)." % (RATE, LOOP_FRAMES), "",
              "Lyrics: \"Come a little closer, hear me when I whisper, every little word I say is only meant "
              "for you. Step into the light now. Sing it out, sing it loud, let the whole room know, oh. Sing it "
              "out, sing it loud, never let it go.\"", ""]
    with open(os.path.join(OUT, "SONG.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    for tool in ("fluidsynth", "espeak-ng", "sox"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            sys.exit("make_demo_song: %s is missing (run `make demo-song`, which installs it)" % tool)
    if not os.path.exists(SOUNDFONT):
        sys.exit("make_demo_song: %s is missing (Debian package fluid-soundfont-gm)" % SOUNDFONT)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        kick, snare, overheads = drum_parts()
        print("rendering instruments with FluidSynth (FluidR3_GM)")
        stems = [
            ("kick", render_midi("kick", kick, 0, 9, tmp), -16.0),
            ("snare", render_midi("snare", snare, 0, 9, tmp), -19.0),
            ("overheads", render_midi("overheads", overheads, 0, 9, tmp), -24.0),
            ("bass", render_midi("bass", bass_part(), 33, 0, tmp), -16.0),  # fingered electric bass
            ("keys", render_midi("keys", keys_part(), 4, 0, tmp), -21.0),  # electric piano
            ("pad", render_midi("pad", pad_part(), 49, 0, tmp), -24.0),  # slow strings
        ]
        print("singing with espeak-ng")
        stems.append(("vocal", vocal_stem(LEAD, "en-us", 70, tmp, "lead"), -17.0))
        backing = []
        for bar, (text, notes) in sorted(BACKING_BARS.items()):
            for note in notes:
                backing.append((bar * BAR_BEATS, 3.8, note, text))
        stems.append(("backing", vocal_stem(backing, "en-us+f2", 50, tmp, "back"), -25.0))
        print("writing stems to", os.path.relpath(OUT, os.getcwd()))
        for name, samples, level in stems:
            write_stem(name, samples, level, tmp)
    write_song_notes()


if __name__ == "__main__":
    main()
