// Package interop holds tests that drive zdkit's ZEO server with the real
// Python ZEO ClientStorage (ZEO 5/6 on ZODB 5/6). They skip when no
// Python with ZEO is found: set ZDKIT_PYTHON (interpreter) and
// ZDKIT_PYZEO_PATH (PYTHONPATH holding ZEO, ZODB, ZConfig sources) to run
// them. The package has no non-test code.
package interop
