"""Drive a ZEO server with the real ZEO 6 ClientStorage (interop helper).

usage: zeo_client.py ADDRESS SCENARIO [ARG]
ADDRESS is HOST:PORT or a Unix socket path. Each scenario prints
"ok SCENARIO" on success and exits non-zero with a message otherwise.
"""
import json
import os
import sys
import time

import transaction
import ZEO
from BTrees.Length import Length
from persistent.mapping import PersistentMapping
from ZODB.POSException import ConflictError

import fs_write

TIMEOUT = 10


def parse_addr(text):
    if '/' in text:
        return text
    host, port = text.rsplit(':', 1)
    return (host, int(port))


def fail(msg):
    sys.exit('FAIL: %s' % msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def opendb(addr, **kw):
    return ZEO.DB(addr, wait_timeout=TIMEOUT, **kw)


def wait_for(pred, what):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    fail('timed out waiting for ' + what)


def basic(addr):
    db1 = opendb(addr)
    db2 = opendb(addr)
    tm1 = transaction.TransactionManager()
    tm2 = transaction.TransactionManager()
    c1 = db1.open(tm1)
    c2 = db2.open(tm2)
    r1 = c1.root()
    r1['x'] = PersistentMapping(a=1)
    tm1.commit()
    r2 = c2.root()
    # ZEO delivers invalidations to other clients asynchronously (with
    # Python's runzeo too), so the second client polls.
    wait_for(lambda: (tm2.begin(), 'x' in r2 and dict(r2['x']) == {'a': 1})[1],
             'the first commit on the second client')
    r1['x']['a'] = 2
    tm1.commit()

    def seen():
        tm2.begin()
        return r2['x']['a'] == 2
    wait_for(seen, 'invalidation on the second client')
    oid = r1['x']._p_oid
    hist = db1.history(oid, 10)
    check(len(hist) == 2, 'history has %d entries, want 2' % len(hist))
    check(hist[0]['tid'] > hist[1]['tid'], 'history not newest first')
    info = db1.undoInfo()
    check(len(info) == 3, 'undoInfo has %d entries, want 3' % len(info))
    db1.undo(info[0]['id'], tm1.get())
    tm1.commit()
    # The undo's invalidations reach the committing client asynchronously.
    wait_for(lambda: (tm1.begin(), r1['x']['a'] == 1)[1],
             'undo invalidation on the first client')
    wait_for(lambda: (tm2.begin(), r2['x']['a'] == 1)[1],
             'undo invalidation on the second client')
    size_before = db1.storage.getSize()
    db1.pack(time.time() + 1)
    tm1.begin()
    check(len(db1.history(oid, 10)) == 1, 'pack kept old revisions')
    check(r1['x']['a'] == 1, 'after pack a=%r' % r1['x']['a'])
    check(db1.storage.getSize() < size_before, 'pack did not shrink file')
    for c, db in ((c1, db1), (c2, db2)):
        c.close()
        db.close()


def conflict(addr):
    db1 = opendb(addr)
    db2 = opendb(addr)
    tm1 = transaction.TransactionManager()
    tm2 = transaction.TransactionManager()
    c1 = db1.open(tm1)
    c2 = db2.open(tm2)
    r1 = c1.root()
    token = os.urandom(8).hex()
    r1['m'] = PersistentMapping(a=0, token=token)
    r1['n'] = Length(0)
    tm1.commit()
    r2 = c2.root()
    wait_for(lambda: (tm2.begin(),
                      'm' in r2 and r2['m'].get('token') == token)[1],
             'the new objects on the second client')
    # Unresolvable: both change the same PersistentMapping.
    r1['m']['a'] = 1
    r2['m']['a'] = 2
    tm2.commit()
    try:
        tm1.commit()
        fail('no ConflictError for concurrent PersistentMapping writes')
    except ConflictError:
        tm1.abort()
    wait_for(lambda: (tm1.begin(), r1['m']['a'] == 2)[1],
             'the winning write (a=2) on the losing client')
    # Resolvable: BTrees.Length has _p_resolveConflict (client-side).
    tm1.begin()
    tm2.begin()
    r1['n'].change(5)
    r2['n'].change(7)
    tm2.commit()
    tm1.commit()
    wait_for(lambda: (tm1.begin(), r1['n']() == 12)[1],
             'resolved Length == 12 on the first client')
    wait_for(lambda: (tm2.begin(), r2['n']() == 12)[1],
             'resolved Length == 12 on the second client')
    # BTree buckets resolve concurrent inserts of different keys.
    from BTrees.OOBTree import OOBTree
    r1['t'] = OOBTree({'a': 0})
    tm1.commit()
    wait_for(lambda: (tm2.begin(), 't' in r2)[1], 'the BTree on client 2')
    r1['t']['b'] = 1
    r2['t']['c'] = 2
    tm2.commit()
    tm1.commit()
    wait_for(lambda: (tm1.begin(), sorted(r1['t'].keys()) == ['a', 'b', 'c'])[1],
             'merged BTree keys a, b, c')
    for c, db in ((c1, db1), (c2, db2)):
        c.close()
        db.close()


def write(addr):
    """fs_write.py's workload through ZEO; prints the root summary."""
    db = opendb(addr)
    conn = db.open()
    root = conn.root()
    for i in range(5):
        root['k%d' % i] = PersistentMapping({'v': i, 's': 'x' * i})
        txn = transaction.get()
        txn.note('txn %d' % i)
        txn.setUser('bob')
        txn.setExtendedInfo('n', i)
        transaction.commit()
    from BTrees.OOBTree import OOBTree
    root['tree'] = OOBTree()
    transaction.commit()
    for i in range(50):
        root['tree'][i] = str(i)
    transaction.commit()
    del root['k0']
    transaction.commit()
    db.undo(db.undoInfo()[0]['id'], transaction.get())
    transaction.commit()
    root['k1']['v'] = 'changed'
    transaction.commit()
    print(json.dumps(fs_write.summary(root), sort_keys=True))
    conn.close()
    db.close()


def read(addr):
    """Print the root summary as seen through ZEO."""
    db = opendb(addr)
    conn = db.open()
    print(json.dumps(fs_write.summary(conn.root()), sort_keys=True))
    conn.close()
    db.close()


def _abandon(addr, after):
    """Start a commit at the storage level and die without finishing."""
    db = opendb(addr)
    conn = db.open()
    conn.root()['victim'] = PersistentMapping(a=1)
    txn = transaction.get()
    conn.tpc_begin(txn)
    conn.commit(txn)
    if after == 'vote':
        conn.tpc_vote(txn)
    sys.stdout.write('abandoning after %s\n' % after)
    sys.stdout.flush()
    os._exit(0)


def stall_after_vote(addr):
    """Vote, then sit on the commit lock for 8 s before finishing."""
    db = opendb(addr)
    conn = db.open()
    conn.root()['victim'] = PersistentMapping(a=1)
    txn = transaction.get()
    conn.tpc_begin(txn)
    conn.commit(txn)
    conn.tpc_vote(txn)
    sys.stdout.write('voted\n')
    sys.stdout.flush()
    time.sleep(8)
    try:
        conn.tpc_finish(txn)
        print('finish succeeded after stalling')
    except Exception as e:
        print('finish failed: %s' % type(e).__name__)
    os._exit(0)


def after_abandon(addr):
    """A fresh client must be able to commit once the other one is gone."""
    db = opendb(addr)
    conn = db.open()
    root = conn.root()
    check('victim' not in root, 'abandoned transaction became visible')
    root['survivor'] = 1
    transaction.commit()
    conn.close()
    db.close()


def readonly(addr):
    """Against a read-only server: reads work, a write raises ReadOnlyError."""
    from ZODB.POSException import ReadOnlyError
    db = opendb(addr, read_only=True)
    conn = db.open()
    root = conn.root()
    check(root['k1']['v'] == 'changed', 'read-only server serves %r' % dict(root['k1']))
    root['w'] = 1
    try:
        transaction.commit()
        fail('commit on a read-only server succeeded')
    except ReadOnlyError:
        transaction.abort()
    conn.close()
    db.close()


def _cached_db(addr):
    # A persistent client cache (.zec) in the working directory.
    return opendb(addr, client='interop', var=os.getcwd())


def cache_prime(addr):
    """Write x=0 and some padding objects and close, keeping the .zec."""
    db = _cached_db(addr)
    conn = db.open()
    root = conn.root()
    root['x'] = PersistentMapping(a=0)
    for i in range(20):
        root['p%d' % i] = PersistentMapping(i=i)
    transaction.commit()
    check(root['x']['a'] == 0, 'prime')
    conn.close()
    db.close()


def bump(addr, count):
    """Another client (no cache) commits x.a += 1, count times."""
    db = opendb(addr)
    conn = db.open()
    root = conn.root()
    for _ in range(count):
        root['x']['a'] += 1
        transaction.commit()
    print('x.a=%d' % root['x']['a'])
    conn.close()
    db.close()


def cache_check(addr):
    """Reopen with the old .zec: the client must see the newest x.a."""
    want = int(sys.argv[3])
    db = _cached_db(addr)
    conn = db.open()
    root = conn.root()
    check(root['x']['a'] == want,
          'cached client sees x.a=%r, want %d' % (root['x']['a'], want))
    check(root['p7']['i'] == 7, 'padding object p7 wrong')
    conn.close()
    db.close()


def inspect(addr):
    """Storage-level reads a real application uses: iterator (record
    iteration), record_iternext, loadBefore via historical connections,
    lastTransaction, len, new_oid, sortKey, supportsUndo."""
    db = opendb(addr)
    st = db.storage
    # Records must be read while the server-side iterator is still open.
    txns, nrecs = [], []
    for t in st.iterator():
        txns.append(t)
        nrecs.append([(r.oid, r.tid, r.data) for r in t])
    check(len(txns) == 11, 'iterator gave %d transactions, want 11' % len(txns))
    check(txns[1].description == b'txn 0' and txns[1].user == b'/ bob',
          'txn 1 meta %r %r' % (txns[1].description, txns[1].user))
    check(txns[1].extension == {'n': 0}, 'extension %r' % (txns[1].extension,))
    check(all(len(o) == 8 and t == txns[i].tid
              for i, recs in enumerate(nrecs) for o, t, _ in recs),
          'record oids/tids wrong')
    print('records per txn ' + ' '.join(str(len(r)) for r in nrecs))
    check(st.lastTransaction() == txns[-1].tid, 'lastTransaction')
    # record_iternext walks every current object
    n, nxt = 0, None
    while True:
        oid, tid, data, nxt = st.record_iternext(nxt)
        n += 1
        if nxt is None:
            break
    check(n == len(st), 'record_iternext saw %d objects, len says %d' % (n, len(st)))
    # historical connection: k1 before the last txn had v == 1
    conn = db.open(before=txns[-1].tid)
    check(conn.root()['k1']['v'] == 1, 'before last txn k1.v=%r' % conn.root()['k1']['v'])
    conn.close()
    conn = db.open(at=txns[5].tid)
    check(sorted(conn.root().keys()) == ['k0', 'k1', 'k2', 'k3', 'k4'],
          'at txn 5 keys %r' % sorted(conn.root().keys()))
    conn.close()
    oid = st.new_oid()
    check(len(oid) == 8, 'new_oid %r' % oid)
    check(st.supportsUndo(), 'supportsUndo false')
    check(isinstance(st.sortKey(), str), 'sortKey %r' % st.sortKey())
    check(st.getName(), 'getName empty')
    print('len=%d name=%r' % (len(st), st.getName()))
    db.close()


def _tls(addr, with_cert):
    """Connect over TLS (ZEO 5's ssl= argument) using DIR/server.pem as
    the CA and, with_cert, DIR/client.pem + client.key as the client
    certificate; DIR is the third argument."""
    import ssl
    d = sys.argv[3]
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=os.path.join(d, 'server.pem'))
    if with_cert:
        ctx.load_cert_chain(os.path.join(d, 'client.pem'),
                            os.path.join(d, 'client.key'))
    ctx.check_hostname = False
    try:
        db = ZEO.DB(addr, ssl=ctx, ssl_server_hostname='localhost',
                    wait_timeout=5 if not with_cert else TIMEOUT)
    except Exception as e:
        if with_cert:
            raise
        print('refused: %s' % type(e).__name__)
        return
    if not with_cert:
        fail('connected without a client certificate')
    conn = db.open()
    conn.root()['t'] = PersistentMapping(a=1)
    transaction.commit()
    check(dict(conn.root()['t']) == {'a': 1}, 'tls commit')
    conn.close()
    db.close()


