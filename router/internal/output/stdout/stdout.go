// Package stdout prints alerts to standard output, as Falco's text lines or
// as Falco JSON lines.
package stdout

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

// Formats.
const (
	FormatText = "text" // "<time>: <Priority> <output>", like Falco's stdout
	FormatJSON = "json"
)

// Config of the stdout output.
type Config struct {
	Name   string
	Format string
	// Writer replaces os.Stdout (tests).
	Writer io.Writer
}

// Validate checks cfg.
func (c *Config) Validate() error {
	switch c.Format {
	case "", FormatText, FormatJSON:
		return nil
	}
	return fmt.Errorf("format %q: want %q or %q", c.Format, FormatText, FormatJSON)
}

// Output prints alerts.
type Output struct {
	cfg Config
	mu  sync.Mutex
	w   *bufio.Writer
}

// New builds the output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Format == "" {
		cfg.Format = FormatText
	}
	w := cfg.Writer
	if w == nil {
		w = os.Stdout
	}
	return &Output{cfg: cfg, w: bufio.NewWriter(w)}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Deliver implements output.Output.
func (o *Output) Deliver(_ context.Context, alerts []*harrierv1.Alert) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var perm []output.ItemError
	for i, a := range alerts {
		if o.cfg.Format == FormatJSON {
			b, err := falcojson.AppendMarshal(o.w.AvailableBuffer(), a)
			if err != nil {
				perm = append(perm, output.ItemError{Index: i, Err: output.Permanent(err)})
				continue
			}
			o.w.Write(append(b, '\n'))
			continue
		}
		o.w.WriteString(falcojson.TextLine(a))
		o.w.WriteByte('\n')
	}
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("stdout: %w", err)
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
	return o.w.Flush()
}
