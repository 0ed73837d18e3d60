#!/usr/bin/env python3
"""sdk.out_of_tree: the installed SDK builds a third-party plugin.

usage: out_of_tree.py CMAKE BUILD_DIR PROJECT_DIR WORK_DIR CXX MAKE_PROGRAM
1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix: the SDK files, the package, the .pc,
   bin/silverback must be there.
2. pkg-config resolves -I<prefix>/include from the relocatable silverback.pc.
3. Configure and build PROJECT_DIR against the prefix only (Ninja, one job); install the plugin.
4. nm -D: the plugin defines exactly sb_plugin_entry_v1, and every undefined symbol is a
   versioned libc/libstdc++/libm/libgcc one (or a weak toolchain hook).
5. Run the project's unit test (silverback/testing.hpp from the prefix) if it was built.
"""
import os
import re
import shutil
import subprocess
import sys

ALLOWED_VERSIONS = ('GLIBC_', 'GLIBCXX_', 'CXXABI_', 'GCC_')


def run(cmd, **kw):
    print('$ ' + ' '.join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(r.stdout[-4000:])
        print(r.stderr[-4000:])
        raise SystemExit('FAIL: exit %d' % r.returncode)
    return r.stdout


def main(argv):
    cmake, build, project, work, cxx, make = argv[1:7]
    shutil.rmtree(work, ignore_errors=True)
    prefix = os.path.join(work, 'prefix')
    failures = []

    run([cmake, '--install', build, '--prefix', prefix])
    expected = ['include/silverback/plugin.h', 'include/silverback/plugin.hpp',
                'include/silverback/testing.hpp', 'lib/cmake/Silverback/SilverbackConfig.cmake',
                'lib/cmake/Silverback/SilverbackConfigVersion.cmake',
                'lib/cmake/Silverback/SilverbackTargets.cmake',
                'lib/cmake/Silverback/SilverbackPlugin.cmake', 'lib/pkgconfig/silverback.pc',
                'bin/silverback']
    for rel in expected:
        if not os.path.exists(os.path.join(prefix, rel)):
            failures.append('not installed: ' + rel)

    if shutil.which('pkg-config'):
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, 'lib', 'pkgconfig'))
        cflags = run(['pkg-config', '--cflags', 'silverback'], env=env).split()
        incs = [os.path.realpath(f[2:]) for f in cflags if f.startswith('-I')]
        if os.path.realpath(os.path.join(prefix, 'include')) not in incs:
            failures.append('pkg-config --cflags silverback gave %s' % cflags)

    pbuild = os.path.join(work, 'build')
    run([cmake, '-S', project, '-B', pbuild, '-G', 'Ninja', '-DCMAKE_MAKE_PROGRAM=' + make,
         '-DCMAKE_BUILD_TYPE=Release', '-DCMAKE_CXX_COMPILER=' + cxx,
         '-DCMAKE_PREFIX_PATH=' + prefix, '-DCMAKE_INSTALL_PREFIX=' + prefix])
    run([cmake, '--build', pbuild, '-j', '1'])
    run([cmake, '--install', pbuild])
    so = os.path.join(prefix, 'lib', 'silverback', 'plugins', 'stamp.so')
    if not os.path.exists(so):
        failures.append('plugin not installed at ' + so)
    else:
        defined = run(['nm', '-D', '--defined-only', so]).split('\n')
        names = sorted(line.split()[-1] for line in defined if line.strip())
        if names != ['sb_plugin_entry_v1']:
            failures.append('stamp.so defines %s, expected only sb_plugin_entry_v1' % names)
        undefined = run(['nm', '-D', '--undefined-only', so]).split('\n')
        for line in undefined:
            parts = line.split()
            if not parts:
                continue
            kind, sym = parts[-2], parts[-1]
            if kind in ('w', 'v'):  # weak toolchain hooks (__gmon_start__, _ITM_*, ...)
                continue
            version = sym.split('@', 1)[1] if '@' in sym else ''
            if not version.startswith(ALLOWED_VERSIONS):
                failures.append('unexpected undefined symbol in stamp.so: ' + sym)
        print('stamp.so: defines %s; %d undefined, all from libc/libstdc++/libm/libgcc'
              % (names, len([l for l in undefined if l.strip()])))

    test = os.path.join(pbuild, 'stamp_test')
    if os.path.exists(test):
        out = run([test])
        if not re.search(r'\[  PASSED  \] 1 test', out):
            failures.append('stamp_test did not pass')
        print('stamp_test passed against the installed testing.hpp')
    else:
        print('GoogleTest not found by the out-of-tree project: unit test not built')

    for f in failures:
        print('FAIL: ' + f)
    print('sdk.out_of_tree OK' if not failures else 'sdk.out_of_tree FAILED')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
