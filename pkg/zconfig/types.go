package zconfig

import (
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// Datatype converts the text of a value into a typed Go value. Convert's
// error message should name the value; the caller adds the key and
// position.
type Datatype struct {
	Name    string
	Convert func(s string) (any, error)
}

// The datatypes of ZConfig, zdaemon and ZEO that zdkit's schemas use.
// Each comment gives the Go type Convert returns.
var (
	String       = Datatype{"string", func(s string) (any, error) { return s, nil }}                      // string
	StringList   = Datatype{"string-list", func(s string) (any, error) { return strings.Fields(s), nil }} // []string
	Boolean      = Datatype{"boolean", convBool}                                                          // bool
	Integer      = Datatype{"integer", convInt}                                                           // int
	Float        = Datatype{"float", convFloat}                                                           // float64
	Octal        = Datatype{"octal", convOctal}                                                           // int (zdaemon's umask)
	ByteSize     = Datatype{"byte-size", convByteSize}                                                    // int64 bytes
	TimeInterval = Datatype{"time-interval", convTimeInterval}                                            // time.Duration
	IntList      = Datatype{"list-of-ints", convIntList}                                                  // []int (exit-codes)
	Signal       = Datatype{"signal", convSignal}                                                         // syscall.Signal
	PortNumber   = Datatype{"port-number", convPort}                                                      // int

	// SocketBindingAddress is a server address: "host:port", ":port",
	// "port", "[v6]:port", or a path containing "/" (a Unix socket). An
	// empty host means all interfaces.
	SocketBindingAddress = Datatype{"socket-binding-address", func(s string) (any, error) { return parseAddress(s, "") }} // Address
	// SocketConnectionAddress is the same for a client: an empty host
	// means 127.0.0.1.
	SocketConnectionAddress = Datatype{"socket-connection-address", func(s string) (any, error) { return parseAddress(s, "127.0.0.1") }} // Address

	ExistingDirectory       = Datatype{"existing-directory", convExistingDirectory}              // string
	ExistingParentDirectory = Datatype{"existing-parent-directory", convExistingParentDirectory} // string
	ExistingDirpath         = Datatype{"existing-dirpath", convExistingDirpath}                  // string
	ExistingParentDirpath   = Datatype{"existing-parent-dirpath", convExistingParentDirpath}     // string
	ExistingPath            = Datatype{"existing-path", convExistingPath}                        // string
	LoggingLevel            = Datatype{"logging-level", convLoggingLevel}                        // int (Python level)
	LogFormatStyle          = Datatype{"log-format-style", convLogFormatStyle}                   // string
)

func convBool(s string) (any, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "on":
		return true, nil
	case "no", "false", "off":
		return false, nil
	}
	return nil, fmt.Errorf("not a valid boolean value: %s", pyrepr.Str(s))
}

// pyInt parses an integer the way Python's int() does: surrounding white
// space, a sign, and underscores between digits are allowed.
func pyInt(s string, base int) (int64, bool) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "_") || strings.HasSuffix(t, "_") || strings.Contains(t, "__") {
		return 0, false
	}
	t = strings.ReplaceAll(t, "_", "")
	if base == 8 {
		neg := false
		if strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
			neg = t[0] == '-'
			t = t[1:]
		}
		lt := strings.ToLower(t)
		if strings.HasPrefix(lt, "0o") {
			t = t[2:]
		}
		if t == "" || t[0] == '+' || t[0] == '-' {
			return 0, false
		}
		v, err := strconv.ParseInt(t, 8, 64)
		if err != nil {
			return 0, false
		}
		if neg {
			v = -v
		}
		return v, true
	}
	if t == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(t, base, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

func intError(s string, base int) error {
	return fmt.Errorf("invalid literal for int() with base %d: %s", base, pyrepr.Str(s))
}

func convInt(s string) (any, error) {
	v, ok := pyInt(s, 10)
	if !ok || v > math.MaxInt || v < math.MinInt {
		return nil, intError(s, 10)
	}
	return int(v), nil
}

func convFloat(s string) (any, error) {
	t := strings.TrimSpace(strings.ReplaceAll(s, "_", ""))
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" {
		return nil, fmt.Errorf("could not convert string to float: %s", pyrepr.Str(s))
	}
	return v, nil
}

func convOctal(s string) (any, error) {
	v, ok := pyInt(s, 8)
	if !ok {
		return nil, intError(s, 8)
	}
	return int(v), nil
}

