package transport

import (
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// roundRobin is gRPC's own balancer: one subchannel per router address,
// each new stream on the next ready one. A sensor keeps one long-lived
// stream, so sensors spread over the routers and a stream broken by a dead
// router is reopened on one that is up.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// routerTarget returns the dial target and options for one router, a DNS
// name with several records, or a list of routers.
func routerTarget(cfg Config) (string, []grpc.DialOption) {
	if len(cfg.Addrs) > 1 {
		// A static list: gRPC's manual resolver hands all addresses to the
		// balancer. Each carries its host name for TLS verification (the
		// target's authority is not a router name).
		addrs := make([]resolver.Address, len(cfg.Addrs))
		for i, a := range cfg.Addrs {
			host, _, err := net.SplitHostPort(a)
			if err != nil {
				host = a
			}
			addrs[i] = resolver.Address{Addr: a, ServerName: host}
		}
		r := manual.NewBuilderWithScheme("harrier-routers")
		r.InitialState(resolver.State{Addresses: addrs})
		return r.Scheme() + ":///routers", []grpc.DialOption{grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(roundRobin)}
	}
	if strings.HasPrefix(cfg.Addr, "dns:") {
		// gRPC's DNS resolver: every A/AAAA record is a router; it
		// resolves again when a connection fails.
		return cfg.Addr, []grpc.DialOption{grpc.WithDefaultServiceConfig(roundRobin)}
	}
	return cfg.Addr, nil
}

func routerNames(cfg Config) string {
	if len(cfg.Addrs) > 0 {
		return strings.Join(cfg.Addrs, ",")
	}
	return cfg.Addr
}
