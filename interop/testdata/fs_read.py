"""Open a Data.fs written by zdkit with the real ZODB FileStorage.

usage: fs_read.py DATA_FS [--need-index]
Checks that Python accepts the .index file (when --need-index), then prints
the root contents as one JSON line in the format of fs_write.py.
"""
import json
import sys

import ZODB
from ZODB.FileStorage import FileStorage

from fs_write import summary


def main():
    path = sys.argv[1]
    if '--need-index' in sys.argv:
        probe = FileStorage(path, read_only=True)
        # _restore_index returns None when Python rejects the index and
        # would rebuild it by scanning Data.fs.
        if probe._restore_index() is None:
            sys.exit('index rejected by Python FileStorage')
        probe.close()
    db = ZODB.DB(FileStorage(path, read_only=True))
    conn = db.open()
    print(json.dumps(summary(conn.root()), sort_keys=True))
    conn.close()
    db.close()


if __name__ == '__main__':
    main()
