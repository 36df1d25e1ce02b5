// Package tracecli holds what the two trace analysis commands,
// zeo-cache-stats and zeo-cache-simul, share: an option parser that accepts
// the same command lines as Python's argparse does for
// ZEO.scripts.cache_stats / cache_simul (long-option prefixes, clustered
// short flags, "-i5", "--interval=5", negative numbers as values,
// mutually exclusive options), the interval rule both scripts use, and the
// ctime and thousands-separator formatting of their reports.
package tracecli
