package sensorproc

import (
	"strings"
	"testing"
)

// script stands in for the sensor: a real process that logs its running
// line as JSON, writes to stdout and exits cleanly on SIGTERM.
const script = `trap 'echo '"'"'{"msg":"stopping"}'"'"' >&2; exit 0' TERM
echo alert-line
echo "{\"msg\":\"harrier-sensor running\",\"k8s_audit\":\"127.0.0.1:1\",\"host\":\"$HARRIER_HOSTNAME\"}" >&2
while :; do sleep 0.02; done`

func TestStartStopKill(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(t *testing.T, p *Proc)
	}{
		{"stop", func(t *testing.T, p *Proc) {
			p.Stop(t)
			if !strings.Contains(p.Logs(), `"msg":"stopping"`) {
				t.Fatalf("no log line of the clean stop:\n%s", p.Logs())
			}
		}},
		{"kill", func(t *testing.T, p *Proc) { p.Kill(t) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, running := Start(t, "/bin/sh", "node-a", "-c", script)
			if running["k8s_audit"] != "127.0.0.1:1" || running["host"] != "node-a" {
				t.Fatalf("running line %v", running)
			}
			if p.Pid() <= 0 {
				t.Fatalf("pid %d", p.Pid())
			}
			c.end(t, p)
			if !strings.Contains(p.Stdout(), "alert-line") {
				t.Fatalf("stdout %q", p.Stdout())
			}
			select {
			case <-p.done:
			default:
				t.Fatal("still running")
			}
		})
	}
}
