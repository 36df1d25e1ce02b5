package fsoids

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

// Tracer is ZODB 6.3's fsoids Tracer (ZODB/FileStorage/fsoids.py): it
// finds every occurrence of a set of oids in a data file (each new
// revision and creation undo, every record referring to them and what
// they refer to) and reports them grouped by oid, then transaction.
type Tracer struct {
	path string
	oids map[filestorage.Oid]int // oid -> revisions seen
	// oid2name maps a traced oid to its class once a revision is seen.
	oid2name map[filestorage.Oid]string
	ref2name map[filestorage.Oid]string
	msgs     []traceMsg
	tid2info map[tid.TID]traceTxn
}

type traceMsg struct {
	oid    filestorage.Oid
	tid    tid.TID
	hasTID bool
	text   string
}

type traceTxn struct {
	user, desc []byte
	pos        int64
}

// New traces oids in the data file at path.
func New(path string) *Tracer {
	return &Tracer{path: path, oids: map[filestorage.Oid]int{}, oid2name: map[filestorage.Oid]string{}, ref2name: map[filestorage.Oid]string{}, tid2info: map[tid.TID]traceTxn{}}
}

// Register adds oids to trace (register_oids).
func (t *Tracer) Register(oids ...filestorage.Oid) {
	for _, o := range oids {
		t.oids[o] = 0
	}
}

// Len is the number of oids registered.
func (t *Tracer) Len() int { return len(t.oids) }

func className(data []byte) string {
	m, c := zodbpickle.ClassName(data)
	return m + "." + c
}

// Run reads the whole file (Tracer.run), as ZODB's FileIterator. At
// damage it stops with an error naming the file and offset; what was
// read before stays in the report.
func (t *Tracer) Run() error {
	it, f, err := filestorage.OpenIterator(t.path)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		txn, err := it.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		t.checkTxn(txn)
	}
}

// checkTxn is Tracer._check_trec: first every record's own revision
// (_save_references), then their references (_check_drec), so that a
// reference to an object created in the same transaction knows its class.
func (t *Tracer) checkTxn(txn *filestorage.TxnRecord) {
	produced := false
	msg := func(oid filestorage.Oid, args ...any) {
		parts := make([]string, len(args))
		for i, a := range args {
			parts[i] = fmt.Sprint(a)
		}
		t.msgs = append(t.msgs, traceMsg{oid: oid, tid: txn.TID, hasTID: true, text: strings.Join(parts, " ")})
		produced = true
	}
	records := map[filestorage.Oid]*filestorage.Record{}
	var withData []*filestorage.Record
	for i := range txn.Records {
		r := &txn.Records[i]
		_, traced := t.oids[r.Oid]
		if len(r.Data) > 0 {
			if traced {
				klass := className(r.Data)
				msg(r.Oid, "new revision", klass, "at", r.Pos)
				t.oids[r.Oid]++
				t.oid2name[r.Oid] = klass
				t.ref2name[r.Oid] = klass
			}
			records[r.Oid] = r
			withData = append(withData, r)
		} else if traced {
			msg(r.Oid, "creation undo at", r.Pos)
		}
	}
	for _, r := range withData {
		_, traced := t.oids[r.Oid]
		refs, _ := zodbpickle.AllReferences(r.Data)
		for _, ref := range refs {
			if ref.Kind != zodbpickle.Strong {
				continue // get_refs skips the list forms (weak, cross-database)
			}
			to := filestorage.Oid(ref.Oid)
			if _, ok := t.oids[to]; ok {
				oidclass, ok := t.ref2name[r.Oid]
				if !ok {
					oidclass = className(r.Data)
					t.ref2name[r.Oid] = oidclass
				}
				msg(to, "referenced by", r.Oid.Repr(), oidclass, "at", r.Pos)
			}
			if traced {
				klass := ref.Class
				if klass == "" {
					var ok bool
					if klass, ok = t.ref2name[to]; !ok {
						// Only references seen in a transaction that
						// changes a traced object are remembered, so a
						// class can stay unknown.
						if rr := records[to]; rr == nil {
							klass = "<unknown>"
						} else {
							klass = className(rr.Data)
							t.ref2name[to] = klass
						}
					}
				} else {
					t.ref2name[to] = klass
				}
				msg(r.Oid, "references", to.Repr(), klass, "at", r.Pos)
			}
		}
	}
	if produced {
		t.tid2info[txn.TID] = traceTxn{user: txn.User, desc: txn.Description, pos: txn.Pos}
	}
}

// shorten is fsoids.py's shorten: a value over size bytes keeps its
// first (size-5)/2 and last size-(size-5)/2 bytes around " ... " (55
// bytes in all for the default 50: Python's arithmetic).
func shorten(s []byte, size int) []byte {
	if len(s) <= size {
		return s
	}
	lead := (size - 5) / 2
	trail := size - lead
	out := append([]byte(nil), s[:lead]...)
	out = append(out, " ... "...)
	return append(out, s[len(s)-trail:]...)
}

const notSeen = "this oid was not defined (no data record for it found)"

// Report writes Tracer.report: messages sorted by oid, then tid, then
// text, under a line per oid and per transaction.
func (t *Tracer) Report(w io.Writer) error {
	msgs := append([]traceMsg(nil), t.msgs...)
	for o := range t.oids {
		if _, ok := t.oid2name[o]; !ok {
			msgs = append(msgs, traceMsg{oid: o, text: notSeen})
		}
	}
	// Python sorts (oid, tid, msg) tuples; the tid of an oid never seen
	// is None, which sorts first here (Python 3 could not compare it).
	sort.SliceStable(msgs, func(i, j int) bool {
		a, b := msgs[i], msgs[j]
		if a.oid != b.oid {
			return a.oid < b.oid
		}
		if a.hasTID != b.hasTID {
			return !a.hasTID
		}
		if a.tid != b.tid {
			return a.tid < b.tid
		}
		return a.text < b.text
	})
	bw := bufio.NewWriter(w)
	var curOid filestorage.Oid
	var curTID tid.TID
	haveOid, haveTID := false, false
	for _, m := range msgs {
		if !haveOid || m.oid != curOid {
			nrev := t.oids[m.oid]
			plural := "s"
			if nrev == 1 {
				plural = ""
			}
			name, ok := t.oid2name[m.oid]
			if !ok {
				name = "<unknown>"
			}
			fmt.Fprintf(bw, "oid %s %s %d revision%s\n", m.oid.Repr(), name, nrev, plural)
			curOid, haveOid, haveTID = m.oid, true, false
			if !m.hasTID {
				fmt.Fprintf(bw, "    %s\n", m.text)
				continue
			}
		}
		if !haveTID || m.tid != curTID {
			curTID, haveTID = m.tid, true
			info := t.tid2info[m.tid]
			fmt.Fprintf(bw, "    tid %s offset=%d %s\n", m.tid.Repr(), info.pos, m.tid.String())
			fmt.Fprintf(bw, "        tid user=%s\n", filestorage.PyBytesRepr(shorten(info.user, 50)))
			fmt.Fprintf(bw, "        tid description=%s\n", filestorage.PyBytesRepr(shorten(info.desc, 50)))
		}
		fmt.Fprintf(bw, "        %s\n", m.text)
	}
	return bw.Flush()
}
