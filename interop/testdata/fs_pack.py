"""Pack a Data.fs with Python, locally or through a ZEO server.

usage: fs_pack.py local DATA_FS N   pack just after transaction N (0-based)
                                    with FileStorage.pack; prints the time
       fs_pack.py zeo ADDRESS TIME  ClientStorage.pack(TIME) and wait
"""
import sys

from ZODB.FileStorage import FileStorage
from ZODB.serialize import referencesf
from ZODB.TimeStamp import TimeStamp


def main():
    if sys.argv[1] == 'local':
        st = FileStorage(sys.argv[2])
        tids = [t.tid for t in st.iterator()]
        t = TimeStamp(tids[int(sys.argv[3])]).timeTime() + 0.0001
        st.pack(t, referencesf)
        st.close()
        print(repr(t))
    else:
        from ZEO.ClientStorage import ClientStorage
        from zeo_client import parse_addr
        cs = ClientStorage(parse_addr(sys.argv[2]), wait_timeout=10)
        cs.pack(float(sys.argv[3]), wait=1)
        cs.close()


if __name__ == '__main__':
    main()
