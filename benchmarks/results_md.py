"""Writes one benchmark's section of benchmarks/RESULTS.md, keeping every other section as it is, and says what it
was measured on."""

import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent



def replace_section(path, begin, end, section, header="# Reelsmith benchmarks\n"):
    """Replaces the text between the `begin` and `end` markers (appends the section when they are missing)."""
    text = path.read_text() if path.exists() else header
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def git_state():
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "Sources", "Package.swift"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" plus uncommitted changes to Sources" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
