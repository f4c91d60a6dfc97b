package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	defaultrules "github.com/harrier-security/harrier/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/alertfmt"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
)

// rulesFiles expands the configured files and directories (a directory's
// *.yaml and *.yml, by name) in order.
func rulesFiles(paths []string) ([]string, error) {
	out, err := rules.ExpandPaths(paths)
	if err != nil {
		return nil, fmt.Errorf("rules.files: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rules.files: no rules files in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

// builtinPrefix names the embedded default rules files in diagnostics.
const builtinPrefix = "(built-in)/"

// ruleSources reads the configured rules files, or Harrier's default rules
// built into the binary when none are configured.
func ruleSources(paths []string) ([]rules.File, error) {
	if len(paths) == 0 {
		var out []rules.File
		for _, f := range defaultrules.Files() {
			out = append(out, rules.File{Name: builtinPrefix + f.Name, Data: f.Data})
		}
		return out, nil
	}
	names, err := rulesFiles(paths)
	if err != nil {
		return nil, err
	}
	out := make([]rules.File, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("rules.files: %w", err)
		}
		out = append(out, rules.File{Name: n, Data: data})
	}
	return out, nil
}

// loadRules loads, compiles and selects the rules in effect: the cached
// central ruleset when the sensor opted in and has one, else the
// configured files (Harrier's built-in rules when none are configured).
func (d *Daemon) loadRules() (*rules.Ruleset, error) {
	rc := d.cfg.Rules
	if rc.Central {
		c, err := readCache(rc.CentralCache)
		switch {
		case err != nil:
			d.log.Error("central ruleset cache unreadable; using the local rules files", "err", err)
		case c != nil:
			rs, err := d.compileCentral(c)
			if err == nil {
				d.central.mu.Lock()
				if d.central.revision != c.GetRevision() {
					d.central.revision, d.central.since = c.GetRevision(), time.Now()
				}
				d.central.mu.Unlock()
				return rs, nil
			}
			d.log.Error("cached central ruleset does not load; using the local rules files", "err", err)
		}
		d.central.mu.Lock()
		d.central.revision = 0
		d.central.mu.Unlock()
	}
	src, err := ruleSources(rc.Files)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(src))
	for i, f := range src {
		names[i] = f.Name
	}
	if len(rc.Files) == 0 {
		d.log.Info("no rules files configured (rules.files): using Harrier's default rules built into this binary", "files", names)
	}
	return d.compile(src, strings.Join(names, ", "))
}

// compile compiles rules files and applies the configured selection; what
// names them in logs.
func (d *Daemon) compile(files []rules.File, what string) (*rules.Ruleset, error) {
	rc := d.cfg.Rules
	m, err := rules.ParseMatching(rc.RuleMatching)
	if err != nil {
		return nil, fmt.Errorf("rules.rule_matching: %w", err)
	}
	rs, diags, err := rules.Load(files, rules.Options{Registries: d.regs, Matching: m})
	for _, w := range diags.Warnings() {
		d.log.Debug("rules warning", "at", w.String())
	}
	if err != nil {
		var le *rules.LoadError
		if errors.As(err, &le) {
			for _, e := range le.Diagnostics.Errors() {
				d.log.Error("rules error", "at", e.String())
			}
		}
		return nil, fmt.Errorf("loading rules: %w", err)
	}
	sel := rules.Selection{}
	if p, err := harrierv1.ParsePriority(rc.Priority); err == nil {
		sel.MinPriority = p
	}
	for _, s := range rc.Select {
		op := rules.SelectOp{Enable: s.Enable != nil}
		mt := s.Enable
		if mt == nil {
			mt = s.Disable
		}
		op.Rule, op.Tag = mt.Rule, mt.Tag
		sel.Ops = append(sel.Ops, op)
	}
	if len(sel.Ops) > 0 || sel.MinPriority != harrierv1.Priority_PRIORITY_UNSPECIFIED {
		if rs, err = rs.Select(sel); err != nil {
			return nil, fmt.Errorf("rules.select: %w", err)
		}
	}
	if enabledRules(rs) == 0 {
		d.log.Warn("no rule is enabled; the sensor will raise no alerts", "files", what)
	}
	return rs, nil
}

func enabledRules(rs *rules.Ruleset) int {
	n := 0
	for _, r := range rs.Rules() {
		if r.Enabled {
			n++
		}
	}
	return n
}

// checkLoss refuses a reload that would leave no enabled rule or remove
// more than rules.reload_max_loss of the enabled ones (a truncated or
// emptied rules file must not blind the host), unless rules.reload_force.
func (d *Daemon) checkLoss(old, rs *rules.Ruleset) error {
	rc := d.cfg.Rules
	if rc.ReloadForce {
		return nil
	}
	before, after := enabledRules(old), enabledRules(rs)
	if after == 0 && before > 0 {
		return fmt.Errorf("the new rules enable no rule (%d enabled now)", before)
	}
	if before > 0 && after < before {
		if lost := float64(before-after) / float64(before); lost > rc.ReloadMaxLoss {
			return fmt.Errorf("the new rules enable %d rules instead of %d: %.0f%% fewer, over rules.reload_max_loss (%.0f%%)",
				after, before, lost*100, rc.ReloadMaxLoss*100)
		}
	}
	return nil
}

// install makes rs the ruleset in use.
func (d *Daemon) install(rs *rules.Ruleset) {
	b := &alertfmt.Builder{Hostname: d.cfg.Hostname, SensorID: d.cfg.SensorID, RulesetVersion: rs.Version(),
		ISO8601: d.cfg.Outputs.TimeFormatISO8601, ClusterName: d.cfg.ClusterName, Appends: d.appends}
	d.cur.Store(&active{rs: rs, builder: b})
	d.m.rulesEnabled.Set(float64(enabledRules(rs)))
	d.m.rulesetInfo.Reset()
	d.m.rulesetInfo.WithLabelValues(rs.Version()).Set(1)
}

// Reload loads the rules again and swaps them in when they load; on error
// the running ruleset stays and the error is returned (and logged).
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	rs, err := d.loadRules()
	if err != nil {
		d.m.reloads.WithLabelValues("failed").Inc()
		d.log.Error("rules reload failed; the previous rules stay in use", "err", err)
		return err
	}
	old := d.cur.Load().rs
	if err := d.checkLoss(old, rs); err != nil {
		d.m.reloads.WithLabelValues("refused").Inc()
		d.log.Warn("rules reload refused; the previous rules stay in use (set rules.reload_force to apply it)", "err", err)
		return err
	}
	if d.sys != nil {
		if err := d.sys.setInterest(rs); err != nil {
			d.m.reloads.WithLabelValues("failed").Inc()
			d.log.Error("rules reload failed; the previous rules stay in use", "err", err)
			return err
		}
	}
	d.install(rs)
	if d.fan != nil {
		d.fan.Reopen()
	}
	d.m.reloads.WithLabelValues("ok").Inc()
	d.log.Info("rules reloaded", "ruleset", rs.Version(), "previous", old.Version(), "rules", len(rs.Rules()))
	return nil
}

