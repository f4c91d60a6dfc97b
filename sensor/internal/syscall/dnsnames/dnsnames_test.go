package dnsnames_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/dnsnames"
	"github.com/harrier-security/harrier/sensor/internal/testkit/dnstest"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResolveAndRefresh follows libsinsp's DNS manager: names are resolved
// in the background once a rule names them, refreshed periodically, and a
// failed refresh keeps the previous answer.
func TestResolveAndRefresh(t *testing.T) {
	a1, a2, a3 := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("fd00::7")
	srv := dnstest.Start(t, map[string][]netip.Addr{
		"api.example.test":    {a1, a3},
		"mirror.example.test": {a1},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := dnsnames.New(dnsnames.Options{Lookup: srv.Lookup, Refresh: 50 * time.Millisecond})

	// Nothing is watched: lookups answer at once, with nothing.
	if got := r.Names(a1); got != nil {
		t.Fatalf("Names before Watch = %v", got)
	}
	r.Watch("API.example.test.", "10.9.9.9", "", "mirror.example.test")
	if q := srv.Queries(); q != 0 {
		t.Fatalf("%d DNS queries before Start", q)
	}
	r.Start(ctx)
	waitFor(t, "first resolution", func() bool { return len(r.Names(a1)) == 2 })
	if got := r.Names(a1); !slices.Equal(got, []string{"api.example.test", "mirror.example.test"}) {
		t.Errorf("Names(%s) = %v", a1, got)
	}
	if got := r.Names(a3); !slices.Equal(got, []string{"api.example.test"}) {
		t.Errorf("Names(%s) = %v (IPv6 answer)", a3, got)
	}
	if got := r.Names(netip.MustParseAddr("10.9.9.9")); got != nil {
		t.Errorf("an address value is not a name to resolve: %v", got)
	}

	// The name moves: the next refresh follows it.
	srv.Set("api.example.test", a2)
	waitFor(t, "refresh", func() bool { return len(r.Names(a2)) == 1 })
	if got := r.Names(a1); !slices.Equal(got, []string{"mirror.example.test"}) {
		t.Errorf("after refresh Names(%s) = %v", a1, got)
	}

	// The name has no addresses any more: it maps to none.
	srv.Set("mirror.example.test")
	rounds := r.Rounds()
	waitFor(t, "another round", func() bool { return r.Rounds() > rounds+1 })
	if got := r.Names(a1); len(got) != 0 {
		// An empty answer is an answer (no addresses), not a failure.
		t.Errorf("empty answer kept %v", got)
	}
}

// TestLookupFailureKeepsAddresses: a DNS outage does not silence rules.
func TestLookupFailureKeepsAddresses(t *testing.T) {
	a1 := netip.MustParseAddr("10.2.0.1")
	fail := make(chan bool, 1)
	fail <- false
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		f := <-fail
		fail <- f
		if f {
			return nil, context.DeadlineExceeded
		}
		return []netip.Addr{a1}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := dnsnames.New(dnsnames.Options{Lookup: lookup, Refresh: 20 * time.Millisecond})
	r.Start(ctx)
	r.Watch("db.example.test")
	waitFor(t, "resolution", func() bool { return len(r.Names(a1)) == 1 })
	<-fail
	fail <- true
	rounds := r.Rounds()
	waitFor(t, "failed rounds", func() bool { return r.Rounds() > rounds+2 })
	if got := r.Names(a1); !slices.Equal(got, []string{"db.example.test"}) {
		t.Errorf("after failed lookups Names = %v, want the last answer", got)
	}
}
