#!/usr/bin/env python3
"""Build Reelsmith's beat-tracking evaluation set: MIDI excerpts rendered through fluidsynth, exact truth from the
tempo map.

Usage:
    make_set.py OUTDIR [--quick] [--only NAME[,NAME]] [--soundfont SF2] [--rate HZ] [--keep-midi]

Writes OUTDIR/NAME.wav (and OUTDIR/midi/NAME.mid) for every excerpt and OUTDIR/truth.json, a list of
    {"file", "category", "beats", "downbeats", "meter", "tempo", ...}
with beat and downbeat times in seconds computed from the MIDI tempo map (the same integer microseconds per quarter
that the file carries, so they are what fluidsynth plays). The beat is the quarter note in 4/4 and 3/4 (swing
included) and the dotted quarter in 6/8; `tempo` is the initial tempo in beats per minute.

Everything is seeded: the same command writes the same MIDI files and truth.json on any machine; the WAV files are
then byte-identical for the same fluidsynth and soundfont. Needs only the Python standard library and the
`fluidsynth` program with a General MIDI soundfont (Debian: `apt-get install fluidsynth timgm6mb-soundfont`;
`--soundfont` or REELSMITH_SOUNDFONT picks another one).

--quick writes a small slice for tests: 6 excerpts of 15 s (steady, swing, syncopation, tempo change, 3/4, 6/8).
"""
import argparse
import array
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import wave

PPQ = 480
SOUNDFONTS = [
    "/usr/share/sounds/sf2/TimGM6mb.sf2",          # Debian timgm6mb-soundfont (6 MB): the one CI installs
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",        # Debian fluid-soundfont-gm (142 MB)
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
]

# ---------------------------------------------------------------------------------------------------------------
# Standard MIDI file writing


def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def track_chunk(events):
    """events: list of (tick, order, bytes); order sorts same-tick events (note-offs before note-ons)."""
    events = sorted(events, key=lambda e: (e[0], e[1]))
    data = bytearray()
    last = 0
    for tick, _, msg in events:
        data += vlq(tick - last) + msg
        last = tick
    data += vlq(0) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(data)) + bytes(data)


class Song:
    """A MIDI song under construction: a tempo map (tick -> microseconds per quarter) and one track per channel."""

    def __init__(self, meter, rng):
        self.meter = meter
        self.rng = rng
        self.beats_per_bar, self.beat_ticks = {"4/4": (4, PPQ), "3/4": (3, PPQ), "6/8": (2, PPQ * 3 // 2)}[meter]
        self.bar_ticks = self.beats_per_bar * self.beat_ticks
        self.tempo = []  # (tick, us per quarter)
        self.tracks = {}  # channel -> {"program", "events", "name"}
        self.end_tick = 0

    # tempo map ------------------------------------------------------------------------------------------------
    def us_per_quarter(self, beat_bpm):
        return int(round(60e6 / beat_bpm * PPQ / self.beat_ticks))

    def set_tempo(self, tick, beat_bpm):
        us = self.us_per_quarter(beat_bpm)
        if self.tempo and self.tempo[-1][0] == tick:
            self.tempo[-1] = (tick, us)
        elif not self.tempo or self.tempo[-1][1] != us:
            self.tempo.append((tick, us))

    def seconds(self, tick):
        t, prev_tick, us = 0.0, 0, self.tempo[0][1]
        for ev_tick, ev_us in self.tempo:
            if ev_tick >= tick:
                break
            t += (ev_tick - prev_tick) * us / 1e6 / PPQ
            prev_tick, us = ev_tick, ev_us
        return t + (tick - prev_tick) * us / 1e6 / PPQ

    def beat_bpm_at(self, tick):
        us = self.tempo[0][1]
        for ev_tick, ev_us in self.tempo:
            if ev_tick > tick:
                break
            us = ev_us
        return 60e6 / us * PPQ / self.beat_ticks

    # notes ----------------------------------------------------------------------------------------------------
    def instrument(self, channel, program, name=""):
        self.tracks[channel] = {"program": program, "events": [], "name": name}

    def note(self, channel, tick, dur, pitch, vel, jitter=4.0):
        """A note with humanised timing (gaussian, `jitter` ticks sd) and clamped velocity."""
        if jitter:
            tick = int(round(tick + self.rng.gauss(0, jitter)))
        tick = max(0, tick)
        vel = max(1, min(127, int(round(vel))))
        pitch = max(0, min(127, int(pitch)))
        dur = max(10, int(dur))
        ev = self.tracks[channel]["events"]
        ev.append((tick, 1, bytes([0x90 | channel, pitch, vel])))
        ev.append((tick + dur, 0, bytes([0x80 | channel, pitch, 0])))
        self.end_tick = max(self.end_tick, tick + dur)

    def write(self, path):
        num, den = {"4/4": (4, 4), "3/4": (3, 4), "6/8": (6, 8)}[self.meter]
        clocks = 24 if den == 4 else 36
        meta = [(0, 0, b"\xff\x58\x04" + bytes([num, int(math.log2(den)), clocks, 8]))]
        for tick, us in self.tempo:
            meta.append((tick, 1, b"\xff\x51\x03" + us.to_bytes(3, "big")))
        chunks = [track_chunk(meta)]
        for channel in sorted(self.tracks):
            tr = self.tracks[channel]
            head = [(0, -2, b"\xff\x03" + vlq(len(tr["name"])) + tr["name"].encode()),
                    (0, -1, bytes([0xC0 | channel, tr["program"]]))]
            if channel != 9:
                head.append((0, -1, bytes([0xB0 | channel, 7, 100])))
            chunks.append(track_chunk(head + tr["events"]))
        header = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), PPQ)
        with open(path, "wb") as f:
            f.write(header + b"".join(chunks))


