package kafka_test

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/kafka"
	"github.com/harrier-security/harrier/router/internal/testcerts"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// TestMutualTLS runs the cluster with TLS that requires client
// certificates: the output gets in with its certificate and the CA, and is
// refused (transiently: an operator fixes certificates) without them.
func TestMutualTLS(t *testing.T) {
	certs, err := testcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverCfg, err := tlsconfig.Server{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CA}.Config()
	if err != nil {
		t.Fatal(err)
	}
	cl := kafkapeer.Start(t, 1, []string{"falco"}, kfake.TLS(serverCfg))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	good := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco",
		TLS: &tlsconfig.Client{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}})
	in := alerts("mtls", 5, 1)
	if err := good.Deliver(ctx, in); err != nil {
		t.Fatalf("Deliver over mutual TLS: %v", err)
	}
	clientTLS, err := tlsconfig.Client{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}.Config()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := kafkapeer.ReadAllWith(ctx, &kafkago.Dialer{Timeout: 5 * time.Second, TLS: clientTLS}, cl.Addr(), "falco", len(in))
	if err != nil || len(msgs) != len(in) {
		t.Fatalf("read back %d messages (%v), want %d", len(msgs), err, len(in))
	}

	for name, c := range map[string]*tlsconfig.Client{
		"no client certificate": {CAFile: certs.CA},
		"unknown CA":            {CertFile: certs.ClientCert, KeyFile: certs.ClientKey},
	} {
		bad := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco", Timeout: 2 * time.Second, TLS: c})
		err := bad.Deliver(ctx, alerts("mtls-bad", 1, 1))
		if err == nil {
			t.Errorf("%s: Deliver succeeded", name)
		} else if output.IsPermanent(err) {
			t.Errorf("%s: TLS failure is permanent: %v", name, err)
		}
	}
	// A plaintext client cannot talk to it either.
	plain := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco", Timeout: 2 * time.Second})
	if err := plain.Deliver(ctx, alerts("plain", 1, 1)); err == nil {
		t.Error("plaintext Deliver to a TLS cluster succeeded")
	}
}
