"""Run zdaemon 5.2.1's own process-level tests, unchanged.

Without ZDKIT_ZDCTL the tests run against the Python originals.  With
ZDKIT_ZDCTL and ZDKIT_ZDRUN (absolute paths of zdkit's zdctl and zdrun) the
same tests run with only the programs swapped:

- tests.py and README.rst run "./zdaemon", a script each test writes from
  tests.zdaemon_template; the template becomes "exec <zdkit zdctl>".
- testzdrun.ZDaemonTests.rundaemon runs '"<python>" "<zdrun.py>" -d -s ...';
  python and zdrun.py become "env" and zdkit's zdrun.
- parent.py (testRunIgnoresParentSignals) execs zdrun.py from another
  Python process; sitecustomize.py, beside this file, swaps that exec.
- zdctl.main and zdrun.main (test_help_zdctl, test_help_zdrun) run the
  program with the arguments given and print what it printed; the expected
  text stays zdaemon's own __doc__.
- zdctl.ZDCtlOptions and zdctl.ZDCmd (TestRunnerDirectory, testzdctl's
  help doctest) run one zdctl process: realize() runs it with the whole
  command line (and raises SystemExit, like zdaemon's option parsing, when
  the program fails without printing anything on stdout); onecmd() prints
  what it printed.

The other 56 tests of zdaemon 5.2.1 call its Python API in-process
(ZDOptions parsing, Subprocess, _ChildExits, ZDCmd subclasses, chown with
a patched os) and say nothing about a program; they are not run.

zdaemon's tests refuse to run as root (testUmask) and its zdctl chowns
directories when run as root, so as root the tests run as the user named by
ZDKIT_SUITE_USER (default "nobody").

Usage: PYTHONPATH=<dir holding zdaemon, ZConfig> python3 run.py
ZDKIT_SUITE_TESTS=a,b runs only the tests whose names contain a or b.
Exit status 0 when every selected test passed, 1 otherwise.
"""

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest


# The process-level tests: every one runs zdctl or zdrun as a program.
PROCESS_LEVEL = (
    'zdaemon.tests.tests.DAEMON_MANAGER_MODE_leak',
    'zdaemon.tests.tests.allow_duplicate_arguments',
    'zdaemon.tests.tests.dont_hang_when_program_doesnt_start',
    'zdaemon.tests.tests.make_sure_non_daemon_mode_doesnt_hang_when_program_exits',  # noqa: E501
    'zdaemon.tests.tests.nonzero_exit_on_program_failure',
    'zdaemon.tests.tests.test_kill',
    'zdaemon.tests.tests.test_log_rotation',
    'zdaemon.tests.tests.test_logreopen',
    'zdaemon.tests.tests.test_start_test_program',
    'zdaemon.tests.tests.test_start_timeout',
    'zdaemon.tests.tests.test_stop_timeout',
    'README.rst',
    'zdaemon.tests.testzdrun.ZDaemonTests.testRunIgnoresParentSignals',
    'zdaemon.tests.testzdrun.ZDaemonTests.testSystem',
    'zdaemon.tests.testzdrun.ZDaemonTests.testUmask',
    'zdaemon.tests.testzdrun.ZDaemonTests.test_help_zdctl',
    'zdaemon.tests.testzdrun.ZDaemonTests.test_help_zdrun',
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlRunDirectoryCreation',
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlRunDirectoryCreationFromConfigFile',  # noqa: E501
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlRunDirectoryCreationOnlyOne',  # noqa: E501
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlSocketDirectoryCreation',  # noqa: E501
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlSocketDirectoryCreationFromConfigFile',  # noqa: E501
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlSocketDirectoryCreationFromConfigFileRelativePath',  # noqa: E501
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlSocketDirectoryCreationOnlyOne',  # noqa: E501
    'zdaemon.tests.testzdrun.TestRunnerDirectory.testCtlSocketDirectoryCreationRelativePath',  # noqa: E501
    'zdaemon.tests.testzdctl.doctest_ZDCmd_help',
)


def drop_root():
    """Become ZDKIT_SUITE_USER when running as root (see the docstring)."""
    if os.geteuid() != 0:
        return
    name = os.environ.get('ZDKIT_SUITE_USER', 'nobody')
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        sys.exit('run.py: running as root and user %r does not exist '
                 '(set ZDKIT_SUITE_USER)' % name)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ['HOME'] = tempfile.mkdtemp(prefix='zdsuite-home-')
    os.environ['USER'] = os.environ['LOGNAME'] = name


