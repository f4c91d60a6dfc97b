package otlp

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

var t0 = time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)

func alert(id, host string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "Terminal shell", Priority: harrierv1.Priority_PRIORITY_CRITICAL, Source: "syscall",
		Output: "shell " + id, Time: timestamppb.New(t0), Hostname: host, Tags: []string{"shell"},
		OutputFields: map[string]*harrierv1.FieldValue{
			"proc.pid":    {Kind: &harrierv1.FieldValue_IntValue{IntValue: 42}},
			"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "prod"}},
		}}
}

// receiver is an OTLP logs receiver built on the OTLP protocol's own Go
// packages (go.opentelemetry.io/proto/otlp), over a real gRPC socket and
// real HTTP: the same messages a collector's receiver decodes.
type receiver struct {
	collogs.UnimplementedLogsServiceServer
	mu      sync.Mutex
	reqs    []*collogs.ExportLogsServiceRequest
	headers []string
	fail    error // returned when set
}

func (r *receiver) Export(ctx context.Context, req *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	r.headers = append(r.headers, strings.Join(md.Get("authorization"), ","))
	if r.fail != nil {
		return nil, r.fail
	}
	r.reqs = append(r.reqs, req)
	return &collogs.ExportLogsServiceResponse{}, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	if req.URL.Path != "/v1/logs" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var in collogs.ExportLogsServiceRequest
	if err := proto.Unmarshal(b, &in); err != nil {
		st, _ := proto.Marshal(&status.Status{Code: int32(codes.InvalidArgument), Message: "bad body: " + err.Error()})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(st)
		return
	}
	ctx := metadata.NewIncomingContext(req.Context(), metadata.Pairs("authorization", req.Header.Get("Authorization")))
	res, err := r.Export(ctx, &in)
	if err != nil {
		st, _ := proto.Marshal(grpcstatus.Convert(err).Proto())
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(st)
		return
	}
	out, _ := proto.Marshal(res)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func startGRPC(t *testing.T, r *receiver) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	collogs.RegisterLogsServiceServer(s, r)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func TestExportBothProtocols(t *testing.T) {
	for _, proto := range []string{GRPC, HTTP} {
		t.Run(proto, func(t *testing.T) {
			r := &receiver{}
			cfg := Config{Name: "otlp", Protocol: proto, Insecure: true, Headers: map[string]string{"Authorization": "Bearer tok-1234"}}
			if proto == GRPC {
				cfg.Endpoint = startGRPC(t, r)
			} else {
				srv := httptest.NewServer(r)
				defer srv.Close()
				cfg.Endpoint = srv.URL
			}
			o, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a", "node-1"), alert("b", "node-2"), alert("c", "node-1")}); err != nil {
				t.Fatal(err)
			}
			if len(r.reqs) != 1 || r.headers[0] != "Bearer tok-1234" {
				t.Fatalf("requests %d, headers %v", len(r.reqs), r.headers)
			}
			rl := r.reqs[0].GetResourceLogs()
			if len(rl) != 2 || len(rl[0].GetScopeLogs()[0].GetLogRecords()) != 2 {
				t.Fatalf("resource logs %v", rl)
			}
			rec := rl[0].GetScopeLogs()[0].GetLogRecords()[1]
			attrs := map[string]string{}
			for _, kv := range rec.GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue().String()
			}
			if rec.GetBody().GetStringValue() != "shell c" || rec.GetSeverityNumber() != logspb.SeverityNumber_SEVERITY_NUMBER_ERROR3 ||
				rec.GetTimeUnixNano() != uint64(t0.UnixNano()) || !strings.Contains(attrs["falco.uuid"], `"c"`) ||
				!strings.Contains(attrs["falco.output_fields.proc.pid"], "42") || !strings.Contains(attrs["falco.tags"], "shell") {
				t.Fatalf("record %v attrs %v", rec, attrs)
			}
			if host := rl[0].GetResource().GetAttributes()[1]; host.GetKey() != "host.name" || host.GetValue().GetStringValue() != "node-1" {
				t.Fatalf("resource %v", rl[0].GetResource())
			}
		})
	}
}

func TestRefusalsClassified(t *testing.T) {
	tests := []struct {
		proto     string
		fail      error
		permanent bool
		want      string
	}{
		{GRPC, grpcstatus.Error(codes.Unavailable, "collector restarting"), false, "Unavailable: collector restarting"},
		{GRPC, grpcstatus.Error(codes.InvalidArgument, "bad record"), true, "InvalidArgument: bad record"},
		{HTTP, grpcstatus.Error(codes.InvalidArgument, "bad record"), true, "HTTP 400: bad record"},
	}
	for _, tt := range tests {
		t.Run(tt.proto+tt.want, func(t *testing.T) {
			r := &receiver{fail: tt.fail}
			cfg := Config{Name: "otlp", Protocol: tt.proto, Insecure: true}
			if tt.proto == GRPC {
				cfg.Endpoint = startGRPC(t, r)
			} else {
				srv := httptest.NewServer(r)
				defer srv.Close()
				cfg.Endpoint = srv.URL
			}
			o, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a", "h")})
			if err == nil || output.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (permanent %v)", err, output.IsPermanent(err))
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{Endpoint: "http://c:4317"}, {Protocol: HTTP, Endpoint: "c:4318"}, {Protocol: "http/json", Endpoint: "c:1"}} {
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