def contend(addr):
    """4 clients x 25 commits, each bumping one shared BTrees.Length
    (resolved on the client) and a shared PersistentMapping counter
    (retried on ConflictError); nothing may be lost or hang."""
    import threading
    db0 = opendb(addr)
    c0 = db0.open()
    c0.root()['len'] = Length(0)
    c0.root()['ctr'] = PersistentMapping(n=0)
    transaction.commit()
    c0.close()
    db0.close()
    errors = []
    retries = [0]

    def worker():
        try:
            db = opendb(addr)
            tm = transaction.TransactionManager()
            conn = db.open(tm)
            for _ in range(25):
                while True:
                    tm.begin()
                    root = conn.root()
                    root['len'].change(1)
                    root['ctr']['n'] += 1
                    try:
                        tm.commit()
                        break
                    except ConflictError:
                        tm.abort()
                        retries[0] += 1
            conn.close()
            db.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not any(t.is_alive() for t in threads), 'a worker hung')
    check(not errors, 'worker errors: %r' % errors)
    db = opendb(addr)
    conn = db.open()
    root = conn.root()
    check(root['ctr']['n'] == 100, 'ctr.n=%r, want 100' % root['ctr']['n'])
    check(root['len']() == 100, 'Length=%r, want 100' % root['len']())
    print('retries=%d' % retries[0])
    conn.close()
    db.close()


