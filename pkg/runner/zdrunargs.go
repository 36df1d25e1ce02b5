package runner

import (
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ZdrunArgs builds the arguments zdctl passes to zdrun (zdaemon 5.2.1 zdctl.ZDCmd.do_start),
// without zdrun's own path: options, then the program words, then extra
// (the "start" action's arguments, appended to the program).
//
// An option is passed only when it has a value and either there is no
// config file or its value differs from the file's (defaults included):
// zdrun re-reads the same file with -C, so repeating the file's values
// would only add noise, while a command-line value must win there as it
// did here. Unlike Python's zdctl, the -X overrides are passed too, and
// umask 0 is passed (zdaemon's "if umask:" dropped it).
func (o *Options) ZdrunArgs(extra []string) []string {
	var args []string
	if o.source["schemafile"] == FromFlag || o.SchemaFile != "schema.xml" {
		args = append(args, "-S", o.SchemaFile)
	}
	if o.ConfigFile != "" {
		args = append(args, "-C", o.ConfigFile)
		for _, x := range o.Overrides {
			args = append(args, "-X", x)
		}
	}
	add := func(opt, name, key string, value any, text string) {
		if o.Config != nil {
			if o.source[name] != FromFlag {
				return
			}
			if v, ok := o.Config.Section("runner").Value(key); ok && reflect.DeepEqual(normalize(v.Typed), normalize(value)) {
				return
			}
		}
		if opt == "-f" {
			args = append(args, opt)
			return
		}
		args = append(args, opt, text)
	}
	add("-b", "backofflimit", "backoff-limit", o.BackoffLimit, strconv.Itoa(o.BackoffLimit))
	if o.Forever {
		add("-f", "forever", "forever", true, "")
	}
	add("-s", "sockname", "socket-name", o.SocketName, o.SocketName)
	if o.User != "" {
		add("-u", "user", "user", o.User, o.User)
	}
	add("-t", "transcript", "transcript", o.Transcript, o.Transcript)
	add("-m", "umask", "umask", o.Umask, "0o"+strconv.FormatInt(int64(o.Umask), 8))
	codes := make([]string, len(o.ExitCodes))
	for i, c := range o.ExitCodes {
		codes[i] = strconv.Itoa(c)
	}
	add("-x", "exitcodes", "exit-codes", o.ExitCodes, strings.Join(codes, ","))
	if o.Directory != "" {
		add("-z", "directory", "directory", o.Directory, o.Directory)
	}
	// New flags (no Python equivalent): passed only when given, since
	// zdrun's defaults are the same as ours.
	if o.source["stoptimeout"] == FromFlag {
		add("--stop-timeout", "stoptimeout", "stop-timeout", o.StopTimeout, strconv.Itoa(o.StopTimeout))
	}
	if o.source["settletime"] == FromFlag {
		ms := int(o.SettleTime / time.Millisecond)
		add("--settle-time", "settletime", "settle-time", ms, strconv.Itoa(ms))
	}
	args = append(args, o.Program...)
	return append(args, extra...)
}

// normalize makes config and flag values comparable (a flag's 1 and a
// config boolean's true; an empty list and nil).
func normalize(v any) any {
	switch t := v.(type) {
	case bool:
		if t {
			return 1
		}
		return 0
	case []int:
		if len(t) == 0 {
			return []int{}
		}
	}
	return v
}
