// Command falcoload drives `make bench-router`: Falco's http_output load
// (one alert per request, each connection keep-alive and synchronous: it
// waits for each answer, as Falco does) against harrier-router with each
// acknowledgement policy and against the falcosidekick stand-in
// (bench/sidekick), side by side in one run, every target posting to its
// own webhook sink in this process. It prints accepted alerts/s, ack
// latency (p50, p99), server CPU per accepted alert and the alerts that
// reached the sink, as a Markdown table with ratios to the stand-in.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const alert = `{"hostname":"node-1","output":"10:20:05.408091526: Warning Shell spawned in a container (user=root container_id=a1b2c3 shell=bash parent=runc cmdline=bash -il)","priority":"Warning","rule":"Terminal shell in container","source":"syscall","tags":["container","maturity_stable","mitre_execution","shell","T1059"],"time":"2026-11-24T10:20:05.408091526Z","output_fields":{"container.id":"a1b2c3","container.image.repository":"nginx","evt.time":1795602005408091526,"proc.cmdline":"bash -il","proc.name":"bash","proc.pname":"runc","user.name":"root","user.loginuid":-1}}`

// sink is a webhook receiver counting alerts (JSON lines or one object).
type sink struct {
	n   atomic.Int64
	url string
}

func newSink() *sink {
	s := &sink{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String() + "/"
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.n.Add(int64(bytes.Count(bytes.TrimSpace(b), []byte("\n")) + 1))
	}))
	return s
}

type target struct {
	name string
	url  string
	cmd  *exec.Cmd
	sink *sink
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(name string, args []string, url string, s *sink) *target {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(strings.TrimSuffix(url, "/") + "/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("%s not ready: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &target{name: name, url: url, cmd: cmd, sink: s}
}

func startRouter(bin, dir, ack string) *target {
	s := newSink()
	httpAddr := freeAddr()
	cfg := fmt.Sprintf(`data_dir: %s/data-%s
grpc: {address: %q}
http: {address: %q, metrics_address: %q, ack: %s}
log: {level: warn}
outputs:
  webhook:
    sink: {address: %s, format: ndjson}
`, dir, ack, freeAddr(), httpAddr, freeAddr(), ack, s.url)
	p := filepath.Join(dir, "router-"+ack+".yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	return start("harrier-router ack="+ack, []string{bin, "run", "--config", p}, "http://"+httpAddr+"/", s)
}

// cpu is the process's user+system CPU time.
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * (time.Second / 100) // USER_HZ
}

type result struct {
	accepted, errors int64
	perSec           float64
	p50, p99         time.Duration
	cpuPerAlert      time.Duration
	delivered        int64
}

func load(t *target, conns int, d time.Duration) result {
	var wg sync.WaitGroup
	lat := make([][]time.Duration, conns)
	var accepted, errs atomic.Int64
	before := t.sink.n.Load()
	cpu0 := cpu(t.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	body := []byte(alert)
	begin := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One keep-alive connection per sender, like one Falco.
			client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
				MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}}
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := client.Post(t.url, "application/json", bytes.NewReader(body))
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
				accepted.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	r := result{accepted: accepted.Load(), errors: errs.Load()}
	r.perSec = float64(r.accepted) / elapsed.Seconds()
	if r.accepted > 0 {
		r.cpuPerAlert = (cpu(t.cmd.Process.Pid) - cpu0) / time.Duration(r.accepted)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	// Let the sink catch up (the router delivers asynchronously, the
	// stand-in from its goroutines) before the next measurement.
	deadline := time.Now().Add(20 * time.Second)
	for t.sink.n.Load()-before < r.accepted && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.delivered = t.sink.n.Load() - before
	return r
}

func main() {
	routerBin := flag.String("router", "bin/harrier-router", "harrier-router binary")
	sidekickBin := flag.String("sidekick", "bin/sidekick-standin", "falcosidekick stand-in binary (bench/sidekick)")
	dur := flag.Duration("duration", 5*time.Second, "measurement per target and connection count")
	connList := flag.String("conns", "1,8,32", "connection counts")
	rounds := flag.Int("rounds", 1, "measurements per target and connection count (alternating; the best is kept)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "falcoload")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sk := newSink()
	skAddr := freeAddr()
	targets := []*target{
		start("falcosidekick stand-in", []string{*sidekickBin, "-listen", skAddr, "-webhook", sk.url}, "http://"+skAddr+"/", sk),
		startRouter(*routerBin, dir, "written"),
		startRouter(*routerBin, dir, "fsync"),
	}
	defer func() {
		for _, t := range targets {
			t.cmd.Process.Kill()
			t.cmd.Wait()
		}
	}()
	for _, t := range targets { // warm-up
		load(t, 8, time.Second)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "%d s per measurement, %d round(s), started %s UTC\n\n", int(dur.Seconds()), *rounds, time.Now().UTC().Format("2006-01-02 15:04"))
	fmt.Fprintln(w, "| connections | target | accepted alerts/s | ratio to stand-in | ack p50 | ack p99 | server CPU/alert | at the sink | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, cs := range strings.Split(*connList, ",") {
		conns, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil || conns < 1 {
			log.Fatalf("-conns: %q", cs)
		}
		best := make([]result, len(targets))
		for range *rounds {
			for i, t := range targets {
				if r := load(t, conns, *dur); r.perSec > best[i].perSec {
					best[i] = r
				}
			}
		}
		for i, t := range targets {
			r := best[i]
			fmt.Fprintf(w, "| %d | %s | %.0f | %.2fx | %v | %v | %v | %d of %d | %d |\n", conns, t.name, r.perSec,
				r.perSec/best[0].perSec, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond),
				r.cpuPerAlert.Round(time.Microsecond), r.delivered, r.accepted, r.errors)
		}
		w.Flush()
	}
}
