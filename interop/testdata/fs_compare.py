"""Compare two Data.fs files record by record, ignoring tids and times.

usage: fs_compare.py A.fs B.fs
Prints one line per difference (transaction index, field, both values)
and "same" when the files hold the same transactions: status, user,
description, extension bytes, and per record oid, data and which earlier
transaction a backpointer (undo) refers to.
"""
import sys

from ZODB.FileStorage import FileStorage


def walk(path):
    st = FileStorage(path, read_only=True)
    index = {}
    out = []
    for i, t in enumerate(st.iterator()):
        index[t.tid] = i
        recs = [(r.oid, r.data,
                 index.get(r.data_txn) if r.data_txn else None)
                for r in t]
        out.append({'status': t.status, 'user': t.user,
                    'description': t.description,
                    'extension': t.extension_bytes, 'records': recs})
    st.close()
    return out


def main():
    a, b = walk(sys.argv[1]), walk(sys.argv[2])
    diffs = 0
    if len(a) != len(b):
        print('transactions: %d vs %d' % (len(a), len(b)))
        diffs += 1
    for i, (x, y) in enumerate(zip(a, b)):
        for k in x:
            if x[k] != y[k]:
                print('txn %d %s: %r vs %r' % (i, k, x[k], y[k]))
                diffs += 1
    print('same' if not diffs else '%d differences' % diffs)


if __name__ == '__main__':
    main()
