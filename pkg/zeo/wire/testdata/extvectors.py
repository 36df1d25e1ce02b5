# Generates extension-vectors.txt: how ZEO's Python server + FileStorage
# turn a client's tpc_begin extension dict into Data.fs bytes.
# Run with a Python that has zodbpickle and msgpack:
#   python3 extvectors.py > extension-vectors.txt
# Columns: name, client Z5 message (fast pickle of the args tuple), client
# M5 message (msgpack), extension bytes after the Z5 path, after the M5 path.
import io, sys, msgpack, zodbpickle.pickle as zp

def z5(obj):
    f = io.BytesIO(); p = zp.Pickler(f, 3); p.fast = 1; p.dump(obj); return f.getvalue()

def stored(ext):  # TransactionMetaData.extension_bytes
    return zp.dumps(ext, 3) if ext else b''

cases = {
    'empty': {},
    'n0': {'n': 0},
    'user-ish': {'user_name': 'admin', 'request': '/folder/edit', 'n': 1},
    'singletons': {'a': 'a', 'b': '', 'c': '', 'd': b'', 'e': b'', 'f': '\xe9', 'g': '\xe9',
                   'h': '\u0100', 'i': '\u0100', 'j': b'x', 'k': b'x', 'l': 'ab', 'm': 'ab'},
    'nested': {'list': [1, 'x', (2, 'y'), [], {}], 'tuple': (1, 2, 3, 4, 'z'), 'one': [7],
               'd1': {'k': 'v'}, 'empty-t': (), 'f': 1.5, 'big': 2**62 + 5, 'neg': -2**40,
               't': True, 'nil': None, 'bytes': b'\x00\xff' * 200, 'long-str': 'w' * 300},
    'bigint': {'big': 2**70, 'neg': -2**70},  # msgpack cannot carry these
    'many': {'k%d' % i: 'v%d' % i for i in range(300)},
    'k1000': {'k%d' % i: i for i in range(1000)},
    'k1001': {'k%d' % i: i for i in range(1001)},
    'l1000': {'l': list(range(1000))},
    'l1001': {'l': list(range(1001))},
}
for name, ext in cases.items():
    args = (123, b'user', b'desc', ext, None, ' ')
    zmsg = z5((1, False, 'tpc_begin', args))
    m1 = zp.Unpickler(io.BytesIO(zmsg)).load()
    try:
        mmsg = msgpack.packb((1, False, 'tpc_begin', args), use_bin_type=True)
    except OverflowError:
        mhex = shex = '-'
    else:
        m2 = msgpack.unpackb(mmsg, raw=False, use_list=False)
        mhex, shex = mmsg.hex(), stored(m2[3][3]).hex()
    print(name, zmsg.hex(), mhex, stored(m1[3][3]).hex(), shex, sep='\t')
