// Command harrier-router is Harrier's central tier: it receives alerts from
// sensors (gRPC) and from Falco (HTTP JSON), stores them durably and fans
// them out to Elasticsearch, Kafka, webhooks and live subscribers.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "harrier-router: not implemented yet")
	os.Exit(1)
}
