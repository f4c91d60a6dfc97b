package container

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// MetadataSource describes a container from its runtime: image, name,
// Kubernetes pod. A CRI client (the runtime's gRPC socket) is the intended
// implementation; without one, containers carry only their id and type and
// the other container.* and k8s.* fields have no value (<NA>).
type MetadataSource interface {
	Lookup(ctx context.Context, id ID) (*sysevent.Container, error)
}

// Resolver maps cgroups to containers, once per container: every process
// of a container shares one *sysevent.Container.
//
// A metadata lookup happens on the first process seen in a container, on
// the caller's goroutine, bounded by a short timeout (the runtime answers
// in milliseconds); when it fails the container is used without metadata
// and asked about again after RetryAfter, for the processes seen later.
type Resolver struct {
	meta       MetadataSource
	timeout    time.Duration
	RetryAfter time.Duration

	mu    sync.RWMutex
	byID  map[string]*sysevent.Container
	retry map[string]time.Time // containers without metadata: when to ask again
}

// maxContainers bounds the cache; past it the cache starts over (the
// next lookups refill it).
const maxContainers = 8192

// NewResolver returns a resolver; meta may be nil.
func NewResolver(meta MetadataSource) *Resolver {
	return &Resolver{meta: meta, timeout: 500 * time.Millisecond, RetryAfter: 30 * time.Second,
		byID: map[string]*sysevent.Container{}, retry: map[string]time.Time{}}
}

// FromCgroup takes the contents of /proc/PID/cgroup (or one cgroup path)
// and returns the process's container, sysevent.Host for the host.
func (r *Resolver) FromCgroup(cgroup string) *sysevent.Container {
	var id ID
	if strings.Contains(cgroup, ":") {
		id = FromCgroupFile(cgroup)
	} else {
		id = FromCgroupPath(cgroup)
	}
	if id.Full == "" {
		return sysevent.Host
	}
	r.mu.RLock()
	c := r.byID[id.Full]
	retryAt, pending := r.retry[id.Full]
	r.mu.RUnlock()
	if c != nil && (!pending || time.Now().Before(retryAt)) {
		return c
	}
	complete := true
	c = &sysevent.Container{ID: id.Short(), FullID: id.Full, Type: string(id.Runtime), PodUID: id.PodUID}
	if r.meta != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		if m, err := r.meta.Lookup(ctx, id); err == nil && m != nil {
			m.ID, m.FullID = id.Short(), id.Full
			if m.Type == "" {
				m.Type = string(id.Runtime)
			}
			if m.PodUID == "" {
				m.PodUID = id.PodUID
			}
			c = m
		} else {
			complete = false
		}
		cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.byID[id.Full]; old != nil && !complete {
		r.retry[id.Full] = time.Now().Add(r.RetryAfter)
		return old // keep sharing the one the container's processes have
	}
	if len(r.byID) >= maxContainers {
		r.byID = map[string]*sysevent.Container{}
		r.retry = map[string]time.Time{}
	}
	r.byID[id.Full] = c
	if complete {
		delete(r.retry, id.Full)
	} else {
		r.retry[id.Full] = time.Now().Add(r.RetryAfter)
	}
	return c
}
