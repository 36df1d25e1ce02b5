// Package getopt parses command lines the way Python's getopt.getopt does,
// plus the option bookkeeping of zdaemon's ZDOptions.realize, because
// zdctl and zdrun must accept exactly the command lines zdaemon accepts
// (zdaemon 5.2.1 zdoptions.ZDOptions.realize, which calls getopt.getopt).
//
// Python's getopt is POSIX style, not GNU style: option processing stops
// at the first word that is not an option (or after "--"), so everything
// after the action word belongs to the action ("zdctl -p x kill -9" sends
// signal 9). Short options may be clustered and take their value attached
// or as the next word (-Cconf, -C conf, -fb3); long options take --x=v or
// --x v and may be abbreviated to any unique prefix (--c = --configure),
// an exact match winning over longer names.
//
// On top of the raw scan, Parser.Parse applies ZDOptions' rules: each
// option's value goes through its Convert function (a failure is
// "invalid value for -b 'x': <why>"), and giving an option twice is fine
// when both values are equal but a usage error otherwise ("conflicting
// command line option '-p'"). Every error is a *UsageError; programs print
// it as "Error: <message>" and "For help, use <argv0> -h" on stderr and
// exit 2 (see UsageError.Report).
package getopt