# ---------------------------------------------------------------------------------------------------------------
# Musical material

DRUM = 9
KICK, RIM, SNARE, CLAP, SNARE2, LTOM, CHH, MTOM, PHH, HTOM, OHH, CRASH, RIDE, BELL, TAMB, COWBELL = \
    36, 37, 38, 39, 40, 45, 42, 47, 44, 50, 46, 49, 51, 53, 54, 56
SHAKER, CLAVES, HWOOD, LWOOD, HCONGA, LCONGA = 70, 75, 76, 77, 63, 64

# Grid strings: one character per step, the pattern spread evenly over `bars` bars.
# X accent, x normal, o ghost, . rest.
VEL = {"X": 112, "x": 92, "o": 42, "-": 70}

DRUMS = {
    # 4/4, 16 steps a bar
    "rock":     {KICK: "x.......x.x.....", SNARE: "....X.......X...", CHH: "x.x.x.x.x.x.x.x."},
    "pop16":    {KICK: "x.....x.x.......", SNARE: "....X.......X...", CHH: "xoxoxoxoxoxoxoxo"},
    "house":    {KICK: "X...X...X...X...", CLAP: "....x.......x...", OHH: "..x...x...x...x.", CHH: "x.o.x.o.x.o.x.o."},
    "boombap":  {KICK: "x.........x..x..", SNARE: "....X.......X...", CHH: "x.x.x.x.x.x.x.xo"},
    "punk":     {KICK: "x.x.....x.x.....", SNARE: "....X.......X...", CHH: "x.x.x.x.x.x.x.x.", CRASH: "x..............."},
    "halftime": {KICK: "x.......x.....x.", SNARE: "........X.......", CHH: "x.x.x.x.x.x.x.x."},
    # syncopated: the kick mostly avoids the beats after the one
    "funk":     {KICK: "x.x....x..x..x..", SNARE: "....X..o.o..X..o", CHH: "xoxoxoxoxoxoxoxo"},
    "breakbeat": {KICK: "x.x.......xx....", SNARE: "....X..o.o..X..o", RIDE: "x.x.x.x.x.x.x.x."},
    "twostep":  {KICK: "x.........x..x..", SNARE: "....X.......X...", CHH: "..x...x...x...x.", SHAKER: "oxooxoxooxoooxox"},
    "dembow":   {KICK: "x...x...x...x...", SNARE: "...x..x....x..x.", CHH: "x.x.x.x.x.x.x.x."},
    "clave32":  {RIM: "x..x..x...x.x...", KICK: "x..x....x..x....", SHAKER: "xoxoxoxoxoxoxoxo",
                 LCONGA: ".......x.....x.x"},
    "afrobeat": {KICK: "x.....x...x.....", SNARE: "..o.X..o..o.X.o.", CHH: "x.xxx.xxx.xxx.xx", COWBELL: "x..x..x...x.x..."},
    # swing, 12 steps a bar (triplet eighths)
    "jazzride": {RIDE: "x..x.xx..x.x", PHH: "...x.....x..", KICK: "o..o..o..o.."},
    "shuffle":  {KICK: "x.....x.....", SNARE: "...X.....X..", CHH: "x.xx.xx.xx.x"},
    "swinghop": {KICK: "x.....x.x...", SNARE: "...X.....X..", CHH: "x.xx.xx.xx.x"},
    # 3/4, 12 steps a bar (sixteenths)
    "waltz":    {KICK: "x...........", SNARE: "....o...o...", CHH: "x.x.x.x.x.x."},
    "waltzrock": {KICK: "x.......x...", SNARE: "....X.......", CHH: "x.x.x.x.x.x."},
    "jazzwaltz": {RIDE: "x...x.xx.x.x", PHH: "....x...x...", KICK: "o..........."},
    "brushwaltz": {SNARE: "o.o.o.o.o.o.", KICK: "x...........", RIDE: "x...x...x..."},
    # 6/8, 12 steps a bar (sixteenths; 6 eighths)
    "ballad68": {KICK: "x...........", SNARE: "......X.....", CHH: "x.x.x.x.x.x."},
    "rock68":   {KICK: "x...x.......", SNARE: "......X.....", CHH: "x.x.x.x.x.x.", CRASH: "x..........."},
    "afro68":   {BELL: "x...x...x.x...x...x...x.", SHAKER: "x.o.o.x.o.o.x.o.o.x.o.o.",
                 KICK: "x...........x...........", LCONGA: "......x.x.........x.x..."},
    "jig68":    {KICK: "x.....x.....", TAMB: "x.o.o.x.o.o."},
}

