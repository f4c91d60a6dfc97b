package config

import (
	"strings"

	"github.com/harrier-security/harrier/proto/redact"

	"go.yaml.in/yaml/v3"
)

// Redacted is the effective configuration of the file at path (environment
// overrides applied, defaults filled in) as YAML, with every secret
// replaced: passwords, API keys, tokens, custom header values and URL
// credentials. It is what `harrier-router config show` prints.
func Redacted(path string) ([]byte, error) {
	settings, err := readSettings(path)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(redactMap(settings))
}

// isSecretKey is redact's rule (one rule for every place that prints).
func isSecretKey(k string) bool { return redact.IsSecretKey(k) }

func redactMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch {
		case isSecretKey(k):
			out[k] = redactValue(v)
		case strings.EqualFold(k, "customheaders"), strings.EqualFold(k, "headers"):
			if hm, ok := v.(map[string]any); ok {
				r := make(map[string]any, len(hm))
				for hk := range hm {
					r[hk] = "REDACTED"
				}
				out[k] = r
			} else {
				out[k] = redactValue(v)
			}
		default:
			switch x := v.(type) {
			case map[string]any:
				out[k] = redactMap(x)
			case string:
				out[k] = redactCredentials(x)
			default:
				out[k] = v
			}
		}
	}
	return out
}

func redactValue(v any) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return ""
		}
	case []any:
		if len(x) == 0 {
			return x
		}
	case nil:
		return nil
	}
	return "REDACTED"
}

// redactCredentials hides URL credentials, secret query parameters and
// bearer tokens in a value (redact's rule).
func redactCredentials(s string) string { return redact.String(s) }
