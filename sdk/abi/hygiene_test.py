#!/usr/bin/env python3
"""abi.header_hygiene: compile matrix and a scan of plugin.h's struct members.

usage: hygiene_test.py INCLUDE_DIR HYGIENE.c LAYOUT.c COMPILER...
Each C compiler (gcc, clang) builds HYGIENE.c as C99 with -pedantic -Wall -Wextra -Wpadded
-Werror and LAYOUT.c (the frozen 1.0 _Static_asserts) as C11; each C++ compiler builds
HYGIENE.c as C++17 with the same warnings. The scan refuses bool, enum, long and bitfields
inside structs (their sizes are compiler- or flag-dependent) and C++ keywords as names.
"""
import os
import re
import subprocess
import sys

WARN = ['-pedantic', '-Wall', '-Wextra', '-Wpadded', '-Werror']
CXX_KEYWORDS = {'class', 'new', 'delete', 'this', 'template', 'typename', 'namespace',
                'private', 'public', 'protected', 'virtual', 'operator', 'friend', 'explicit',
                'export', 'bool', 'true', 'false', 'try', 'catch', 'throw', 'using', 'mutable'}


def scan(header):
    text = open(header, encoding='utf-8').read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    structs = re.findall(r'typedef struct (\w+) \{(.*?)\} \1;', text, flags=re.S)
    problems = [] if len(structs) >= 9 else ['found %d structs, expected 9 or more' % len(structs)]
    for name, body in structs:
        for decl in body.split(';'):
            d = ' '.join(decl.split())
            if not d:
                continue
            if re.search(r'\b(bool|_Bool|enum|long)\b', d):
                problems.append('%s: "%s" (bool/enum/long sizes vary)' % (name, d))
            if re.search(r'[^:]:[^:]', d):
                problems.append('%s: "%s" (bitfield)' % (name, d))
            for word in re.findall(r'\b\w+\b', d):
                if word in CXX_KEYWORDS:
                    problems.append('%s: "%s" (C++ keyword %s)' % (name, d, word))
    return problems


def main(argv):
    include, hygiene, layout = argv[1:4]
    header = os.path.join(include, 'silverback', 'plugin.h')
    failures = 0
    for p in scan(header):
        print('FAIL scan: ' + p)
        failures += 1
    for cc in argv[4:]:
        is_cxx = cc.endswith('++')
        jobs = ([['-x', 'c++', '-std=c++17', hygiene]] if is_cxx else
                [['-std=c99', hygiene], ['-std=c11', layout]])
        for job in jobs:
            cmd = [cc, '-fsyntax-only', '-I', include] + WARN + job
            r = subprocess.run(cmd, capture_output=True, text=True)
            ok = r.returncode == 0
            failures += not ok
            print('%s %s' % ('ok  ' if ok else 'FAIL', ' '.join(cmd)))
            if not ok:
                print(r.stderr)
    print('hygiene OK' if not failures else '%d failure(s)' % failures)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
