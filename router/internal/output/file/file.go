// Package file appends alerts to a file as Falco JSON lines.
package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

// Config of a file output.
type Config struct {
	Name string
	Path string
	// Sync fsyncs the file after every batch, so delivered alerts survive
	// a host crash too (a process crash never loses them either way).
	Sync bool
}

// Validate checks cfg without side effects.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path is required")
	}
	return nil
}

// Output writes JSON lines.
type Output struct {
	cfg Config
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
}

// New opens (creating as needed) the file for appending.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	return &Output{cfg: cfg, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Deliver implements output.Output.
func (o *Output) Deliver(_ context.Context, alerts []*harrierv1.Alert) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var perm []output.ItemError
	for i, a := range alerts {
		// Encode straight into the writer's free space: no buffer per alert.
		b, err := falcojson.AppendMarshal(o.w.AvailableBuffer(), a)
		if err != nil {
			perm = append(perm, output.ItemError{Index: i, Err: output.Permanent(err)})
			continue
		}
		o.w.Write(append(b, '\n'))
	}
	if err := o.w.Flush(); err != nil {
		o.w.Reset(o.f) // drop the unwritten rest; the batch is retried whole
		return fmt.Errorf("file %s: %w", o.cfg.Path, err)
	}
	if o.cfg.Sync {
		if err := o.f.Sync(); err != nil {
			return fmt.Errorf("file %s: %w", o.cfg.Path, err)
		}
	}
	if len(perm) > 0 {
		return &output.PartialError{Items: perm}
	}
	return nil
}

// Close implements output.Output.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.w.Flush()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// RecentIDs returns the alert ids of the last lines of the file at path,
// reading at most maxBytes from its end (nil when it cannot be read): what
// the output wrote before a restart, so that a redelivery is not written
// twice.
func RecentIDs(path string, maxBytes int64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-maxBytes, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil
	}
	if off > 0 {
		// The first line is likely cut.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	var ids []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if a, err := falcojson.Unmarshal(line); err == nil && a.GetId() != "" {
			ids = append(ids, a.GetId())
		}
	}
	return ids
}