func convPort(s string) (any, error) {
	v, ok := pyInt(s, 10)
	if !ok {
		return nil, intError(s, 10)
	}
	if v < 0 {
		return nil, fmt.Errorf("%d is below lower bound (0)", v)
	}
	if v > 0xffff {
		return nil, fmt.Errorf("%d is above upper bound (65535)", v)
	}
	return int(v), nil
}

// suffixMultiplier mirrors ZConfig's SuffixMultiplier: a case-insensitive
// suffix picks the multiplier; without one the number is in base units.
func suffixMultiplier(s string, kind string, table []struct {
	suffix string
	mult   int64
}) (int64, error) {
	ls := strings.ToLower(s)
	num, mult := ls, int64(1)
	for _, e := range table {
		if strings.HasSuffix(ls, e.suffix) {
			num, mult = ls[:len(ls)-len(e.suffix)], e.mult
			break
		}
	}
	v, ok := pyInt(num, 10)
	if !ok {
		// ZConfig's SuffixMultiplier lower-cases the text and hands
		// what is left to int(): "invalid literal for int() with base
		// 10: '10tb'".
		return 0, intError(num, 10)
	}
	if v != 0 && (v > math.MaxInt64/mult || v < math.MinInt64/mult) {
		return 0, fmt.Errorf("%s value out of range: %s", kind, pyrepr.Str(s))
	}
	return v * mult, nil
}

var byteSuffixes = []struct {
	suffix string
	mult   int64
}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}}

var timeSuffixes = []struct {
	suffix string
	mult   int64
}{{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}}

func convByteSize(s string) (any, error) {
	return suffixMultiplier(s, "byte-size", byteSuffixes)
}

func convTimeInterval(s string) (any, error) {
	secs, err := suffixMultiplier(s, "time-interval", timeSuffixes)
	if err != nil {
		return nil, err
	}
	if secs > math.MaxInt64/int64(time.Second) || secs < math.MinInt64/int64(time.Second) {
		return nil, fmt.Errorf("time-interval value out of range: %s", pyrepr.Str(s))
	}
	return time.Duration(secs) * time.Second, nil
}

// convIntList is zdaemon's list_of_ints: comma-separated integers, the
// empty string being the empty list ("exit-codes 0, 2").
func convIntList(s string) (any, error) {
	if s == "" {
		return []int{}, nil
	}
	parts := strings.Split(s, ",")
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		v, ok := pyInt(p, 10)
		if !ok {
			// list_of_ints is map(int, arg.split(",")): int()'s message
			// names the bad item as written, spaces included.
			return nil, intError(p, 10)
		}
		if v > math.MaxInt32 || v < math.MinInt32 {
			return nil, fmt.Errorf("exit code out of range: %s in %s", pyrepr.Str(p), pyrepr.Str(s))
		}
		out = append(out, int(v))
	}
	return out, nil
}

// ParseSignal accepts a signal number or a name, any case, with or
// without "SIG" (zdaemon's kill verb: 12, USR2, sigusr2). Names with an
// underscore are rejected as zdaemon does, and numbers must name a real
// signal.
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	if v, err := strconv.Atoi(t); err == nil {
		if v <= 0 || v >= 65 || unix.SignalName(syscall.Signal(v)) == "" {
			return 0, fmt.Errorf("invalid signal %s", pyrepr.Str(s))
		}
		return syscall.Signal(v), nil
	}
	if t == "" || strings.Contains(t, "_") {
		return 0, fmt.Errorf("invalid signal %s", pyrepr.Str(s))
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("invalid signal %s", pyrepr.Str(s))
	}
	return sig, nil
}

func convSignal(s string) (any, error) { return ParseSignal(s) }

// Address is a parsed socket address. Network is "unix", "tcp" or "tcp6"
// (the family ZConfig picks: AF_INET6 when the host has a colon).
type Address struct {
	Network string
	Host    string // lower-cased; "" = all interfaces (binding)
	Port    int    // 0 when not given (ZEO then binds an ephemeral port)
	Path    string // Unix socket path
	HasPort bool
}

