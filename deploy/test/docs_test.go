package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
)

// The documentation checks: what a new user reads first must be short, true
// and agree with the code and the other documents.

// TestLicense: the repository carries the Apache License 2.0, whole.
func TestLicense(t *testing.T) {
	text := string(readFile(t, filepath.Join(repoRoot(t), "LICENSE")))
	for _, want := range []string{
		"Apache License",
		"Version 2.0, January 2004",
		"TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
		"9. Accepting Warranty or Additional Liability.",
		"END OF TERMS AND CONDITIONS",
		"APPENDIX: How to apply the Apache License to your work.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
}

// TestReadmeIsForUsers keeps the README to what a user needs: the two
// commands, the quickstart, pointers. Internals belong in docs/.
func TestReadmeIsForUsers(t *testing.T) {
	const maxLines = 100
	text := string(readFile(t, filepath.Join(repoRoot(t), "README.md")))
	if n := strings.Count(text, "\n"); n > maxLines {
		t.Errorf("README.md has %d lines, more than %d: move detail into docs/", n, maxLines)
	}
	for _, want := range []string{"`make run`", "`make test`", "](LICENSE)", "](docs/README.md)"} {
		if !strings.Contains(text, want) {
			t.Errorf("README.md lacks %s", want)
		}
	}
	// Go package paths are developer detail.
	if m := regexp.MustCompile("[a-z]+/internal/[a-z/]+").FindString(text); m != "" {
		t.Errorf("README.md names the internal package %s: move it into docs/", m)
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)

// TestDocLinks: every relative link of the README, docs/ and the chart's
// README points at a file of this checkout, and docs/README.md lists every
// document of docs/.
func TestDocLinks(t *testing.T) {
	root := repoRoot(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{filepath.Join(root, "README.md"), filepath.Join(root, "charts", "harrier", "README.md")}, docs...)
	for _, f := range files {
		for _, m := range mdLink.FindAllStringSubmatch(string(readFile(t, f)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), target)); err != nil {
				rel, _ := filepath.Rel(root, f)
				t.Errorf("%s: broken link %q", rel, target)
			}
		}
	}
	index := string(readFile(t, filepath.Join(root, "docs", "README.md")))
	for _, d := range docs {
		name := filepath.Base(d)
		if name != "README.md" && !strings.Contains(index, "]("+name+")") {
			t.Errorf("docs/README.md does not list %s", name)
		}
	}
}

// TestReadmeHealthzUnderMakeRun: the README documents `make run`, whose
// router serves /healthz and /metrics on its metrics listener
// (HARRIER_ROUTER_HTTP_METRICS_ADDRESS in scripts/run.sh, not the ingest
// port); the sensor's are on its metrics listener.
func TestReadmeHealthzUnderMakeRun(t *testing.T) {
	root := repoRoot(t)
	run := string(readFile(t, filepath.Join(root, "scripts", "run.sh")))
	m := regexp.MustCompile(`HARRIER_ROUTER_HTTP_METRICS_ADDRESS:-([0-9.]+:[0-9]+)`).FindStringSubmatch(run)
	if m == nil {
		t.Fatal("scripts/run.sh: no default HARRIER_ROUTER_HTTP_METRICS_ADDRESS")
	}
	allowed := map[string]bool{m[1]: true, "127.0.0.1:8766": true}
	readme := string(readFile(t, filepath.Join(root, "README.md")))
	found := false
	for _, u := range regexp.MustCompile(`(?:localhost|127\.0\.0\.1|\[::1\]):[0-9]+/(?:healthz|metrics)`).FindAllString(readme, -1) {
		hostport := strings.Replace(u[:strings.Index(u, "/")], "localhost", "127.0.0.1", 1)
		if !allowed[hostport] {
			t.Errorf("README.md: %s is not served under make run (router metrics %s, sensor metrics 127.0.0.1:8766)", u, m[1])
		}
		found = true
	}
	if !found {
		t.Errorf("README.md does not say where the router's /healthz is under make run (%s)", m[1])
	}
}

// TestDocsSensorCapabilities: the packaging document names exactly the
// capabilities the chart grants the sensor.
func TestDocsSensorCapabilities(t *testing.T) {
	root := repoRoot(t)
	var values struct {
		Sensor struct {
			Capabilities []string `yaml:"capabilities"`
		} `yaml:"sensor"`
	}
	if err := yamlv3.Unmarshal(readFile(t, filepath.Join(root, "charts", "harrier", "values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	if len(values.Sensor.Capabilities) == 0 {
		t.Fatal("values.yaml: no sensor.capabilities")
	}
	doc := string(readFile(t, filepath.Join(root, "docs", "deploy.md")))
	want := map[string]bool{}
	for _, c := range values.Sensor.Capabilities {
		want["CAP_"+c] = true
		if !strings.Contains(doc, "`CAP_"+c+"`") {
			t.Errorf("docs/deploy.md does not name CAP_%s, which the chart grants the sensor", c)
		}
	}
	for _, c := range regexp.MustCompile("`(CAP_[A-Z_]+)`").FindAllStringSubmatch(doc, -1) {
		if !want[c[1]] {
			t.Errorf("docs/deploy.md names %s, which the chart does not grant", c[1])
		}
	}
	if strings.Contains(doc, "only the eBPF") {
		t.Error(`docs/deploy.md says "only the eBPF capabilities"; the chart grants more`)
	}
}

// TestDocsKafkaBatchTimeout: docs/router.md and the example configuration
// give the same batchtimeout (the kafka package's tests tie the example's
// value to the code's default).
func TestDocsKafkaBatchTimeout(t *testing.T) {
	root := repoRoot(t)
	var example struct {
		Kafka struct {
			BatchTimeout string `yaml:"batchtimeout"`
		} `yaml:"kafka"`
	}
	if err := yamlv3.Unmarshal(readFile(t, filepath.Join(componentDir(t, "router", "HARRIER_ROUTER_DIR"), "harrier-router.example.yaml")), &example); err != nil {
		t.Fatal(err)
	}
	ex, err := time.ParseDuration(example.Kafka.BatchTimeout)
	if err != nil {
		t.Fatalf("harrier-router.example.yaml: kafka.batchtimeout: %v", err)
	}
	doc := string(readFile(t, filepath.Join(root, "docs", "router.md")))
	m := regexp.MustCompile("`batchtimeout` \\(([0-9.]+(?:ns|us|µs|ms|s))").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/router.md does not document batchtimeout's default as \"`batchtimeout` (DURATION\"")
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if d != ex {
		t.Errorf("docs/router.md says batchtimeout defaults to %v, harrier-router.example.yaml shows %v", d, ex)
	}
}
