package fsstats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// ErrEmpty is a dump without a transaction (or without any object, for
// the histograms that need one): fsstats.py fails there with an
// IndexError from Histogram.median.
var ErrEmpty = errors.New("empty histogram")

// The patterns of fsstats.py, searched anywhere in a line.
var (
	rxTxn  = regexp.MustCompile(`tid=([0-9a-f]+).*size=(\d+)`)
	rxData = regexp.MustCompile(`oid=([0-9a-f]+) size=(\d+) class=(\S+)`)
)

// maxBins bounds a histogram's bins: fsstats.py makes a list of
// 1 + max//binsize of them, which for a forged size of 10**12 is a
// MemoryError.
const maxBins = 1 << 26

// histogram is fsstats.py's Histogram, a dict of value -> count, with
// the dict's insertion order (mode() returns the first most common
// value in that order).
type histogram struct {
	count map[int64]int64
	order []int64
	// bins as make_bins left them: bin index -> count, and the bin size.
	bins    map[int64]int64
	binsize int64
}

func newHistogram() *histogram { return &histogram{count: map[int64]int64{}} }

func (h *histogram) add(v int64) {
	if _, ok := h.count[v]; !ok {
		h.order = append(h.order, v)
	}
	h.count[v]++
}

func (h *histogram) size() int64 {
	var n int64
	for _, c := range h.count {
		n += c
	}
	return n
}

// mean is sum(k*v)/size as Python's int true division: correctly
// rounded, whatever the size of the sum.
func (h *histogram) mean() float64 {
	sum := new(big.Int)
	for k, c := range h.count {
		sum.Add(sum, new(big.Int).Mul(big.NewInt(k), big.NewInt(c)))
	}
	f, _ := new(big.Rat).SetFrac(sum, big.NewInt(h.size())).Float64()
	return f
}

// median is Histogram.median ("close enough?"): the smallest value
// whose count exceeds what is left of half the total.
func (h *histogram) median() (int64, error) {
	n := float64(h.size()) / 2
	keys := h.sorted()
	for _, k := range keys {
		if float64(h.count[k]) > n {
			return k, nil
		}
		n -= float64(h.count[k])
	}
	return 0, ErrEmpty
}

