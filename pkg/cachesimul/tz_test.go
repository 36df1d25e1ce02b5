package cachesimul

import "time"

func setUTC() error {
	time.Local = time.UTC
	return nil
}
