package transport_test

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/ship/transport"
	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/dnstest"
)

// startRouters starts one receiver per address, all storing into store
// (the routers share their log, as on the Kafka journal), and returns them
// with a per-receiver count of distinct alerts.
func startRouters(t *testing.T, store *transporttest.Store, addrs ...string) []*transporttest.Receiver {
	t.Helper()
	rs := make([]*transporttest.Receiver, len(addrs))
	for i, a := range addrs {
		r, err := transporttest.Start(a, store, transporttest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Kill)
		rs[i] = r
	}
	return rs
}

// failover: each router in turn dies while its sensors stream; every
// alert reaches a router that is up, redeliveries stay within one window
// per break.
func failover(t *testing.T, cfgs []transport.Config, rs []*transporttest.Receiver, store *transporttest.Store) {
	const batch, window, perPhase = 50, 4, 600
	sensors := make([]*sensor, len(cfgs))
	for i, cfg := range cfgs {
		cfg.BatchSize, cfg.Window, cfg.SensorID = batch, window, fmt.Sprintf("sensor-%d", i)
		sensors[i] = startSensor(t, t.TempDir(), cfg)
		defer sensors[i].stop(t)
	}
	n := 0
	send := func() {
		for _, s := range sensors {
			for range perPhase {
				_ = s.c.Send(alert(n))
				n++
			}
		}
	}
	send()
	if !store.WaitUnique(n, 20*time.Second) {
		t.Fatalf("routers have %d of %d", store.Unique(), n)
	}
	breaks := 0
	for _, r := range rs[:len(rs)-1] {
		r.Kill()
		send()
		if !store.WaitUnique(n, 30*time.Second) {
			t.Fatalf("after killing %s: routers have %d of %d", r.Addr, store.Unique(), n)
		}
		breaks++
	}
	var failures uint64
	for _, s := range sensors {
		waitSpoolEmpty(t, s.sp)
		failures += s.c.Stats().Failures
	}
	// Only the last router is up: the sensors whose router died moved.
	if failures == 0 {
		t.Fatal("no stream broke: no sensor was on a killed router")
	}
	if r := store.Redelivered(); r > breaks*len(sensors)*batch*window {
		t.Fatalf("%d redeliveries for %d breaks", r, breaks)
	}
}

func TestSeveralRoutersFailOver(t *testing.T) {
	store := transporttest.NewStore()
	rs := startRouters(t, store, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
	addrs := []string{rs[0].Addr, rs[1].Addr, rs[2].Addr}
	cfgs := make([]transport.Config, 4)
	for i := range cfgs {
		cfgs[i] = transport.Config{Addrs: addrs}
	}
	failover(t, cfgs, rs, store)
}

// A DNS name with one record per router (a headless Service): routers on
// 127.0.0.1-3 with one port, resolved by gRPC's DNS resolver from a real
// DNS server on loopback.
func TestDNSNameWithSeveralRecordsFailsOver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	store := transporttest.NewStore()
	rs := startRouters(t, store, "127.0.0.1:"+port, "127.0.0.2:"+port, "127.0.0.3:"+port)
	dns := dnstest.Start(t, map[string][]netip.Addr{"routers.harrier.test.": {
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}})
	target := "dns://" + dns.Addr() + "/routers.harrier.test:" + port
	cfgs := []transport.Config{{Addr: target}, {Addr: target}}
	failover(t, cfgs, rs, store)
}
