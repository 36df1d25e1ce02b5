"""Run ZEO's own test suite (src/ZEO/tests, unchanged) with zope.testrunner,
with ZEO's test forker starting zdkit's runzeo as a subprocess.

ZEO 6.0's tests start their servers through ZEO._forker.start_zeo_server
(ZEO.tests.forker and ZEO.server() re-export it).  That function writes the
configuration the test asks for, runs Python's runzeo.ZEOServer in a
multiprocessing child and returns (address, stop).  This script replaces it,
before the runner imports any test, with one that writes the same
configuration and runs `runzeo -C <file>` instead; the tests are not touched.

Environment:
  ZDKIT_RUNZEO    path of the runzeo binary to start; unset (or "python")
                  keeps ZEO's own forker, for the baseline run.
  ZDKIT_SUITE_LOG directory for the servers' stderr (default: a temp dir).

Arguments are passed to zope.testrunner (e.g. --test-path SRC -vc -a 1000).
This file is ours (zdkit); it imports ZEO but copies none of it.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time


RUNZEO = os.environ.get('ZDKIT_RUNZEO', '')
LOGDIR = os.environ.get('ZDKIT_SUITE_LOG') or tempfile.mkdtemp(
    prefix='zdkit-zeo-suite-')


def free_port():
    """A loopback port nobody listens on now (the server binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def reachable(addr):
    family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(addr)
        except OSError:
            return False
        return True


def bind_address(zeo_text):
    """The <zeo> text with a TCP port of 0 replaced by a free port, and
    the address clients use: (host, port) or a Unix socket path."""
    m = re.search(r'^(\s*address\s+)(\S.*?)\s*$', zeo_text, re.M)
    value = m.group(2)
    if value.startswith('/') or ':' not in value and not value.isdigit():
        return zeo_text, value
    host, _, port = value.rpartition(':')
    host, port = host.strip() or '127.0.0.1', int(port)
    if port != 0:
        return zeo_text, (host, port)
    port = free_port()
    text = (zeo_text[:m.start(2)] + '%s:%d' % (host, port) +
            zeo_text[m.end(2):])
    return text, (host, port)


def storage_files(conf):
    """The files ZODB 6.3's FileStorage.cleanup() removes, which ZEO's
    forker calls after a test server stops without keep: each
    FileStorage's file and its .old, .tmp, .lock, .index and .pack (blob
    directories stay)."""
    files = []
    for m in re.finditer(r'^\s*path\s+(\S+)\s*$', conf, re.M):
        files += [m.group(1) + s
                  for s in ('', '.old', '.tmp', '.lock', '.index', '.pack')]
    return files


# Servers still running when the runner (or one of its layer
# subprocesses) exits: a test that never calls stop() must not leave a
# process behind. (ZEO's own forker gives its servers a 999 s deadline.)
RUNNING = set()


def stop_leftovers():
    for proc in list(RUNNING):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    RUNNING.clear()


def install():
    import atexit
    import ZEO._forker as forker
    atexit.register(stop_leftovers)

    def start_zeo_server(storage_conf=None, zeo_conf=None, port=None,
                         keep=False, path='Data.fs', protocol=None,
                         blob_dir=None, suicide=True, debug=False,
                         threaded=False, start_timeout=33, name=None,
                         log=None, show_config=False):
        # Same configuration as ZEO 6.0 _forker.start_zeo_server builds,
        # except that port 0 becomes a free port chosen here, since the
        # address has to be known before the server process reports it.
        if not storage_conf:
            storage_conf = '<filestorage>\npath %s\n</filestorage>' % path
        if blob_dir:
            storage_conf = ('<blobstorage>\nblob-dir %s\n%s\n</blobstorage>'
                            % (blob_dir, storage_conf))
        if zeo_conf is None or isinstance(zeo_conf, dict):
            if port is None:
                port = 0
            addr = ('127.0.0.1', port) if isinstance(port, int) else port
            z = forker.ZEOConfig(addr, log=log)
            if zeo_conf:
                z.__dict__.update(zeo_conf)
            zeo_conf = z
        zeo_text, addr = bind_address(str(zeo_conf))
        conf = zeo_text + '\n\n' + storage_conf
        if show_config:
            print(conf)
        fd, conf_path = tempfile.mkstemp('.conf', prefix='ZEO_forker',
                                         dir=os.getcwd())
        with os.fdopen(fd, 'w') as f:
            f.write(conf)
        errlog = open(os.path.join(LOGDIR, 'runzeo-%d-%d.log' % (
            os.getpid(), int(time.time() * 1e6))), 'wb')
        errlog.write(conf.encode() + b'\n----\n')
        errlog.flush()
        proc = subprocess.Popen([RUNZEO, '-C', conf_path],
                                stdin=subprocess.DEVNULL,
                                stdout=errlog, stderr=errlog)
        RUNNING.add(proc)
        deadline = time.time() + start_timeout
        while not reachable(addr):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                proc.wait()
                errlog.close()
                os.remove(conf_path)
                raise RuntimeError('runzeo failed to start; see ' +
                                   errlog.name)
            time.sleep(0.02)
        os.remove(conf_path)

        def stop(stop_timeout=99):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(stop_timeout)
                except subprocess.TimeoutExpired:
                    print("WARNING Couldn't stop server", file=sys.stderr)
                    proc.kill()
                    proc.wait()
            RUNNING.discard(proc)
            errlog.close()
            if not keep:
                for p in storage_files(storage_conf):
                    if os.path.exists(p):
                        os.remove(p)

        return addr, stop

    forker.start_zeo_server = start_zeo_server


if __name__ == '__main__':
    if RUNZEO and RUNZEO != 'python':
        install()
    import zope.testrunner
    zope.testrunner.run([])
