#!/usr/bin/env python3
"""rampartd.conf(5) from the commented default configuration file, so the page and the file that
ships cannot disagree: the file's first comment block is the description, and every later block of
comments followed by one or more `key = value` lines (commented out or not) documents those keys.

    scripts/conf-manpage.py etc/rampart/rampartd.conf --date 2026-12-02 > rampartd.conf.5
"""
import argparse
import re
import sys

KEY = re.compile(r"^#?\s*([a-z_]+)\s*=\s*(.*)$")


def roff(text):
    text = text.replace("\\", "\\e")
    # A line must not start with a control character.
    return "\n".join(("\\&" + line if line[:1] in (".", "'") else line) for line in text.split("\n"))


def blocks(lines):
    comment, keys = [], []
    for raw in lines:
        line = raw.rstrip("\n")
        m = KEY.match(line)
        if m:
            keys.append((m.group(1), m.group(2), not line.startswith("#")))
            continue
        if keys:
            yield comment, keys
            comment, keys = [], []
        if line.startswith("#"):
            comment.append(line[1:].strip())
        elif not line.strip() and comment and not keys:
            yield comment, []
            comment = []
    if comment or keys:
        yield comment, keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--date", required=True)
    args = ap.parse_args()
    with open(args.file, encoding="utf-8") as f:
        parsed = list(blocks(f))
    if not parsed or parsed[0][1]:
        sys.exit(f"{args.file}: the first comment block (the description) is missing")
    out = [
        '.\\" Generated from etc/rampart/rampartd.conf by scripts/conf-manpage.py: edit that file.',
        f'.TH RAMPARTD.CONF 5 "{args.date}" "rampart" "File Formats"',
        ".SH NAME",
        "rampartd.conf \\- configuration of rampartd, the rampart packet-filter daemon",
        ".SH SYNOPSIS",
        "/etc/rampart/rampartd.conf",
        ".SH DESCRIPTION",
        roff(" ".join(parsed[0][0])),
        ".SH KEYS",
        "Each key is shown with its default; a key that is commented out in the shipped file is unset by default.",
    ]
    for comment, keys in parsed[1:]:
        if not keys:
            if comment:
                out += [".PP", roff(" ".join(comment))]
            continue
        for i, (key, value, active) in enumerate(keys):
            out.append(".TP" if i == 0 else ".TQ")
            shown = f"\\fB{key}\\fR = \\fI{roff(value)}\\fR" if value else f"\\fB{key}\\fR ="
            out.append(shown + ("" if active else " (unset by default; example value)"))
        out.append(roff(" ".join(comment)))
    out += [
        ".SH FILES",
        ".TP",
        "/etc/rampart/rampartd.conf",
        "The configuration (a conffile: upgrades keep local changes).",
        ".TP",
        "/var/lib/rampart/store.json",
        "The store: policies, filter lists, filter actions and the dynamic configuration.",
        ".TP",
        "/run/rampart/control.sock",
        "The control socket.",
        ".SH SEE ALSO",
        ".BR rampartd (8),",
        ".BR rampart (8),",
        ".BR nft (8)",
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
