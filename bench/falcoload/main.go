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

	"github.com/valyala/fasthttp"
)

const alert = `{"hostname":"node-1","output":"10:20:05.408091526: Warning Shell spawned in a container (user=root container_id=a1b2c3 shell=bash parent=runc cmdline=bash -il)","priority":"Warning","rule":"Terminal shell in container","source":"syscall","tags":["container","maturity_stable","mitre_execution","shell","T1059"],"time":"2026-11-24T10:20:05.408091526Z","output_fields":{"container.id":"a1b2c3","container.image.repository":"nginx","evt.time":1795602005408091526,"proc.cmdline":"bash -il","proc.name":"bash","proc.pname":"runc","user.name":"root","user.loginuid":-1}}`

// sink is a webhook receiver counting alerts (JSON lines or one object).
// The sinks live in a child process of their own (this binary with
// -sinks), so that this process's CPU is the load generator's alone.
type sink struct {
	url, countURL string
}

var sinkAddr string // the sink process's address, once started

func newSink(name string) *sink {
	return &sink{url: "http://" + sinkAddr + "/s/" + name, countURL: "http://" + sinkAddr + "/count/" + name}
}

// n is how many alerts reached the sink.
func (s *sink) n() int64 {
	resp, err := http.Get(s.countURL)
	if err != nil {
		log.Fatalf("sink: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		log.Fatalf("sink count %q: %v", b, err)
	}
	return n
}

// serveSinks is the sink process: POST /s/NAME counts alerts, GET
// /count/NAME says how many.
func serveSinks(addr string) {
	var mu sync.Mutex
	counts := map[string]*atomic.Int64{}
	counter := func(name string) *atomic.Int64 {
		mu.Lock()
		defer mu.Unlock()
		c := counts[name]
		if c == nil {
			c = new(atomic.Int64)
			counts[name] = c
		}
		return c
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /s/{name}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		counter(r.PathValue("name")).Add(int64(bytes.Count(bytes.TrimSpace(b), []byte("\n")) + 1))
	})
	mux.HandleFunc("GET /count/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, counter(r.PathValue("name")).Load())
	})
	log.Fatal(http.ListenAndServe(addr, mux))
}