def run_program(path, args):
    """Run path with args; return (exit status, stdout, stderr) as text."""
    p = subprocess.run([path] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def program_main(path):
    """A stand-in for zdctl.main / zdrun.main that runs path."""
    def main(args=None, options=None, cmdclass=None):
        if args is None:
            args = sys.argv[1:]
        status, out, err = run_program(path, args)
        sys.stdout.write(out)
        sys.stderr.write(err)
        sys.exit(status)
    return main


def options_class(zdctl_path):
    """A stand-in for zdctl.ZDCtlOptions: realize() runs zdctl."""
    class ProgramOptions:
        def realize(self, args=None, progname=None, doc=None):
            if args is None:
                args = sys.argv[1:]
            status, out, err = run_program(zdctl_path, args)
            sys.stderr.write(err)
            if status != 0 and not out:
                # zdaemon reports bad options from realize() by
                # SystemExit, before any command runs.
                sys.exit(status)
            self.status, self.output = status, out
            # The command already ran as part of the command line.
            self.args = []
    return ProgramOptions


class ProgramCmd:
    """A stand-in for zdctl.ZDCmd: onecmd() prints what zdctl printed."""

    def __init__(self, options):
        self.options = options

    def onecmd(self, line):
        sys.stdout.write(self.options.output)


def swap(zdctl, zdrun):
    """Point every program the selected tests run at zdctl and zdrun."""
    from zdaemon import zdctl as zdctl_module
    from zdaemon import zdrun as zdrun_module
    from zdaemon.tests import tests, testzdrun
    # Children (parent.py, and everything they start) find these.
    os.environ['ZDKIT_ZDCTL'] = zdctl
    os.environ['ZDKIT_ZDRUN'] = zdrun
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ['PYTHONPATH'] = os.pathsep.join(
        [here] + [p for p in os.environ.get('PYTHONPATH', '').split(
            os.pathsep) if p])
    if here not in sys.path:
        # testRunIgnoresParentSignals hands sys.path to parent.py.
        sys.path.insert(0, here)
    tests.zdaemon_template = (
        '#!/bin/sh\nexec %s "$@"\n' % shlex.quote(zdctl).replace('%', '%%'))
    env = '/usr/bin/env' if os.path.exists('/usr/bin/env') else '/bin/env'
    testzdrun.ZDaemonTests.python = env
    testzdrun.ZDaemonTests.zdrun = zdrun
    zdctl_module.main = program_main(zdctl)
    zdrun_module.main = program_main(zdrun)
    zdctl_module.ZDCtlOptions = options_class(zdctl)
    zdctl_module.ZDCmd = ProgramCmd


def selected_tests():
    from zdaemon.tests import tests, testzdctl, testzdrun

    def flat(suite):
        for t in suite:
            if isinstance(t, unittest.TestSuite):
                yield from flat(t)
            else:
                yield t

    found = {}
    for module in (tests, testzdrun, testzdctl):
        for t in flat(module.test_suite()):
            tid = t.id()
            if tid.endswith('README.rst'):
                tid = 'README.rst'
            found[tid] = t
    missing = [tid for tid in PROCESS_LEVEL if tid not in found]
    if missing:
        sys.exit('run.py: tests not found in this zdaemon: %s'
                 % ', '.join(missing))
    only = [w for w in os.environ.get('ZDKIT_SUITE_TESTS', '').split(',')
            if w]
    return unittest.TestSuite(
        found[tid] for tid in PROCESS_LEVEL
        if not only or any(w in tid for w in only))


def main():
    zdctl = os.environ.get('ZDKIT_ZDCTL')
    zdrun = os.environ.get('ZDKIT_ZDRUN')
    if bool(zdctl) != bool(zdrun):
        sys.exit('run.py: set both ZDKIT_ZDCTL and ZDKIT_ZDRUN, or neither')
    for p in (zdctl, zdrun):
        if p and not (os.path.isabs(p) and os.access(p, os.X_OK)):
            sys.exit('run.py: %r is not an absolute path of an executable'
                     % p)
    drop_root()
    # testzdrun.testRunIgnoresParentSignals ends parent.py with SIGINT. A
    # shell starts background jobs with SIGINT ignored, and an ignored
    # signal stays ignored across exec, so parent.py would outlive the
    # test: give SIGINT back its default so the children inherit that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    work = tempfile.mkdtemp(prefix='zdsuite-')
    os.chdir(work)
    label = 'zdkit' if zdctl else 'python'
    if zdctl:
        swap(zdctl, zdrun)
    else:
        # The originals run as upstream runs them: this directory (and its
        # sitecustomize.py) stays off the path their children inherit.
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path
                       if os.path.abspath(p or '.') != here]
    suite = selected_tests()
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed
    print('zdaemon 5.2.1 process-level tests, %s: %d of %d passed'
          % (label, passed, result.testsRun))
    for test, _ in result.failures + result.errors:
        print('  failed: %s' % test.id())
    os.chdir('/')
    shutil.rmtree(work, ignore_errors=True)
    if os.environ['HOME'].startswith(tempfile.gettempdir()):
        shutil.rmtree(os.environ['HOME'], ignore_errors=True)
    sys.exit(0 if failed == 0 else 1)


if __name__ == '__main__':
    main()
