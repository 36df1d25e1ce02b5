package zdctl

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/runner"
)

func (c *Controller) doShow(arg string) int {
	switch arg {
	case "", "options":
		c.showOptions()
	case "python":
		c.showPython()
	case "all":
		c.showOptions()
		c.println()
		c.showPython()
	default:
		c.printf("no show topic %s\n", getopt.PyRepr(arg))
		c.printf("%s", showHelp)
	}
	return 0
}

func reprOrNone(s string) string {
	if s == "" {
		return "None"
	}
	return getopt.PyRepr(s)
}

// pyBool shows a boolean as zdaemon does: a value from the config file
// is a Python bool (True), one from a flag or the default the int 1.
func (c *Controller) pyBool(name string, v bool) string {
	if c.Opts.Source(name) == runner.FromConfig {
		if v {
			return "True"
		}
		return "False"
	}
	if v {
		return "1"
	}
	return "0"
}

func (c *Controller) showOptions() {
	o := c.Opts
	line := func(label, value string) { c.printf("%-13s %s\n", label+":", value) }
	c.println("zdctl/zdrun options:")
	line("schemafile", getopt.PyRepr(o.SchemaFile))
	line("configfile", reprOrNone(o.ConfigFile))
	line("zdrun", reprOrNone(o.Zdrun))
	line("python", reprOrNone(o.Python))
	line("program", getopt.PyList(o.Program))
	line("backofflimit", strconv.Itoa(o.BackoffLimit))
	line("daemon", c.pyBool("daemon", o.Daemon))
	line("forever", c.pyBool("forever", o.Forever))
	line("sockname", getopt.PyRepr(o.SocketName))
	codes := make([]string, len(o.ExitCodes))
	for i, x := range o.ExitCodes {
		codes[i] = strconv.Itoa(x)
	}
	line("exitcodes", "["+strings.Join(codes, ", ")+"]")
	line("user", reprOrNone(o.User))
	umask := o.Umask
	if umask == 0 {
		// zdaemon reports the process's current umask when the option is 0.
		umask = syscall.Umask(0o777)
		syscall.Umask(umask)
	}
	line("umask", "0o"+strconv.FormatInt(int64(umask), 8))
	line("directory", reprOrNone(o.Directory))
	line("logfile", reprOrNone(o.LogFile))
	line("transcript", getopt.PyRepr(o.Transcript))
}

// showPython is zdaemon's "show python", about the Go runtime instead.
func (c *Controller) showPython() {
	line := func(label, value string) { c.printf("%-13s %s\n", label+":", value) }
	exe, _ := os.Executable()
	cwd, _ := os.Getwd()
	c.println("Go info:")
	line("Version", runtime.Version())
	line("Platform", runtime.GOOS+"/"+runtime.GOARCH)
	line("Executable", getopt.PyRepr(exe))
	line("Arguments", getopt.PyList(append([]string{c.argv0}, c.argv...)))
	line("Directory", getopt.PyRepr(cwd))
}
