"""Drive a zdkit runzeo with the real Python ZEO ClientStorage.

Usage: client.py ADDRESS SCENARIO...   (ADDRESS is host:port or a socket path)
Prints one "ok <scenario>" line per scenario and exits 0, or raises.
"""
import sys
import threading
import time

import transaction
import ZODB
import ZODB.POSException
from BTrees.Length import Length
from persistent.mapping import PersistentMapping
from ZEO.ClientStorage import ClientStorage


def addr_of(s):
    if "/" in s:
        return s
    host, port = s.rsplit(":", 1)
    return (host, int(port))


ADDR = addr_of(sys.argv[1])


def db(**kw):
    return ZODB.DB(ClientStorage(ADDR, wait_timeout=10, **kw))


def root_create():
    # An empty storage: DB() creates the root (needs POSKeyError for oid 0).
    d = db()
    with d.transaction() as conn:
        conn.root()["m"] = PersistentMapping(v=1)
        conn.root()["len"] = Length()
    d.close()


def invalidation():
    a, b = db(), db()
    ca, cb = a.open(), b.open()
    assert cb.root()["m"]["v"] == 1
    ca.root()["m"]["v"] = 2
    transaction.commit()
    deadline = time.time() + 10
    while True:
        cb.sync() if hasattr(cb, "sync") else None
        transaction.begin()
        if cb.root()["m"]["v"] == 2:
            break
        assert time.time() < deadline, "B never saw the change"
        time.sleep(0.05)
    ca.close(); cb.close(); a.close(); b.close()



def increment_concurrently(dbs, key, per):
    """One thread per database increments the BTrees.Length root[key] per
    times, retrying conflicts (resolved in the client); returns errors."""
    errors = []

    def work(d):
        tm = transaction.TransactionManager()
        conn = d.open(tm)
        try:
            for _ in range(per):
                for attempt in range(50):
                    try:
                        conn.root()[key].change(1)
                        tm.commit()
                        break
                    except ZODB.POSException.ConflictError:
                        tm.abort()
                else:
                    errors.append("gave up")
        except Exception as e:
            errors.append(repr(e))
        finally:
            conn.close()

    ts = [threading.Thread(target=work, args=(d,)) for d in dbs]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return errors

def resolve():
    # BTrees.Length resolves conflicts in the client: 4 clients, 20 each.
    n, per = 4, 20
    dbs = [db() for _ in range(n)]
    errors = increment_concurrently(dbs, "len", per)
    assert not errors, errors
    d = db()
    with d.transaction() as conn:
        assert conn.root()["len"]() == n * per, conn.root()["len"]()
    [x.close() for x in dbs]
    d.close()


def conflict():
    # PersistentMapping cannot resolve: ConflictError in the client.
    a, b = db(), db()
    tma, tmb = transaction.TransactionManager(), transaction.TransactionManager()
    ca, cb = a.open(tma), b.open(tmb)
    ca.root()["m"]["v"] = 10
    cb.root()["m"]["v"] = 11
    tma.commit()
    try:
        tmb.commit()
    except ZODB.POSException.ConflictError:
        tmb.abort()
    else:
        raise AssertionError("no ConflictError")
    ca.close(); cb.close(); a.close(); b.close()


def readcurrent():
    a, b = db(), db()
    tma, tmb = transaction.TransactionManager(), transaction.TransactionManager()
    ca, cb = a.open(tma), b.open(tmb)
    m = cb.root()["m"]
    m._p_activate()  # readCurrent ignores ghosts (their serial is z64)
    cb.readCurrent(m)
    cb.root()["x"] = 1
    ca.root()["m"]["v"] = 20
    tma.commit()
    try:
        tmb.commit()
    except ZODB.POSException.ReadConflictError:
        tmb.abort()
    except ZODB.POSException.ConflictError:
        tmb.abort()
    else:
        raise AssertionError("no ReadConflictError")
    ca.close(); cb.close(); a.close(); b.close()


def poskey():
    st = ClientStorage(ADDR, wait_timeout=10)
    try:
        st.load(b"\0\0\0\0\x7f\xff\xff\xff")
    except ZODB.POSException.POSKeyError:
        pass
    else:
        raise AssertionError("no POSKeyError")
    h = st.history(b"\0" * 8, 5)
    assert h and "tid" in h[0], h
    st.close()


def undo():
    d = db()
    with d.transaction() as conn:
        conn.root()["m"]["v"] = 30
    log = d.undoLog(0, -5)
    assert log and log[0]["id"], log
    d.undo(log[0]["id"])
    transaction.commit()
    with d.transaction() as conn:
        assert conn.root()["m"]["v"] != 30, conn.root()["m"]["v"]
    d.close()


def pack():
    d = db()
    d.pack(time.time())
    with d.transaction() as conn:
        assert "m" in conn.root()
    d.close()


def readonly():
    st = ClientStorage(ADDR, wait_timeout=10, read_only=True)
    try:
        st.new_oid()
    except ZODB.POSException.ReadOnlyError:
        pass
    else:
        raise AssertionError("read-only new_oid worked")
    st.close()


def cache():
    # Persistent client cache: reconnect gets invalidations via
    # getInvalidations.
    import tempfile, os
    tmp = tempfile.mkdtemp()
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, var=tmp, client="c1"))
    with d.transaction() as conn:
        v = conn.root()["m"]["v"]
    d.close()
    w = db()
    with w.transaction() as conn:
        conn.root()["m"]["v"] = v + 100
    w.close()
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, var=tmp, client="c1"))
    with d.transaction() as conn:
        assert conn.root()["m"]["v"] == v + 100, conn.root()["m"]["v"]
    d.close()