# Chord progressions: scale-degree triads (0-based degree, quality); "m" minor, "" major, "7" dominant, "m7", "M7".
PROGS = {
    "pop": [(0, ""), (4, ""), (5, "m"), (3, "")],
    "pop2": [(5, "m"), (3, ""), (0, ""), (4, "")],
    "rock": [(0, ""), (6, ""), (3, ""), (0, "")],
    "minor": [(0, "m"), (5, ""), (2, ""), (6, "")],
    "minor2": [(0, "m"), (3, "m"), (4, "m"), (0, "m")],
    "jazz": [(1, "m7"), (4, "7"), (0, "M7"), (5, "7")],
    "blues": [(0, "7"), (0, "7"), (3, "7"), (0, "7"), (4, "7"), (3, "7"), (0, "7"), (4, "7")],
    "funk": [(0, "m7"), (0, "m7"), (3, "7"), (0, "m7")],
    "waltz": [(0, ""), (0, ""), (4, "7"), (4, "7"), (4, "7"), (4, "7"), (0, ""), (0, "")],
    "folk": [(0, ""), (4, ""), (0, ""), (3, "")],
}
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
QUALITY = {"": [0, 4, 7], "m": [0, 3, 7], "7": [0, 4, 7, 10], "m7": [0, 3, 7, 10], "M7": [0, 4, 7, 11]}

# GM programs (0-based)
PIANO, EPIANO, ORGAN, NYLON, STEEL, CLEANGTR, MUTEDGTR = 0, 4, 16, 24, 25, 27, 28
ACBASS, FINGERBASS, PICKBASS, SYNBASS, TUBA = 32, 33, 34, 38, 58
STRINGS, SLOWSTR, CHOIR, WARMPAD, POLYPAD, HALOPAD = 48, 49, 52, 89, 90, 94
FLUTE, ALTOSAX, TENORSAX, TRUMPET, CLARINET, VIBES, SQUARE, SAWLEAD, VIOLIN, ACCORDION, WHISTLE, FIDDLE = \
    73, 65, 66, 56, 71, 11, 80, 81, 40, 21, 78, 110


def parse_grid(pattern, ticks_total):
    step = ticks_total / len(pattern)
    return [(int(round(i * step)), c) for i, c in enumerate(pattern) if c != "."]


