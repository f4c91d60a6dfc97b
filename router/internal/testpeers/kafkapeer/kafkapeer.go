// Package kafkapeer runs an in-process Kafka cluster for tests
// (github.com/twmb/franz-go/pkg/kfake, which speaks the real protocol on a
// real loopback socket) that can be closed and restarted on the same port
// with its data, and reads topics back with kafka-go.
package kafkapeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Cluster is a single-broker kfake cluster persisted to a temporary
// directory, so a restart keeps what was produced.
type Cluster struct {
	addr string
	opts []kfake.Opt

	mu sync.Mutex
	c  *kfake.Cluster
}

// Start starts a cluster with topics seeded with partitions each (extra
// kfake options, e.g. kfake.EnableSASL(), are added). It is closed when tb
// ends.
func Start(tb testing.TB, partitions int32, topics []string, extra ...kfake.Opt) *Cluster {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("kafkapeer: %v", err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(tb.TempDir()),
		kfake.SeedTopics(partitions, topics...),
	}
	opts = append(opts, extra...)
	cl := &Cluster{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), opts: opts}
	if err := cl.start(); err != nil {
		tb.Fatalf("kafkapeer: %v", err)
	}
	tb.Cleanup(cl.Stop)
	return cl
}

// Addr is the bootstrap broker address, stable across restarts.
func (cl *Cluster) Addr() string { return cl.addr }

// Stop closes the cluster (its listener and every connection).
func (cl *Cluster) Stop() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c != nil {
		cl.c.Close()
		cl.c = nil
	}
}

// Restart starts a stopped cluster again on the same port with its data.
func (cl *Cluster) Restart(tb testing.TB) {
	tb.Helper()
	cl.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cl.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("kafkapeer: restart on %s: %v", cl.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (cl *Cluster) start() error {
	c, err := kfake.NewCluster(cl.opts...)
	if err != nil {
		return err
	}
	cl.mu.Lock()
	cl.c = c
	cl.mu.Unlock()
	return nil
}

// Kfake returns the running cluster (nil when stopped), for fault control.
func (cl *Cluster) Kfake() *kfake.Cluster {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.c
}

// ReadAll reads every message topic holds now (from offset 0 to the high
// watermark of each partition) with kafka-go; fewer than want is an error.
func ReadAll(ctx context.Context, addr, topic string, want int) ([]kafkago.Message, error) {
	return ReadAllWith(ctx, &kafkago.Dialer{Timeout: 10 * time.Second}, addr, topic, want)
}

// ReadAllWith is ReadAll through dialer (for TLS or SASL clusters).
func ReadAllWith(ctx context.Context, dialer *kafkago.Dialer, addr, topic string, want int) ([]kafkago.Message, error) {
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	var out []kafkago.Message
	for _, p := range parts {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers:   []string{addr},
			Topic:     topic,
			Partition: p.ID,
			MinBytes:  1,
			MaxBytes:  16 << 20,
			MaxWait:   50 * time.Millisecond,
			Dialer:    dialer,
		})
		// Read what the partition holds now: from its log start to its high
		// watermark. Offsets may have gaps (a batch the broker dropped when
		// it stopped mid-write), so stop at the watermark, not after a count.
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		first, last, err := offsets(lctx, dialer, addr, topic, p.ID)
		cancel()
		if err != nil {
			r.Close()
			return out, err
		}
		if last <= first {
			r.Close()
			continue
		}
		if err := r.SetOffset(first); err != nil {
			r.Close()
			return out, fmt.Errorf("partition %d: %w", p.ID, err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return out, fmt.Errorf("partition %d after %d messages: %w", p.ID, len(out), err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	if len(out) < want {
		return out, fmt.Errorf("read %d messages of %s, want %d", len(out), topic, want)
	}
	return out, nil
}

func offsets(ctx context.Context, dialer *kafkago.Dialer, addr, topic string, partition int) (first, last int64, err error) {
	conn, err := dialer.DialLeader(ctx, "tcp", addr, topic, partition)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	return conn.ReadOffsets()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
