package elasticsearch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/elasticsearch"
	"github.com/harrier-security/harrier/router/internal/testpeers/espeer"
	"github.com/harrier-security/harrier/router/internal/testpeers/faultproxy"
)

func alertsAt(prefix string, n int, start time.Time, step time.Duration) []*harrierv1.Alert {
	out := make([]*harrierv1.Alert, n)
	for i := range out {
		out[i] = &harrierv1.Alert{
			Id:       fmt.Sprintf("%s-%05d", prefix, i),
			Time:     timestamppb.New(start.Add(time.Duration(i) * step)),
			Rule:     "Terminal shell in container",
			Priority: harrierv1.Priority_PRIORITY_WARNING,
			Source:   "syscall",
			Output:   fmt.Sprintf("A shell was spawned in a container (user=root proc.name=bash n=%d)", i),
			OutputFields: map[string]*harrierv1.FieldValue{
				"proc.name":                  {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}},
				"proc.pid":                   {Kind: &harrierv1.FieldValue_IntValue{IntValue: int64(1000 + i)}},
				"container.image":            {Kind: &harrierv1.FieldValue_StringValue{StringValue: "nginx:1.27"}},
				"container.image.repository": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "nginx"}},
				"k8s.ns.name":                {Kind: &harrierv1.FieldValue_NullValue{}},
			},
			Tags:     []string{"container", "shell", "mitre_execution"},
			Hostname: fmt.Sprintf("node-%d", i%3),
			SensorId: "sensor-a",
		}
	}
	return out
}

func newOutput(t testing.TB, cfg elasticsearch.Config) *elasticsearch.Output {
	t.Helper()
	o, err := elasticsearch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// eventually polls cond until it holds (ZincSearch makes documents
// searchable about a second after indexing).
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 20s: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countIs(t *testing.T, p *espeer.Peer, index string, query any, want int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("count of %s %v == %d", index, query, want), func() (bool, string) {
		n, err := p.Count(context.Background(), index, query)
		return err == nil && n == want, fmt.Sprintf("count %d, err %v", n, err)
	})
}

func TestDailyIndicesAcrossMidnight(t *testing.T) {
	peer := espeer.Start(t, espeer.Options{})
	proxy := faultproxy.New(t, peer.URL)
	o := newOutput(t, elasticsearch.Config{HostPort: proxy.URL, Index: "falco", Pipeline: "harrier-enrich", Shards: 2, Replicas: 1})
	ctx := context.Background()
	// 40 alerts 10 ms apart, straddling midnight UTC in the middle.
	midnight := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	in := alertsAt("midnight", 40, midnight.Add(-200*time.Millisecond+time.Millisecond), 10*time.Millisecond)
	if err := o.Deliver(ctx, in); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if ce := proxy.LastHeader().Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("bulk body Content-Encoding %q, want gzip", ce)
	}
	if p := proxy.LastURL().Query().Get("pipeline"); p != "harrier-enrich" {
		t.Errorf("bulk pipeline parameter %q, want harrier-enrich", p)
	}
	countIs(t, peer, "falco-2026.11.24", nil, 20)
	countIs(t, peer, "falco-2026.11.25", nil, 20)

	// Searchable with Falco's field names.
	var hits []espeer.Hit
	eventually(t, "search by _id", func() (bool, string) {
		var err error
		hits, err = peer.Search(ctx, "falco-2026.11.24", map[string]any{"term": map[string]any{"_id": in[3].Id}}, 10)
		return err == nil && len(hits) == 1, fmt.Sprintf("%d hits, %v", len(hits), err)
	})
	h := hits[0]
	if h.ID != in[3].Id || h.Index != "falco-2026.11.24" {
		t.Errorf("hit _id %q in %q, want %q in falco-2026.11.24", h.ID, h.Index, in[3].Id)
	}
	for k, want := range map[string]any{"rule": in[3].Rule, "priority": "Warning", "source": "syscall", "hostname": in[3].Hostname, "uuid": in[3].Id, "output": in[3].Output} {
		if h.Source[k] != want {
			t.Errorf("_source.%s = %v, want %v", k, h.Source[k], want)
		}
	}
	if ts, _ := h.Source["@timestamp"].(string); !strings.HasPrefix(ts, "2026-11-24T23:59:59.83") {
		t.Errorf("_source.@timestamp = %v, want the event time", h.Source["@timestamp"])
	}
	of, _ := h.Source["output_fields"].(map[string]any)
	if of["proc.name"] != "bash" || of["container.image.repository"] != "nginx" {
		t.Errorf("_source.output_fields = %v", h.Source["output_fields"])
	}
	// Output fields are queryable by their Falco names; the priority too.
	countIs(t, peer, "falco-2026.11.25", map[string]any{"term": map[string]any{"output_fields.proc.name": "bash"}}, 20)
	countIs(t, peer, "falco-2026.11.24", map[string]any{"match": map[string]any{"priority": "Warning"}}, 20)

	// The template went in before the first document.
	tpl, err := peer.Template(ctx, elasticsearch.TemplateName("falco"))
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	props := tpl["template"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)
	if props["output_fields"].(map[string]any)["type"] != "flattened" {
		t.Errorf("installed template maps output_fields as %v", props["output_fields"])
	}
	settings, _ := tpl["template"].(map[string]any)["settings"].(map[string]any)
	if settings["number_of_shards"] != 2.0 || settings["number_of_replicas"] != 1.0 {
		t.Errorf("installed template settings %v, want 2 shards and 1 replica", settings)
	}
}

