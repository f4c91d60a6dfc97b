package elasticsearch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/alertformat"
	"github.com/harrier-security/harrier/router/internal/output/elasticsearch"
	"github.com/harrier-security/harrier/router/internal/testpeers/espeer"
)

// format: ecs and ocsf index those documents (ZincSearch behind the
// Elasticsearch facade), with the template of that format.
func TestFormatsIndexed(t *testing.T) {
	peer := espeer.Start(t, espeer.Options{})
	ctx := context.Background()
	day := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		format string
		want   map[string]any // top-level members of _source
		nested func(src map[string]any) bool
	}{
		{alertformat.ECS, map[string]any{"message": "A shell was spawned in a container (user=root proc.name=bash n=2)"},
			func(s map[string]any) bool {
				ev, _ := s["event"].(map[string]any)
				rule, _ := s["rule"].(map[string]any)
				h, _ := s["harrier"].(map[string]any)
				of, _ := h["output_fields"].(map[string]any)
				return ev["kind"] == "alert" && rule["name"] == "Terminal shell in container" && of["container.image.repository"] == "nginx"
			}},
		{alertformat.OCSF, map[string]any{"class_uid": 2004.0, "severity_id": 3.0, "severity": "Medium"},
			func(s map[string]any) bool {
				fi, _ := s["finding_info"].(map[string]any)
				dev, _ := s["device"].(map[string]any)
				return fi["title"] == "Terminal shell in container" && dev["hostname"] == "node-2"
			}},
	} {
		index := "falco-" + tc.format
		o := newOutput(t, elasticsearch.Config{HostPort: peer.URL, Index: index, Format: tc.format})
		in := alertsAt(tc.format, 5, day, time.Second)
		if err := o.Deliver(ctx, in); err != nil {
			t.Fatalf("%s: Deliver: %v", tc.format, err)
		}
		name := index + "-2026.11.24"
		countIs(t, peer, name, nil, 5)
		var hits []espeer.Hit
		eventually(t, tc.format+" document by _id", func() (bool, string) {
			var err error
			hits, err = peer.Search(ctx, name, map[string]any{"term": map[string]any{"_id": in[2].Id}}, 10)
			return err == nil && len(hits) == 1, fmt.Sprintf("%d hits, %v", len(hits), err)
		})
		src := hits[0].Source
		for k, v := range tc.want {
			if src[k] != v {
				t.Errorf("%s: _source.%s = %v, want %v", tc.format, k, src[k], v)
			}
		}
		if !tc.nested(src) {
			t.Errorf("%s: _source %v", tc.format, src)
		}
		tpl, err := peer.Template(ctx, elasticsearch.TemplateName(index))
		if err != nil {
			t.Fatalf("%s: template: %v", tc.format, err)
		}
		meta, _ := tpl["_meta"].(map[string]any)
		if meta["description"] != tc.format+"-format alerts from Harrier" {
			t.Errorf("%s: template _meta %v", tc.format, tpl["_meta"])
		}
	}
}
