# One load process of zeobench's Python-client benchmark: a real ZEO
# ClientStorage doing one-object commits or cache-less loadBefore calls.
# Usage: pyclient.py HOST:PORT commit|load SECONDS
# Prints "ready" once connected, waits for a line on stdin, runs, prints
# "ops N seconds S".
import sys
import time

from ZEO.ClientStorage import ClientStorage
from ZODB.Connection import TransactionMetaData
from ZODB.utils import p64, z64

host, port = sys.argv[1].rsplit(':', 1)
mode, seconds = sys.argv[2], float(sys.argv[3])
cs = ClientStorage((host, int(port)), wait=True, wait_timeout=60)
oid = cs.new_oid()
serial = z64


def commit():
    global serial
    t = TransactionMetaData()
    cs.tpc_begin(t)
    cs.store(oid, serial, b'x' * 100, '', t)
    cs.tpc_vote(t)
    serial = cs.tpc_finish(t)


commit()  # the object the loads read
maxtid = p64(2**63 - 1)
# ZEO 6 ClientStorage.loadBefore (and ClientRunner.load_before) answer
# from the client cache; the server's loadBefore is what is measured, so
# it is called as a plain remote call, as ClientStorage does for history.
server = cs._server


def load():
    server.call('loadBefore', oid, maxtid)


op = commit if mode == 'commit' else load
sys.stdout.write('ready\n')
sys.stdout.flush()
sys.stdin.readline()
n = 0
start = time.time()
end = start + seconds
while True:
    op()
    n += 1
    if n % 16 == 0 and time.time() >= end:
        break
elapsed = time.time() - start
sys.stdout.write('ops %d seconds %f\n' % (n, elapsed))
sys.stdout.flush()
cs.close()
