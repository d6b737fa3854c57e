#!/usr/bin/env python3
"""Lists the Swift functions (func, init, deinit) under a tree that are longer than N lines, longest
first: `function-lengths.py Sources 60` prints nothing when none is (scripts/test.sh checks it)."""
import os, re, signal, sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)
root = sys.argv[1] if len(sys.argv) > 1 else 'Sources'
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 60
decl = re.compile(r'^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|package|static|class|final|override|mutating|nonmutating|nonisolated|convenience|required|@discardableResult|@inlinable)\s+)*(func\s+[^\s(<]+|init[?!]?|deinit)\b')
def strip(line):
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    return re.sub(r'//.*', '', line)
rows = []
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.swift'): continue
        path = os.path.join(dp, f)
        lines = open(path, errors='replace').read().split('\n')
        i = 0
        in_multiline = False
        while i < len(lines):
            m = decl.match(lines[i])
            if m:
                depth, started, j = 0, False, i
                while j < len(lines):
                    t = strip(lines[j])
                    if '"""' in lines[j]:
                        in_multiline = not in_multiline if lines[j].count('"""') == 1 else in_multiline
                    if not in_multiline:
                        depth += t.count('{') - t.count('}')
                        if '{' in t: started = True
                    if started and depth <= 0: break
                    j += 1
                n = j - i + 1
                if n > limit: rows.append((n, path, i + 1, m.group(1)))
            i += 1
for n, path, line, name in sorted(rows, reverse=True):
    print(f'{n:4d}  {path}:{line}  {name}')