// TestOutageExactlyOnce stops the peer mid-stream and restarts it; the
// failed batches are redelivered (as the pipeline does) together with
// batches that had already succeeded: every alert ends up exactly once.
func TestOutageExactlyOnce(t *testing.T) {
	peer := espeer.Start(t, espeer.Options{})
	o := newOutput(t, elasticsearch.Config{HostPort: peer.URL, Index: "outage", Suffix: elasticsearch.SuffixNone, Timeout: 3 * time.Second})
	ctx := context.Background()
	in := alertsAt("outage", 240, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), time.Second)
	var failed [][]*harrierv1.Alert
	for i := 0; i < len(in); i += 20 {
		if i == 80 {
			peer.Stop()
		}
		if i == 160 {
			peer.Restart(t)
		}
		batch := in[i : i+20]
		err := o.Deliver(ctx, batch)
		switch {
		case err == nil && i >= 80 && i < 160:
			t.Fatalf("batch at %d delivered while the peer was down", i)
		case err != nil && output.IsPermanent(err):
			t.Fatalf("outage error is permanent: %v", err)
		case err != nil:
			failed = append(failed, batch)
		}
	}
	if len(failed) != 4 {
		t.Fatalf("%d batches failed, want the 4 sent during the outage", len(failed))
	}
	// Redelivery: the failed batches, plus two that had succeeded.
	failed = append(failed, in[0:20], in[200:220])
	for _, b := range failed {
		if err := o.Deliver(ctx, b); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	}
	countIs(t, peer, "outage", nil, int64(len(in)))
	for _, a := range in {
		n, err := peer.Count(ctx, "outage", map[string]any{"term": map[string]any{"_id": a.Id}})
		if err != nil || n != 1 {
			t.Fatalf("alert %s: %d documents (%v), want exactly 1", a.Id, n, err)
		}
	}
}

