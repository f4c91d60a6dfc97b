package sink

var httpSinkBenchConfigs = []struct {
	name string
	cfg  HTTPConfig
}{
	{"one-per-request", HTTPConfig{}},
	{"one-per-request,concurrency=4", HTTPConfig{Concurrency: 4}},
	{"ndjson", HTTPConfig{Batch: BatchNDJSON}},
	{"array", HTTPConfig{Batch: BatchArray}},
	{"ndjson,gzip", HTTPConfig{Batch: BatchNDJSON, Compress: true}},
}
