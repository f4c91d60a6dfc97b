package config

import (
	"strings"
	"time"

	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/elasticsearch"
	"github.com/harrier-security/harrier/router/internal/output/kafka"
)

func init() {
	kinds["elasticsearch"] = kind{
		enabled: func(b *block) bool { return b.str("hostport", "") != "" },
		parse:   parseElasticsearch,
		build:   func(s any) (output.Output, error) { return elasticsearch.New(s.(elasticsearch.Config)) },
		target:  extractHostPort,
	}
	kinds["kafka"] = kind{
		enabled: func(b *block) bool { return b.str("hostport", "") != "" },
		parse:   parseKafka,
		build:   func(s any) (output.Output, error) { return kafka.New(s.(kafka.Config)) },
		target:  extractHostPort,
	}
}

// ignoreSidekickKeys accepts falcosidekick keys that have no meaning here,
// so a falcosidekick configuration loads unchanged.
func ignoreSidekickKeys(b *block, keys ...string) {
	for _, k := range keys {
		b.get(k)
	}
}

func parseElasticsearch(b *block, name string, gl globalTLS) any {
	c := elasticsearch.Config{
		Name:                name,
		HostPort:            b.str("hostport", ""),
		Index:               b.str("index", "falco"),
		Type:                b.str("type", ""),
		Suffix:              elasticsearch.Suffix(b.str("suffix", "daily")),
		Username:            b.str("username", ""),
		Password:            b.secret("password"),
		APIKey:              b.secret("apikey"),
		CustomHeaders:       b.strmap("customheaders"),
		TLS:                 clientTLS(b, gl),
		Timeout:             b.duration("timeout", 30*time.Second),
		SkipTemplate:        b.boolean("skiptemplate", false),
		CompressionDisabled: !b.boolean("compression", true),
	}
	// Sharding, batching and field flattening are sidekick tunables that
	// the bulk indexer and the index template decide here.
	ignoreSidekickKeys(b, "createindextemplate", "numberofshards", "numberofreplicas", "flattenfields",
		"batching", "enablecompression", "pipeline", "maxconcurrentrequests")
	if c.HostPort == "" {
		b.errorf("hostport", "is required")
	}
	return c
}

func parseKafka(b *block, name string, gl globalTLS) any {
	c := kafka.Config{
		Name:                   name,
		HostPort:               b.str("hostport", ""),
		Topic:                  b.str("topic", ""),
		Key:                    b.str("key", ""),
		RequiredAcks:           b.str("requiredacks", "all"),
		Compression:            b.str("compression", "none"),
		Balancer:               b.str("balancer", ""),
		BatchBytes:             b.size("batchbytes", 0),
		BatchTimeout:           b.duration("batchtimeout", 0),
		Timeout:                b.duration("timeout", 0),
		ClientID:               b.str("clientid", ""),
		AllowAutoTopicCreation: b.boolean("topiccreation", false),
		SASL: kafka.SASL{
			Mechanism: b.str("sasl", ""),
			Username:  b.str("username", ""),
			Password:  b.secret("password"),
		},
	}
	if p := b.str("partitioner", ""); p != "" {
		if c.Balancer != "" && c.Balancer != p {
			b.errorf("partitioner", "conflicts with balancer %q (they are the same setting)", c.Balancer)
		}
		c.Balancer = p
	}
	tlsOn := b.boolean("tls", false)
	t := clientTLS(b, gl)
	if tlsOn || t.CertFile != "" {
		c.TLS = &t
	}
	ignoreSidekickKeys(b, "async")
	if c.HostPort == "" {
		b.errorf("hostport", "is required")
	}
	if c.Topic == "" {
		b.errorf("topic", "is required")
	}
	return c
}

func extractHostPort(settings any) string {
	switch s := settings.(type) {
	case elasticsearch.Config:
		var hosts []string
		for _, h := range strings.Split(s.HostPort, ",") {
			hosts = append(hosts, redactURL(strings.TrimSpace(h)))
		}
		return strings.Join(hosts, ",") + " index " + s.Index
	case kafka.Config:
		return s.HostPort + " topic " + s.Topic
	}
	return ""
}
