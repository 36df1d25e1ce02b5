// Package zodbconvert is the zodbconvert tool (RelStorage's
// zodbconvert.py): copy every transaction of one storage into another,
// keeping tids and metadata, as configured in a ZConfig file with a
// storage section named "source" and one named "destination":
//
//	%import relstorage
//	<filestorage source>
//	  path /var/zodb/Data.fs
//	</filestorage>
//	<relstorage destination>
//	  <postgresql>
//	    dsn dbname=zodb
//	  </postgresql>
//	</relstorage>
//
// Sources and destinations are <filestorage> and <relstorage> (with
// <postgresql>) sections. --dry-run opens both and copies nothing,
// --clear empties a PostgreSQL destination first, --incremental copies
// only the transactions after the destination's last one. Blobs are
// copied when both sections have a blob-dir. Exit status: 0 done, 1 a
// failure, 2 usage.
package zodbconvert
