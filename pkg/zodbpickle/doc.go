// Package zodbpickle finds what ZODB needs to know inside a data record's
// pickles without building any Python object: the persistent references
// (for pack GC and fsrefs, as ZODB 6.3 serialize.referencesf) and the class name (for fsdump).
//
// A data record holds two pickles written with one pickler and one memo
// (the class metadata, then the state); the second may BINGET values the
// first put in the memo, so both are decoded by one machine sharing the
// memo, as ZODB's referencesf does with two noload() calls. Objects built
// by REDUCE, BUILD, NEWOBJ, INST and OBJ are opaque placeholders (noload
// semantics); opcodes of protocols 0 to 5 are understood.
package zodbpickle