func (h *histogram) sorted() []int64 {
	keys := append([]int64(nil), h.order...)
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func (h *histogram) mode() int64 {
	var mode, value int64
	for _, k := range h.order {
		if h.count[k] > value {
			value, mode = h.count[k], k
		}
	}
	return mode
}

func (h *histogram) max() int64 {
	var m int64
	for i, k := range h.order {
		if i == 0 || k > m {
			m = k
		}
	}
	return m
}

func (h *histogram) makeBins(binsize int64) error {
	if h.max()/binsize >= maxBins {
		return fmt.Errorf("value %d too large for a histogram", h.max())
	}
	h.binsize = binsize
	h.bins = map[int64]int64{}
	for k, c := range h.count {
		h.bins[k/binsize] += c
	}
	return nil
}

// floorDiv is Python's float floor division n // d for positive
// operands (CPython float_floor_div: fmod, then round the quotient).
func floorDiv(n, d float64) float64 {
	mod := math.Mod(n, d)
	div := (n - mod) / d
	f := math.Floor(div)
	if div-f > 0.5 {
		f++
	}
	return f
}

// report is Histogram.report; w gets its lines.
func (h *histogram) report(w *bufio.Writer, name string, binsize int64, usebins, skip bool) error {
	if !usebins {
		if err := h.makeBins(binsize); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	binsize = h.binsize
	idx := make([]int64, 0, len(h.bins))
	var maxval, tot int64
	for i, n := range h.bins {
		if n == 0 {
			continue
		}
		idx = append(idx, i)
		tot += n
		maxval = max(maxval, n)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	// dot = max(maxval / 40, 1): a float from 40 on (max keeps the first
	// of equal values), else the int 1.
	dot, dotText := 1.0, "1"
	if maxval >= 40 {
		dot = float64(maxval) / 40
		dotText = pyrepr.Float(dot)
	}
	fmt.Fprintln(w, name)
	fmt.Fprintf(w, "Total %d ", tot)
	med, err := h.median()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(w, "Median %d Mean %s Mode %d Max %d\n", med, pyrepr.Float(h.mean()), h.mode(), h.max())
	fmt.Fprintf(w, "One * represents %s\n", dotText)
	// Zero bins are the gaps ("skip" only adds bins with n / dot == 0,
	// which for n > 0 never happens).
	_ = skip
	var cum int64
	next := int64(0)
	for _, i := range idx {
		if i != next {
			fmt.Fprintln(w, "   ...")
		}
		next = i + 1
		n := h.bins[i]
		cum += n
		p := int64(float64(100*n) / float64(tot))
		pc := int64(float64(100*cum) / float64(tot))
		stars := n
		if maxval >= 40 {
			stars = int64(floorDiv(float64(n), dot))
		}
		fmt.Fprintf(w, "%6d %6d %3d%% %3d%% %s\n", i*binsize, n, p, pc, strings.Repeat("*", int(stars)))
	}
	fmt.Fprintln(w)
	return nil
}

// stats is what main() of fsstats.py collects from the dump.
type stats struct {
	txnObjects, txnBytes, objSize *histogram
	nUpdates                      map[string]int64 // oid -> revisions (only its size and length are used)
	revisions                     int64
	lifetimes                     map[string][]string // oid -> tids
	lifetimeOrder                 []string
	classSize                     map[string]*histogram
	classes                       map[string][]string // class -> oids
	classOrder                    []string
}

// pyLines splits text as Python's universal newlines do: "\n", "\r\n"
// and a lone "\r" each end a line.
func pyLines(data []byte, advance func(line []byte) error) error {
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			return advance(data)
		}
		end := i + 1
		if data[i] == '\r' && end < len(data) && data[end] == '\n' {
			end++
		}
		if err := advance(data[:i]); err != nil {
			return err
		}
		data = data[end:]
	}
	return nil
}

func parseSize(s string, line int) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("line %d: size=%s: too large", line, s)
	}
	return v, nil
}

