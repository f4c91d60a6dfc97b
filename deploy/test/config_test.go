package deploytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// flatKeys lists the key paths of a YAML mapping down to its leaves
// (scalars, lists, empty mappings).
func flatKeys(prefix string, m map[string]any, out map[string]bool) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			flatKeys(prefix+k+".", sub, out)
			continue
		}
		out[prefix+k] = true
	}
}

// sensorKeys are the keys of the sensor's documented example configuration,
// which lists every key with its default.
func sensorKeys(t *testing.T) map[string]bool {
	t.Helper()
	p := filepath.Join(componentDir(t, "sensor", "HARRIER_SENSOR_DIR"), "harrier-sensor.example.yaml")
	if _, err := os.Stat(p); os.IsNotExist(err) {
		missing(t, fmt.Sprintf("%s is absent; the sensor configuration keys cannot be checked", p))
	}
	keys := map[string]bool{}
	flatKeys("", loadYAML(t, p), keys)
	return keys
}

// The sensor configurations the packaging writes (the lab's, and the
// chart's for the default values and every option) use only keys the
// sensor knows: the sensor rejects unknown keys at start.
func TestSensorConfigKeys(t *testing.T) {
	known := sensorKeys(t)
	configs := map[string]map[string]any{
		"deploy/compose/sensor.yaml": loadYAML(t, filepath.Join(repoRoot(t), "deploy", "compose", "sensor.yaml")),
		"chart (defaults)":           configYAML(t, render(t), "harrier-sensor", "sensor.yaml"),
		"chart (all options)":        configYAML(t, render(t, "-f", filepath.Join(chartDir(t), allOptions)), "hr-sensor", "sensor.yaml"),
	}
	for name, cfg := range configs {
		used := map[string]bool{}
		flatKeys("", cfg, used)
		for k := range used {
			if known[k] {
				continue
			}
			// A leaf of the example (a list, say) is set as a whole.
			parent := false
			for p := range known {
				parent = parent || strings.HasPrefix(k, p+".")
			}
			if !parent {
				t.Errorf("%s: key %s is not in the sensor's example configuration", name, k)
			}
		}
	}
}

// The router configurations the packaging writes pass the router's own
// offline check (harrier-router config validate), built from this
// checkout. Paths below /etc/harrier (secrets, certificates) are replaced
// by files in a temporary directory.
func TestRouterConfigValidates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds harrier-router; skipped with -short")
	}
	bin := buildCommand(t, "router", "harrier-router")
	configs := map[string][]byte{
		"deploy/compose/router.yaml":          readFile(t, filepath.Join(repoRoot(t), "deploy", "compose", "router.yaml")),
		"deploy/compose/router-replicas.yaml": readFile(t, filepath.Join(repoRoot(t), "deploy", "compose", "router-replicas.yaml")),
	}
	// The outputs each configuration must yield, as the router lists them.
	wantOutputs := map[string][]string{
		"deploy/compose/router.yaml":          {"elasticsearch.lab", "kafka.lab", "webhook.echo"},
		"deploy/compose/router-replicas.yaml": {"elasticsearch.lab", "webhook.echo"},
		"chart (defaults)":                    nil, // the router's embedded defaults
		"chart (kafka replicas)":              nil,
		"chart (all options)":                 {"elasticsearch.default", "kafka.default", "stdout.log", "webhook.chatops", "webhook.soc"},
	}
	for name, args := range map[string][]string{"defaults": nil, "all options": {"-f", filepath.Join(chartDir(t), allOptions)},
		"kafka replicas": {"--set", "router.replicas=3", "--set", "router.journal.backend=kafka", "--set", "router.journal.kafka.brokers={kafka-0:9092}"}} {
		for _, m := range render(t, args...) {
			if strings.HasSuffix(m.Source, "router-configmap.yaml") {
				cfg := configYAMLFromRaw(t, m.Raw, "router.yaml")
				configs["chart ("+name+")"] = []byte(cfg)
			}
		}
	}
	if len(configs) != 5 {
		t.Fatalf("want 5 router configurations, got %d", len(configs))
	}
	for name, cfg := range configs {
		dir := t.TempDir()
		text := materialize(t, dir, string(cfg))
		path := filepath.Join(dir, "router.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "config", "validate", path).CombinedOutput()
		if err != nil {
			t.Errorf("%s: harrier-router config validate: %v\n%s\n%s", name, err, out, text)
			continue
		}
		var outputs []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[0] == "output" {
				outputs = append(outputs, f[1])
			}
		}
		slices.Sort(outputs)
		want := wantOutputs[name]
		if want == nil {
			if !strings.Contains(string(out), "embedded defaults") {
				t.Errorf("%s: want the embedded default outputs, got:\n%s", name, out)
			}
		} else if !slices.Equal(outputs, want) {
			t.Errorf("%s: outputs %v, want %v:\n%s", name, outputs, want, out)
		}
	}
}

