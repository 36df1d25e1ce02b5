"""Write a Data.fs with the real ZODB FileStorage (interop test helper).

usage: fs_write.py DATA_FS
Prints the expected root contents as one JSON line (see fs_read.py).
"""
import json
import sys

import transaction
import ZODB
from BTrees.OOBTree import OOBTree
from persistent.mapping import PersistentMapping
from ZODB.FileStorage import FileStorage


def main():
    db = ZODB.DB(FileStorage(sys.argv[1]))
    conn = db.open()
    root = conn.root()
    for i in range(5):
        root['k%d' % i] = PersistentMapping({'v': i, 's': 'x' * i})
        txn = transaction.get()
        txn.note('txn %d' % i)
        txn.setUser('bob')
        txn.setExtendedInfo('n', i)
        transaction.commit()
    root['tree'] = OOBTree()
    transaction.commit()
    for i in range(50):
        root['tree'][i] = str(i)
    transaction.commit()
    del root['k0']
    transaction.commit()
    db.undo(db.undoInfo()[0]['id'])
    transaction.commit()
    root['k1']['v'] = 'changed'
    transaction.commit()
    print(json.dumps(summary(root), sort_keys=True))
    print(json.dumps({'last': db.lastTransaction().hex(), 'len': len(db.storage)}))
    conn.close()
    db.close()


def summary(root):
    out = {}
    for k in sorted(root.keys()):
        v = root[k]
        if isinstance(v, OOBTree):
            out[k] = {str(a): b for a, b in v.items()}
        elif hasattr(v, 'items'):
            out[k] = dict(v)
        else:
            out[k] = v
    return out


if __name__ == '__main__':
    main()