// String gives the address in a form net.Dial and net.Listen accept for
// its Network ("host:port" or the path).
func (a Address) String() string {
	if a.Network == "unix" {
		return a.Path
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// ParseAddress parses a socket binding address (an empty host means all
// interfaces), the form of <zeo> address and runzeo -a.
func ParseAddress(s string) (Address, error) { return parseAddress(s, "") }

// parseAddress follows ZConfig's SocketAddress/InetAddress.
func parseAddress(s, defaultHost string) (Address, error) {
	if strings.Contains(s, "/") {
		return Address{Network: "unix", Path: s}, nil
	}
	var a Address
	host := ""
	portText := ""
	havePort := false
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, portText = s[:i], s[i+1:]
		switch {
		case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
			host = host[1 : len(host)-1]
		case strings.Contains(host, ":"):
			// An unbracketed IPv6 address: the last part is not a port.
			host, portText = s, ""
		}
		havePort = portText != ""
		host = strings.ToLower(host)
	} else {
		if v, ok := pyInt(s, 10); ok {
			if v < 0 || v > 0xffff {
				return a, fmt.Errorf("not a valid port number: %s", pyrepr.Str(s))
			}
			a.Port, a.HasPort = int(v), true
		} else {
			if len(strings.Fields(s)) != 1 {
				return a, fmt.Errorf("not a valid host name: %s", pyrepr.Str(s))
			}
			host = strings.ToLower(s)
		}
	}
	if havePort {
		// ZConfig's port_number: int() then a range check, with
		// their messages ("invalid literal for int() with base 10:
		// 'xx'", "70000 is above upper bound (65535)").
		p, err := convPort(portText)
		if err != nil {
			return a, err
		}
		a.Port, a.HasPort = p.(int), true
	}
	if host == "" {
		host = defaultHost
	}
	a.Host = host
	a.Network = "tcp"
	if strings.Contains(host, ":") {
		a.Network = "tcp6"
	}
	return a, nil
}

// expandUser does what os.path.expanduser does for "~" and "~/...".
func expandUser(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return home + p[1:]
		}
	}
	return p
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func convExistingDirectory(s string) (any, error) {
	p := expandUser(s)
	if isDir(p) {
		return p, nil
	}
	return nil, fmt.Errorf("%s is not an existing directory", s)
}

// convExistingParentDirectory is zdaemon's existing_parent_directory:
// the directory itself or its parent must exist (zdctl creates it).
func convExistingParentDirectory(s string) (any, error) {
	p := expandUser(s)
	// os.path.split: a bare relative name has no parent, so it must
	// exist itself.
	if isDir(p) || isDir(pyDirname(p)) {
		return p, nil
	}
	return nil, fmt.Errorf("%s is not an existing directory", s)
}

func convExistingDirpath(s string) (any, error) {
	p := expandUser(s)
	dir := pyDirname(p)
	if dir == "" || isDir(dir) {
		return p, nil
	}
	//lint:ignore ST1005 ZConfig 4.3 existing_dirpath's message, byte for byte
	return nil, fmt.Errorf("The directory named as part of the path %s does not exist.", s)
}

// convExistingParentDirpath is zdaemon's existing_parent_dirpath (the
// socket-name type): the grand-parent of the path must exist, because
// zdctl creates the socket's directory.
func convExistingParentDirpath(s string) (any, error) {
	p := expandUser(s)
	parent := pyDirname(pyDirname(p))
	if parent == "" || isDir(parent) {
		return p, nil
	}
	//lint:ignore ST1005 ZConfig 4.3 existing_dirpath's message, byte for byte
	return nil, fmt.Errorf("The directory named as part of the path %s does not exist.", s)
}

func convExistingPath(s string) (any, error) {
	p := expandUser(s)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return nil, fmt.Errorf("%s is not an existing path", s)
}

// pyDirname is os.path.dirname: everything before the last slash, with
// trailing slashes of that head removed unless it is all slashes.
func pyDirname(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	head := p[:i+1]
	if strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return head
}

// Python logging levels, as ZConfig's logging-level datatype names them.
var levelNames = map[string]int{
	"critical": 50, "fatal": 50, "error": 40, "warn": 30, "warning": 30,
	"info": 20, "blather": 15, "debug": 10, "trace": 5, "all": 1, "notset": 0,
}

// convLoggingLevel is ZConfig's logging_level: a level name (any case) or
// an integer 0..50.
func convLoggingLevel(s string) (any, error) {
	if v, ok := levelNames[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, ok := pyInt(s, 10)
	if !ok {
		return nil, intError(strings.ToLower(s), 10)
	}
	if v < 0 || v > 50 {
		return nil, fmt.Errorf("log level not in range: %d", v)
	}
	return int(v), nil
}

// convLogFormatStyle is ZConfig's log_format_style (lower-cased result).
func convLogFormatStyle(s string) (any, error) {
	switch l := strings.ToLower(s); l {
	case "classic", "format", "safe-template", "template":
		return l, nil
	}
	return nil, fmt.Errorf("log_format_style must be one of 'classic', 'format', 'safe-template', 'template'; found %s", pyrepr.Str(s))
}
