# Replays a JSON list of ClientCache operations against the real
# ZEO.cache.ClientCache (ZEO 4-6) and prints one JSON result per line.
# Used by interop_test.go; needs ZEO, ZODB, BTrees, zc.lockfile.
#
# As for the fixtures (fixtures/zeo-cache/README.txt): the module's clock
# is replaced so trace time stamps are the ops' "t", and the trace function
# is wrapped to turn the str "" that ZEO 5-6 pass for 0x24/0x26 into bytes
# (otherwise struct.pack raises on Python 3).
import json, os, sys, binascii
os.environ["ZEO_CACHE_TRACE"] = "1"
import ZEO.cache as zc
from ZODB.utils import p64, u64

clock = [0]
class Clock:
    def time(self):
        return clock[0]
zc.time = Clock()

def wrap(c):
    orig = c._trace
    def tr(code, oid=b"", tid=zc.z64, end_tid=zc.z64, dlen=0):
        if isinstance(tid, str):
            tid = tid.encode()
        return orig(code, oid, tid, end_tid, dlen)
    c._trace = tr

def h(b):
    return None if b is None else binascii.hexlify(b).decode()

ops = json.load(open(sys.argv[1]))
path = sys.argv[2]
c = None
for op in ops:
    clock[0] = op["t"]
    k = op["op"]
    try:
        if k == "open":
            c = zc.ClientCache(path, op["size"])
            wrap(c)
            r = len(c)
        elif k == "close":
            c.close(); r = None
        elif k == "store":
            end = p64(op["end"]) if op["end"] else None
            r = c.store(p64(op["oid"]), p64(op["start"]), end, binascii.unhexlify(op["data"]))
        elif k == "load":
            x = c.load(p64(op["oid"]))
            r = None if x is None else [h(x[0]), u64(x[1])]
        elif k == "loadBefore":
            x = c.loadBefore(p64(op["oid"]), p64(op["before"]))
            r = None if x is None else [h(x[0]), u64(x[1]), u64(x[2]) if x[2] else 0]
        elif k == "invalidate":
            r = c.invalidate(p64(op["oid"]), p64(op["tid"]) if op["tid"] else None)
        elif k == "setLastTid":
            r = c.setLastTid(p64(op["tid"]))
        elif k == "len":
            r = len(c)
        print(json.dumps(["ok", r]))
    except Exception as e:
        print(json.dumps(["error", type(e).__name__]))