def blobs():
    # Non-shared blob dirs: storeBlob* upload, sendBlob download.
    import tempfile
    from ZODB.blob import Blob
    data = bytes(range(256)) * 1000
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, blob_dir=tempfile.mkdtemp()))
    with d.transaction() as conn:
        conn.root()["blob"] = Blob(data)
    d.close()
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, blob_dir=tempfile.mkdtemp()))
    with d.transaction() as conn:
        with conn.root()["blob"].open() as f:
            assert f.read() == data
        with conn.root()["blob"].open("w") as f:
            f.write(b"changed")
    with d.transaction() as conn:
        with conn.root()["blob"].open() as f:
            assert f.read() == b"changed"
    d.close()


def blobread():
    # After blobs, through another server (with an empty blob cache).
    import tempfile
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, blob_dir=tempfile.mkdtemp()))
    with d.transaction() as conn:
        with conn.root()["blob"].open() as f:
            assert f.read() == b"changed"
    d.close()


def frontends():
    # Two servers on one database (ZDKIT_ADDR2 is the second): a commit
    # through one is seen through the other, and BTrees.Length
    # increments from clients of both count exactly.
    import os
    addr2 = addr_of(os.environ["ZDKIT_ADDR2"])
    a = ZODB.DB(ClientStorage(ADDR, wait_timeout=10))
    b = ZODB.DB(ClientStorage(addr2, wait_timeout=10))
    with a.transaction() as conn:
        conn.root()["fe"] = Length()
    tm = transaction.TransactionManager()
    cb = b.open(tm)
    deadline = time.time() + 10
    while "fe" not in cb.root():
        assert time.time() < deadline, "the second server never showed the commit"
        time.sleep(0.05)
        tm.begin()
    cb.close()
    n, per = 4, 15
    dbs = [ZODB.DB(ClientStorage(ADDR if i % 2 else addr2, wait_timeout=10)) for i in range(n)]
    errors = increment_concurrently(dbs, "fe", per)
    assert not errors, errors
    for d in (a, b):
        tm = transaction.TransactionManager()
        conn = d.open(tm)
        deadline = time.time() + 10
        while conn.root()["fe"]() != n * per:
            assert time.time() < deadline, conn.root()["fe"]()
            time.sleep(0.05)
            tm.begin()
        conn.close()
    [x.close() for x in dbs + [a, b]]


def sharedblobs():
    # shared_blob_dir: the client writes into the server's blob directory
    # and sends storeBlobShared.
    import os
    from ZODB.blob import Blob
    bd = os.environ["ZDKIT_SHARED_BLOB_DIR"]
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, blob_dir=bd, shared_blob_dir=True))
    with d.transaction() as conn:
        conn.root()["shared"] = Blob(b"shared data")
    with d.transaction() as conn:
        with conn.root()["shared"].open() as f:
            assert f.read() == b"shared data"
    d.close()


def sharedblobread():
    # After sharedblobs, through another front end sharing the blob
    # directory: a shared_blob_dir client reads the file in place and
    # writes a new revision; a client with a blob cache of its own gets
    # it through sendBlob.
    import os
    import tempfile
    bd = os.environ["ZDKIT_SHARED_BLOB_DIR"]
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, blob_dir=bd, shared_blob_dir=True))
    with d.transaction() as conn:
        with conn.root()["shared"].open() as f:
            assert f.read() == b"shared data"
        with conn.root()["shared"].open("w") as f:
            f.write(b"second revision")
    d.close()
    d = ZODB.DB(ClientStorage(ADDR, wait_timeout=10, blob_dir=tempfile.mkdtemp()))
    with d.transaction() as conn:
        with conn.root()["shared"].open() as f:
            assert f.read() == b"second revision"
    d.close()


def timeout():
    # Run against a server with a 1 s transaction-timeout: a client that
    # votes and stalls loses its transaction, and another committer is not
    # blocked (stock ZEO 5.4-6.0 leaked the lock here).
    from ZODB.Connection import TransactionMetaData
    st = ClientStorage(ADDR, wait_timeout=10)
    d0 = ZODB.DB(st)  # makes sure the root exists
    d0.close()
    st = ClientStorage(ADDR, wait_timeout=10)
    oid = st.new_oid()
    t = TransactionMetaData()
    st.tpc_begin(t)
    st.store(oid, b"\0" * 8, b"stalled", "", t)
    st.tpc_vote(t)
    time.sleep(2.5)
    try:
        st.tpc_finish(t)
    except Exception:
        pass
    else:
        raise AssertionError("tpc_finish after the timeout succeeded")
    try:
        st.tpc_abort(t)
    except Exception:
        pass
    st.close()
    d = db()
    start = time.time()
    with d.transaction() as conn:
        conn.root()["after_timeout"] = 1
    assert time.time() - start < 5, "second committer waited"
    d.close()


def copy():
    # copyTransactionsFrom (zodbconvert's path): tpc_begin with tid and
    # status, restorea, vote, tpc_finish with the source's tids.
    import tempfile, os
    import ZODB.FileStorage
    src_path = os.path.join(tempfile.mkdtemp(), "src.fs")
    src = ZODB.FileStorage.FileStorage(src_path)
    sdb = ZODB.DB(src)
    with sdb.transaction() as conn:
        conn.root()["copied"] = PersistentMapping(a=1)
    with sdb.transaction() as conn:
        conn.root()["copied"]["a"] = 2
    dest = ClientStorage(ADDR, wait_timeout=10)
    dest.copyTransactionsFrom(src)
    assert dest.lastTransaction() == src.lastTransaction()
    ddb = ZODB.DB(dest)
    with ddb.transaction() as conn:
        assert conn.root()["copied"]["a"] == 2
    ddb.close()
    sdb.close()


for name in sys.argv[2:]:
    globals()[name]()
    print("ok", name, flush=True)
