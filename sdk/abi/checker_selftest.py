#!/usr/bin/env python3
"""abi.checker_selftest: check_append_only.py accepts appends and catches each kind of break.

usage: checker_selftest.py BASELINE.xml SNAPSHOT.h
Builds mutated copies of the committed 1.0 baseline and snapshot (no abidw needed) and asserts
the checker's verdict on each.
"""
import copy
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, 'check_append_only.py')


def struct(root, name):
    for cd in root.iter('class-decl'):
        if cd.get('name') == name and cd.get('is-declaration-only') != 'yes':
            return cd
    raise KeyError(name)


def member(cd, name):
    for dm in cd.findall('data-member'):
        if dm.find('var-decl').get('name') == name:
            return dm
    raise KeyError(name)


def append_slot(root):
    api = struct(root, 'sb_host_api')
    size = int(api.get('size-in-bits'))
    dm = copy.deepcopy(member(api, 'resume'))
    dm.set('layout-offset-in-bits', str(size))
    dm.find('var-decl').set('name', 'resume_v2')
    api.append(dm)
    api.set('size-in-bits', str(size + 64))


def insert_slot(root):
    api = struct(root, 'sb_host_api')
    members = api.findall('data-member')
    at = [m.find('var-decl').get('name') for m in members].index('hdr_get')
    new = copy.deepcopy(members[at])
    new.find('var-decl').set('name', 'hdr_get_first')
    for m in members[at:]:
        m.set('layout-offset-in-bits', str(int(m.get('layout-offset-in-bits')) + 64))
    api.insert(list(api).index(members[at]), new)
    api.set('size-in-bits', str(int(api.get('size-in-bits')) + 64))


def retype_slot(root):
    api = struct(root, 'sb_host_api')
    tid = member(api, 'hdr_set').find('var-decl').get('type-id')
    member(api, 'hdr_get').find('var-decl').set('type-id', tid)


def rename_member(root):
    member(struct(root, 'sb_plugin_hooks'), 'on_log').find('var-decl').set('name', 'on_logging')


def remove_struct(root):
    struct(root, 'sb_plugin_def').set('is-declaration-only', 'yes')


def shrink(root):
    hooks = struct(root, 'sb_plugin_hooks')
    last = hooks.findall('data-member')[-1]
    hooks.remove(last)
    hooks.set('size-in-bits', str(int(hooks.get('size-in-bits')) - 64))


def retype_typedef(root):
    tds = {t.get('name'): t for t in root.iter('typedef-decl')}
    tds['sb_status'].set('type-id', tds['sb_op'].get('type-id'))


def run(args):
    return subprocess.run([sys.executable, CHECKER] + args, capture_output=True, text=True)


def main():
    baseline, snapshot = sys.argv[1], sys.argv[2]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        layout_cases = [('unchanged', None, 0), ('appended slot', append_slot, 0),
                        ('slot inserted in the middle', insert_slot, 1),
                        ('slot retyped, same size', retype_slot, 1),
                        ('hook renamed', rename_member, 1), ('struct removed', remove_struct, 1),
                        ('last hook removed', shrink, 1),
                        ('sb_status typedef retyped', retype_typedef, 1)]
        for label, mutate, want in layout_cases:
            tree = ET.parse(baseline)
            if mutate:
                mutate(tree.getroot())
            path = os.path.join(tmp, 'case.xml')
            tree.write(path)
            got = run([baseline, path])
            ok = got.returncode == want
            failures += not ok
            print('%s %-32s exit %d (want %d) %s' % ('ok  ' if ok else 'FAIL', label,
                                                    got.returncode, want,
                                                    got.stdout.strip().splitlines()[0]))
        text = open(snapshot, encoding='utf-8').read()
        header_cases = [
            ('header unchanged', text, 0),
            ('minor bump + new constant',
             text.replace('#define SB_ABI_MINOR 0', '#define SB_ABI_MINOR 1')
             .replace('#define SB_E_UPSTREAM -11', '#define SB_E_UPSTREAM -11\n#define SB_E_NEW -12'),
             0),
            ('status code re-meant', text.replace('#define SB_E_STATE -6', '#define SB_E_STATE -12'),
             1),
            ('selector removed', text.replace('#define SB_VAR_HOSTNAME 22', ''), 1),
            ('major changed', text.replace('#define SB_ABI_MAJOR 1', '#define SB_ABI_MAJOR 2'), 1),
        ]
        for label, body, want in header_cases:
            if label != 'header unchanged' and body == text:
                print('FAIL %s: the mutation did not apply' % label)
                failures += 1
                continue
            path = os.path.join(tmp, 'case.h')
            with open(path, 'w', encoding='utf-8') as f:
                f.write(body)
            got = run(['--headers', snapshot, path])
            ok = got.returncode == want
            failures += not ok
            print('%s %-32s exit %d (want %d)' % ('ok  ' if ok else 'FAIL', label,
                                                 got.returncode, want))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
