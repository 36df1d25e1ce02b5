package zeobench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMeasureFloorInProcess(t *testing.T) {
	f, err := MeasureFloor(context.Background(), "", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !f.EchoInProcess || f.EchoWallUs <= 0 || f.FsyncWallUs <= 0 {
		t.Errorf("floor %+v: want an in-process echo and positive round trip and fsync times", f)
	}
	if s := f.String(); !strings.Contains(s, "client+server, one process") || !strings.Contains(s, "fsync") {
		t.Errorf("String() = %q", s)
	}
}

func TestPyConfigFromEnvWithoutPython(t *testing.T) {
	t.Setenv("ZDKIT_PYREF", "")
	if _, err := PyConfigFromEnv(PyConfig{}); !errors.Is(err, ErrNoPython) {
		t.Errorf("no ZDKIT_PYREF: err = %v, want ErrNoPython", err)
	}
	t.Setenv("ZDKIT_PYREF", t.TempDir())
	if _, err := PyConfigFromEnv(PyConfig{}); !errors.Is(err, ErrNoPython) {
		t.Errorf("ZDKIT_PYREF without ZEO: err = %v, want ErrNoPython", err)
	}
}

func TestPyReportRatios(t *testing.T) {
	var rs []PyResult
	for _, op := range []string{"commit", "loadBefore"} {
		for _, n := range []int{1, 4} {
			rs = append(rs,
				PyResult{Server: PyServerPython, Op: op, Clients: n, PerSec: 100, ServerCPUUs: 600},
				PyResult{Server: PyServerOurs, Op: op, Clients: n, PerSec: 150, ServerCPUUs: 150},
				PyResult{Server: PyServerMapping, Op: op, Clients: n, PerSec: 300, ServerCPUUs: 60})
		}
	}
	out := PyReport(rs, Floor{EchoServerCPUUs: 5, EchoPacedServerCPUUs: 10}, "test machine", 3, time.Unix(0, 0))
	for _, want := range []string{
		"| commit | 1 | 100 (600) | 150 (150) | 300 (60) | 1.50x |",
		"≥ 3x Python's runzeo | 1.50x |",
		"≤ 1/3 of Python's | 0.25 of Python's (150 / 600 µs) |",
		"≤ 1.5x the echo floor (paced as a Python client) | 15.00x (150.0 / 10.0 µs) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
