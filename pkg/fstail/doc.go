// Package fstail is ZODB 6.3's fstail (ZODB/scripts/fstail.py): the
// last transactions of a FileStorage data file, newest first, each with
// its time, the sha1 of its data records, its user, description, length,
// offset and header length. Like fstail it walks back from the end of
// the file through the redundant transaction lengths
// (ZODB.fstools.prev_txn), without opening a storage or its index.
package fstail
