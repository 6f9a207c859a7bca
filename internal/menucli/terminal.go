package menucli

import "os"

// IsTerminal reports whether f is a terminal (a character device), not a
// pipe or a file.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
