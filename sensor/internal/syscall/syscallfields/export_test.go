package syscallfields

import "github.com/harrier-security/harrier/sensor/internal/syscall/dnsnames"

// UseResolver makes the fd.*ip.name fields bound from now on use r; the
// returned function restores the previous resolver.
func UseResolver(r *dnsnames.Resolver) (restore func()) {
	prev := resolver.Swap(r)
	return func() { resolver.Store(prev) }
}
