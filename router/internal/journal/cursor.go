package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Cursor persists one consumer's position (the next sequence number it has
// not yet finished with) in its own small file. Stores write a temporary
// file, fsync it and rename it over the old one, so a crash leaves either
// the old or the new position, never a torn one. Consumers store after
// delivering, so a crash redelivers rather than loses.
type Cursor struct {
	path string
}

// ErrNoCursor is returned by Load when the cursor was never stored.
var ErrNoCursor = errors.New("no stored cursor")

// OpenCursor returns the cursor called name under dir (created as needed).
func OpenCursor(dir, name string) (*Cursor, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("cursor: invalid name %q", name)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	return &Cursor{path: filepath.Join(dir, name+".cursor")}, nil
}

// Load returns the stored position, or ErrNoCursor.
func (c *Cursor) Load() (uint64, error) {
	b, err := os.ReadFile(c.path)
	if os.IsNotExist(err) {
		return 0, ErrNoCursor
	}
	if err != nil {
		return 0, fmt.Errorf("cursor %s: %w", c.path, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cursor %s: corrupt content: %w", c.path, err)
	}
	return v, nil
}

// Store durably records pos.
func (c *Cursor) Store(pos uint64) error {
	tmp := c.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("cursor: %w", err)
	}
	_, err = f.WriteString(strconv.FormatUint(pos, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path)
	}
	if err != nil {
		return fmt.Errorf("cursor %s: %w", c.path, err)
	}
	return nil
}
