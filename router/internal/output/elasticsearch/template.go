package elasticsearch

import (
	"encoding/json"
	"github.com/harrier-security/harrier/router/internal/alertformat"
	"strings"
)

// Template returns the composable index template (PUT _index_template)
// installed for index with suffix. Its explicit mappings keep Falco's
// field names:
//
//   - rule, priority, source, hostname, tags, uuid, sensor_id and
//     ruleset_version are keyword (exact match, aggregations);
//   - @timestamp is date (Kibana's default time field), time, first_time
//     and last_time are date_nanos (Falco's nanosecond event time);
//   - output is text;
//   - output_fields is flattened: every leaf is indexed as a keyword under
//     its Falco name (output_fields.proc.name), whatever its JSON type.
//
// flattened is what makes output fields unable to cause mapping
// conflicts: with dynamic mapping the first document decides a field's
// type (proc.pid as long rejects a later "<NA>"), and Falco names such as
// container.image next to container.image.repository make one path both a
// value and an object, which Elasticsearch rejects. A flattened field has
// one mapping for any keys and values, so no alert can be refused for its
// output fields, and KQL such as output_fields.proc.name : "bash" still
// works. Values longer than 8191 bytes stay in _source but are not
// indexed (a keyword term is limited to 32766 bytes).
func Template(index string, suffix Suffix) map[string]any {
	return template(index, suffix, 0, 0)
}

func template(index string, suffix Suffix, shards, replicas int) map[string]any {
	pattern := index + "-*"
	if suffix == SuffixNone {
		pattern = index
	}
	kw := map[string]any{"type": "keyword", "ignore_above": 1024}
	nanos := map[string]any{"type": "date_nanos"}
	settings := map[string]any{}
	if shards > 0 {
		settings["number_of_shards"] = shards
	}
	if replicas > 0 {
		settings["number_of_replicas"] = replicas
	}
	tpl := map[string]any{
		"index_patterns": []string{pattern},
		// Above the built-in templates' 100 so ours wins for its pattern.
		"priority": 200,
		"template": map[string]any{
			"mappings": map[string]any{
				"properties": map[string]any{
					TimestampField:    map[string]any{"type": "date"},
					"time":            nanos,
					"first_time":      nanos,
					"last_time":       nanos,
					"uuid":            kw,
					"rule":            kw,
					"priority":        kw,
					"source":          kw,
					"hostname":        kw,
					"tags":            kw,
					"sensor_id":       kw,
					"cluster_name":    kw,
					"ruleset_version": kw,
					"output":          map[string]any{"type": "text"},
					"count":           map[string]any{"type": "long"},
					"output_fields":   map[string]any{"type": "flattened", "ignore_above": 8191},
				},
			},
		},
		"_meta": map[string]any{"managed_by": "harrier-router", "description": "Falco-format alerts from Harrier"},
	}
	if len(settings) > 0 {
		tpl["template"].(map[string]any)["settings"] = settings
	}
	return tpl
}

// TemplateName is the name the template for index is installed under.
func TemplateName(index string) string { return "harrier-" + strings.TrimSuffix(index, "-") }

// templateJSON is the template for c encoded.
func templateJSON(c Config) []byte {
	tpl := template(c.Index, c.Suffix, c.Shards, c.Replicas)
	if c.Format == alertformat.ECS || c.Format == alertformat.OCSF {
		formatMappings(tpl, c.Format)
	}
	b, _ := json.Marshal(tpl) // maps of plain values always encode
	return b
}

// formatMappings replaces the Falco mappings of tpl with those of an ECS
// or OCSF document: the few fields searched exactly as keywords, times as
// dates, and Falco's output fields (kept whole under harrier.output_fields
// or unmapped.output_fields) flattened, for the same reason as in the
// Falco layout: no output field can cause a mapping conflict.
func formatMappings(tpl map[string]any, format string) {
	kw := map[string]any{"type": "keyword", "ignore_above": 1024}
	flat := map[string]any{"type": "flattened", "ignore_above": 8191}
	obj := func(props map[string]any) map[string]any { return map[string]any{"properties": props} }
	var props map[string]any
	if format == alertformat.ECS {
		props = map[string]any{
			TimestampField: map[string]any{"type": "date_nanos"},
			"message":      map[string]any{"type": "text"},
			"tags":         kw,
			"event":        obj(map[string]any{"id": kw, "kind": kw, "provider": kw, "severity": map[string]any{"type": "long"}}),
			"rule":         obj(map[string]any{"name": kw}),
			"host":         obj(map[string]any{"name": kw, "hostname": kw}),
			"harrier":      obj(map[string]any{"priority": kw, "output_fields": flat}),
		}
	} else {
		props = map[string]any{
			"time":         map[string]any{"type": "date", "format": "epoch_millis"},
			"message":      map[string]any{"type": "text"},
			"severity_id":  map[string]any{"type": "integer"},
			"finding_info": obj(map[string]any{"uid": kw, "title": kw, "types": kw}),
			"device":       obj(map[string]any{"hostname": kw}),
			"unmapped":     obj(map[string]any{"priority": kw, "output_fields": flat}),
		}
	}
	inner := tpl["template"].(map[string]any)
	inner["mappings"] = map[string]any{"properties": props}
	tpl["_meta"] = map[string]any{"managed_by": "harrier-router", "description": format + "-format alerts from Harrier"}
}
