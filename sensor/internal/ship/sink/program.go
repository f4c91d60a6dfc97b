package sink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// ProgramConfig configures a program sink.
type ProgramConfig struct {
	// Command is run with /bin/sh -c, as Falco's program_output.
	Command string
	// KeepAlive runs the command once and writes every alert to its
	// standard input, one per line; otherwise the command runs once per
	// alert with the alert on its standard input.
	KeepAlive bool
	Format    Format
	// Queue bounds the alerts waiting for the command (default 1000).
	Queue int
	// Timeout bounds one run of the command when not KeepAlive (default 30s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Program pipes alerts into a shell command, on its own goroutine from a
// bounded queue so that a slow command never stalls evaluation.
type Program struct {
	cfg    ProgramConfig
	log    *slog.Logger
	queue  chan *harrierv1.Alert
	done   chan struct{}
	mu     sync.RWMutex
	closed bool

	// The kept-alive process.
	cmd   *exec.Cmd
	stdin io.WriteCloser

	dropped prometheus.Counter
}

// NewProgram starts a program sink.
func NewProgram(cfg ProgramConfig) *Program {
	if cfg.Queue <= 0 {
		cfg.Queue = 1000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Program{
		cfg: cfg, log: cfg.Logger.With("output", "program"),
		queue: make(chan *harrierv1.Alert, cfg.Queue), done: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harrier_sensor_program_output_dropped_total", Help: "Alerts the program output dropped (queue full or command failing).",
		}),
	}
	go p.run()
	return p
}

func (p *Program) Name() string { return "program" }

// Collectors returns the sink's metrics.
func (p *Program) Collectors() []prometheus.Collector { return []prometheus.Collector{p.dropped} }

func (p *Program) Send(a *harrierv1.Alert) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("program output closed; alert %s not sent", a.GetId())
	}
	select {
	case p.queue <- a:
		return nil
	default:
		p.dropped.Inc()
		return fmt.Errorf("program output queue full (%d); alert %s dropped from this output", p.cfg.Queue, a.GetId())
	}
}

func (p *Program) run() {
	defer close(p.done)
	defer p.stop()
	for a := range p.queue {
		line, err := p.cfg.Format.Append(nil, a)
		if err != nil {
			p.dropped.Inc()
			continue
		}
		line = append(line, '\n')
		if p.cfg.KeepAlive {
			err = p.writeKept(line)
		} else {
			err = p.runOnce(line)
		}
		if err != nil {
			p.dropped.Inc()
			p.log.Error("program output: alert dropped", "id", a.GetId(), "rule", a.GetRule(), "err", err)
		}
	}
}

func (p *Program) runOnce(line []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", p.cfg.Command)
	cmd.Stdin = bytesReader(line)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%q: %w: %s", p.cfg.Command, err, truncate(out, 512))
	}
	return nil
}

// writeKept writes to the kept-alive command, (re)starting it if needed.
func (p *Program) writeKept(line []byte) error {
	if p.cmd == nil {
		cmd := exec.Command("/bin/sh", "-c", p.cfg.Command)
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %q: %w", p.cfg.Command, err)
		}
		p.cmd, p.stdin = cmd, in
	}
	if _, err := p.stdin.Write(line); err != nil {
		p.stop()
		return fmt.Errorf("%q exited: %w", p.cfg.Command, err)
	}
	return nil
}

func (p *Program) stop() {
	if p.cmd == nil {
		return
	}
	p.stdin.Close()
	_ = p.cmd.Wait()
	p.cmd, p.stdin = nil, nil
}

// Close lets the command take what is queued, then closes its input and
// waits for it.
func (p *Program) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	<-p.done
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
