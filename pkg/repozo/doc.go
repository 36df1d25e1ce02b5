// Package repozo is ZODB 6.3's repozo (ZODB/scripts/repozo.py): full and
// incremental backups of a FileStorage Data.fs into a repository
// directory, recovery of the file as of a date, and verification of the
// repository. The command line, messages, exit codes and repository
// layout are Python's, so either program restores what the other backed
// up:
//
//	YYYY-MM-DD-hh-mm-ss.fs[z]       a full backup (z: gzip-compressed)
//	YYYY-MM-DD-hh-mm-ss.deltafs[z]  an incremental backup: the bytes appended since
//	YYYY-MM-DD-hh-mm-ss.dat         per full backup: one "file start end md5" line
//	                                for it and for each increment after it
//	YYYY-MM-DD-hh-mm-ss.index       the FileStorage index as of that backup
//
// Like Python's, a backup opens the Data.fs read-only and copies up to
// the end of the last committed transaction (FileStorage.getSize), so a
// file a server is writing is backed up at a transaction boundary; an
// incremental backup copies only the bytes appended since the last one,
// and a Data.fs whose backed-up part changed (a pack) gets a full backup.
//
// Where Python's repozo goes on silently, this one stops with an error
// naming the file, leaving the repository as it was: an increment the
// .dat lists but that is missing, a file whose size or md5 differs from
// its .dat line, a .dat whose byte ranges do not follow each other, a
// Data.fs that is a truncated copy of what was backed up (Python takes a
// new full backup of the short file), and a failed write (a full disk),
// after which no partial backup file, index or .dat line is left behind.
// Recovery always checks each file against the .dat (Python does it only
// with --with-verify).
package repozo
