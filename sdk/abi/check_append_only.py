#!/usr/bin/env python3
"""The plugin ABI's append-only rule, checked on abidw output and on headers.

usage: check_append_only.py OLD.xml NEW.xml      layouts (abidw of sdk/abi/probe.c)
       check_append_only.py --headers OLD.h NEW.h constants (#define) of a frozen header
Exit 0 when NEW only appends to OLD, 1 on an ABI break (each break printed), 2 on bad input.

Layouts (plugin-abi-anchors.md Appendix A, extended): for every sb_* struct of OLD, NEW has it;
OLD's members come first in NEW with the same names, offsets and types; members NEW adds start
at or after OLD's size; no struct shrinks. Types are compared by a canonical description
resolved through typedefs, pointers, qualifiers and function types, so retyping a slot (a new
parameter, an int32_t that became int64_t, a changed callback typedef) is a break even when its
size is unchanged. Every sb_* typedef of OLD (callbacks, sb_status, ...) keeps its type.

Constants: every #define of OLD is in NEW with the same value (SB_ABI_MINOR may only grow), so
a selector, status code or flag is never re-meant.
"""
import re
import sys
import xml.etree.ElementTree as ET


def _index(root):
    return {e.get('id'): e for e in root.iter() if e.get('id')}


def _canon(by_id, tid, depth=0):
    if depth > 50:
        return '...'
    e = by_id.get(tid)
    if e is None:
        return '?' + str(tid)
    tag = e.tag
    if tag == 'type-decl':
        return e.get('name')
    if tag == 'class-decl':
        return ('struct ' if e.get('is-struct') == 'yes' else 'class ') + e.get('name', '?')
    if tag == 'union-decl':
        return 'union ' + e.get('name', '?')
    if tag == 'enum-type-decl':
        return 'enum ' + e.get('name', '?')
    if tag == 'typedef-decl':
        return e.get('name') + '=' + _canon(by_id, e.get('type-id'), depth + 1)
    if tag == 'pointer-type-def':
        return _canon(by_id, e.get('type-id'), depth + 1) + '*'
    if tag == 'reference-type-def':
        return _canon(by_id, e.get('type-id'), depth + 1) + '&'
    if tag == 'qualified-type-def':
        quals = [q for q in ('const', 'volatile', 'restrict') if e.get(q) == 'yes']
        return ' '.join(quals + [_canon(by_id, e.get('type-id'), depth + 1)])
    if tag == 'array-type-def':
        return '%s[%s]' % (_canon(by_id, e.get('type-id'), depth + 1), e.get('size-in-bits', '?'))
    if tag == 'function-type':
        params = []
        for p in e.findall('parameter'):
            params.append('...' if p.get('is-variadic') == 'yes'
                          else _canon(by_id, p.get('type-id'), depth + 1))
        ret = e.find('return')
        rtype = _canon(by_id, ret.get('type-id'), depth + 1) if ret is not None else 'void'
        return '(fn(%s)->%s)' % (','.join(params), rtype)
    return tag + ':' + e.get('name', '?')


def layouts(path):
    """{struct: (size_bits, [(member, offset_bits, canonical_type)])}, {typedef: canonical}."""
    root = ET.parse(path).getroot()
    by_id = _index(root)
    structs, typedefs = {}, {}
    for cd in root.iter('class-decl'):
        name = cd.get('name', '')
        if not name.startswith('sb_') or cd.get('is-declaration-only') == 'yes':
            continue
        members = []
        for dm in cd.findall('data-member'):
            var = dm.find('var-decl')
            members.append((var.get('name'), int(dm.get('layout-offset-in-bits')),
                            _canon(by_id, var.get('type-id'))))
        structs[name] = (int(cd.get('size-in-bits', 0)), members)
    for td in root.iter('typedef-decl'):
        if td.get('name', '').startswith('sb_'):
            typedefs[td.get('name')] = _canon(by_id, td.get('type-id'))
    return structs, typedefs


def check_layouts(old_path, new_path):
    old, old_td = layouts(old_path)
    new, new_td = layouts(new_path)
    errors = []
    if not old:
        errors.append('%s describes no sb_* struct (not a probe dump?)' % old_path)
    for name, (osize, om) in sorted(old.items()):
        if name not in new:
            errors.append('%s: removed' % name)
            continue
        nsize, nm = new[name]
        for i, a in enumerate(om):
            if i >= len(nm):
                errors.append('%s: member %s removed' % (name, a[0]))
                break
            b = nm[i]
            if a != b:
                what = ('renamed %s -> %s' % (a[0], b[0]) if a[0] != b[0] else
                        'moved from bit %d to %d' % (a[1], b[1]) if a[1] != b[1] else
                        'retyped %s -> %s' % (a[2], b[2]))
                errors.append('%s.%s: %s' % (name, a[0], what))
                break
        for m in nm[len(om):]:
            if m[1] < osize:
                errors.append('%s.%s: added inside the old size (bit %d < %d)'
                              % (name, m[0], m[1], osize))
        if nsize < osize:
            errors.append('%s: shrank from %d to %d bits' % (name, osize, nsize))
    for name, t in sorted(old_td.items()):
        if name not in new_td:
            errors.append('typedef %s: removed' % name)
        elif new_td[name] != t:
            errors.append('typedef %s: %s -> %s' % (name, t, new_td[name]))
    return errors


_DEFINE = re.compile(r'^\s*#\s*define\s+(\w+)(\([^)]*\))?\s*(.*)$')


def defines(path):
    """{name: set(values)} of a header's #defines, comments stripped, whitespace normalised."""
    text = open(path, encoding='utf-8').read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    text = text.replace('\\\n', ' ')
    out = {}
    for line in text.splitlines():
        m = _DEFINE.match(line)
        if m:
            out.setdefault(m.group(1), set()).add(
                ' '.join(((m.group(2) or '') + ' ' + m.group(3)).split()))
    return out


def check_headers(old_path, new_path):
    old, new = defines(old_path), defines(new_path)
    errors = []
    if not old:
        errors.append('%s defines nothing' % old_path)
    for name, values in sorted(old.items()):
        if name not in new:
            errors.append('#define %s: removed' % name)
        elif name == 'SB_ABI_MINOR':
            o, n = int(min(values)), int(min(new[name]))
            if n < o:
                errors.append('SB_ABI_MINOR went back from %d to %d' % (o, n))
        elif new[name] != values:
            errors.append('#define %s: %s -> %s' % (name, sorted(values), sorted(new[name])))
    return errors


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == '--headers':
            errors = check_headers(argv[2], argv[3])
        elif len(argv) == 3:
            errors = check_layouts(argv[1], argv[2])
        else:
            print(__doc__)
            return 2
    except (OSError, ET.ParseError) as e:
        print('check_append_only: %s' % e)
        return 2
    for e in errors:
        print('ABI BREAK: ' + e)
    print('ABI BREAK' if errors else 'append-only OK')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
