package config

import (
	"net/url"
	"strings"

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

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "_file") {
		return false // a path, not the secret
	}
	for _, s := range []string{"password", "apikey", "token", "secret", "webhookurl", "routingkey"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

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

// redactCredentials hides user:password@ in URLs.
func redactCredentials(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("REDACTED")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
