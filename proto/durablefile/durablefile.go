// Package durablefile replaces a file so that a crash leaves either the old
// content or the new one, and the new one survives a power loss once Write
// returns: a temporary file beside it is written and fsynced, renamed over
// it, and the directory is fsynced. The router's fleet rulesets and the
// sensor's cache of the central ruleset use it.
package durablefile

import (
	"os"
	"path/filepath"
)

// Write replaces name with data (perm for a new file). The temporary file
// is name + ".tmp".
func Write(name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
