// Package scriptdata puts binary test data into testscript work
// directories: txtar archives hold text only, so a script that reads a
// Data.fs gets it copied from the package's testdata/ by its Setup.
// Only tests import it.
package scriptdata
