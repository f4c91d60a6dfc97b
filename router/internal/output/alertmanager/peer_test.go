package alertmanager

import (
	"context"
	"strings"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/testpeers/ampeer"
)

// Against a real Alertmanager (built from its Go module by ampeer).
func TestDeliverToAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Alertmanager")
	}
	p := ampeer.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := New(Config{Name: "alertmanager", HostPort: p.URL, ExpiresAfter: time.Hour,
		LabelFields: []string{"k8s.ns.name"}, ExtraAnnotations: map[string]string{"runbook": "https://wiki/shell"}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	a, b := alert("a1", harrierv1.Priority_PRIORITY_CRITICAL), alert("b2", harrierv1.Priority_PRIORITY_WARNING)
	b.Rule = "Write below etc"
	if err := o.Deliver(ctx, []*harrierv1.Alert{a, b}); err != nil {
		t.Fatalf("deliver: %v\npeer log:\n%s", err, p.Log())
	}
	got, err := p.Alerts(ctx, `alertname="Terminal shell in container"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("alerts: %+v", got)
	}
	g := got[0]
	if g.Labels["severity"] != "critical" || g.Labels["k8s_ns_name"] != "prod" || g.Labels["hostname"] != "node-1" ||
		g.Annotations["runbook"] != "https://wiki/shell" || g.Annotations["uuid"] != "a1" || !g.StartsAt.Equal(t0) {
		t.Fatalf("alert %+v", g)
	}
	if d := time.Until(g.EndsAt); d < 50*time.Minute || d > 61*time.Minute || g.Status.State != "active" {
		t.Fatalf("endsAt %v (in %v), state %q", g.EndsAt, d, g.Status.State)
	}
	// Redelivery (after a crash) is idempotent: same labels, same alert.
	if err := o.Deliver(ctx, []*harrierv1.Alert{a}); err != nil {
		t.Fatal(err)
	}
	all, err := p.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("after redelivery: %d alerts, want 2", len(all))
	}
}

// What Alertmanager answered is in the error, and a 4xx is permanent.
func TestAlertmanagerRefusalIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Alertmanager")
	}
	p := ampeer.Start(t)
	o, err := New(Config{Name: "alertmanager", HostPort: p.URL, Endpoint: "/api/v2/alert"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a1", harrierv1.Priority_PRIORITY_ERROR)})
	if err == nil || !output.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("err = %v (permanent %v)", err, output.IsPermanent(err))
	}
}
