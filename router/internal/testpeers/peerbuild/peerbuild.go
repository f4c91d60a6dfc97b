// Package peerbuild builds a test peer's binary once per content of its
// sources, shared by every test process on the machine: the result is
// cached under the temporary directory, keyed by a hash of the Go version
// and the files that define the build, and concurrent builders wait on a
// file lock instead of building twice.
package peerbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// Cached returns the path of binary bin of peer name, calling build(dir,
// out) to produce it at out (renamed into place afterwards) when no build
// for these sources exists yet. files are read from srcDir, in order.
func Cached(name, bin, srcDir string, files []string, build func(dir, out string) error) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, n := range files {
		b, err := os.ReadFile(filepath.Join(srcDir, n))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	dir := filepath.Join(os.TempDir(), "harrier-"+name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	path := filepath.Join(dir, bin)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if _, err := os.Stat(path); err == nil { // built while we waited
		return path, nil
	}
	tmp := path + ".tmp"
	if err := build(dir, tmp); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}
