#!/usr/bin/env python3
"""Counts the public declarations that have no doc comment, per module of Sources/.

    scripts/undocumented-public.py            # a table: module, public declarations, undocumented
    scripts/undocumented-public.py --list     # also every undocumented declaration, as file:line

A declaration is documented when the line before it (skipping attributes) is a `///` comment or
ends a `/** ... */` block. `public extension` lines themselves are not counted. The check is
textual, so it is quick and has no dependencies; it is not a Swift parser.
"""
import os
import re
import sys

DECLARATION = re.compile(
    r'^\s*(?:@[\w.()", :]+\s+)*'
    r'(?:(?:nonisolated|final|static|class|override|mutating|indirect|convenience|required)\s+)*'
    r'public\b(?!\s*(?:import|extension)\b)')
ATTRIBUTE = re.compile(r'^\s*@\w')


def undocumented(path):
    """(line number, text) of every public declaration of `path` without a doc comment, and the count."""
    lines = open(path, encoding='utf-8').read().split('\n')
    found, total = [], 0
    for i, line in enumerate(lines):
        if not DECLARATION.match(line):
            continue
        total += 1
        j = i - 1
        while j >= 0 and ATTRIBUTE.match(lines[j]):
            j -= 1
        previous = lines[j].strip() if j >= 0 else ''
        if not (previous.startswith('///') or previous.endswith('*/')):
            found.append((i + 1, line.strip()))
    return found, total


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Sources')
    show = '--list' in sys.argv
    totals, missing = {}, {}
    for directory, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith('.swift'):
                continue
            path = os.path.join(directory, name)
            module = os.path.relpath(path, root).split(os.sep)[0]
            found, total = undocumented(path)
            totals[module] = totals.get(module, 0) + total
            missing[module] = missing.get(module, 0) + len(found)
            if show:
                for number, text in found:
                    print(f'{os.path.relpath(path, os.path.join(root, ".."))}:{number}: {text}')
    for module in sorted(totals):
        print(f'{module:18} public {totals[module]:5}  undocumented {missing[module]:5}')
    print(f'{"total":18} public {sum(totals.values()):5}  undocumented {sum(missing.values()):5}')


if __name__ == '__main__':
    main()
