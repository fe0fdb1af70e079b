"""Writes one benchmark's section of benchmarks/RESULTS.md, keeping every other section as it is."""


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
