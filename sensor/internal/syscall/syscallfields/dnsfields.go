package syscallfields

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/dnsnames"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// resolver resolves the names rules compare fd.*ip.name with. The registry
// is shared by the whole process, and so is the resolver; it looks names
// up only once StartDNS has been called (by the daemon).
var resolver atomic.Pointer[dnsnames.Resolver]

func init() { resolver.Store(dnsnames.New(dnsnames.Options{})) }

// StartDNS starts resolving, until ctx ends, the domain names that loaded
// rules compare the fd.*ip.name fields with (Falco resolves them in the
// background and refreshes them; so does this).
func StartDNS(ctx context.Context) { resolver.Load().Start(ctx) }

// dnsName builds fd.cip.name and the like as libsinsp does: a condition's
// names are resolved in the background and the field holds the watched
// names the address resolved to, so fd.sip.name = api.example.com holds
// for a connection to any address of that name. Unresolved: no value.
func dnsName(name, desc string, ip func(*sysevent.FD) netip.Addr) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindString, List: true, AnyOf: true, Desc: desc,
		Watch: func(values []string) { resolver.Load().Watch(values...) },
		Bind: func(arg string) (fields.Extract, error) {
			ex, err := noArg(func(e fields.Event, out *fields.Value) bool {
				f := socketFD(e)
				if f == nil {
					return false
				}
				names := resolver.Load().Names(ip(f))
				if len(names) == 0 {
					return false
				}
				out.Kind, out.IsList = fields.KindString, true
				out.Strs = append(out.Strs[:0], names...) // a copy: the map is shared
				return true
			})(arg)
			return ex, err
		}}
}
