package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// routerAlerts reads the alerts in the router's JSON-lines file: rule →
// source and output.
func routerAlerts(t *testing.T, path string) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a struct{ Rule, Source, Output string }
		if json.Unmarshal(sc.Bytes(), &a) == nil {
			out[a.Rule] = [2]string{a.Source, a.Output}
		}
	}
	return out
}

// TestQuickstartRouterAndSensor is the smoke test of `make run`: the real
// harrier-router on its embedded defaults and the real harrier-sensor
// streaming to it; one alert of each source reaches the router's file
// output (the syscall one only as root).
func TestQuickstartRouterAndSensor(t *testing.T) {
	rt := startRouter(t)
	grpcAddr, routerLog := rt.grpc, rt.log

	args := []string{"-o", "outputs.grpc.enabled=true", "-o", "outputs.grpc.address=" + grpcAddr}
	root := os.Geteuid() == 0
	if !root {
		args = append(args, "-o", "sources.syscall.enabled=false")
	}
	s, running := startSensor(t, args...)
	defer s.Stop(t)

	body := auditEventList(t, "exec_pod.json")
	resp, err := http.Post("http://"+running["k8s_audit"].(string)+"/k8s_audit", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit webhook answered %d", resp.StatusCode)
	}

	want := map[string]string{"Kubernetes Exec or Attach Into Pod": "k8s_audit"}
	if root {
		want["Sensitive File Read by Untrusted Program"] = "syscall"
	}
	file := rt.alerts
	deadline := time.Now().Add(30 * time.Second)
	var got map[string][2]string
	for {
		if root {
			_ = exec.Command("cat", "/etc/shadow").Run()
		}
		got = routerAlerts(t, file)
		missing := []string{}
		for rule, src := range want {
			if got[rule][0] != src {
				missing = append(missing, rule)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts missing at the router: %v (router has %v)\nrouter log:\n%s\nsensor log:\n%s",
				missing, got, routerLog.String(), s.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The stdout output consumes the journal on its own cursor: give it time.
	out := got["Kubernetes Exec or Attach Into Pod"][1]
	for end := time.Now().Add(10 * time.Second); out != "" && !strings.Contains(routerLog.String(), out) && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
	}
	if out == "" || !strings.Contains(routerLog.String(), out) {
		t.Errorf("the router's stdout output did not print the audit alert:\n%s", routerLog.String())
	}
}
