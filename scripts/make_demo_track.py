#!/usr/bin/env python3
"""Synthesise Reelsmith's demo song: 24 s of synthwave at 120 BPM in 4/4, made from sine, saw and noise.

Every sound is generated here (no samples, no third-party recording), so the project can ship and
redistribute it. Structure (bars of 2 s): 2 bars intro (pad and hats), 4 bars build (kick, snare, bass),
4 bars drop (everything plus an arpeggio), 2 bars outro (pad and kick fading out).

Usage: make_demo_track.py OUT.wav [SECONDS]   (longer songs repeat the build and drop; default 24)
"""
import sys
import wave

import numpy as np

SR = 44100
BPM = 120.0
BEAT = 60.0 / BPM
rng = np.random.default_rng(7)


def env(n, attack, decay):
    t = np.arange(n) / SR
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def kick():
    n = int(0.35 * SR)
    t = np.arange(n) / SR
    freq = 48 + 110 * np.exp(-t / 0.04)
    return np.sin(2 * np.pi * np.cumsum(freq) / SR) * env(n, 0.001, 0.12)


def snare():
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    body = np.sin(2 * np.pi * 190 * t) * env(n, 0.001, 0.05)
    return 0.5 * body + 0.6 * rng.standard_normal(n) * env(n, 0.001, 0.07)


def hat():
    n = int(0.06 * SR)
    noise = rng.standard_normal(n)
    noise = np.diff(noise, prepend=0)  # crude high-pass
    return 0.25 * noise * env(n, 0.0005, 0.015)


def saw(freq, n):
    t = np.arange(n) / SR
    return 2 * ((t * freq) % 1.0) - 1


def note_hz(midi):
    return 440.0 * 2 ** ((midi - 69) / 12)


def place(track, sound, at, gain):
    i = int(round(at * SR))
    j = min(len(track), i + len(sound))
    if i < len(track):
        track[i:j] += gain * sound[: j - i]


def main(path, seconds=24.0):
    bars = max(6, int(round(seconds / (4 * BEAT))))
    n = int(bars * 4 * BEAT * SR)
    drums = np.zeros(n)
    music = np.zeros(n)
    chords = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]  # Am F C G
    for bar in range(bars):
        t0 = bar * 4 * BEAT
        intro, outro = bar < 2, bar >= bars - 2
        # After the intro, 4 bars of build then 4 of drop, repeated.
        drop = not intro and not outro and (bar - 2) % 8 >= 4
        chord = chords[bar % 4]
        # Pad: detuned saws, softened by a one-pole low-pass, on every bar.
        m = int(4 * BEAT * SR)
        pad = sum(saw(note_hz(k) * d, m) for k in chord for d in (0.997, 1.003)) / 6
        alpha = 0.04 if not drop else 0.09
        out = np.zeros(m)
        acc = 0.0
        for i in range(m):
            acc += alpha * (pad[i] - acc)
            out[i] = acc
        swell = np.minimum(1, np.arange(m) / (0.3 * SR))
        place(music, out * swell, t0, 0.5 if not outro else 0.5 * (1 - (bar - (bars - 2)) / 2))
        for beat in range(4):
            tb = t0 + beat * BEAT
            # Hats on every eighth note, accented on the beat.
            for half in (0, 0.5):
                place(drums, hat(), tb + half * BEAT, 0.9 if half == 0 else 0.5)
            if intro:
                continue
            place(drums, kick(), tb, 1.0 if beat == 0 else 0.8)
            if beat in (1, 3) and not outro:
                place(drums, snare(), tb, 0.7)
            if not outro:
                # Bass on eighths: root of the chord, an octave down, accented on the downbeat.
                for half in (0, 0.5):
                    k = int(0.22 * SR)
                    bass = saw(note_hz(chord[0] - 24), k) * env(k, 0.003, 0.12)
                    place(music, bass, tb + half * BEAT, 0.55 if (beat == 0 and half == 0) else 0.35)
            if drop:
                # Arpeggio on sixteenths through the chord, an octave up.
                for q in range(4):
                    k = int(0.11 * SR)
                    pitch = chord[(beat * 4 + q) % 3] + 12
                    tone = np.sin(2 * np.pi * note_hz(pitch) * np.arange(k) / SR) * env(k, 0.002, 0.06)
                    place(music, tone, tb + q * BEAT / 4, 0.25)
    mix = 0.8 * drums + 0.7 * music
    mix /= np.max(np.abs(mix)) * 1.12
    fade = int(0.05 * SR)
    mix[:fade] *= np.linspace(0, 1, fade)
    stereo = np.stack([mix, np.roll(mix, 90) * 0.97], axis=1)
    pcm = (np.clip(stereo, -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else 24.0)
