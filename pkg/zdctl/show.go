package zdctl

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/runner"
)

// showTopics are the arguments of "show", for help and completion.
var showTopics = []string{"options", "python", "all"}

func (c *Controller) doShow(arg string) int {
	topic, asJSON := "", false
	for _, w := range strings.Fields(arg) {
		if w == "--json" && !asJSON {
			asJSON = true
		} else if topic == "" {
			topic = w
		} else {
			topic += " " + w
		}
	}
	if asJSON {
		j := &jsonObject{}
		switch topic {
		case "", "options":
			j.object("options", c.showOptionsJSON())
		case "python":
			j.object("go", c.showGoJSON())
		case "all":
			j.object("options", c.showOptionsJSON())
			j.object("go", c.showGoJSON())
		default:
			c.printf("no show topic %s\n", pyrepr.Str(topic))
			c.printf("%s", showHelp)
			return 0
		}
		c.Stdout.Write(append(j.bytes(), '\n'))
		return 0
	}
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
		c.printf("no show topic %s\n", pyrepr.Str(arg))
		c.printf("%s", showHelp)
	}
	return 0
}

func reprOrNone(s string) string {
	if s == "" {
		return "None"
	}
	return pyrepr.Str(s)
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
	line("schemafile", pyrepr.Str(o.SchemaFile))
	line("configfile", reprOrNone(o.ConfigFile))
	line("zdrun", reprOrNone(o.Zdrun))
	line("python", reprOrNone(o.Python))
	line("program", pyrepr.List(o.Program))
	line("backofflimit", strconv.Itoa(o.BackoffLimit))
	line("daemon", c.pyBool("daemon", o.Daemon))
	line("forever", c.pyBool("forever", o.Forever))
	line("sockname", pyrepr.Str(o.SocketName))
	codes := make([]string, len(o.ExitCodes))
	for i, x := range o.ExitCodes {
		codes[i] = strconv.Itoa(x)
	}
	line("exitcodes", "["+strings.Join(codes, ", ")+"]")
	line("user", reprOrNone(o.User))
	line("umask", "0o"+strconv.FormatInt(int64(currentUmask(o.Umask)), 8))
	line("directory", reprOrNone(o.Directory))
	line("logfile", reprOrNone(o.LogFile))
	line("transcript", pyrepr.Str(o.Transcript))
}

// currentUmask is the umask option, or the process's current umask when
// the option is 0, which is what zdaemon reports then.
func currentUmask(umask int) int {
	if umask == 0 {
		umask = syscall.Umask(0o777)
		syscall.Umask(umask)
	}
	return umask
}

// goField is one line of "show python": a string, or a list when list is
// not nil.
type goField struct {
	name  string
	value string
	list  []string
}

func (c *Controller) goInfo() []goField {
	exe, _ := os.Executable()
	cwd, _ := os.Getwd()
	return []goField{
		{name: "Version", value: runtime.Version()},
		{name: "Platform", value: runtime.GOOS + "/" + runtime.GOARCH},
		{name: "Executable", value: exe},
		{name: "Arguments", list: append([]string{c.argv0}, c.argv...)},
		{name: "Directory", value: cwd},
	}
}

// showPython is zdaemon's "show python", about the Go runtime instead.
func (c *Controller) showPython() {
	c.println("Go info:")
	for _, f := range c.goInfo() {
		v := pyrepr.Str(f.value)
		if f.list != nil {
			v = pyrepr.List(f.list)
		}
		c.printf("%-13s %s\n", f.name+":", v)
	}
}
