package container

import (
	"context"
	"errors"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// flakyRuntime fails until told to answer.
type flakyRuntime struct {
	up    bool
	calls int
}

func (f *flakyRuntime) Lookup(context.Context, ID) (*sysevent.Container, error) {
	f.calls++
	if !f.up {
		return nil, errors.New("runtime down")
	}
	return &sysevent.Container{Name: "late", Image: "busybox"}, nil
}

func TestResolverRetriesMetadata(t *testing.T) {
	rt := &flakyRuntime{}
	r := NewResolver(rt)
	path := "/docker/" + hexID
	first := r.FromCgroup(path)
	if first.Name != "" || rt.calls != 1 {
		t.Fatalf("first = %+v after %d calls", first, rt.calls)
	}
	rt.up = true
	if again := r.FromCgroup(path); again != first || rt.calls != 1 {
		t.Fatalf("asked again before RetryAfter (%d calls)", rt.calls)
	}
	r.RetryAfter = 0
	r.mu.Lock()
	for k := range r.retry {
		r.retry[k] = r.retry[k].Add(-1e12)
	}
	r.mu.Unlock()
	later := r.FromCgroup(path)
	if later.Name != "late" || later.Image != "busybox" || rt.calls != 2 {
		t.Fatalf("after retry = %+v (%d calls)", later, rt.calls)
	}
	if r.FromCgroup(path) != later || rt.calls != 2 {
		t.Fatal("complete metadata not cached")
	}
}
