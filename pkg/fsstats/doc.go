// Package fsstats is ZODB 6.3's fsstats.py (ZODB/scripts/fsstats.py):
// it reads the text fsdump prints for a FileStorage and prints
// histograms of transaction sizes (in bytes and in objects), object
// sizes, revisions per object and per class, and a per-class summary,
// in fsstats' format, floats printed as Python prints them.
//
// One deliberate difference: under Python 3, fsstats.py fails with a
// TypeError as soon as a histogram has a bin of 40 or more entries (it
// repeats "*" a float number of times, n // dot). There this package
// prints the floor of n / dot stars, as the Python 2 version did, so its
// output is Python's up to the point where Python stops, then the rest.
package fsstats
