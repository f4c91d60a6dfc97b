package config

import (
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Settings of the alerting, chat, log and storage outputs (issue 18), with
// falcosidekick's key names where it has the output. Their entries in kinds
// are in integrationKinds, joined into kinds (outputs.go).

// Alertmanager is a Prometheus Alertmanager output (falcosidekick's
// alertmanager block).
type Alertmanager struct {
	Name             string
	HostPort         string
	Endpoint         string
	ExpiresAfter     time.Duration
	ExtraLabels      map[string]string
	ExtraAnnotations map[string]string
	SeverityMap      map[string]string
	LabelFields      []string
	CustomHeaders    map[string]string
	Timeout          time.Duration
	TLS              tlsconfig.Client
}

// Syslog is an RFC 5424 syslog output (falcosidekick's syslog block).
type Syslog struct {
	Name     string
	Host     string
	Port     int
	Protocol string // udp, tcp or tls
	Format   string // json or text
	Facility string
	AppName  string
	Timeout  time.Duration
	TLS      tlsconfig.Client
}

// Chat is a chat webhook output: falcosidekick's slack, mattermost, teams
// and googlechat blocks (Flavour names which).
type Chat struct {
	Name       string
	Flavour    string
	WebhookURL string
	Format     string // all, text or fields (outputformat)
	Channel    string
	Username   string
	Icon       string
	Footer     string
	Timeout    time.Duration
	TLS        tlsconfig.Client
}

// Loki is a Grafana Loki output (falcosidekick's loki block).
type Loki struct {
	Name          string
	HostPort      string
	Endpoint      string
	Tenant        string
	User          string
	APIKey        string
	LabelFields   []string // extralabels: output fields as stream labels
	Format        string
	CustomHeaders map[string]string
	Timeout       time.Duration
	TLS           tlsconfig.Client
}

// Splunk is a Splunk HTTP Event Collector output.
type Splunk struct {
	Name          string
	HostPort      string
	Endpoint      string
	Token         string
	Index         string
	Source        string
	SourceType    string
	Channel       string
	CustomHeaders map[string]string
	Timeout       time.Duration
	TLS           tlsconfig.Client
}

// PagerDuty is a PagerDuty Events API v2 output (falcosidekick's
// pagerduty block).
type PagerDuty struct {
	Name       string
	RoutingKey string
	Region     string
	URL        string
	Timeout    time.Duration
	TLS        tlsconfig.Client
}

// OTLP is an OpenTelemetry logs output (OTLP over gRPC or HTTP/protobuf).
type OTLP struct {
	Name        string
	Endpoint    string
	Protocol    string // grpc or http/protobuf
	Insecure    bool
	Headers     map[string]string
	ServiceName string
	Timeout     time.Duration
	TLS         tlsconfig.Client
}

// S3 is an S3 (or S3-compatible) output writing batched NDJSON objects.
type S3 struct {
	Name                                       string
	Bucket, Prefix, Endpoint, Region           string
	PathStyle, Gzip                            bool
	AccessKeyID, SecretAccessKey, SessionToken string
	Timeout                                    time.Duration
	TLS                                        tlsconfig.Client
}

func chatKind(flavour string) kind {
	return kind{
		enabled: func(b *block) bool { return b.str("webhookurl", "") != "" },
		parse:   func(b *block, name string, gl globalTLS) any { return parseChat(b, name, flavour, gl) },
		target:  func(s any) string { return flavour + " webhook" }, // the URL is the secret
	}
}

var integrationKinds = map[string]kind{
	"slack":      chatKind("slack"),
	"mattermost": chatKind("mattermost"),
	"teams":      chatKind("teams"),
	"googlechat": chatKind("googlechat"),
	"loki": {
		enabled: func(b *block) bool { return b.str("hostport", "") != "" },
		parse:   parseLoki,
		target:  func(s any) string { return redactURL(s.(Loki).HostPort) },
	},
	"splunk": {
		enabled: func(b *block) bool { return b.str("hostport", "") != "" },
		parse:   parseSplunk,
		target:  func(s any) string { return redactURL(s.(Splunk).HostPort) },
	},
	"otlp": {
		enabled: func(b *block) bool { return b.str("endpoint", "") != "" },
		parse:   parseOTLP,
		target:  func(s any) string { x := s.(OTLP); return x.Protocol + " " + redactURL(x.Endpoint) },
	},
	"s3": {
		enabled: func(b *block) bool { return b.str("bucket", "") != "" },
		parse:   parseS3,
		target:  func(s any) string { x := s.(S3); return "s3://" + x.Bucket + "/" + x.Prefix },
	},
	"pagerduty": {
		enabled: func(b *block) bool { return b.str("routingkey", "") != "" },
		parse:   parsePagerDuty,
		target:  func(s any) string { return "pagerduty region " + s.(PagerDuty).Region },
	},
	"syslog": {
		enabled: func(b *block) bool { return b.str("host", "") != "" },
		parse:   parseSyslog,
		target:  func(s any) string { x := s.(Syslog); return fmt.Sprintf("%s://%s:%d", x.Protocol, x.Host, x.Port) },
	},
	"alertmanager": {
		enabled: func(b *block) bool { return b.str("hostport", "") != "" },
		parse:   parseAlertmanager,
		target:  func(s any) string { return redactURL(s.(Alertmanager).HostPort) },
	},
}

// integrationEnvKeys are the falcosidekick-style environment overrides
// of the integrations (HARRIER_ROUTER_SLACK_WEBHOOKURL).
var integrationEnvKeys = func() map[string][]string {
	common := []string{"condition", "template", "minimumpriority", "mutualtls", "checkcert", "timeout"}
	m := map[string][]string{
		"alertmanager": {"hostport", "endpoint", "expiresafter", "extralabels", "extraannotations", "customseveritymap", "customheaders"},
		"syslog":       {"host", "port", "protocol", "format", "facility", "appname"},
		"slack":        {"webhookurl", "webhookurl_file", "channel", "username", "icon", "footer", "outputformat"},
		"mattermost":   {"webhookurl", "webhookurl_file", "username", "icon", "footer", "outputformat"},
		"teams":        {"webhookurl", "webhookurl_file", "outputformat"},
		"googlechat":   {"webhookurl", "webhookurl_file", "outputformat"},
		"loki":         {"hostport", "endpoint", "tenant", "user", "apikey", "apikey_file", "extralabels", "format", "customheaders"},
		"splunk":       {"hostport", "endpoint", "token", "token_file", "index", "source", "sourcetype", "channel"},
		"pagerduty":    {"routingkey", "routingkey_file", "region", "url"},
		"otlp":         {"endpoint", "protocol", "insecure", "servicename"},
		"s3":           {"bucket", "prefix", "endpoint", "region", "pathstyle", "compression", "accesskeyid", "secretaccesskey", "secretaccesskey_file", "sessiontoken"},
	}
	for k, keys := range m {
		m[k] = append(keys, common...)
	}
	return m
}()

// join merges tables of disjoint keys into a new map.
func join[V any](tables ...map[string]V) map[string]V {
	m := map[string]V{}
	for _, t := range tables {
		maps.Copy(m, t)
	}
	return m
}

// httpURL reports a key that must hold an http(s) URL.
func httpURL(b *block, key, v string, required bool) {
	if v == "" && !required {
		return
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		b.errorf(key, "%q: want an http:// or https:// URL", redactURL(v))
	}
}

func parseAlertmanager(b *block, name string, gl globalTLS) any {
	c := Alertmanager{
		Name:             name,
		HostPort:         b.str("hostport", ""),
		Endpoint:         b.str("endpoint", "/api/v2/alerts"),
		ExtraLabels:      b.strmap("extralabels"),
		ExtraAnnotations: b.strmap("extraannotations"),
		SeverityMap:      b.strmap("customseveritymap"),
		LabelFields:      b.list("labelfields"),
		CustomHeaders:    b.strmap("customheaders"),
		Timeout:          b.duration("timeout", 10*time.Second),
		TLS:              clientTLS(b, gl),
	}
	// falcosidekick gives expiresafter in seconds; a duration string works too.
	if v, ok := b.get("expiresafter"); ok {
		switch x := v.(type) {
		case int:
			c.ExpiresAfter = time.Duration(x) * time.Second
		default:
			c.ExpiresAfter = b.duration("expiresafter", 0)
		}
		if c.ExpiresAfter < 0 {
			b.errorf("expiresafter", "must not be negative")
		}
	}
	// Dropping events by priority is the filter's job here (minimumpriority).
	ignoreSidekickKeys(b, "dropeventdefaultpriority", "dropeventthresholds")
	httpURL(b, "hostport", c.HostPort, true)
	if c.Endpoint == "/api/v1/alerts" {
		b.errorf("endpoint", "the alerts API v1 left Alertmanager in 0.27; use /api/v2/alerts")
	}
	for k := range c.SeverityMap {
		if _, err := harrierv1.ParsePriority(k); err != nil {
			b.errorf("customseveritymap", "%q is not a Falco priority", k)
		}
	}
	return c
}

func parseSyslog(b *block, name string, gl globalTLS) any {
	c := Syslog{
		Name:     name,
		Host:     b.str("host", ""),
		Port:     b.integer("port", 514),
		Protocol: b.oneOf("protocol", "udp", "udp", "tcp", "tls"),
		Format:   b.str("format", "json"),
		Facility: b.str("facility", "local0"),
		AppName:  b.str("appname", "harrier"),
		Timeout:  b.duration("timeout", 10*time.Second),
		TLS:      clientTLS(b, gl),
	}
	if c.Host == "" {
		b.errorf("host", "is required")
	}
	if c.Port <= 0 || c.Port > 65535 {
		b.errorf("port", "%d: want 1-65535", c.Port)
	}
	switch c.Format {
	case "json", "text":
	case "cef":
		b.errorf("format", "cef is not supported; use json or text")
	default:
		b.errorf("format", "%q: want json or text", c.Format)
	}
	return c
}

func parseChat(b *block, name, flavour string, gl globalTLS) any {
	c := Chat{
		Name:       name,
		Flavour:    flavour,
		WebhookURL: b.secret("webhookurl"),
		Format:     b.oneOf("outputformat", "all", "all", "text", "fields"),
		Timeout:    b.duration("timeout", 10*time.Second),
		TLS:        clientTLS(b, gl),
	}
	if flavour == "slack" || flavour == "mattermost" {
		c.Username, c.Icon, c.Footer = b.str("username", "Harrier"), b.str("icon", ""), b.str("footer", "")
	}
	if flavour == "slack" {
		c.Channel = b.str("channel", "")
	}
	if flavour == "teams" {
		ignoreSidekickKeys(b, "activityimage") // Adaptive Cards have no activity image
	}
	httpURL(b, "webhookurl", c.WebhookURL, true)
	return c
}

func parseLoki(b *block, name string, gl globalTLS) any {
	c := Loki{
		Name:          name,
		HostPort:      b.str("hostport", ""),
		Endpoint:      b.str("endpoint", "/loki/api/v1/push"),
		Tenant:        b.str("tenant", ""),
		User:          b.str("user", ""),
		APIKey:        b.secret("apikey"),
		LabelFields:   b.list("extralabels"),
		Format:        b.oneOf("format", "json", "json", "text"),
		CustomHeaders: b.strmap("customheaders"),
		Timeout:       b.duration("timeout", 10*time.Second),
		TLS:           clientTLS(b, gl),
	}
	httpURL(b, "hostport", c.HostPort, true)
	if c.APIKey != "" && c.User == "" {
		b.errorf("apikey", "needs user (basic auth)")
	}
	return c
}

func parseSplunk(b *block, name string, gl globalTLS) any {
	c := Splunk{
		Name:          name,
		HostPort:      b.str("hostport", ""),
		Endpoint:      b.str("endpoint", "/services/collector/event"),
		Token:         b.secret("token"),
		Index:         b.str("index", ""),
		Source:        b.str("source", "harrier"),
		SourceType:    b.str("sourcetype", "falco"),
		Channel:       b.str("channel", ""),
		CustomHeaders: b.strmap("customheaders"),
		Timeout:       b.duration("timeout", 10*time.Second),
		TLS:           clientTLS(b, gl),
	}
	httpURL(b, "hostport", c.HostPort, true)
	if c.Token == "" {
		b.errorf("token", "is required (the HEC token)")
	}
	return c
}

func parsePagerDuty(b *block, name string, gl globalTLS) any {
	c := PagerDuty{
		Name:       name,
		RoutingKey: b.secret("routingkey"),
		Region:     b.oneOf("region", "us", "us", "eu"),
		URL:        b.str("url", ""),
		Timeout:    b.duration("timeout", 10*time.Second),
		TLS:        clientTLS(b, gl),
	}
	if len(c.RoutingKey) != 32 {
		b.errorf("routingkey", "want the 32-character integration key of an Events API v2 integration")
	}
	httpURL(b, "url", c.URL, false)
	return c
}

func parseOTLP(b *block, name string, gl globalTLS) any {
	c := OTLP{
		Name:        name,
		Endpoint:    b.str("endpoint", ""),
		Protocol:    b.str("protocol", "grpc"),
		Insecure:    b.boolean("insecure", false),
		Headers:     b.strmap("headers"),
		ServiceName: b.str("servicename", "harrier"),
		Timeout:     b.duration("timeout", 10*time.Second),
		TLS:         clientTLS(b, gl),
	}
	switch c.Protocol {
	case "grpc":
		if c.Endpoint == "" || strings.Contains(c.Endpoint, "://") {
			b.errorf("endpoint", "%q: want host:port for grpc", c.Endpoint)
		}
	case "http/protobuf":
		httpURL(b, "endpoint", c.Endpoint, true)
	default:
		b.errorf("protocol", "%q: want grpc or http/protobuf", c.Protocol)
	}
	return c
}

func parseS3(b *block, name string, gl globalTLS) any {
	c := S3{
		Name:            name,
		Bucket:          b.str("bucket", ""),
		Prefix:          b.str("prefix", "falco"),
		Endpoint:        b.str("endpoint", ""),
		Region:          b.str("region", ""),
		PathStyle:       b.boolean("pathstyle", false),
		Gzip:            b.oneOf("compression", "gzip", "gzip", "none") == "gzip",
		AccessKeyID:     b.str("accesskeyid", ""),
		SecretAccessKey: b.secret("secretaccesskey"),
		SessionToken:    b.secret("sessiontoken"),
		Timeout:         b.duration("timeout", 30*time.Second),
		TLS:             clientTLS(b, gl),
	}
	if c.Bucket == "" {
		b.errorf("bucket", "is required")
	}
	httpURL(b, "endpoint", c.Endpoint, false)
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		b.errorf("accesskeyid", "accesskeyid and secretaccesskey must be set together")
	}
	return c
}
