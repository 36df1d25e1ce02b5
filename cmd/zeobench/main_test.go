package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/zeobench"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"zeobench": func() { os.Exit(zeobench.Main(os.Args, os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