def edges(addr):
    """readCurrent conflicts, an undo that cannot be done, pack GC of an
    unreachable object (POSKeyError afterwards) and a 20 MB object."""
    from ZODB.POSException import POSKeyError, ReadConflictError, UndoError
    db1 = opendb(addr)
    db2 = opendb(addr)
    tm1 = transaction.TransactionManager()
    tm2 = transaction.TransactionManager()
    c1 = db1.open(tm1)
    c2 = db2.open(tm2)
    r1 = c1.root()
    r1['a'] = PersistentMapping(v=0)
    r1['b'] = PersistentMapping(v=0)
    tm1.commit()
    r2 = c2.root()
    wait_for(lambda: (tm2.begin(), 'b' in r2)[1], 'a and b on client 2')
    # client 1 reads a (readCurrent) and writes b; client 2 changes a.
    tm1.begin()
    c1.readCurrent(r1['a'])
    r1['b']['v'] = r1['a']['v'] + 1
    r2['a']['v'] = 5
    tm2.commit()
    try:
        tm1.commit()
        fail('readCurrent did not conflict')
    except ConflictError as e:
        tm1.abort()
        print('readCurrent -> %s' % type(e).__name__)

    # Undo of a transaction whose object changed since cannot be done.
    tm1.begin()
    r1['a']['v'] = 6
    tm1.commit()
    first = db1.undoInfo()[0]['id']
    r1['a']['v'] = 7
    tm1.commit()
    db1.undo(first, tm1.get())
    problems = []
    try:
        tm1.commit()
        problems.append('undo of an overwritten change succeeded')
    except UndoError as e:
        tm1.abort()
        print('undo -> %s' % type(e).__name__)
    except Exception as e:
        # e.g. ZEO.Exceptions.ServerException when the server names an
        # exception class the client has no factory for.
        tm1.abort()
        problems.append('undo raised %s, not an UndoError: %s'
                        % (type(e).__name__, e))

    # Pack with GC removes an unreachable object.
    tm1.begin()
    r1['tmp'] = PersistentMapping(x=1)
    tm1.commit()
    oid = r1['tmp']._p_oid
    del r1['tmp']
    tm1.commit()
    db1.pack(time.time() + 1)
    fresh = opendb(addr)  # no cached copy of the object
    try:
        fresh.storage.load(oid)
        problems.append('unreachable object survived pack')
    except POSKeyError:
        print('pack gc -> POSKeyError')
    fresh.close()

    # A 20 MB object goes through and comes back.
    tm1.begin()
    big = os.urandom(20 << 20)
    r1['big'] = PersistentMapping(data=big)
    tm1.commit()
    wait_for(lambda: (tm2.begin(), 'big' in r2)[1], 'the big object on client 2')
    check(r2['big']['data'] == big, 'big object differs')
    for c, db in ((c1, db1), (c2, db2)):
        c.close()
        db.close()
    check(not problems, '; '.join(problems))


