// Package runner holds the options that zdctl and zdrun share: every key
// of zdaemon's <runner> configuration section, its command-line flag, type,
// default and validation (zdaemon 5.2.1 zdoptions.py and component.xml), read from the command line
// and, with -C, from a ZConfig file checked against the zdaemon schema,
// with -X overrides applied on top.
//
// Use:
//
//	opts, err := runner.Parse(os.Args[0], os.Args[1:], runner.Zdrun)
//	switch {
//	case errors.Is(err, runner.ErrHelp):      // print the usage text, exit 0
//	case errors.Is(err, runner.ErrVersion):   // print runner.Version, exit 0
//	case err != nil:                          // a *getopt.UsageError:
//		err.(*getopt.UsageError).Report(os.Stderr, os.Args[0]) // exit 2
//	}
//
// Precedence is zdaemon's: command line, then configuration file (with its
// -X overrides), then the built-in default. Options.Source tells which one
// a value came from; zdctl needs that both for "show" (zdaemon prints a
// flag as 1 but a config boolean as True) and for building zdrun's command
// line (ZdrunArgs), where an option is passed only when it overrides the
// file, so that zdrun, re-reading the same file, ends with the same values.
//
// For zdrun (Mode Zdrun) the program is the positional arguments (falling
// back to the file's "program"), and it is resolved at parse time the way
// zdrun does before daemonizing, so that "can't stat program", "can't find
// program 'X' on PATH [...]" and "no permission to run program" are usage
// errors seen on the caller's terminal. Options.Filename is the resolved
// path to exec; Program[0] stays as written (it is argv[0]).
//
// Fixes of zdaemon weaknesses made here (docs/design/supervision.md): stop-timeout defaults to
// 300 s with or without a config file and has a --stop-timeout flag (#1);
// a backoff-limit below 1 is refused instead of busy-looping (#17); -X
// overrides are passed on to zdrun, which Python's zdctl forgot, so a
// "-X runner/forever=true" reached only the controller.
package runner
