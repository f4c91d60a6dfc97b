// Package dnsnames resolves the domain names that rules compare the
// fd.*ip.name fields with, as libsinsp's DNS manager does for Falco: each
// name is resolved in the background when a rule names it and refreshed
// periodically; the event path only reads the latest answers (a lock-free
// map from address to names) and never waits for DNS.
package dnsnames

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LookupFunc resolves a host name to its addresses.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// Options configure a Resolver.
type Options struct {
	// Lookup resolves names; nil uses the system resolver.
	Lookup LookupFunc
	// Refresh is how often every name is resolved again (default 5m).
	Refresh time.Duration
	// Timeout bounds one lookup (default 5s).
	Timeout time.Duration
	Log     *slog.Logger
}

// Resolver keeps the addresses of the names it was asked to watch.
type Resolver struct {
	opts Options
	ctx  context.Context

	mu    sync.Mutex
	names map[string]bool
	start sync.Once
	wake  chan struct{}

	// byAddr maps each address to the watched names that resolved to it
	// (sorted), replaced as a whole after each round of lookups.
	byAddr atomic.Pointer[map[netip.Addr][]string]
	rounds atomic.Uint64
}

// New returns a Resolver. Nothing is resolved until Start.
func New(opts Options) *Resolver {
	if opts.Lookup == nil {
		opts.Lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	r := &Resolver{opts: opts, names: map[string]bool{}, wake: make(chan struct{}, 1)}
	empty := map[netip.Addr][]string{}
	r.byAddr.Store(&empty)
	return r
}

// Start runs the background lookups until ctx ends: the names watched so
// far at once, then every Refresh and whenever a new name is watched.
// Calls after the first do nothing.
func (r *Resolver) Start(ctx context.Context) {
	r.start.Do(func() {
		r.ctx = ctx
		go r.loop()
		r.poke()
	})
}

func (r *Resolver) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Watch adds names to resolve. It returns at once; the names resolve in
// the background once the Resolver is started. Values that are IP addresses or empty are ignored.
func (r *Resolver) Watch(names ...string) {
	added := false
	r.mu.Lock()
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if n == "" || r.names[n] {
			continue
		}
		if _, err := netip.ParseAddr(n); err == nil {
			continue
		}
		r.names[n] = true
		added = true
	}
	r.mu.Unlock()
	if added {
		r.poke()
	}
}

// Names returns the watched names that resolved to addr (nil when none).
// It never blocks. The slice must not be modified.
func (r *Resolver) Names(addr netip.Addr) []string {
	return (*r.byAddr.Load())[addr.Unmap()]
}

// Rounds counts completed rounds of lookups (for tests and metrics).
func (r *Resolver) Rounds() uint64 { return r.rounds.Load() }

func (r *Resolver) loop() {
	t := time.NewTimer(r.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
		r.resolveAll()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(r.opts.Refresh)
	}
}

// resolveAll looks every name up and publishes the new map. A name the
// DNS says does not exist loses its addresses; one whose lookup fails
// otherwise (timeout, server failure) keeps them, so that a DNS hiccup
// does not silence rules.
func (r *Resolver) resolveAll() {
	r.mu.Lock()
	names := make([]string, 0, len(r.names))
	for n := range r.names {
		names = append(names, n)
	}
	r.mu.Unlock()
	slices.Sort(names)
	prev := *r.byAddr.Load()
	old := map[string][]netip.Addr{}
	for a, ns := range prev {
		for _, n := range ns {
			old[n] = append(old[n], a)
		}
	}
	next := map[netip.Addr][]string{}
	for _, n := range names {
		ctx, cancel := context.WithTimeout(r.ctx, r.opts.Timeout)
		addrs, err := r.opts.Lookup(ctx, n)
		cancel()
		var dnsErr *net.DNSError
		switch {
		case err == nil:
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			addrs = nil // the name has no addresses (any more)
		default:
			r.opts.Log.Debug("dns lookup for a rule's name failed", "name", n, "err", err)
			addrs = old[n]
		}
		for _, a := range addrs {
			a = a.Unmap()
			if !slices.Contains(next[a], n) {
				next[a] = append(next[a], n)
			}
		}
	}
	r.byAddr.Store(&next)
	r.rounds.Add(1)
}