def dumpmeta(addr):
    """Print what storage-level calls return, for comparing two servers
    serving copies of the same Data.fs (same tids, so output must match)."""
    from ZODB.utils import p64
    db = opendb(addr)
    st = db.storage
    out = []
    out.append(('undoLog', st.undoLog(0, 20)))
    out.append(('undoInfo', st.undoInfo(0, 20)))
    out.append(('undoInfo-filter', db.undoInfo(0, 20, {'user_name': '/ bob'})))
    for oid in range(0, 12):
        o = p64(oid)
        try:
            out.append(('history', oid, st.history(o, 10)))
        except Exception as e:
            out.append(('history', oid, type(e).__name__, str(e)))
        try:
            data, tid = st.load(o)
            out.append(('load', oid, len(data), tid))
            out.append(('loadBefore', oid, st.loadBefore(o, tid)))
            out.append(('loadBefore-next', oid, st.loadBefore(o, p64(int.from_bytes(tid, 'big') + 1))))
            out.append(('loadSerial', oid, len(st.loadSerial(o, tid))))
        except Exception as e:
            out.append(('load', oid, type(e).__name__, str(e)))
    out.append(('len', len(st)))
    out.append(('size', st.getSize()))
    out.append(('last', st.lastTransaction()))
    out.append(('supportsUndo', st.supportsUndo()))
    # What the server announced at register time (the client declares
    # the listed interfaces on itself); the name holds a path.
    out.append(('info', {k: v for k, v in st._info.items() if k != 'name'}))
    out.append(('server_status keys', sorted(st.server_status())))
    out.append(('isReadOnly', st.isReadOnly()))
    def canon(v):
        # dict key order is not compared (it differs only cosmetically)
        if isinstance(v, dict):
            return sorted((k, canon(x)) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return type(v)(canon(x) for x in v)
        return v
    for item in out:
        print(repr(canon(item)))
    db.close()


def blobs(addr):
    """Blobs through ZEO: store, read back from a second client, update,
    undo, pack. ARG is the client blob cache base directory (the server
    sends blob files over the wire), or with a 4th argument "shared" the
    server's blob directory itself (shared_blob_dir)."""
    from ZODB.blob import Blob
    base = sys.argv[3]
    payload = os.urandom(300000)
    if len(sys.argv) > 4 and sys.argv[4] == 'shared':
        # The clients use the server's own blob directory.
        kw1 = kw2 = dict(blob_dir=base, shared_blob_dir=True)
    else:
        kw1 = dict(blob_dir=os.path.join(base, 'c1'), shared_blob_dir=False)
        kw2 = dict(blob_dir=os.path.join(base, 'c2'), shared_blob_dir=False)
    db1 = opendb(addr, **kw1)
    db2 = opendb(addr, **kw2)
    tm1 = transaction.TransactionManager()
    tm2 = transaction.TransactionManager()
    c1 = db1.open(tm1)
    c2 = db2.open(tm2)
    r1 = c1.root()
    r1['b'] = Blob(payload)
    tm1.commit()
    r2 = c2.root()
    wait_for(lambda: (tm2.begin(), 'b' in r2)[1], 'the blob on client 2')
    with r2['b'].open('r') as f:
        check(f.read() == payload, 'client 2 read a different blob')
    with r1['b'].open('w') as f:
        f.write(b'second version')
    tm1.commit()
    wait_for(lambda: (tm2.begin(), r2['b'].open('r').read() == b'second version')[1],
             'the updated blob on client 2')
    db1.undo(db1.undoInfo()[0]['id'], tm1.get())
    tm1.commit()
    wait_for(lambda: (tm1.begin(), r1['b'].open('r').read() == payload)[1],
             'the undone blob on client 1')
    db1.pack(time.time() + 1)
    tm2.begin()
    with r2['b'].open('r') as f:
        check(f.read() == payload, 'blob after pack differs')
    for c, db in ((c1, db1), (c2, db2)):
        c.close()
        db.close()


SCENARIOS = {
    'blobs': blobs,
    'dumpmeta': dumpmeta,
    'edges': edges,
    'contend': contend,
    'tls-cert': lambda a: _tls(a, True),
    'tls-nocert': lambda a: _tls(a, False),
    'inspect': inspect,
    'cache-prime': cache_prime,
    'bump1': lambda a: bump(a, 1),
    'bump20': lambda a: bump(a, 20),
    'cache-check': cache_check,
    'readonly': readonly,
    'basic': basic,
    'conflict': conflict,
    'write': write,
    'read': read,
    'abandon-after-store': lambda a: _abandon(a, 'store'),
    'abandon-after-vote': lambda a: _abandon(a, 'vote'),
    'after-abandon': after_abandon,
    'stall-after-vote': stall_after_vote,
}


def main():
    addr = parse_addr(sys.argv[1])
    name = sys.argv[2]
    SCENARIOS[name](addr)
    if name not in ('write', 'read', 'bump1', 'bump20', 'stall-after-vote',
                    'dumpmeta'):
        print('ok ' + name)


if __name__ == '__main__':
    main()
