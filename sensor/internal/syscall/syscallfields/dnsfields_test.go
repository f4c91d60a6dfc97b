package syscallfields_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/dnsnames"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/dnstest"
)

// TestDNSNameFields: fd.sip.name and the other *ip.name fields compare as
// libsinsp's do: the names a condition uses are resolved in the background
// (here by a DNS server on loopback) and a connection to any of a name's
// addresses matches it. Before the answer arrives the field has no value:
// evaluation never waits for DNS.
func TestDNSNameFields(t *testing.T) {
	api := netip.MustParseAddr("10.96.0.1")
	srv := dnstest.Start(t, map[string][]netip.Addr{"kubernetes.default.svc.test": {api}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := make(chan struct{})
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		<-block // held until the test has evaluated an event unresolved
		return srv.Lookup(ctx, host)
	}
	r := dnsnames.New(dnsnames.Options{Lookup: lookup, Refresh: time.Hour})
	defer syscallfields.UseResolver(r)()
	syscallfields.StartDNS(ctx)

	th := &sysevent.Thread{Pid: 30}
	th.SetImage(sysevent.NewImage("curl", "curl", "/usr/bin/curl", nil))
	conn := &sysevent.FD{Num: 4, Type: sysevent.FDIPv4, L4Proto: sysevent.L4TCP, Connected: true,
		ClientIP: netip.MustParseAddr("10.0.0.5"), ClientPort: 40000, ServerIP: api, ServerPort: 443}
	conn.FinishSocket()
	ev := &sysevent.Event{Type: sysevent.SysConnect, FD: 4, Thread: th, FDInfo: conn}

	compile := func(cond string) *filter.Filter {
		e, err := filter.Parse(cond)
		if err != nil {
			t.Fatal(err)
		}
		f, err := filter.Compile(e, filter.Env{Registry: syscallfields.Registry()})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	// Compiling the condition asks for the name; the lookup is held.
	f := compile("evt.type = connect and fd.sip.name = kubernetes.default.svc.test")
	done := make(chan bool)
	go func() { done <- f.Match(ev) }()
	select {
	case got := <-done:
		if got {
			t.Error("matched before the name resolved")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("evaluation blocked on DNS")
	}
	close(block)
	deadline := time.Now().Add(10 * time.Second)
	for !f.Match(ev) {
		if time.Now().After(deadline) {
			t.Fatal("fd.sip.name never matched the resolved address")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for cond, want := range map[string]bool{
		"fd.sip.name in (other.test, kubernetes.default.svc.test)": true,
		"fd.sip.name != kubernetes.default.svc.test":               false,
		"fd.cip.name = kubernetes.default.svc.test":                false,
		"fd.rip.name = kubernetes.default.svc.test":                true,
		"fd.lip.name exists":                                       false,
	} {
		if got := compile(cond).Match(ev); got != want {
			t.Errorf("%s = %v, want %v", cond, got, want)
		}
	}
}
