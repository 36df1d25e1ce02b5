package filestorage

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

// RefsReport is fsrefs.py: it loads the current revision of every object
// in the index (in file order), then reports each loadable object that
// refers to an oid that is missing, failed to load, or whose creation
// was undone. Output is fsrefs' format; the result is the number of
// objects reported. Like fsrefs it does not look at old revisions.
func (s *FileStorage) RefsReport(w io.Writer) (int, error) {
	type ent struct {
		oid Oid
		pos int64
	}
	s.mu.RLock()
	ents := make([]ent, 0, s.index.Len())
	s.index.Range(func(o Oid, p int64) bool {
		ents = append(ents, ent{o, p})
		return true
	})
	s.mu.RUnlock()
	sort.Slice(ents, func(i, j int) bool { return ents[i].pos < ents[j].pos })
	undone := map[Oid]bool{}
	noload := map[Oid]bool{}
	for _, e := range ents {
		if _, _, err := s.Load(e.oid); err != nil {
			var ke *KeyError
			if errors.As(err, &ke) {
				undone[e.oid] = true
			} else {
				noload[e.oid] = true
			}
		}
	}
	n := 0
	for _, e := range ents {
		if undone[e.oid] || noload[e.oid] {
			continue
		}
		data, serial, err := s.Load(e.oid)
		if err != nil {
			return n, err
		}
		refs, _ := zodbpickle.AllReferences(data)
		var lines []string
		for _, r := range refs {
			if r.Kind != zodbpickle.Strong {
				continue // get_refs skips lists (weak, cross-database)
			}
			o := Oid(r.Oid)
			s.mu.RLock()
			_, known := s.index.Get(o)
			s.mu.RUnlock()
			if !known {
				lines = append(lines, fmt.Sprintf("\toid %s missing: '<unknown>'", o.Repr()))
			}
			if noload[o] {
				lines = append(lines, fmt.Sprintf("\toid %s failed to load: '<unknown>'", o.Repr()))
			}
			if undone[o] {
				lines = append(lines, fmt.Sprintf("\toid %s object creation was undone: '<unknown>'", o.Repr()))
			}
		}
		if len(lines) == 0 {
			continue
		}
		n++
		m, c := zodbpickle.ClassName(data)
		plural := ""
		if len(lines) > 1 {
			plural = "s"
		}
		fmt.Fprintf(w, "oid %#x %s.%s\n", uint64(e.oid), m, c)
		fmt.Fprintf(w, "last updated: %s, tid=%#x\n", serial.String(), uint64(serial))
		fmt.Fprintf(w, "refers to invalid object%s:\n", plural)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w)
	}
	return n, nil
}