// TestFailureClassification injects failures between the output and the
// peer and checks what Deliver tells the pipeline.
func TestFailureClassification(t *testing.T) {
	peer := espeer.Start(t, espeer.Options{})
	proxy := faultproxy.New(t, peer.URL)
	o := newOutput(t, elasticsearch.Config{HostPort: proxy.URL, Index: "faults", Timeout: 2 * time.Second})
	ctx := context.Background()
	start := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	if err := o.Deliver(ctx, alertsAt("warmup", 1, start, 0)); err != nil {
		t.Fatalf("warm-up: %v", err)
	}

	t.Run("whole request", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			inject    func()
			permanent bool
		}{
			{"503", func() { proxy.Fail(http.StatusServiceUnavailable, 1) }, false},
			{"429", func() { proxy.Fail(http.StatusTooManyRequests, 1) }, false},
			{"401", func() { proxy.Fail(http.StatusUnauthorized, 1) }, false},
			{"400", func() { proxy.Fail(http.StatusBadRequest, 1) }, true},
			{"connection reset", func() { proxy.Drop(1) }, false},
			{"timeout", func() { proxy.Delay(5 * time.Second) }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				defer proxy.Heal()
				tc.inject()
				err := o.Deliver(ctx, alertsAt("whole-"+tc.name, 3, start, time.Second))
				var pe *output.PartialError
				if err == nil || errors.As(err, &pe) {
					t.Fatalf("Deliver = %v, want a whole-batch error", err)
				}
				if output.IsPermanent(err) != tc.permanent {
					t.Errorf("permanent = %v, want %v: %v", output.IsPermanent(err), tc.permanent, err)
				}
			})
		}
	})

	t.Run("per item", func(t *testing.T) {
		defer proxy.Heal()
		in := alertsAt("items", 6, start, time.Second)
		proxy.Reject(in[1].Id, faultproxy.ItemReject{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [output_fields]"})
		proxy.Reject(in[3].Id, faultproxy.ItemReject{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution"})
		proxy.Reject(in[4].Id, faultproxy.ItemReject{Status: 503, Type: "unavailable_shards_exception", Reason: "primary shard is not active"})
		in[5].Time = nil // no event time: no index to put it in
		err := o.Deliver(ctx, in)
		var pe *output.PartialError
		if !errors.As(err, &pe) {
			t.Fatalf("Deliver = %v, want a PartialError", err)
		}
		want := map[int]bool{1: true, 3: false, 4: false, 5: true} // index → permanent
		if len(pe.Items) != len(want) {
			t.Fatalf("%d failed items, want %d: %v", len(pe.Items), len(want), err)
		}
		for _, it := range pe.Items {
			perm, ok := want[it.Index]
			if !ok {
				t.Errorf("item %d failed unexpectedly: %v", it.Index, it.Err)
				continue
			}
			if output.IsPermanent(it.Err) != perm {
				t.Errorf("item %d permanent = %v, want %v: %v", it.Index, !perm, perm, it.Err)
			}
		}
		if !strings.Contains(pe.Items[0].Err.Error(), "mapper_parsing_exception") {
			t.Errorf("item error lacks the reason: %v", pe.Items[0].Err)
		}
		countIs(t, peer, "faults-2026.11.24", map[string]any{"terms": map[string]any{"_id": []string{in[0].Id, in[2].Id}}}, 2)
	})

	t.Run("413 splits the batch", func(t *testing.T) {
		defer proxy.Heal()
		proxy.Fail(http.StatusRequestEntityTooLarge, 1)
		in := alertsAt("split", 8, start.Add(time.Hour), time.Second)
		before := proxy.Requests()
		if err := o.Deliver(ctx, in); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		if n := proxy.Requests() - before; n != 3 {
			t.Errorf("%d requests, want 3 (the refused one and two halves)", n)
		}
		ids := make([]string, len(in))
		for i, a := range in {
			ids[i] = a.Id
		}
		countIs(t, peer, "faults-2026.11.24", map[string]any{"terms": map[string]any{"_id": ids}}, 8)
	})
}

func TestAuthAndCustomHeaders(t *testing.T) {
	peer := espeer.Start(t, espeer.Options{User: "harrier", Password: "s3cret", APIKey: "a2V5OnNlY3JldA==", RequireHeader: "X-Tenant: soc"})
	ctx := context.Background()
	in := alertsAt("auth", 2, time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), time.Second)
	headers := map[string]string{"X-Tenant": "soc"}
	for _, tc := range []struct {
		name string
		cfg  elasticsearch.Config
		ok   bool
	}{
		{"basic", elasticsearch.Config{Username: "harrier", Password: "s3cret", CustomHeaders: headers}, true},
		{"api key", elasticsearch.Config{APIKey: "a2V5OnNlY3JldA==", CustomHeaders: headers}, true},
		{"wrong password", elasticsearch.Config{Username: "harrier", Password: "hunter2-bad", CustomHeaders: headers}, false},
		{"wrong api key", elasticsearch.Config{APIKey: "bm9wZTpub3Bl", CustomHeaders: headers}, false},
		{"missing header", elasticsearch.Config{Username: "harrier", Password: "s3cret"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.HostPort = peer.URL
			tc.cfg.Index = "auth"
			o := newOutput(t, tc.cfg)
			err := o.Deliver(ctx, in)
			if tc.ok && err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatal("Deliver succeeded")
				}
				if output.IsPermanent(err) {
					t.Errorf("auth failure is permanent (an operator fixes it; retry): %v", err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "bm9wZTpub3Bl") {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
	countIs(t, peer, "auth-2026.11.24", nil, 2)
}