func startSinks() *exec.Cmd {
	sinkAddr = freeAddr()
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(self, "-sinks", sinkAddr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + sinkAddr + "/count/x"); err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			log.Fatal("sink process not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// startRouter runs harrier-router with the given ack policy; console: false
// turns the built-in console (and its index of recent alerts) off, as for
// a router used only to forward, like falcosidekick without its UI.
func startRouter(bin, dir, ack string, console bool) *target {
	name := ack
	if !console {
		name += "-noconsole"
	}
	s := newSink("router-" + name)
	httpAddr := freeAddr()
	cfg := fmt.Sprintf(`data_dir: %s/data-%s
grpc: {address: %q}
http: {address: %q, metrics_address: %q, ack: %s}
console: {enabled: %t}
log: {level: warn}
outputs:
  webhook:
    sink: {address: %s, format: ndjson}
`, dir, name, freeAddr(), httpAddr, freeAddr(), ack, console, s.url)
	p := filepath.Join(dir, "router-"+name+".yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	label := "harrier-router ack=" + ack
	if !console {
		label += ", console off"
	}
	return start(label, []string{bin, "run", "--config", p}, "http://"+httpAddr+"/", s)
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
	cpuPerAlert      time.Duration // the server's
	loadCPUPerAlert  time.Duration // this process's (the clients)
	delivered        int64
}

// client is one Falco http_output: a keep-alive HTTP/1.1 connection with
// one request in flight, each answer awaited. Falco's is libcurl (C); Go's
// net/http client costs several times more per request and would make the
// load generator, not the server, the bottleneck on two cores. So the
// request bytes are built once and only what HTTP/1.1 needs of an answer
// is parsed: the status line, Content-Length or chunked framing, and
// "Connection: close".
type client struct {
	addr string
	req  []byte
	c    net.Conn
	br   *bufio.Reader
	// deadline is refreshed once a second, not per request: setting it
	// costs as much as a small part of the exchange.
	deadline time.Time
}

func newClient(url string, body []byte) *client {
	hostPath := strings.TrimPrefix(url, "http://")
	host, path, _ := strings.Cut(hostPath, "/")
	req := fmt.Appendf(nil, "POST /%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: falcoload\r\nAccept: */*\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, host, len(body))
	return &client{addr: host, req: append(req, body...)}
}

func (c *client) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// post sends the alert and returns the answer's status code.
func (c *client) post() (int, error) {
	if c.c == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
		if err != nil {
			return 0, err
		}
		c.deadline = time.Time{}
		c.c = conn
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 4096)
		} else {
			c.br.Reset(conn)
		}
	}
	code, err := c.exchange()
	if err != nil {
		c.close()
	}
	return code, err
}

func (c *client) exchange() (int, error) {
	// Falco's output_timeout is 2 s: an answer is awaited 2-3 s.
	if now := time.Now(); now.Add(2 * time.Second).After(c.deadline) {
		c.deadline = now.Add(3 * time.Second)
		c.c.SetDeadline(c.deadline)
	}
	if _, err := c.c.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := int64(-1), false, false
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closing = bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			l, err := c.br.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			l, _, _ = bytes.Cut(bytes.TrimSpace(l), []byte(";"))
			n, err := strconv.ParseInt(string(l), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("bad chunk size %q", l)
			}
			if n == 0 { // trailers end with an empty line
				for {
					t, err := c.br.ReadSlice('\n')
					if err != nil {
						return 0, err
					}
					if len(bytes.TrimSpace(t)) == 0 {
						break
					}
				}
				break
			}
			if _, err := c.br.Discard(int(n) + 2); err != nil {
				return 0, err
			}
		}
	case length > 0:
		if _, err := c.br.Discard(int(length)); err != nil {
			return 0, err
		}
	case length < 0:
		closing = true // body until close: read nothing more, reconnect
	}
	if closing {
		c.close()
	}
	return code, nil
}

