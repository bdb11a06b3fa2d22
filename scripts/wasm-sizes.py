#!/usr/bin/env python3
"""What takes the space in a WASM file: code bytes per crate, data, and the largest functions.

Usage: scripts/wasm-sizes.py FILE.wasm [TOP]

Reads the module's sections and its `name` section (function names), so run it on a file that
still has names: the cargo output before wasm-bindgen and wasm-opt, e.g.
target/wasm32-unknown-unknown/wasm-release/atlas_credits.wasm (the release bundle itself is
stripped). Code sizes there are before wasm-opt, so they rank what is big rather than give the
shipped bytes. Standard library only (no twiggy needed); names are Rust's mangled symbols, which
this reads just enough to attribute each function to a crate.
"""

import re
import sys
from collections import Counter


def leb(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


def sections(buf):
    assert buf[:4] == b"\0asm", "not a WASM file"
    pos = 8
    while pos < len(buf):
        sid = buf[pos]
        size, body = leb(buf, pos + 1)
        yield sid, buf[body : body + size]
        pos = body + size


def crate_of(name):
    """The crate a (legacy-mangled or demangled) symbol belongs to, roughly."""
    m = re.match(r"_ZN(\d+)", name)
    if m:  # legacy mangling: _ZN<len><ident>...
        n = int(m.group(1))
        start = m.end()
        ident = name[start : start + n]
        if ident.startswith("_$LT$"):  # <T as Trait>::f: the type's crate
            inner = re.match(r"_\$LT\$([A-Za-z0-9_]+)", ident)
            return inner.group(1) if inner else "<impl>"
        return ident
    m = re.match(r"<?([A-Za-z0-9_]+)::", name)
    return m.group(1) if m else "(other)"


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    buf = open(path, "rb").read()
    imported_funcs = 0
    bodies = []
    names = {}
    by_section = Counter()
    for sid, data in sections(buf):
        label = {1: "type", 2: "import", 3: "function", 7: "export", 10: "code", 11: "data"}.get(sid, f"section {sid}")
        if sid == 0:
            nlen, p = leb(data, 0)
            label = "custom: " + data[p : p + nlen].decode()
            if data[p : p + nlen] == b"name":
                q = p + nlen
                while q < len(data):
                    sub = data[q]
                    size, q = leb(data, q + 1)
                    if sub == 1:
                        count, r = leb(data, q)
                        for _ in range(count):
                            idx, r = leb(data, r)
                            ln, r = leb(data, r)
                            names[idx] = data[r : r + ln].decode("utf-8", "replace")
                            r += ln
                    q += size
        by_section[label] += len(data)
        if sid == 2:
            count, p = leb(data, 0)
            for _ in range(count):
                for _ in range(2):
                    ln, p = leb(data, p)
                    p += ln
                kind = data[p]
                p += 1
                if kind == 0:
                    _, p = leb(data, p)
                    imported_funcs += 1
                elif kind == 1:
                    p += 1
                    flags = data[p]
                    _, p = leb(data, p + 1)
                    if flags & 1:
                        _, p = leb(data, p)
                elif kind == 2:
                    flags = data[p]
                    _, p = leb(data, p + 1)
                    if flags & 1:
                        _, p = leb(data, p)
                elif kind == 3:
                    p += 2
        if sid == 10:
            count, p = leb(data, 0)
            for i in range(count):
                size, p = leb(data, p)
                bodies.append((imported_funcs + i, size))
                p += size

    total = len(buf)
    print(f"{path}: {total:,} bytes")
    print("\nby section:")
    for label, size in by_section.most_common():
        print(f"  {size:>10,}  {100 * size / total:5.1f}%  {label}")
    code = sum(s for _, s in bodies)
    crates = Counter()
    for idx, size in bodies:
        crates[crate_of(names.get(idx, ""))] += size
    print(f"\ncode by crate ({len(bodies):,} functions, {code:,} bytes):")
    for crate, size in crates.most_common(top):
        print(f"  {size:>10,}  {100 * size / max(code, 1):5.1f}%  {crate}")
    print("\nlargest functions:")
    for idx, size in sorted(bodies, key=lambda b: -b[1])[:top]:
        print(f"  {size:>10,}  {names.get(idx, f'func[{idx}]')[:150]}")


if __name__ == "__main__":
    main()
