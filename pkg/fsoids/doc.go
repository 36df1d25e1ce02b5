// Package fsoids is ZODB 6.3's fsoids (ZODB/scripts/fsoids.py and the
// Tracer of ZODB/FileStorage/fsoids.py): it traces a set of oids through
// a whole FileStorage data file and reports every revision and creation
// undo of them, every record referring to them and what they refer to,
// grouped by oid, then transaction, in fsoids' words. References are
// found with the pickle scanner pack GC uses (zodbpickle.AllReferences,
// strong references only, as ZODB.serialize.get_refs).
package fsoids