func load(t *target, conns int, d time.Duration) result {
	var wg sync.WaitGroup
	lat := make([][]time.Duration, conns)
	var accepted, errs atomic.Int64
	var before int64
	if t.sink != nil {
		before = t.sink.n()
	}
	cpu0, self0 := cpu(t.cmd.Process.Pid), cpu(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	body := []byte(alert)
	begin := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(t.url, body) // one keep-alive connection, like one Falco
			defer cl.close()
			lat[c] = make([]time.Duration, 0, 1<<16)
			for ctx.Err() == nil {
				t0 := time.Now()
				code, err := cl.post()
				if err != nil || code != 200 {
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
		r.loadCPUPerAlert = (cpu(os.Getpid()) - self0) / time.Duration(r.accepted)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	if t.sink == nil {
		return r
	}
	// Let the sink catch up (the router delivers asynchronously, the
	// stand-in from its goroutines) before the next measurement.
	deadline := time.Now().Add(20 * time.Second)
	for t.sink.n()-before < r.accepted && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	r.delivered = t.sink.n() - before
	return r
}

// serveEmpty is the floor target: net/http answering 200 at once, nothing
// read or stored.
func serveEmpty(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	log.Fatal(http.ListenAndServe(addr, mux))
}

// serveEmptyFast is the second floor target: an empty handler on fasthttp,
// an HTTP/1.1 server written apart from net/http (its own connection loop,
// parser and buffers, no goroutine-per-request bookkeeping). If its rate at
// one connection is about net/http's, one connection is bound by the loopback
// round trip (two system calls and two wake-ups per alert), not by the server
// library.
func serveEmptyFast(addr string) {
	log.Fatal(fasthttp.ListenAndServe(addr, func(ctx *fasthttp.RequestCtx) {}))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func main() {
	routerBin := flag.String("router", "bin/harrier-router", "harrier-router binary")
	sidekickBin := flag.String("sidekick", "bin/sidekick-standin", "falcosidekick stand-in binary (bench/sidekick)")
	dur := flag.Duration("duration", 5*time.Second, "measurement per target and connection count")
	connList := flag.String("conns", "1,8,32", "connection counts")
	rounds := flag.Int("rounds", 1, "measurements per target and connection count (alternating; the best is kept)")
	floor := flag.Bool("floor", false, "also measure empty handlers (answer 200 at once) on net/http and on fasthttp: the round-trip floor of this client and of each server library")
	noFsync := flag.Bool("no-fsync", false, "skip the router with ack: fsync")
	noConsole := flag.Bool("no-console", false, "also measure the router (ack: written) with its console off")
	sinksMode := flag.String("sinks", "", "internal: serve the webhook sinks on this address")
	emptyMode := flag.String("empty", "", "internal: serve the empty handler on this address")
	emptyFastMode := flag.String("empty-fasthttp", "", "internal: serve the empty fasthttp handler on this address")
	url := flag.String("url", "", "only load this URL (a server already running, e.g. to profile it) with the first -conns and -duration")
	flag.Parse()
	switch {
	case *url != "":
		conns, _ := strconv.Atoi(strings.Split(*connList, ",")[0])
		r := load(&target{name: *url, url: *url, cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}}, max(conns, 1), *dur)
		fmt.Printf("%s: %.0f alerts/s, p50 %v, p99 %v, %d errors, load generator CPU/alert %v\n", *url, r.perSec, r.p50, r.p99, r.errors, r.loadCPUPerAlert)
		return
	case *sinksMode != "":
		serveSinks(*sinksMode)
		return
	case *emptyMode != "":
		serveEmpty(*emptyMode)
		return
	case *emptyFastMode != "":
		serveEmptyFast(*emptyFastMode)
		return
	}
	dir, err := os.MkdirTemp("", "falcoload")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sinks := startSinks()
	defer func() { sinks.Process.Kill(); sinks.Wait() }()
	sk := newSink("standin")
	skAddr := freeAddr()
	targets := []*target{
		start("falcosidekick stand-in", []string{*sidekickBin, "-listen", skAddr, "-webhook", sk.url}, "http://"+skAddr+"/", sk),
		startRouter(*routerBin, dir, "written", true),
	}
	if !*noFsync {
		targets = append(targets, startRouter(*routerBin, dir, "fsync", true))
	}
	if *noConsole {
		targets = append(targets, startRouter(*routerBin, dir, "written", false))
	}
	if *floor {
		self, err := os.Executable()
		if err != nil {
			log.Fatal(err)
		}
		addr := freeAddr()
		targets = append(targets, start("empty net/http handler (floor)", []string{self, "-empty", addr}, "http://"+addr+"/", nil))
		addr = freeAddr()
		targets = append(targets, start("empty fasthttp handler (floor)", []string{self, "-empty-fasthttp", addr}, "http://"+addr+"/", nil))
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
	fmt.Fprintf(w, "%d s per measurement, %d round(s), started %s UTC, load average %s\n\n", int(dur.Seconds()), *rounds,
		time.Now().UTC().Format("2006-01-02 15:04"), loadavg())
	fmt.Fprintln(w, "| connections | target | accepted alerts/s | ratio to stand-in | ack p50 | ack p99 | server CPU/alert | stand-in's CPU/alert over this | load generator CPU/alert | at the sink | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
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
			sinkCol := "-"
			if t.sink != nil {
				sinkCol = fmt.Sprintf("%d of %d", r.delivered, r.accepted)
			}
			cpuRatio := "-"
			if r.cpuPerAlert > 0 {
				cpuRatio = fmt.Sprintf("%.1fx", float64(best[0].cpuPerAlert)/float64(r.cpuPerAlert))
			}
			fmt.Fprintf(w, "| %d | %s | %.0f | %.2fx | %v | %v | %v | %s | %v | %s | %d |\n", conns, t.name, r.perSec,
				r.perSec/best[0].perSec, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond),
				r.cpuPerAlert.Round(100*time.Nanosecond), cpuRatio, r.loadCPUPerAlert.Round(100*time.Nanosecond), sinkCol, r.errors)
		}
		fmt.Fprintf(w, "| | load average after %d connections: %s | | | | | | | | | |\n", conns, loadavg())
		w.Flush()
	}
}
