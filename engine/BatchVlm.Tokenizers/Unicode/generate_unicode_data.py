#!/usr/bin/python3
# Generates UnicodeData.txt.gz for BatchVlm.Tokenizers' Unicode normalization (NFC/NFD/NFKC/NFKD), from the
# unicodedata module of Debian's Python 3.11 (Unicode 14.0.0) — the Python that produced the golden tokenizer
# fixtures, so normalization matches it exactly. .NET's string.Normalize is a no-op under InvariantGlobalization.
# Run: /usr/bin/python3 generate_unicode_data.py  (writes UnicodeData.txt.gz beside this script)
# Format, one line per code point that has data, hex fields:
#   D;cp;ccc;kind;m1 m2 ...     kind = c (canonical) or k (compatibility) decomposition, one level (not recursive)
#   C;cp;ccc                    combining class only
#   X;cp                        canonical decomposition excluded from composition (full composition exclusion)
import gzip, os, sys, unicodedata
lines = [f"# unicodedata {unicodedata.unidata_version}"]
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:   # surrogates; Hangul syllables are algorithmic
        continue
    ch = chr(cp)
    d = unicodedata.decomposition(ch)
    ccc = unicodedata.combining(ch)
    if d:
        parts = d.split()
        kind = 'c'
        if parts[0].startswith('<'):
            kind = 'k'; parts = parts[1:]
        lines.append(f"D;{cp:X};{ccc:X};{kind};{' '.join(parts)}")
        if kind == 'c' and unicodedata.normalize('NFC', ch) != ch:
            lines.append(f"X;{cp:X}")
    elif ccc:
        lines.append(f"C;{cp:X};{ccc:X}")
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'UnicodeData.txt.gz')
with gzip.GzipFile(out, 'wb', mtime=0) as f:
    f.write(('\n'.join(lines) + '\n').encode())
print(out, len(lines), file=sys.stderr)