// collect reads fsdump output the way fsstats.py's main loop does.
func collect(data []byte) (*stats, error) {
	s := &stats{
		txnObjects: newHistogram(), txnBytes: newHistogram(), objSize: newHistogram(),
		nUpdates: map[string]int64{}, lifetimes: map[string][]string{},
		classSize: map[string]*histogram{}, classes: map[string][]string{},
	}
	var objects int64
	tid, haveTid := "", false
	lineNo := 0
	err := pyLines(data, func(b []byte) error {
		lineNo++
		line := string(b)
		switch {
		case strings.HasPrefix(line, "  data"):
			m := rxData.FindStringSubmatch(line)
			if m == nil {
				return nil
			}
			oid, klass := m[1], m[3]
			size, err := parseSize(m[2], lineNo)
			if err != nil {
				return err
			}
			s.objSize.add(size)
			s.nUpdates[oid]++
			s.revisions++
			h := s.classSize[klass]
			if h == nil {
				h = newHistogram()
				s.classSize[klass] = h
			}
			h.add(size)
			if _, ok := s.lifetimes[oid]; !ok {
				s.lifetimeOrder = append(s.lifetimeOrder, oid)
			}
			s.lifetimes[oid] = append(s.lifetimes[oid], tid)
			if _, ok := s.classes[klass]; !ok {
				s.classOrder = append(s.classOrder, klass)
			}
			s.classes[klass] = append(s.classes[klass], oid)
			objects++
		case strings.HasPrefix(line, "Trans"):
			if haveTid {
				s.txnObjects.add(objects)
			}
			m := rxTxn.FindStringSubmatch(line)
			if m == nil {
				return nil
			}
			size, err := parseSize(m[2], lineNo)
			if err != nil {
				return err
			}
			tid, haveTid = m[1], true
			objects = 0
			s.txnBytes.add(size)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if objects != 0 {
		s.txnObjects.add(objects)
	}
	return s, nil
}

// Report writes fsstats.py's report for the fsdump output data.
func Report(data []byte, out io.Writer) error {
	s, err := collect(data)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	fmt.Fprintf(w, "Summary: %d txns, %d objects, %d revisions\n\n", s.txnObjects.size(), len(s.nUpdates), s.revisions)
	if err := s.txnBytes.report(w, "Transaction size (bytes)", 1024, false, true); err != nil {
		return err
	}
	if err := s.txnObjects.report(w, "Transaction size (objects)", 10, false, true); err != nil {
		return err
	}
	if err := s.objSize.report(w, "Object size", 128, false, true); err != nil {
		return err
	}
	h := newHistogram()
	for _, oid := range s.lifetimeOrder {
		h.add(int64(len(s.lifetimes[oid])))
	}
	if err := h.report(w, "Number of revisions", 10, false, false); err != nil {
		return err
	}
	if err := s.revisionDetail(w); err != nil {
		return err
	}
	return s.classDetail(w)
}

// revisionDetail is fsstats.py's revision_detail: for each class (in
// the order first seen) with an object of more than one revision, the
// histogram of its objects' revision counts.
func (s *stats) revisionDetail(w *bufio.Writer) error {
	for _, name := range s.classOrder {
		h := newHistogram()
		keep := false
		seen := map[string]bool{}
		for _, oid := range s.classes[name] {
			if seen[oid] {
				continue
			}
			seen[oid] = true
			n := int64(len(s.lifetimes[oid]))
			h.add(n)
			if n > 1 {
				keep = true
			}
		}
		if keep {
			if err := h.report(w, "Number of revisions for "+name, 10, false, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// pad is Python's "%-50.50s": at most 50 characters, left-justified.
func pad(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n])
	}
	return s + strings.Repeat(" ", n-utf8.RuneCountInString(s))
}

// classDetail is fsstats.py's class_detail: a table of classes by
// number of objects, then the object-size histogram of each class whose
// sizes fall in more than one 50-byte bin, largest classes first.
func (s *stats) classDetail(w *bufio.Writer) error {
	type ent struct {
		klass string
		h     *histogram
		n     int64
	}
	ents := make([]ent, 0, len(s.classSize))
	for k, h := range s.classSize {
		ents = append(ents, ent{k, h, h.size()})
	}
	sort.Slice(ents, func(i, j int) bool {
		if ents[i].n != ents[j].n {
			return ents[i].n < ents[j].n
		}
		return ents[i].klass < ents[j].klass
	})
	row := func(a, b, c, d, e string) {
		fmt.Fprintf(w, "%5s %6s %6s %6s   %s\n", a, b, c, d, pad(e, 50))
	}
	row("num", "median", "mean", "mode", "class")
	row("---", "------", "----", "----", "-----")
	for _, e := range ents {
		med, err := e.h.median()
		if err != nil {
			return err
		}
		row(strconv.FormatInt(e.n, 10), strconv.FormatInt(med, 10), pyrepr.Float(e.h.mean()), strconv.FormatInt(e.h.mode(), 10), e.klass)
	}
	fmt.Fprintln(w)
	for i := len(ents) - 1; i >= 0; i-- {
		e := ents[i]
		if err := e.h.makeBins(50); err != nil {
			return fmt.Errorf("%s: %w", e.klass, err)
		}
		nonzero := 0
		for _, n := range e.h.bins {
			if n != 0 {
				nonzero++
			}
		}
		if nonzero == 1 {
			continue
		}
		if err := e.h.report(w, "Object size for "+e.klass, 50, true, true); err != nil {
			return err
		}
	}
	return nil
}

// Main is the fsstats command: fsstats dumpfile (further words are
// ignored, as by fsstats.py, which reads sys.argv[1]). Exit status 1
// with a message where fsstats.py fails with a traceback.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: fsstats dumpfile (the output of fsdump)")
		return 1
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "fsstats:", err)
		return 1
	}
	if err := Report(data, stdout); err != nil {
		fmt.Fprintf(stderr, "fsstats: %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
