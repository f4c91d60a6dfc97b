// Package s3 writes each batch of alerts as one object of Falco JSON lines
// (gzip-compressed by default) to an S3 bucket, on AWS or any S3-compatible
// store (MinIO, Ceph, Garage...), with minio-go as the client.
//
// Object keys are <prefix>/<yyyy>/<mm>/<dd>/<first alert time>-<digest>.ndjson[.gz],
// the digest taken over the batch's alert ids: a batch redelivered after a
// crash rewrites the same object instead of adding a duplicate.
package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Config of one S3 output.
type Config struct {
	Name     string
	Bucket   string
	Prefix   string // "falco" by default
	Endpoint string // URL of an S3-compatible store; empty: AWS
	Region   string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key), as
	// most self-hosted stores need; otherwise bucket.endpoint/key.
	PathStyle bool
	// Static credentials; empty: the environment, shared files or
	// instance role (AWS's usual chain).
	AccessKeyID, SecretAccessKey, SessionToken string
	Gzip                                       bool // compress objects (.ndjson.gz)
	Timeout                                    time.Duration
	TLS                                        tlsconfig.Client
}

// Validate checks c without side effects.
func (c *Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("bucket is required")
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint %q: want an http:// or https:// URL", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("accesskeyid and secretaccesskey must be set together")
	}
	return nil
}

// Output is an S3 output.
type Output struct {
	cfg    Config
	client *minio.Client
}

// New builds an S3 output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "falco"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	host, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		u, _ := url.Parse(cfg.Endpoint)
		host, secure = u.Host, u.Scheme == "https"
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{}})
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	}
	tc, err := cfg.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region, BucketLookup: lookup,
		Transport: tr, MaxRetries: 1}) // retries are delivery's
	if err != nil {
		return nil, fmt.Errorf("s3 %s: %w", cfg.Name, err)
	}
	return &Output{cfg: cfg, client: c}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error { return nil }

// Key is the object key of a batch.
func (o *Output) Key(alerts []*harrierv1.Alert) string {
	h := sha256.New()
	first := time.Now().UTC()
	for i, a := range alerts {
		h.Write([]byte(a.GetId()))
		h.Write([]byte{0})
		if t := a.GetTime(); i == 0 && t != nil {
			first = t.AsTime().UTC()
		}
	}
	ext := ".ndjson"
	if o.cfg.Gzip {
		ext += ".gz"
	}
	return fmt.Sprintf("%s/%s/%s-%s%s", strings.Trim(o.cfg.Prefix, "/"), first.Format("2006/01/02"),
		first.Format("20060102T150405.000000000Z"), hex.EncodeToString(h.Sum(nil))[:16], ext)
}

// Deliver implements output.Output.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	var (
		buf   []byte
		items []output.ItemError
		kept  []*harrierv1.Alert
	)
	for i, a := range alerts {
		b, err := falcojson.AppendMarshal(buf, a)
		if err != nil {
			items = append(items, output.ItemError{Index: i, Err: output.Permanent(err)})
			continue
		}
		buf = append(b, '\n')
		kept = append(kept, a)
	}
	if len(kept) > 0 {
		body, ctype, enc := buf, "application/x-ndjson", ""
		if o.cfg.Gzip {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = zw.Write(buf)
			_ = zw.Close()
			body, enc = z.Bytes(), "gzip"
		}
		ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
		defer cancel()
		_, err := o.client.PutObject(ctx, o.cfg.Bucket, o.Key(kept), bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{ContentType: ctype, ContentEncoding: enc})
		if err != nil {
			return o.classify(err)
		}
	}
	if len(items) > 0 {
		return &output.PartialError{Items: items}
	}
	return nil
}

// classify says what the store answered and whether a retry can help.
func (o *Output) classify(err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.StatusCode == 0 { // no answer: network, TLS, timeout
		e := fmt.Errorf("s3 %s: %w", o.cfg.Name, err)
		if retry.TransientError(err) {
			return e
		}
		return output.Permanent(e)
	}
	e := fmt.Errorf("s3 %s: HTTP %d %s: %s (bucket %s)", o.cfg.Name, resp.StatusCode, resp.Code, resp.Message, o.cfg.Bucket)
	if retry.TransientStatus(resp.StatusCode) {
		return e
	}
	return output.Permanent(e)
}