class Arranger:
    """Fills a Song with drums, bass, chords and melody, bar by bar."""

    def __init__(self, song, key, scale, prog, rng):
        self.s, self.key, self.scale, self.prog, self.rng = song, key, scale, PROGS[prog], rng

    def chord(self, bar):
        deg, qual = self.prog[bar % len(self.prog)]
        root = self.key + self.scale[deg % 7]
        return root, [root + iv for iv in QUALITY[qual]]

    def drums(self, bar, name, fill=False, crash=False, vel_scale=1.0):
        pat = DRUMS[name]
        s = self.s
        start = bar * s.bar_ticks
        for note, grid in pat.items():
            bars = max(1, len(grid) // self.steps_per_bar(name))
            span = bars * s.bar_ticks
            off = (bar % bars) * s.bar_ticks
            for t, c in parse_grid(grid, span):
                if off <= t < off + s.bar_ticks:
                    if fill and t - off >= s.bar_ticks - s.beat_ticks and note not in (KICK,):
                        continue
                    v = VEL[c] * vel_scale + self.rng.gauss(0, 6)
                    s.note(DRUM, start + t - off, 60, note, v, jitter=3)
        if fill:  # a snare/tom run over the bar's last beat
            n = 4 if s.meter != "6/8" else 3
            step = s.beat_ticks // n
            toms = [SNARE, SNARE, HTOM, MTOM, LTOM, LTOM]
            for i in range(n):
                t = start + s.bar_ticks - s.beat_ticks + i * step
                s.note(DRUM, t, 60, toms[(i + self.rng.randrange(2)) % len(toms)], 85 + 6 * i, jitter=3)
        if crash:
            s.note(DRUM, start, 200, CRASH, 100 + self.rng.gauss(0, 5), jitter=2)

    def steps_per_bar(self, name):
        if name in ("jazzride", "shuffle", "swinghop") or self.s.meter != "4/4":
            return 12
        return 16

    def bass(self, bar, grid, ch=1, octave=-12, vel=88, staccato=False, walk=False):
        s = self.s
        root, tones = self.chord(bar)
        nroot, _ = self.chord(bar + 1)
        start = bar * s.bar_ticks
        hits = parse_grid(grid, s.bar_ticks)
        step = s.bar_ticks // len(grid)
        for i, (t, c) in enumerate(hits):
            if walk:
                if i == len(hits) - 1:
                    p = nroot + self.rng.choice([-1, 1, -2, 2])  # chromatic or scale approach
                else:
                    p = tones[i % len(tones)] if i else root
            else:
                choice = self.rng.random()
                p = root if (i == 0 or choice < 0.6) else (root + 7 if choice < 0.85 else root + 12)
            nxt = hits[i + 1][0] if i + 1 < len(hits) else s.bar_ticks
            dur = step * 0.8 if staccato else (nxt - t) * 0.9
            s.note(ch, start + t, dur, p + octave, VEL[c] * vel / 92 + self.rng.gauss(0, 6), jitter=5)

    def comp(self, bar, grid, ch=2, vel=70, octave=12, dur=None, spread=False):
        s = self.s
        _, tones = self.chord(bar)
        start = bar * s.bar_ticks
        hits = parse_grid(grid, s.bar_ticks)
        for i, (t, c) in enumerate(hits):
            nxt = hits[i + 1][0] if i + 1 < len(hits) else s.bar_ticks
            d = dur if dur else (nxt - t) * 0.92
            for j, p in enumerate(sorted(tones)):
                pitch = p + octave + (12 if spread and j == 0 else 0)
                s.note(ch, start + t + (j * 6 if spread else 0), d, pitch, VEL[c] * vel / 92 + self.rng.gauss(0, 5),
                       jitter=6)

    def pad(self, bar, ch=3, vel=62, octave=12):
        s = self.s
        _, tones = self.chord(bar)
        for p in tones:
            s.note(ch, bar * s.bar_ticks, s.bar_ticks - 20, p + octave, vel + self.rng.gauss(0, 4), jitter=0)

    def arp(self, bar, steps, ch=2, vel=72, octave=12, pattern=(0, 1, 2, 3, 2, 1)):
        s = self.s
        _, tones = self.chord(bar)
        tones = sorted(tones) + [tones[0] + 12]
        step = s.bar_ticks // steps
        for i in range(steps):
            p = tones[pattern[i % len(pattern)] % len(tones)] + octave
            accent = 14 if (i * step) % s.beat_ticks == 0 else 0
            s.note(ch, bar * s.bar_ticks + i * step, step * 1.4, p, vel + accent + self.rng.gauss(0, 5), jitter=5)

    def melody(self, bar, grid, ch=4, vel=84, octave=24, state=None):
        """A random walk over the scale, leaning on chord tones at the bar's start."""
        s = self.s
        root, tones = self.chord(bar)
        hits = parse_grid(grid, s.bar_ticks)
        deg = state.get("deg", 2) if state is not None else 2
        for i, (t, c) in enumerate(hits):
            if self.rng.random() < 0.18:
                continue  # a rest
            deg += self.rng.choice([-2, -1, -1, 1, 1, 2, 0])
            deg = max(-2, min(9, deg))
            p = self.key + self.scale[deg % 7] + 12 * (deg // 7)
            if i == 0:
                p = min(tones, key=lambda x: abs((x % 12) - (p % 12))) % 12 + (p // 12) * 12
            nxt = hits[i + 1][0] if i + 1 < len(hits) else s.bar_ticks
            s.note(ch, bar * s.bar_ticks + t, (nxt - t) * 0.85, p + octave, VEL[c] * vel / 92 + self.rng.gauss(0, 7),
                   jitter=8)
        if state is not None:
            state["deg"] = deg


# ---------------------------------------------------------------------------------------------------------------
# Excerpts


def plan_bars(song, seconds, tempo_fn):
    """Lay the tempo map (one event per sixteenth of a beat-quarter) until `seconds` plus a bar; return bar count.

    tempo_fn(beat_position) -> beat BPM, where beat_position counts beats from the start.
    """
    step = song.beat_ticks // 4
    tick = 0
    while True:
        song.set_tempo(tick, tempo_fn(tick / song.beat_ticks))
        tick += step
        if tick % song.bar_ticks == 0 and song.seconds(tick) >= seconds + 0.01:
            return tick // song.bar_ticks


def ramp(b0, b1, total_beats, start=0.0):
    def fn(pos):
        if pos <= start:
            return b0
        f = min(1.0, (pos - start) / max(1e-9, total_beats - start))
        return b0 + (b1 - b0) * f
    return fn


def excerpt_list():
    """Every excerpt of the full set: (name, category, meter, recipe kwargs)."""
    E = []

    def add(name, category, meter, **kw):
        E.append({"name": name, "category": category, "meter": meter, **kw})

    # steady drums, tempos 70-180
    add("steady-boombap-72", "steady", "4/4", style="boombap", bpm=72, prog="minor", seconds=26)
    add("steady-rock-96", "steady", "4/4", style="rock", bpm=96, prog="rock", seconds=26)
    add("steady-house-124", "steady", "4/4", style="house", bpm=124, prog="minor2", seconds=24)
    add("steady-pop-140", "steady", "4/4", style="pop16", bpm=140, prog="pop", seconds=24)
    add("steady-punk-176", "steady", "4/4", style="punk", bpm=176, prog="rock", seconds=22)
    # swing: the beat is the quarter note
    add("swing-jazz-132", "swing", "4/4", style="jazzride", bpm=132, prog="jazz", seconds=26)
    add("swing-jazz-176", "swing", "4/4", style="jazzride", bpm=176, prog="jazz", seconds=24)
    add("swing-shuffle-112", "swing", "4/4", style="shuffle", bpm=112, prog="blues", seconds=26)
    add("swing-hiphop-90", "swing", "4/4", style="swinghop", bpm=90, prog="minor", seconds=26)
    # syncopation
    add("sync-funk-100", "syncopation", "4/4", style="funk", bpm=100, prog="funk", seconds=26)
    add("sync-breakbeat-136", "syncopation", "4/4", style="breakbeat", bpm=136, prog="minor", seconds=24)
    add("sync-reggaeton-94", "syncopation", "4/4", style="dembow", bpm=94, prog="pop2", seconds=26)
    add("sync-twostep-132", "syncopation", "4/4", style="twostep", bpm=132, prog="minor2", seconds=24)
    add("sync-clave-116", "syncopation", "4/4", style="clave32", bpm=116, prog="minor", seconds=26)
    add("sync-afrobeat-108", "syncopation", "4/4", style="afrobeat", bpm=108, prog="funk", seconds=26)
    # sections without drums
    add("nodrums-intro-100", "no-drums", "4/4", style="pop16", bpm=100, prog="pop", seconds=28, nodrums=(0, 0.45))
    add("nodrums-break-120", "no-drums", "4/4", style="rock", bpm=120, prog="pop2", seconds=28, nodrums=(0.35, 0.7))
    add("nodrums-ballad-84", "no-drums", "4/4", style=None, bpm=84, prog="pop", seconds=28, nodrums=(0, 1))
    add("nodrums-pads-110", "no-drums", "4/4", style="house", bpm=110, prog="minor", seconds=28, nodrums=(0, 0.5),
        padonly=True)
    # gradual tempo drift
    add("drift-up-100-124", "drift", "4/4", style="rock", bpm=100, bpm_end=124, prog="rock", seconds=28)
    add("drift-down-132-108", "drift", "4/4", style="pop16", bpm=132, bpm_end=108, prog="pop", seconds=28)
    add("drift-wave-92", "drift", "4/4", style="funk", bpm=92, wave=0.12, prog="funk", seconds=28)
    add("drift-up-140-164", "drift", "4/4", style="house", bpm=140, bpm_end=164, prog="minor2", seconds=26)
    # sudden tempo change (at a bar line near the middle; ratios away from 2:1 and 3:2)
    add("change-96-128", "tempo-change", "4/4", style="rock", bpm=96, bpm_change=128, prog="rock", seconds=28)
    add("change-150-110", "tempo-change", "4/4", style="pop16", bpm=150, bpm_change=110, prog="pop", seconds=26)
    add("change-84-124", "tempo-change", "4/4", style="boombap", style2="house", bpm=84, bpm_change=124,
        prog="minor", seconds=28)
    add("change-126-100", "tempo-change", "4/4", style="house", style2="funk", bpm=126, bpm_change=100,
        prog="minor2", seconds=26)
    # 3/4
    add("waltz-orchestra-168", "3/4", "3/4", style="waltz", bpm=168, prog="waltz", seconds=24, oompah=True)
    add("waltz-pop-96", "3/4", "3/4", style="waltzrock", bpm=96, prog="pop", seconds=26)
    add("waltz-jazz-138", "3/4", "3/4", style="jazzwaltz", bpm=138, prog="jazz", seconds=26)
    add("waltz-brush-80", "3/4", "3/4", style="brushwaltz", bpm=80, prog="folk", seconds=28, oompah=True)
    # 6/8: the beat is the dotted quarter (tempo in dotted quarters per minute)
    add("68-ballad-58", "6/8", "6/8", style="ballad68", bpm=58, prog="pop", seconds=28)
    add("68-rock-72", "6/8", "6/8", style="rock68", bpm=72, prog="minor", seconds=26)
    add("68-afro-84", "6/8", "6/8", style="afro68", bpm=84, prog="minor2", seconds=26)
    add("68-jig-104", "6/8", "6/8", style="jig68", bpm=104, prog="folk", seconds=24)
    # added noise (white/pink at moderate SNR)
    add("noise-white10-rock-118", "noise", "4/4", style="rock", bpm=118, prog="pop", seconds=24, noise=("white", 10))
    add("noise-pink6-house-126", "noise", "4/4", style="house", bpm=126, prog="minor2", seconds=24, noise=("pink", 6))
    add("noise-white6-funk-104", "noise", "4/4", style="funk", bpm=104, prog="funk", seconds=24, noise=("white", 6))
    add("noise-pink10-shuffle-146", "noise", "4/4", style="shuffle", bpm=146, prog="blues", seconds=24,
        noise=("pink", 10))
    return E


QUICK = ["steady-rock-96", "swing-shuffle-112", "sync-funk-100", "change-96-128", "waltz-pop-96", "68-rock-72"]


def compose(spec, seed):
    """Build the Song for one excerpt spec."""
    rng = random.Random(seed)
    meter = spec["meter"]
    song = Song(meter, rng)
    seconds = spec["seconds"]
    b0 = spec["bpm"]
    est_beats = seconds * b0 / 60
    if "bpm_end" in spec:
        fn = ramp(b0, spec["bpm_end"], seconds * (b0 + spec["bpm_end"]) / 120)
    elif "wave" in spec:
        w = spec["wave"]
        fn = lambda pos: b0 * (1 + w * math.sin(2 * math.pi * pos / (est_beats * 0.9)))
    elif "bpm_change" in spec:
        bar_at = max(2, int(round(0.45 * est_beats / song.beats_per_bar)))
        # the change lands at a bar line at least 5 s in
        while song.beats_per_bar * bar_at * 60 / b0 < 6.0:
            bar_at += 1
        spec["change_bar"] = bar_at
        fn = lambda pos: b0 if pos < bar_at * song.beats_per_bar else spec["bpm_change"]
    else:
        fn = lambda pos: b0
    nbars = plan_bars(song, seconds, fn)

    key = rng.choice([40, 41, 43, 45, 46, 47, 48]) + 12  # bass-octave root, one octave up
    minor = spec["prog"].startswith("minor") or spec["prog"] in ("funk",)
    arr = Arranger(song, key, MINOR if minor else MAJOR, spec["prog"], rng)
    style = spec.get("style")
    swing = style in ("jazzride", "shuffle", "swinghop")

    # instruments per style family
    if swing:
        bass_prog, comp_prog, lead_prog = (ACBASS if style == "jazzride" else FINGERBASS,
                                           rng.choice([PIANO, EPIANO, ORGAN]), rng.choice([TENORSAX, TRUMPET, VIBES]))
    elif meter == "6/8" and style == "jig68":
        bass_prog, comp_prog, lead_prog = ACBASS, NYLON, rng.choice([FIDDLE, WHISTLE, FLUTE])
    elif meter == "3/4" and spec.get("oompah"):
        bass_prog, comp_prog, lead_prog = rng.choice([TUBA, ACBASS]), STRINGS, rng.choice([VIOLIN, FLUTE, ACCORDION])
    elif style in ("house", "twostep", "dembow"):
        bass_prog, comp_prog, lead_prog = SYNBASS, rng.choice([POLYPAD, EPIANO]), rng.choice([SAWLEAD, SQUARE])
    elif style in ("funk", "afrobeat", "clave32"):
        bass_prog, comp_prog, lead_prog = FINGERBASS, rng.choice([CLEANGTR, MUTEDGTR, EPIANO]), \
            rng.choice([ALTOSAX, TRUMPET, FLUTE])
    else:
        bass_prog, comp_prog, lead_prog = rng.choice([FINGERBASS, PICKBASS]), rng.choice([PIANO, STEEL, EPIANO]), \
            rng.choice([CLARINET, FLUTE, SQUARE, VIOLIN])
    song.instrument(DRUM, 0, "drums")
    song.instrument(1, bass_prog, "bass")
    song.instrument(2, comp_prog, "chords")
    song.instrument(3, rng.choice([WARMPAD, SLOWSTR, CHOIR, HALOPAD]), "pad")
    song.instrument(4, lead_prog, "lead")

    nd = spec.get("nodrums")
    mel_state = {}
    change_bar = spec.get("change_bar")
    for bar in range(nbars + 1):
        frac = bar / max(1, nbars)
        no_drums = nd is not None and nd[0] <= frac < nd[1]
        st = spec.get("style2") if (change_bar is not None and spec.get("style2") and bar >= change_bar) else style
        section_start = bar == 0 or (change_bar is not None and bar == change_bar) or (
            nd is not None and not no_drums and bar > 0 and (bar - 1) / max(1, nbars) < nd[1] <= frac)
        phrase_end = bar % 8 == 7 or (change_bar is not None and bar == change_bar - 1)

        # drums
        if st and not no_drums:
            arr.drums(bar, st, fill=phrase_end and st not in ("jazzride", "jazzwaltz", "jig68", "clave32"),
                      crash=(bar % 8 == 0 or section_start) and st not in ("jig68",) and bar > 0)

        # bass, chords, pad and lead by style
        if spec.get("padonly") and no_drums:
            arr.pad(bar, vel=60)
            continue
        if meter == "4/4":
            if swing:
                if style == "jazzride":
                    arr.bass(bar, "x..x..x..x..", walk=True, vel=90)
                    comp = rng.choice(["...x......x.", "..x.....x...", "x.....x..x..", ".....x....x."])
                    arr.comp(bar, comp, vel=64, dur=200)
                    arr.melody(bar, rng.choice(["x.xx.xx.xx.x", "x..x.xx.x..x", "x.x..xx.xx.."]), state=mel_state)
                else:
                    arr.bass(bar, "x.xx.xx.xx.x", vel=86)
                    arr.comp(bar, "...x.....x..", vel=66, dur=260)
                    if bar % 2 == 1 or style == "swinghop":
                        arr.melody(bar, rng.choice(["x.x..xx.x...", "..xx.x..x.x."]), state=mel_state)
            elif st is None or no_drums:
                # no drums: piano/guitar arpeggio or sustained pad, bass on the one
                if spec.get("padonly"):
                    arr.pad(bar)
                else:
                    arr.arp(bar, 8, vel=70)
                    arr.bass(bar, "x.......", vel=80)
                    if style is None:
                        arr.pad(bar, vel=48)
                    if bar % 2 == 0 and style is None:
                        arr.melody(bar, "x...x.x.", state=mel_state, vel=76)
            elif st in ("funk", "afrobeat"):
                arr.bass(bar, rng.choice(["x..x..x.x.x..x..", "x.xx...x..x.x..x", "x..x.x...xx.x..."]), staccato=True)
                arr.comp(bar, rng.choice([".x.x.xx..x.x.x.x", "..x..x.x..x..x.x"]), vel=60, dur=70)
                if bar % 2 == 1:
                    arr.melody(bar, "x.x..x.xx...x.x.", state=mel_state)
            elif st in ("breakbeat", "twostep", "clave32", "dembow"):
                arr.bass(bar, {"breakbeat": "x.....x...x.....", "twostep": "x..x......x..x..",
                               "clave32": "x.....x.x.....x.", "dembow": "x..x..x.x..x..x."}[st], staccato=st == "dembow")
                arr.comp(bar, "..x...x...x...x." if st != "clave32" else "x..x..x...x.x...", vel=58, dur=120)
                arr.pad(bar, vel=44)
                if bar % 2 == 0:
                    arr.melody(bar, "x..x..x...x.x...", state=mel_state)
            elif st == "house":
                arr.bass(bar, "..x...x...x...x.", staccato=True)
                arr.comp(bar, "...x.....x..x...", vel=62, dur=100)
                arr.pad(bar, vel=46)
                if bar % 4 >= 2:
                    arr.melody(bar, "x.x.x...x.x.x...", state=mel_state)
            else:  # rock, pop16, boombap, punk, halftime
                arr.bass(bar, {"rock": "x.x.x.x.x.x.x.x.", "pop16": "x..x..x.x.......", "boombap": "x.........x..x..",
                               "punk": "x.x.x.x.x.x.x.x.", "halftime": "x.......x.....x."}.get(st, "x...x...x...x..."))
                if st == "boombap":
                    arr.comp(bar, "x.......x.......", vel=60)
                else:
                    arr.comp(bar, "x...x...x...x..." if st != "pop16" else "x..x..x...x.x...", vel=66)
                arr.pad(bar, vel=42)
                if bar % 4 in (1, 2):
                    arr.melody(bar, "x.x.x..xx...x.x.", state=mel_state)
        elif meter == "3/4":
            if spec.get("oompah") or st in ("waltz", "brushwaltz"):
                arr.bass(bar, "x...........", vel=92)
                arr.comp(bar, "....x...x...", vel=66, dur=300)
            elif st == "jazzwaltz":
                arr.bass(bar, "x...x...x...", walk=True)
                arr.comp(bar, rng.choice(["..x.....x...", "....x.....x.", "x.......x..."]), vel=60, dur=200)
            else:
                arr.bass(bar, "x.......x...")
                arr.arp(bar, 6, vel=64, pattern=(0, 1, 2, 1, 2, 1))
            arr.pad(bar, vel=44)
            if bar % 2 == 0:
                arr.melody(bar, rng.choice(["x...x...x...", "x.....x.x...", "x.......x.x."]), state=mel_state)
        else:  # 6/8
            if st == "jig68":
                arr.bass(bar, "x.....x.....")
                arr.comp(bar, "x...x.x...x.", vel=64, dur=200)
                arr.melody(bar, "x.x.x.x.x.x.", state=mel_state, vel=80)
            else:
                arr.bass(bar, "x.....x.....", vel=88)
                arr.arp(bar, 6, vel=64, pattern=(0, 2, 3, 1, 2, 3))
                arr.pad(bar, vel=42)
                if bar % 2 == 1:
                    arr.melody(bar, rng.choice(["x...x.x.....", "x.....x...x.", "x...x...x..."]), state=mel_state)
    return song, nbars


def truth_for(song, seconds):
    beats, downbeats = [], []
    tick = 0
    limit = seconds - 0.02
    while True:
        t = song.seconds(tick)
        if t > limit:
            break
        beats.append(round(t, 6))
        if tick % song.bar_ticks == 0:
            downbeats.append(round(t, 6))
        tick += song.beat_ticks
    bpms = [song.beat_bpm_at(i * song.beat_ticks) for i in range(len(beats))]
    return beats, downbeats, bpms


# ---------------------------------------------------------------------------------------------------------------
# Audio: fluidsynth, trimming, noise (standard library only)


def find_soundfont(explicit=None):
    for path in [explicit, os.environ.get("REELSMITH_SOUNDFONT")] + SOUNDFONTS:
        if path and os.path.exists(path):
            return path
    sys.exit("make_set.py: no General MIDI soundfont found; apt-get install timgm6mb-soundfont "
             "(or pass --soundfont / set REELSMITH_SOUNDFONT)")


def render(mid, wav, soundfont, rate):
    if not shutil.which("fluidsynth"):
        sys.exit("make_set.py: fluidsynth not found; apt-get install fluidsynth")
    cmd = ["fluidsynth", "-ni", "-q", "-g", "0.6", "-F", wav, "-r", str(rate), soundfont, mid]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2, "expected 16-bit audio"
        ch, rate, n = w.getnchannels(), w.getframerate(), w.getnframes()
        data = array.array("h", w.readframes(n))
    if sys.byteorder == "big":
        data.byteswap()
    return data, ch, rate


def write_wav(path, data, ch, rate):
    if sys.byteorder == "big":
        data = array.array("h", data)
        data.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(ch)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def finish_audio(path, seconds, noise, seed):
    """Trim to `seconds` with a 50 ms fade-out, add noise at the given SNR, keep peaks at or under -1 dBFS."""
    data, ch, rate = read_wav(path)
    frames = int(round(seconds * rate))
    n = frames * ch
    if len(data) < n:
        data.extend([0] * (n - len(data)))
    del data[n:]
    fade = int(0.05 * rate)
    for i in range(fade):
        for c in range(ch):
            k = (frames - 1 - i) * ch + c
            data[k] = int(data[k] * i / fade)
    target = 32767 * 10 ** (-1 / 20)
    if not noise:
        peak = max(max(data), -min(data), 1)
        if peak > target:
            scale = target / peak
            data = array.array("h", (int(round(v * scale)) for v in data))
        write_wav(path, data, ch, rate)
        return
    kind, snr_db = noise
    rng = random.Random(seed ^ 0x5EED)
    sig_rms = math.sqrt(sum(v * v for v in data) / len(data)) or 1.0
    white = [rng.gauss(0, 1) for _ in range(frames)]
    if kind == "pink":  # Paul Kellet's refined pink filter
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = 0.0
        out = []
        for w in white:
            b0 = 0.99886 * b0 + w * 0.0555179
            b1 = 0.99332 * b1 + w * 0.0750759
            b2 = 0.96900 * b2 + w * 0.1538520
            b3 = 0.86650 * b3 + w * 0.3104856
            b4 = 0.55000 * b4 + w * 0.5329522
            b5 = -0.7616 * b5 - w * 0.0168980
            out.append(b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362)
            b6 = w * 0.115926
        white = out
    nrms = math.sqrt(sum(v * v for v in white) / len(white)) or 1.0
    gain = sig_rms / (10 ** (snr_db / 20)) / nrms
    x = [float(v) for v in data]
    for i in range(frames):
        v = white[i] * gain
        for c in range(ch):
            x[i * ch + c] += v
    peak = max(1.0, max(abs(v) for v in x))
    scale = target / peak  # noisy excerpts are normalised to -1 dBFS peak
    write_wav(path, array.array("h", (int(round(v * scale)) for v in x)), ch, rate)


def build_excerpt(spec, outdir, soundfont, rate, seed, keep_midi=True):
    song, nbars = compose(spec, seed)
    name = spec["name"]
    mid_dir = os.path.join(outdir, "midi")
    os.makedirs(mid_dir, exist_ok=True)
    mid = os.path.join(mid_dir, name + ".mid")
    song.write(mid)
    wav = os.path.join(outdir, name + ".wav")
    render(mid, wav, soundfont, rate)
    finish_audio(wav, spec["seconds"], spec.get("noise"), seed)
    beats, downbeats, bpms = truth_for(song, spec["seconds"])
    entry = {
        "file": name + ".wav",
        "category": spec["category"],
        "beats": beats,
        "downbeats": downbeats,
        "meter": spec["meter"],
        "tempo": round(spec["bpm"], 3),
        "tempoRange": [round(min(bpms), 3), round(max(bpms), 3)],
        "duration": spec["seconds"],
        "style": spec.get("style") or "none",
        "midi": os.path.join("midi", name + ".mid"),
    }
    if "bpm_change" in spec:
        entry["tempoChangeAt"] = round(song.seconds(spec["change_bar"] * song.bar_ticks), 6)
    if spec.get("nodrums"):
        a, b = spec["nodrums"]
        entry["noDrums"] = [round(song.seconds(int(math.ceil(a * nbars)) * song.bar_ticks), 3),
                            round(min(spec["seconds"], song.seconds(int(math.ceil(b * nbars)) * song.bar_ticks)), 3)]
    if spec.get("noise"):
        entry["noise"] = {"kind": spec["noise"][0], "snrDb": spec["noise"][1]}
    if not keep_midi:
        os.remove(mid)
    return entry


def seed_for(name):
    """A stable per-excerpt seed (independent of Python's hash randomisation)."""
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--quick", action="store_true", help="6 excerpts of 15 s, one per main category (for tests)")
    ap.add_argument("--only", help="comma-separated excerpt names")
    ap.add_argument("--soundfont")
    ap.add_argument("--rate", type=int, default=22050)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--list", action="store_true", help="print the excerpt names and exit")
    args = ap.parse_args(argv)

    specs = excerpt_list()
    if args.list:
        for s in specs:
            print(f"{s['name']:28s} {s['category']:13s} {s['meter']}  {s['bpm']} BPM  {s['seconds']} s"
                  + ("  quick" if s["name"] in QUICK else ""))
        return
    if not args.outdir:
        ap.error("OUTDIR is required")
    if args.quick:
        specs = [dict(s, seconds=15) for s in specs if s["name"] in QUICK]
    if args.only:
        want = set(args.only.split(","))
        specs = [s for s in specs if s["name"] in want]
    os.makedirs(args.outdir, exist_ok=True)
    sf = find_soundfont(args.soundfont)

    # The quick slice uses the full set's seeds: its excerpts are the same songs, only shorter.
    jobs = [(s, args.outdir, sf, args.rate, seed_for(s["name"])) for s in specs]
    if args.jobs > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(args.jobs) as ex:
            entries = list(ex.map(_build, jobs))
    else:
        entries = [_build(j) for j in jobs]
    with open(os.path.join(args.outdir, "truth.json"), "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    print(f"make_set.py: {len(entries)} excerpts in {args.outdir} (soundfont {sf})", file=sys.stderr)


def _build(job):
    return build_excerpt(*job)


if __name__ == "__main__":
    main()
