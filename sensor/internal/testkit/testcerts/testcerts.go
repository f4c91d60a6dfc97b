// Package testcerts makes a throwaway CA with server and client certificates
// for TLS and mTLS tests over loopback.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Set is a CA and certificates it signed, as PEM files in Dir and as parsed
// values.
type Set struct {
	Dir                           string
	CAFile                        string
	ServerCert, ServerKey         string // files
	ClientCert, ClientKey         string // files
	Pool                          *x509.CertPool
	Server, Client, OtherCAClient tls.Certificate
}

// New writes a fresh set into t.TempDir(). The server certificate is valid
// for 127.0.0.1, ::1 and localhost; OtherCAClient is signed by an unrelated CA.
func New(t testing.TB) *Set {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := ca(t, "harrier test CA")
	s := &Set{Dir: dir, Pool: x509.NewCertPool()}
	s.Pool.AddCert(caCert)
	s.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	var srvDER, cliDER []byte
	var srvKey, cliKey *ecdsa.PrivateKey
	s.Server, srvDER, srvKey = leaf(t, caKey, caCert, "127.0.0.1", true)
	s.Client, cliDER, cliKey = leaf(t, caKey, caCert, "harrier-sensor", false)
	s.ServerCert = writePEM(t, dir, "server.pem", "CERTIFICATE", srvDER)
	s.ServerKey = writePEM(t, dir, "server-key.pem", "EC PRIVATE KEY", ecDER(t, srvKey))
	s.ClientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER)
	s.ClientKey = writePEM(t, dir, "client-key.pem", "EC PRIVATE KEY", ecDER(t, cliKey))
	otherKey, otherCert, _ := ca(t, "unrelated CA")
	s.OtherCAClient, _, _ = leaf(t, otherKey, otherCert, "intruder", false)
	return s
}

// ServerTLS is a server config; requireClient turns on mTLS.
func (s *Set) ServerTLS(requireClient bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{s.Server}, MinVersion: tls.VersionTLS12}
	if requireClient {
		c.ClientCAs = s.Pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

// ClientTLS is a client config trusting the CA, presenting cert when given.
func (s *Set) ClientTLS(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: s.Pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func ca(t testing.TB, name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

func leaf(t testing.TB, caKey *ecdsa.PrivateKey, caCert *x509.Certificate, cn string, server bool) (tls.Certificate, []byte, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, key
}

func ecDER(t testing.TB, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
