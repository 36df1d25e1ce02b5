"""Program swap for child Python processes of zdaemon's own test suite.

zdaemon 5.2.1's tests/parent.py (used by testzdrun.testRunIgnoresParentSignals)
plays zdctl in a separate Python process and starts zdaemon's zdrun.py with
os.spawnvpe(sys.executable, [sys.executable, ".../zdaemon/zdrun.py", ...]).
run.py puts this directory on that process's PYTHONPATH, so Python imports
this module at start-up.  When ZDKIT_ZDRUN names zdkit's zdrun, every exec of
zdaemon's zdrun.py (or zdctl.py) is turned into an exec of zdkit's program
with the same arguments; nothing else changes.  Without ZDKIT_ZDRUN this
module does nothing, so the Python originals run untouched.
"""

import os


def _swapped(args):
    """Return the argv to exec instead of args, or None to keep args."""
    if len(args) < 2:
        return None
    script = os.path.normpath(os.fspath(args[1]))
    package = os.path.basename(os.path.dirname(script))
    programs = {
        'zdrun.py': os.environ.get('ZDKIT_ZDRUN'),
        'zdctl.py': os.environ.get('ZDKIT_ZDCTL'),
    }
    ours = programs.get(os.path.basename(script))
    if package != 'zdaemon' or not ours:
        return None
    return [ours] + [os.fspath(a) for a in args[2:]]


def _wrap(exec_function):
    def exec_swapped(file, args, *env):
        argv = _swapped(list(args))
        if argv is not None:
            file, args = argv[0], argv
        return exec_function(file, args, *env)
    exec_swapped.__name__ = exec_function.__name__
    exec_swapped.__doc__ = exec_function.__doc__
    return exec_swapped


if os.environ.get('ZDKIT_ZDRUN') or os.environ.get('ZDKIT_ZDCTL'):
    # os.spawnv* fork and then call these by name from the os module, so
    # replacing them covers spawnv, spawnvp, spawnve and spawnvpe too.
    os.execv = _wrap(os.execv)
    os.execve = _wrap(os.execve)
    os.execvp = _wrap(os.execvp)
    os.execvpe = _wrap(os.execvpe)