// watchRules reloads when a rules file or directory changes. Editors and
// config management replace files by rename, so the parent directories are
// watched and events filtered by name; bursts are folded by a short delay.
func (d *Daemon) watchRules(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Error("cannot watch the rules files; reload with SIGHUP", "err", err)
		return
	}
	defer w.Close()
	watched := map[string]bool{} // paths that matter
	dirs := map[string]bool{}    // the directories watched for them
	for _, p := range d.cfg.Rules.Files {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		watched[abs] = true
		dir := abs
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			dir = filepath.Dir(abs)
		}
		dirs[dir] = true
		if err := w.Add(dir); err != nil {
			d.log.Warn("cannot watch rules path; reload with SIGHUP", "path", dir, "err", err)
		}
	}
	relevant := func(name string) bool {
		abs, _ := filepath.Abs(name)
		// Kubernetes updates a mounted ConfigMap by swapping the "..data"
		// symlink to a new "..<timestamp>" directory: the rules files keep
		// their names and only these entries change.
		if dirs[filepath.Dir(abs)] && strings.HasPrefix(filepath.Base(abs), "..") {
			return true
		}
		if watched[abs] || watched[filepath.Dir(abs)] {
			ext := filepath.Ext(abs)
			return watched[abs] || ext == ".yaml" || ext == ".yml"
		}
		return false
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || !relevant(ev.Name) {
				continue
			}
			if timer == nil {
				timer = time.AfterFunc(200*time.Millisecond, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			} else {
				timer.Reset(200 * time.Millisecond)
			}
		case <-fire:
			d.log.Info("rules files changed; reloading")
			_ = d.Reload()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			d.log.Warn("rules watcher", "err", err)
		}
	}
}
