#!/usr/bin/env python3
"""Tidies a page from swift-argument-parser's generate-manual so `groff -ww -z` is silent: a blank
line in a discussion becomes a paragraph (.Pp), indented example lines a literal display, and a
command without subcommands (--no-subcommands) loses the generated 'subcommand' argument and
'help' entry it does not have. Rewrites FILE in place.

    scripts/manpage-fixup.py [--no-subcommands] FILE
"""
import sys


def fix(lines, no_subcommands):
    out, literal = [], False
    # Skipping the generated 'help' entry: None, "text" (up to its nested list), or the list depth.
    skipping = None
    for line in lines:
        if skipping == "text":
            if line.startswith(".Bl"):
                skipping = 1
            continue
        if isinstance(skipping, int):
            skipping += 1 if line.startswith(".Bl") else -1 if line.startswith(".El") else 0
            if skipping == 0:
                skipping = None
            continue
        if no_subcommands and line == ".Ar subcommand":
            continue
        if no_subcommands and line == ".It Em help":
            skipping = "text"
            continue
        indented = line.startswith("  ") and line.strip()
        if indented and not literal:
            out.append(".Bd -literal -offset indent")
            literal = True
        elif literal and not indented:
            out.append(".Ed")
            literal = False
        if indented:
            out.append(line.strip())
        elif line == "":
            out.append(".Pp")
        else:
            out.append(line)
    if literal:
        out.append(".Ed")
    return out


def main():
    args = sys.argv[1:]
    no_subcommands = "--no-subcommands" in args
    path = [a for a in args if not a.startswith("--")][0]
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    fixed = fix(lines, no_subcommands)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(fixed) + "\n")


if __name__ == "__main__":
    main()