// The sensor configurations the packaging writes pass the sensor's own
// check (harrier-sensor run -check: configuration and rules), built from
// this checkout. The overrides keep the check off the host: no eBPF, no
// fixed ports, a temporary spool, the repository's rules.
func TestSensorConfigChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds harrier-sensor; skipped with -short")
	}
	bin := buildCommand(t, "sensor", "harrier-sensor")
	if out, _ := exec.Command(bin, "run", "-h").CombinedOutput(); !strings.Contains(string(out), "-check") {
		missing(t, fmt.Sprintf("this checkout's harrier-sensor has no run -check yet:\n%s", out))
	}
	configs := map[string]string{
		"deploy/compose/sensor.yaml": string(readFile(t, filepath.Join(repoRoot(t), "deploy", "compose", "sensor.yaml"))),
	}
	for name, args := range map[string][]string{"defaults": nil, "all options": {"-f", filepath.Join(chartDir(t), allOptions)},
		"kafka replicas": {"--set", "router.replicas=3", "--set", "router.journal.backend=kafka", "--set", "router.journal.kafka.brokers={kafka-0:9092}"}} {
		for _, m := range render(t, args...) {
			if strings.HasSuffix(m.Source, "sensor-configmap.yaml") {
				configs["chart ("+name+")"] = configYAMLFromRaw(t, m.Raw, "sensor.yaml")
			}
		}
	}
	if len(configs) != 4 {
		t.Fatalf("want 4 sensor configurations, got %d", len(configs))
	}
	for name, cfg := range configs {
		dir := t.TempDir()
		text := materialize(t, dir, cfg)
		path := filepath.Join(dir, "sensor.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "-check", "-c", path,
			"-o", "rules.files="+filepath.Join(repoRoot(t), "rules"),
			"-o", "outputs.grpc.spool.dir="+filepath.Join(dir, "spool"),
			"-o", "sources.syscall.enabled=false",
			"-o", "sources.k8s_audit.listen=127.0.0.1:0",
			"-o", "metrics.listen=127.0.0.1:0")
		// The environment must not change what is checked.
		cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "HARRIER_") })
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OK") {
			t.Errorf("%s: harrier-sensor run -check: %v\n%s\n%s", name, err, out, text)
		}
	}
}

// materialize rewrites /etc/harrier/... paths into dir and creates the
// files with a token-sized content.
func materialize(t *testing.T, dir, text string) string {
	t.Helper()
	for _, f := range strings.Fields(strings.NewReplacer(":", " ", "\"", " ").Replace(text)) {
		if !strings.HasPrefix(f, "/etc/harrier/") {
			continue
		}
		p := filepath.Join(dir, strings.TrimPrefix(f, "/etc/harrier/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		content := []byte("test-token-0123456789abcdef\n")
		switch filepath.Ext(p) {
		case ".crt":
			content = testCert(t).cert
		case ".key":
			content = testCert(t).key
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return strings.ReplaceAll(text, "/etc/harrier/", dir+"/")
}

func configYAMLFromRaw(t *testing.T, raw []byte, file string) string {
	t.Helper()
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data[file]
}

type certPair struct{ cert, key []byte }

// testCert is a self-signed certificate (its own CA) for the TLS files the
// configurations name.
var testCert = func() func(t *testing.T) certPair {
	var once sync.Once
	var pair certPair
	var err error
	return func(t *testing.T) certPair {
		t.Helper()
		once.Do(func() {
			var k *ecdsa.PrivateKey
			k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "harrier-test"},
				DNSNames: []string{"harrier-test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
				IsCA: true, BasicConstraintsValid: true,
				KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			}
			var der, kder []byte
			if der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k); err != nil {
				return
			}
			if kder, err = x509.MarshalECPrivateKey(k); err != nil {
				return
			}
			pair = certPair{
				cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
				key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
}()

var (
	buildMu   sync.Mutex
	buildDir  string
	buildDone = map[string]string{}
)

// buildCommand builds component/cmd/name of this checkout (or of
// HARRIER_<COMPONENT>_DIR) once per test run and returns the binary.
func buildCommand(t *testing.T, component, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := buildDone[name]; ok {
		return bin
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "harrier-deploy-test-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	bin := filepath.Join(buildDir, name)
	// HARRIER_GO_BUILD_FLAGS (make test-deploy passes $(RACE)) lets the
	// build reuse the packages the module tests just compiled.
	args := append([]string{"build"}, strings.Fields(os.Getenv("HARRIER_GO_BUILD_FLAGS"))...)
	build := exec.Command("go", append(args, "-o", bin, "./cmd/"+name)...)
	build.Dir = componentDir(t, component, "HARRIER_"+strings.ToUpper(component)+"_DIR")
	// The components build in the repository's workspace, not in this module.
	build.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "GOWORK=") })
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	buildDone[name] = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
