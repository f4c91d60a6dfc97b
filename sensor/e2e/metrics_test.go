package e2e

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// metricName is a metric name as README and docs write them; other
// harrier_ words there are rules macros and lists (harrier_allowed_...).
var metricName = regexp.MustCompile(`\bharrier_(?:sensor|router|capture|dispatch|proctable)_[a-z0-9_]*[a-z0-9]`)

// documentedMetrics are the metric names README.md and docs/*.md mention,
// each with the first file naming it.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			if _, ok := out[m]; !ok {
				out[m] = filepath.Base(f)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("README.md and docs/*.md name no metric: the pattern is wrong")
	}
	return out
}

// scrapeNames returns the metric family names /metrics at url exports.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scraping %s: %s: %s", url, resp.Status, b)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(rest)[0]] = true
		}
	}
	return names
}

// TestDocumentedMetricsExist runs the router and the sensor (streaming
// to it, with syscall capture) and scrapes both /metrics: every metric
// README.md or docs/ name must be exported by one of them.
func TestDocumentedMetricsExist(t *testing.T) {
	require.Root(t, "needs root: the sensor's syscall metrics need the BPF capture")
	rt := startRouter(t)
	grpcAddr, httpAddr, routerMetrics, routerLog := rt.grpc, rt.http, rt.metrics, rt.log
	s, running := startSensor(t, "-o", "outputs.grpc.enabled=true", "-o", "outputs.grpc.address="+grpcAddr,
		// The http output too (to the router's Falco JSON ingest), so that its
		// metrics exist.
		"-o", "outputs.http.enabled=true", "-o", "outputs.http.url=http://"+httpAddr+"/")
	defer s.Stop(t)

	sensorURL := "http://" + running["metrics"].(string) + "/metrics"
	routerURL := "http://" + routerMetrics + "/metrics"
	// The router listens once it has opened its journal: poll.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(routerURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("router /metrics not served: %v\n%s", err, routerLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	exported := scrapeNames(t, sensorURL)
	for n := range scrapeNames(t, routerURL) {
		exported[n] = true
	}
	docs := documentedMetrics(t)
	var missing []string
	for name, file := range docs {
		if !exported[name] {
			missing = append(missing, name+" (named in "+file+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented metrics that neither daemon exports:\n  %s", strings.Join(missing, "\n  "))
	}
	// The syscall source's components register their own metrics.
	for _, n := range []string{"harrier_capture_events_total", "harrier_dispatch_stalls_total", "harrier_proctable_processes"} {
		if !exported[n] {
			t.Errorf("the sensor does not export %s", n)
		}
	}
}
