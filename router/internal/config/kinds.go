package config

import (
	"path/filepath"
	"sort"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/delivery"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/file"
	"github.com/harrier-security/harrier/router/internal/output/stdout"
	"github.com/harrier-security/harrier/router/internal/output/webhook"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// kind maps one output kind's configuration block onto its integration.
// Adding an integration is one entry here plus its parse function.
type kind struct {
	// enabled says whether a falcosidekick-style top-level block turns the
	// output on (falcosidekick enables an output when its address is set).
	enabled func(b *block) bool
	// parse reads the kind's own keys (the common ones are done already)
	// and validates them; errors go to b.
	parse func(b *block, name string, gl globalTLS) any
	// build constructs the output from parse's result.
	build func(settings any) (output.Output, error)
	// target names the destination for logs, without secrets.
	target func(settings any) string
}

var kinds = map[string]kind{
	"webhook": {
		enabled: func(b *block) bool { return b.str("address", "") != "" },
		parse:   parseWebhook,
		build:   func(s any) (output.Output, error) { return webhook.New(s.(webhook.Config)) },
		target:  func(s any) string { return redactURL(s.(webhook.Config).Address) },
	},
	"file": {
		enabled: func(b *block) bool { return b.str("path", "") != "" },
		parse:   parseFile,
		build:   func(s any) (output.Output, error) { return file.New(s.(file.Config)) },
		target:  func(s any) string { return s.(file.Config).Path },
	},
	"stdout": {
		enabled: func(b *block) bool { return b.boolean("enabled", false) },
		parse:   parseStdout,
		build:   func(s any) (output.Output, error) { return stdout.New(s.(stdout.Config)) },
	},
}

func kindNames() []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// globalTLS holds falcosidekick's top-level client TLS settings, used by
// outputs with mutualtls: true.
type globalTLS struct {
	filesPath                 string // mutualtlsfilespath: client.crt, client.key, ca.crt
	certFile, keyFile, caFile string // mutualtlsclient.*
	tlsCAFile                 string // tlsclient.cacertfile
}

// clientTLS reads checkcert, mutualtls and the per-output tlsclient block.
func clientTLS(b *block, gl globalTLS) tlsconfig.Client {
	c := tlsconfig.Client{InsecureSkipVerify: !b.boolean("checkcert", true), CAFile: gl.tlsCAFile}
	if b.boolean("mutualtls", false) {
		c.CertFile, c.KeyFile = gl.certFile, gl.keyFile
		if gl.caFile != "" {
			c.CAFile = gl.caFile
		}
		if c.CertFile == "" && gl.filesPath != "" {
			c.CertFile = filepath.Join(gl.filesPath, "client.crt")
			c.KeyFile = filepath.Join(gl.filesPath, "client.key")
			c.CAFile = filepath.Join(gl.filesPath, "ca.crt")
		}
		if c.CertFile == "" {
			b.errorf("mutualtls", "needs mutualtlsclient.certfile/keyfile (or mutualtlsfilespath) at the top level")
		}
	}
	t := b.sub("tlsclient")
	if v := t.str("cacertfile", ""); v != "" {
		c.CAFile = v
	}
	if v := t.str("certfile", ""); v != "" {
		c.CertFile = v
	}
	if v := t.str("keyfile", ""); v != "" {
		c.KeyFile = v
	}
	c.ServerName = t.str("servername", "")
	t.finish()
	if (c.CertFile == "") != (c.KeyFile == "") {
		b.errorf("tlsclient", "certfile and keyfile must be set together")
	}
	return c
}

func parseWebhook(b *block, name string, gl globalTLS) any {
	c := webhook.Config{
		Name:          name,
		Address:       b.str("address", ""),
		Method:        b.str("method", "POST"),
		CustomHeaders: b.strmap("customheaders"),
		Timeout:       b.duration("timeout", 10e9),
		Format:        b.str("format", webhook.FormatSingle),
		Parallel:      b.integer("parallel", 8),
		TLS:           clientTLS(b, gl),
	}
	if err := c.Validate(); err != nil {
		b.errorf("address", "%v", err)
	}
	return c
}

func parseFile(b *block, name string, _ globalTLS) any {
	c := file.Config{Name: name, Path: b.str("path", ""), Sync: b.boolean("sync", false)}
	if err := c.Validate(); err != nil {
		b.errorf("path", "%v", err)
	}
	return c
}

func parseStdout(b *block, name string, _ globalTLS) any {
	b.boolean("enabled", true)
	c := stdout.Config{Name: name, Format: b.str("format", stdout.FormatText)}
	if err := c.Validate(); err != nil {
		b.errorf("format", "%v", err)
	}
	return c
}

func embeddedDefaults(dataDir string, defs outputDefaults) []Output {
	outs := []Output{
		{Kind: "stdout", Name: "stdout", Filter: &harrierv1.AlertFilter{}, Settings: stdout.Config{Name: "stdout", Format: stdout.FormatText}},
		{Kind: "file", Name: "file", Filter: &harrierv1.AlertFilter{}, Settings: file.Config{Name: "file", Path: filepath.Join(dataDir, "alerts.jsonl")}},
	}
	for i := range outs {
		outs[i].BatchSize, outs[i].Backoff = defs.batchSize, defs.backoff
		outs[i].Fingerprint = fingerprint(outs[i])
	}
	return outs
}

// Specs turns the outputs into delivery specs.
func (c *Config) Specs() []delivery.Spec {
	specs := make([]delivery.Spec, 0, len(c.Outputs))
	for _, o := range c.Outputs {
		k := kinds[o.Kind]
		settings := o.Settings
		specs = append(specs, delivery.Spec{
			Name:        o.Name,
			Build:       func() (output.Output, error) { return k.build(settings) },
			Filter:      o.CompiledFilter(),
			BatchSize:   o.BatchSize,
			Backoff:     o.Backoff,
			Fingerprint: o.Fingerprint,
		})
	}
	return specs
}
