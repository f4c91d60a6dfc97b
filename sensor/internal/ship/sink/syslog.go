package sink

import (
	"fmt"
	"log/slog"
	"log/syslog"
	"sync"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Syslog writes alerts to the local syslog daemon (facility user, tag
// "harrier-sensor", severity from the rule's priority), as Falco's
// syslog_output. Without a syslog daemon (no /dev/log) alerts to this
// output are counted as failed, and the outage is logged once, not per
// alert; the connection is retried at most every RetryEvery.
type Syslog struct {
	format Format
	log    *slog.Logger
	dial   func() (*syslog.Writer, error)

	mu       sync.Mutex
	w        *syslog.Writer
	down     bool
	lastTry  time.Time
	retryGap time.Duration
}

// NewSyslog returns a syslog sink; network and addr are log/syslog's Dial
// arguments ("" and "" for the local daemon).
func NewSyslog(network, addr string, f Format, log *slog.Logger) *Syslog {
	if log == nil {
		log = slog.Default()
	}
	return &Syslog{
		format: f, log: log.With("output", "syslog"), retryGap: 10 * time.Second,
		dial: func() (*syslog.Writer, error) {
			return syslog.Dial(network, addr, syslog.LOG_USER|syslog.LOG_INFO, "harrier-sensor")
		},
	}
}

func (s *Syslog) Name() string { return "syslog" }

func (s *Syslog) Send(a *harrierv1.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		if s.down && time.Since(s.lastTry) < s.retryGap {
			return ErrUnavailable
		}
		s.lastTry = time.Now()
		w, err := s.dial()
		if err != nil {
			if !s.down {
				s.log.Warn("syslog is unavailable; alerts to this output are counted as failed until it is back", "err", err)
			}
			s.down = true
			return ErrUnavailable
		}
		if s.down {
			s.log.Info("syslog is back")
		}
		s.w, s.down = w, false
	}
	b, err := s.format.Append(nil, a)
	if err != nil {
		return err
	}
	if err := severity(s.w, a.GetPriority())(string(b)); err != nil {
		s.w.Close()
		s.w = nil
		return fmt.Errorf("syslog: %w", err)
	}
	return nil
}

// severity maps Falco's priorities onto syslog's, which they are named
// after.
func severity(w *syslog.Writer, p harrierv1.Priority) func(string) error {
	switch p {
	case harrierv1.Priority_PRIORITY_EMERGENCY:
		return w.Emerg
	case harrierv1.Priority_PRIORITY_ALERT:
		return w.Alert
	case harrierv1.Priority_PRIORITY_CRITICAL:
		return w.Crit
	case harrierv1.Priority_PRIORITY_ERROR:
		return w.Err
	case harrierv1.Priority_PRIORITY_WARNING:
		return w.Warning
	case harrierv1.Priority_PRIORITY_NOTICE:
		return w.Notice
	case harrierv1.Priority_PRIORITY_DEBUG:
		return w.Debug
	}
	return w.Info
}

func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w = nil
	return err
}
