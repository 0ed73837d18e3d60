#!/usr/bin/env python3
"""abi.layout: the current header's struct layouts against every released baseline.

usage: layout_test.py ABIDW ABIDIFF PROBE.so BASELINE_DIR SNAPSHOT_DIR HEADER OUT.xml
Dumps the probe (built from the current plugin.h) with abidw, runs check_append_only.py
against each sdk/abi/baseline/1.N.xml (the gate) and, for each frozen header
sdk/abi/snapshots/silverback_plugin_1.N.h, the constants check. Then prints abidiff's report
between the newest baseline and the current dump (information, not a gate: any difference
means the ABI changed, so SB_ABI_MINOR must be bumped and a baseline added in the same change).
Exit 77 (skipped) without abidw.
"""
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ABIDW_FLAGS = ['--no-corpus-path', '--no-comp-dir-path', '--no-show-locs', '--no-architecture']


def minor_key(path):
    m = re.search(r'1\.(\d+)\.(xml|h)$', path)
    return int(m.group(1)) if m else -1


def main(argv):
    abidw, abidiff, probe, baseline_dir, snapshot_dir, header, out = argv[1:8]
    if not abidw or not os.path.exists(abidw):
        print('abidw not found (apt-get install abigail-tools): skipped')
        return 77
    subprocess.run([abidw] + ABIDW_FLAGS + [probe, '--out-file', out], check=True)
    checker = [sys.executable, os.path.join(HERE, 'check_append_only.py')]
    bad = False
    baselines = sorted(glob.glob(os.path.join(baseline_dir, '1.*.xml')), key=minor_key)
    snapshots = sorted(glob.glob(os.path.join(snapshot_dir, 'silverback_plugin_1.*.h')),
                       key=minor_key)
    if not baselines or not snapshots:
        print('no baselines or snapshots found')
        return 1
    for b in baselines:
        r = subprocess.run(checker + [b, out], capture_output=True, text=True)
        print('layout vs %s: %s' % (os.path.basename(b), r.stdout.strip()))
        bad |= r.returncode != 0
    for s in snapshots:
        r = subprocess.run(checker + ['--headers', s, header], capture_output=True, text=True)
        print('constants vs %s: %s' % (os.path.basename(s), r.stdout.strip()))
        bad |= r.returncode != 0
    if abidiff and os.path.exists(abidiff):
        r = subprocess.run([abidiff, baselines[-1], out], capture_output=True, text=True)
        print('--- abidiff %s current (exit %d: %s) ---' % (
            os.path.basename(baselines[-1]), r.returncode,
            'no change' if r.returncode == 0 else 'ABI changed: bump SB_ABI_MINOR, add a baseline'))
        print(r.stdout.strip() or '(empty report)')
    print('ABI BREAK' if bad else 'abi.layout OK')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
