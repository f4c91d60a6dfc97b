package config

import (
	"testing"
)

func esPassword(o Output) string { return o.Settings.(Elasticsearch).Password }

func TestSidekickElasticsearchAndKafkaBlocks(t *testing.T) {
	p := write(t, `
elasticsearch:
  hostport: https://es-1:9200
  index: falco
  type: _doc
  suffix: monthly
  minimumpriority: notice
  apikey: aWQ6a2V5
  checkcert: false
  createindextemplate: true
  numberofshards: 3
  numberofreplicas: 1
  pipeline: geoip
  customheaders: {X-Org: sec}
kafka:
  hostport: 127.0.0.1:9092,127.0.0.1:9093
  topic: falco
  sasl: SCRAM_SHA512
  username: u
  password: p
  tls: true
  compression: gzip
  balancer: crc32
  requiredacks: all
  topiccreation: true
  async: false
outputs:
  kafka:
    audit: {hostport: "127.0.0.1:9092", topic: audit, key: "field:k8s.ns.name"}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	es := find(t, c, "elasticsearch").Settings.(Elasticsearch)
	if es.Shards != 3 || es.Replicas != 1 || es.Pipeline != "geoip" || es.Suffix != "monthly" || es.APIKey != "aWQ6a2V5" || !es.TLS.InsecureSkipVerify || es.CustomHeaders["x-org"] != "sec" {
		t.Fatalf("es: %+v", es)
	}
	k := find(t, c, "kafka").Settings.(Kafka)
	if k.SASL.Mechanism != "SCRAM_SHA512" || k.TLS == nil || k.Compression != "gzip" || k.Balancer != "crc32" || !k.AllowAutoTopicCreation {
		t.Fatalf("kafka: %+v", k)
	}
	if a := find(t, c, "kafka.audit").Settings.(Kafka); a.Key != "field:k8s.ns.name" || a.TLS != nil {
		t.Fatalf("kafka.audit: %+v", a)
	}
}
