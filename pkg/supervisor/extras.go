package supervisor

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/runner"
)

// Settings zdrun takes beside pkg/runner's options (the metrics
// endpoint and the control-socket limits; docs/zdrun.md).
// Each comes from a flag or environment variable and, once pkg/runner's
// schema knows the key, from <runner>: command line > environment >
// configuration file > default, as for the other options (zdaemon 5.2.1
// zdoptions.ZDOptions.realize).
const (
	MetricsFlag    = "--metrics-address"
	MetricsEnv     = "ZDRUN_METRICS_ADDRESS"
	MetricsKey     = "metrics-address"
	LineLimitEnv   = "ZDRUN_CONTROL_LINE_LIMIT"
	LineLimitKey   = "control-line-limit"
	IdleTimeoutEnv = "ZDRUN_CONTROL_IDLE_TIMEOUT"
	IdleTimeoutKey = "control-idle-timeout"
)

type extras struct {
	metricsAddr string        // "" = no metrics endpoint
	lineLimit   int           // 0 = control.MaxCommand
	idleTimeout time.Duration // 0 = control.CommandTimeout
}

// zdrunArgOpts are zdrun's options that take a value (pkg/runner's table
// for zdrun mode), needed to find where the options end.
var (
	zdrunShortArg = "CXSbstumxz"
	zdrunLongArg  = []string{"configure", "schema", "backoff-limit", "socket-name", "transcript", "user", "umask", "exit-codes", "directory", "stop-timeout", "settle-time"}
)

// extractMetricsFlag removes "--metrics-address ADDR" (or "=ADDR") from
// the options part of args (before the program, getopt style) and returns
// its value. pkg/runner's parser does not know the flag; it is taken out
// before that parser sees the rest.
func extractMetricsFlag(args []string) (value string, found bool, rest []string, err error) {
	rest = append(rest, args[0])
	i := 1
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			break
		}
		if v, ok := strings.CutPrefix(a, MetricsFlag+"="); ok {
			value, found = v, true
			continue
		}
		if a == MetricsFlag {
			if i+1 >= len(args) {
				return "", false, nil, getopt.Usagef("option %s requires argument", MetricsFlag)
			}
			value, found = args[i+1], true
			i++
			continue
		}
		rest = append(rest, a)
		takesArg := false
		if long, ok := strings.CutPrefix(a, "--"); ok {
			if !strings.Contains(long, "=") {
				n := 0
				for _, o := range zdrunLongArg {
					if strings.HasPrefix(o, long) {
						n++
					}
				}
				// An unknown or ambiguous prefix is left to pkg/runner.
				takesArg = n == 1 && !strings.HasPrefix("daemon", long) && !strings.HasPrefix("forever", long) &&
					!strings.HasPrefix("help", long) && !strings.HasPrefix("version", long)
			}
		} else {
			for j := 1; j < len(a); j++ {
				if strings.IndexByte(zdrunShortArg, a[j]) >= 0 {
					takesArg = j == len(a)-1 // else the value is attached
					break
				}
			}
		}
		if takesArg && i+1 < len(args) {
			i++
			rest = append(rest, args[i])
		}
	}
	rest = append(rest, args[i:]...)
	return value, found, rest, nil
}

// runnerRaw reads a <runner> key that pkg/runner does not decode itself.
func runnerRaw(opts *runner.Options, key string) (string, bool) {
	if opts.Config == nil {
		return "", false
	}
	r := opts.Config.Section("runner")
	if r == nil {
		return "", false
	}
	v, ok := r.Raw(key)
	return strings.TrimSpace(v), ok
}

// pick returns the flag, else the environment variable, else the key.
func pick(opts *runner.Options, flagVal string, flagSet bool, env, key string) (val, source string, ok bool) {
	if flagSet {
		return flagVal, MetricsFlag, true
	}
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return v, env, true
	}
	if v, ok := runnerRaw(opts, key); ok {
		return v, key, true
	}
	return "", "", false
}

func loadExtras(opts *runner.Options, metricsFlag string, metricsSet bool) (extras, error) {
	var ex extras
	if v, src, ok := pick(opts, metricsFlag, metricsSet, MetricsEnv, MetricsKey); ok {
		addr, err := metricsListenAddr(v)
		if err != nil {
			return ex, getopt.Usagef("%s: invalid address %q: %v", src, v, err)
		}
		ex.metricsAddr = addr
	}
	if v, src, ok := pick(opts, "", false, LineLimitEnv, LineLimitKey); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return ex, getopt.Usagef("%s: invalid line limit %q (a positive number of bytes)", src, v)
		}
		ex.lineLimit = n
	}
	if v, src, ok := pick(opts, "", false, IdleTimeoutEnv, IdleTimeoutKey); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 86400 {
			return ex, getopt.Usagef("%s: invalid idle timeout %q (seconds, above 0)", src, v)
		}
		ex.idleTimeout = time.Duration(f * float64(time.Second))
	}
	return ex, nil
}

// metricsListenAddr accepts "host:port", ":port" and a bare port (all
// interfaces, as ZConfig's socket-address reads it).
func metricsListenAddr(v string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("empty")
	}
	if _, err := strconv.Atoi(v); err == nil {
		v = ":" + v
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return v, nil
}
