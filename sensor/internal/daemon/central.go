package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/durablefile"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
)

// centralState is what the sensor tells the router about its rules.
type centralState struct {
	mu       sync.Mutex
	revision uint64 // central revision running; 0: local files
	since    time.Time
	lastErr  string
	refused  uint64
	// for events/s between reports
	lastEvents float64
	lastAt     time.Time
}

// readCache returns the cached central ruleset (nil when there is none).
func readCache(path string) (*harrierv1.Ruleset, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rules.central_cache: %w", err)
	}
	rs := &harrierv1.Ruleset{}
	if err := proto.Unmarshal(data, rs); err != nil {
		return nil, fmt.Errorf("rules.central_cache %s: %w", path, err)
	}
	return rs, nil
}

// writeCache stores rs durably: temporary file, fsync, rename, fsync dir.
func writeCache(path string, rs *harrierv1.Ruleset) error {
	data, err := proto.Marshal(rs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return durablefile.Write(path, data, 0o600)
}

func centralFiles(rs *harrierv1.Ruleset) []rules.File {
	out := make([]rules.File, len(rs.GetFiles()))
	for i, f := range rs.GetFiles() {
		out[i] = rules.File{Name: f.GetName(), Data: f.GetContent()}
	}
	return out
}

// compileCentral compiles a central ruleset as the router did and checks
// that the result is the set the router validated.
func (d *Daemon) compileCentral(c *harrierv1.Ruleset) (*rules.Ruleset, error) {
	rs, err := d.compile(centralFiles(c), fmt.Sprintf("central revision %d", c.GetRevision()))
	if err != nil {
		return nil, err
	}
	if c.GetDigest() != "" && rs.Version() != c.GetDigest() {
		return nil, fmt.Errorf("central revision %d: digest %s, the router said %s", c.GetRevision(), rs.Version(), c.GetDigest())
	}
	return rs, nil
}

// Apply installs a central ruleset the router sent, without a restart:
// compiled and checked here again, cached on disk, then swapped in like a
// reload (process table and sources untouched). A refusal keeps the running
// rules and is reported to the router.
func (d *Daemon) Apply(c *harrierv1.Ruleset) {
	if !d.cfg.Rules.Central {
		d.log.Warn("the router sent a ruleset but rules.central is off; ignored", "revision", c.GetRevision())
		return
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	err := d.applyCentral(c)
	st := &d.central
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil {
		d.m.reloads.WithLabelValues("failed").Inc()
		st.lastErr, st.refused = err.Error(), c.GetRevision()
		d.log.Error("central ruleset refused; the running rules stay", "revision", c.GetRevision(), "err", err)
		return
	}
	d.m.reloads.WithLabelValues("ok").Inc()
	st.revision, st.since, st.lastErr, st.refused = c.GetRevision(), time.Now(), "", 0
	d.log.Info("central ruleset applied", "revision", c.GetRevision(), "ruleset", c.GetDigest(), "rules", len(d.Ruleset().Rules()))
}

func (d *Daemon) applyCentral(c *harrierv1.Ruleset) error {
	rs, err := d.compileCentral(c)
	if err != nil {
		return err
	}
	if d.sys != nil {
		if err := d.sys.setInterest(rs); err != nil {
			return err
		}
	}
	// Cached before it runs: a crash right after still restarts on it.
	if err := writeCache(d.cfg.Rules.CentralCache, c); err != nil {
		return fmt.Errorf("rules.central_cache: %w", err)
	}
	d.install(rs)
	if d.fan != nil {
		d.fan.Reopen()
	}
	return nil
}

// Report describes the sensor for the router's fleet view.
func (d *Daemon) Report() *harrierv1.SensorReport {
	rep := &harrierv1.SensorReport{
		SensorId: d.cfg.SensorID, Hostname: d.cfg.Hostname, SensorVersion: d.version,
		CentralRules: d.cfg.Rules.Central, RulesetVersion: d.Ruleset().Version(),
	}
	var events, drops, alerts float64
	if mfs, err := d.reg.Gather(); err == nil {
		for _, mf := range mfs {
			switch mf.GetName() {
			case "harrier_sensor_events_evaluated_total":
				events = sum(mf)
			case "harrier_sensor_alerts_total":
				alerts = sum(mf)
			case "harrier_sensor_events_dropped_total", "harrier_sensor_spool_dropped_total",
				"harrier_sensor_http_output_dropped_total":
				drops += sum(mf)
			}
		}
	}
	rep.Drops, rep.Alerts = uint64(drops), uint64(alerts)
	if d.sp != nil {
		rep.SpoolDepth = uint64(d.sp.Len())
	}
	st := &d.central
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	if !st.lastAt.IsZero() && now.Sub(st.lastAt) > 0 {
		rep.EventsPerSecond = (events - st.lastEvents) / now.Sub(st.lastAt).Seconds()
	}
	st.lastEvents, st.lastAt = events, now
	rep.RulesetRevision, rep.LastError, rep.RefusedRevision = st.revision, st.lastErr, st.refused
	if !st.since.IsZero() {
		rep.RulesetSince = timestamppb.New(st.since)
	}
	return rep
}

func sum(mf *dto.MetricFamily) float64 {
	var t float64
	for _, m := range mf.GetMetric() {
		if c := m.GetCounter(); c != nil {
			t += c.GetValue()
		} else if g := m.GetGauge(); g != nil {
			t += g.GetValue()
		}
	}
	return t
}
