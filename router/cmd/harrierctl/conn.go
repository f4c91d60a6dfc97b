package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// commandFlags is the flag set of the command name (errors and usage on
// stderr) with the connection flags registered.
func commandFlags(name string, stderr io.Writer) (*flag.FlagSet, *connFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := &connFlags{}
	cf.register(fs)
	return fs, cf
}

// call dials the router and runs rpc on the connection, with ctx bounded
// by timeout when it is above 0.
func (c *connFlags) call(ctx context.Context, timeout time.Duration, rpc func(context.Context, *grpc.ClientConn) error) error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return rpc(ctx, conn)
}

// connFlags are the flags every command that talks to the router shares.
type connFlags struct {
	router    string
	token     string
	tokenFile string
	tls       bool
	client    tlsconfig.Client
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.router, "router", envOr("HARRIER_ROUTER_ADDR", "127.0.0.1:2802"), "router gRPC address (env HARRIER_ROUTER_ADDR)")
	fs.StringVar(&c.token, "token", "", "bearer token (prefer --token-file or env HARRIER_TOKEN)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token")
	fs.BoolVar(&c.tls, "tls", false, "use TLS (implied by --ca/--cert)")
	fs.StringVar(&c.client.CAFile, "ca", "", "CA bundle to verify the router")
	fs.StringVar(&c.client.CertFile, "cert", "", "client certificate (mutual TLS)")
	fs.StringVar(&c.client.KeyFile, "key", "", "client key (mutual TLS)")
	fs.StringVar(&c.client.ServerName, "server-name", "", "expected server name in the router's certificate")
	fs.BoolVar(&c.client.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the router's certificate (testing only)")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

func (c *connFlags) dial() (*grpc.ClientConn, error) {
	token := c.token
	if token == "" {
		token = os.Getenv("HARRIER_TOKEN")
	}
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	useTLS := c.tls || c.client.CAFile != "" || c.client.CertFile != "" || c.client.InsecureSkipVerify
	var opts []grpc.DialOption
	if useTLS {
		tc, err := c.client.Config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: token, secure: useTLS}))
	}
	return grpc.NewClient(c.router, opts...)
}
