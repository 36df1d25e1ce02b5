// Package regularfile opens the files zdkit's programs read or write by
// name — configuration files and their %includes, TLS certificates, a
// FileStorage and its lock, zdrun's state file — so that a name that turns
// out to be a FIFO, a device, a socket or a directory is refused with
// "not a regular file" instead of hanging.
//
// Opening a FIFO for reading blocks until a writer appears (and for
// writing until a reader does), so a check after open(2) comes too late:
// ZConfig 4.3 (ZConfig.loader.ConfigLoader.openResource, urllib's open),
// zdaemon 5.2.1 and ZEO 6.0 runzeo all hang on "-C fifo". Here the file is
// opened with O_NONBLOCK, which makes open(2) return at once for every
// kind of file, and fstat(2) on the open descriptor decides; checking the
// descriptor rather than a prior stat(2) leaves no window for the name to
// be replaced in between. O_NONBLOCK is cleared again once the file is
// known to be regular, so the descriptor handed back is os.OpenFile's.
package regularfile
