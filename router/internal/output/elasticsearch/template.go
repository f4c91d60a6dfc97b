package elasticsearch

import (
	"encoding/json"
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
	b, _ := json.Marshal(template(c.Index, c.Suffix, c.Shards, c.Replicas)) // maps of plain values always encode
	return b
}
