package runner

import "golang.org/x/sys/unix"

// executable is os.access(path, X_OK).
func executable(path string) bool { return unix.Access(path, unix.X_OK) == nil }
