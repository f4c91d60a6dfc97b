package s3

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

var t0 = time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)

func alert(id string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "r", Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall",
		Output: "o " + id, Time: timestamppb.New(t0), Hostname: "h"}
}

// store is gofakes3 (an S3 API implementation) over a real socket, with
// a bucket; reader reads it back with an independent client.
func store(t *testing.T) (url string, reader *minio.Client) {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("alerts"); err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("AK", "SK", ""), BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, c
}

func objects(t *testing.T, c *minio.Client) map[string][]string {
	out := map[string][]string{}
	for obj := range c.ListObjects(context.Background(), "alerts", minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		r, err := c.GetObject(context.Background(), "alerts", obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var rd io.Reader = r
		if strings.HasSuffix(obj.Key, ".gz") {
			if rd, err = gzip.NewReader(r); err != nil {
				t.Fatalf("%s: %v", obj.Key, err)
			}
		}
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			a, err := falcojson.Unmarshal(sc.Bytes())
			if err != nil {
				t.Fatalf("%s: %v", obj.Key, err)
			}
			out[obj.Key] = append(out[obj.Key], a.GetId())
		}
		r.Close()
	}
	return out
}

func TestDeliverBatchesAsObjects(t *testing.T) {
	for _, gz := range []bool{true, false} {
		url, reader := store(t)
		o, err := New(Config{Name: "s3", Bucket: "alerts", Prefix: "falco/", Endpoint: url, Region: "us-east-1", PathStyle: true,
			AccessKeyID: "AK", SecretAccessKey: "SK", Gzip: gz})
		if err != nil {
			t.Fatal(err)
		}
		batch := []*harrierv1.Alert{alert("a"), alert("b")}
		for range 2 { // a redelivered batch rewrites the same object
			if err := o.Deliver(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("c")}); err != nil {
			t.Fatal(err)
		}
		got := objects(t, reader)
		key := o.Key(batch)
		if len(got) != 2 || strings.Join(got[key], ",") != "a,b" || !strings.HasPrefix(key, "falco/2026/11/24/20261124T010203") ||
			strings.HasSuffix(key, ".gz") != gz {
			t.Fatalf("gzip %v: objects %v (key %s)", gz, got, key)
		}
	}
}

func TestMissingBucketIsReported(t *testing.T) {
	url, _ := store(t)
	o, err := New(Config{Name: "s3", Bucket: "nope", Endpoint: url, Region: "us-east-1", PathStyle: true, AccessKeyID: "AK", SecretAccessKey: "SK"})
	if err != nil {
		t.Fatal(err)
	}
	err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a")})
	if err == nil || !output.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 404 NoSuchBucket") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnreachableIsTransient(t *testing.T) {
	o, err := New(Config{Name: "s3", Bucket: "b", Endpoint: "http://127.0.0.1:1", PathStyle: true, AccessKeyID: "AK", SecretAccessKey: "SK", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a")})
	if err == nil || output.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{}, {Bucket: "b", Endpoint: "minio:9000"}, {Bucket: "b", AccessKeyID: "x"}} {
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
