// Package sink holds the sensor's alert outputs besides the router stream:
// stdout (Falco's text line or Falco's JSON), a JSON-lines file, and an HTTP
// POST of Falco's JSON (what falcosidekick and most webhooks take). Fanout
// hands every alert to each of them, counting what each one did.
package sink

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// ErrUnavailable is a failure the sink has already logged (once per
// outage): the fan-out counts it without logging each alert.
var ErrUnavailable = errors.New("output unavailable")

// Sink is one alert output. Send must not block for long: slow outputs
// queue internally and drop (counted) rather than stall evaluation.
type Sink interface {
	Name() string
	Send(a *harrierv1.Alert) error
	// Close flushes what is buffered and releases the output.
	Close() error
}

// Writer prints alerts to an io.Writer (stdout): Falco's text line (the
// alert's output, which starts with the time and priority) or Falco's JSON.
type Writer struct {
	name     string
	format   Format
	buffered bool
	mu       sync.Mutex
	w        *bufio.Writer
}

// NewWriter returns a writer sink; json selects Falco's JSON format.
func NewWriter(name string, w io.Writer, json bool) *Writer {
	f := TextFormat
	if json {
		f = JSONFormat
	}
	return NewFormatWriter(name, w, f, false)
}

// NewFormatWriter returns a writer sink in format f. Buffered (Falco's
// buffered_outputs) writes when the buffer fills instead of each line.
func NewFormatWriter(name string, w io.Writer, f Format, buffered bool) *Writer {
	return &Writer{name: name, format: f, buffered: buffered, w: bufio.NewWriterSize(w, 32<<10)}
}

func (s *Writer) Name() string { return s.name }

func (s *Writer) Send(a *harrierv1.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeLine(s.w, s.format, a, s.buffered)
}

// writeLine writes a as one line in format f and, unless buffered,
// flushes it: people and log collectors read the line live, and a reader
// tailing a file never sees half an alert.
func writeLine(w *bufio.Writer, f Format, a *harrierv1.Alert, buffered bool) error {
	// Encode straight into the writer's free space: no buffer per alert.
	b, err := f.Append(w.AvailableBuffer(), a)
	if err != nil {
		return err
	}
	w.Write(b)
	w.WriteByte('\n')
	if buffered {
		return nil
	}
	return w.Flush()
}

func (s *Writer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Flush()
}

// File appends alerts as Falco JSON lines (or Falco's text lines).
// Reopen (on SIGHUP) follows a log rotation.
type File struct {
	path     string
	format   Format
	buffered bool
	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
}

// NewFile opens (creating) path for appending Falco JSON lines.
func NewFile(path string) (*File, error) { return NewFormatFile(path, JSONFormat, false) }

// NewFormatFile opens (creating) path for appending alerts in format f;
// buffered writes when the buffer fills instead of each line.
func NewFormatFile(path string, f Format, buffered bool) (*File, error) {
	s := &File{path: path, format: f, buffered: buffered}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *File) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

func (s *File) Name() string { return "file" }

func (s *File) Send(a *harrierv1.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeLine(s.w, s.format, a, s.buffered)
}

// Reopen closes and reopens the file (after logrotate moved it).
func (s *File) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Flush()
	s.f.Close()
	return s.open()
}

func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.w.Flush()
	return errors.Join(err, s.f.Close())
}

// Fanout sends every alert at least MinPriority to each sink.
type Fanout struct {
	sinks []Sink
	min   harrierv1.Priority
	log   *slog.Logger

	sent, failed *prometheus.CounterVec
}

// NewFanout returns a fan-out over sinks.
func NewFanout(min harrierv1.Priority, log *slog.Logger, sinks ...Sink) *Fanout {
	return &Fanout{
		sinks: sinks,
		min:   min,
		log:   log,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harrier_sensor_output_alerts_total",
			Help: "Alerts handed to each output.",
		}, []string{"output"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harrier_sensor_output_errors_total",
			Help: "Alerts an output failed to take.",
		}, []string{"output"}),
	}
}

// Collectors returns the fan-out's metrics and those of sinks that have some.
func (f *Fanout) Collectors() []prometheus.Collector {
	cs := []prometheus.Collector{f.sent, f.failed}
	for _, s := range f.sinks {
		if m, ok := s.(interface{ Collectors() []prometheus.Collector }); ok {
			cs = append(cs, m.Collectors()...)
		}
	}
	return cs
}

// Send hands a to every sink; one failing sink does not stop the others.
func (f *Fanout) Send(a *harrierv1.Alert) {
	if f.min != harrierv1.Priority_PRIORITY_UNSPECIFIED && !a.GetPriority().AtLeast(f.min) {
		return
	}
	for _, s := range f.sinks {
		if err := s.Send(a); err != nil {
			f.failed.WithLabelValues(s.Name()).Inc()
			if !errors.Is(err, ErrUnavailable) {
				f.log.Error("output failed to take an alert", "output", s.Name(), "rule", a.GetRule(), "err", err)
			}
			continue
		}
		f.sent.WithLabelValues(s.Name()).Inc()
	}
}

// BatchSink is a Sink that takes several alerts at once more cheaply (one
// spool write for a batch).
type BatchSink interface {
	SendBatch(as []*harrierv1.Alert) error
}

// SendAll hands alerts to every sink, as a batch to the sinks that take
// batches. It returns the errors of the batch sinks (the spool: the one
// output whose failure must stop an acknowledgement); the other sinks'
// failures are counted and logged only.
func (f *Fanout) SendAll(as []*harrierv1.Alert) error {
	if f.min != harrierv1.Priority_PRIORITY_UNSPECIFIED {
		kept := as[:0:0]
		for _, a := range as {
			if a.GetPriority().AtLeast(f.min) {
				kept = append(kept, a)
			}
		}
		as = kept
	}
	if len(as) == 0 {
		return nil
	}
	var errs []error
	for _, s := range f.sinks {
		b, ok := s.(BatchSink)
		if !ok {
			for _, a := range as {
				if err := s.Send(a); err != nil {
					f.failed.WithLabelValues(s.Name()).Inc()
					if !errors.Is(err, ErrUnavailable) {
						f.log.Error("output failed to take an alert", "output", s.Name(), "rule", a.GetRule(), "err", err)
					}
					continue
				}
				f.sent.WithLabelValues(s.Name()).Inc()
			}
			continue
		}
		if err := b.SendBatch(as); err != nil {
			f.failed.WithLabelValues(s.Name()).Add(float64(len(as)))
			f.log.Error("output failed to take alerts", "output", s.Name(), "alerts", len(as), "err", err)
			errs = append(errs, fmt.Errorf("output %s: %w", s.Name(), err))
			continue
		}
		f.sent.WithLabelValues(s.Name()).Add(float64(len(as)))
	}
	return errors.Join(errs...)
}

// Reopen reopens the sinks that write files.
func (f *Fanout) Reopen() {
	for _, s := range f.sinks {
		if r, ok := s.(interface{ Reopen() error }); ok {
			if err := r.Reopen(); err != nil {
				f.log.Error("reopen output", "output", s.Name(), "err", err)
			}
		}
	}
}

// Close closes every sink.
func (f *Fanout) Close() error {
	var errs []error
	for _, s := range f.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}
