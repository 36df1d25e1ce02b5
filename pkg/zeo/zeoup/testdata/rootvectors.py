# Generates root-vectors.txt: root records written by Python ZODB, and the
# record Python writes after `root['zeoup'] = root.get('zeoup', 0) + 1`.
# Needs ZODB (PYTHONPATH=.../ZODB/src) with persistent, BTrees, zodbpickle.
#   python3 rootvectors.py FIXTURE.fs... > root-vectors.txt
# Columns: name, old record hex, new record hex.
import datetime, os, shutil, sys, tempfile
import transaction, ZODB
from ZODB.FileStorage import FileStorage
from persistent.mapping import PersistentMapping
from persistent.list import PersistentList
from BTrees.OOBTree import OOBTree

def bump(path, name):
    db = ZODB.DB(FileStorage(path))
    st = db.storage
    old, _ = st.load(b'\0' * 8)
    cn = db.open(); root = cn.root()
    root['zeoup'] = root.get('zeoup', 0) + 1
    transaction.commit()
    new, _ = st.load(b'\0' * 8)
    cn.close(); db.close()
    print(name, old.hex(), new.hex(), sep='\t')

tmp = tempfile.mkdtemp()
for f in sys.argv[1:]:
    p = os.path.join(tmp, os.path.basename(f))
    shutil.copy(f, p)
    bump(p, os.path.basename(f))
    bump(p, os.path.basename(f) + '-again')

def made(name, fill):
    p = os.path.join(tmp, name + '.fs')
    db = ZODB.DB(FileStorage(p))
    cn = db.open(); fill(cn.root()); transaction.commit(); cn.close(); db.close()
    bump(p, name)
    bump(p, name + '-again')

made('empty', lambda r: None)
def values(r):
    r['s'] = 'text'; r['u'] = 'caf\xe9'; r['b'] = b'\x00\x01'; r['i'] = 12345678
    r['big'] = 2**80; r['neg'] = -5; r['f'] = 2.5; r['t'] = (1, 'a', ('x',)); r['l'] = [1, [2, 3], {}]
    r['d'] = {'k': 'v', 'a': 'a'}; r['none'] = None; r['yes'] = True; r['empty'] = ()
    r['when'] = datetime.datetime(2024, 5, 6, 7, 8, 9)
    r['pm'] = PersistentMapping(); r['pl'] = PersistentList([1]); r['bt'] = OOBTree()
    r['same'] = r['pm']
made('values', values)
def many(r):
    for i in range(1500):
        r['k%d' % i] = i
made('many', many)
def hasint(r):
    r['zeoup'] = 41; r['x'] = 'y'
made('existing', hasint)
