// Package otlp exports alerts as OpenTelemetry log records over OTLP, by
// gRPC or by HTTP with a protobuf body (POST /v1/logs), to a collector or
// any OTLP logs receiver. One export request per batch; each alert is one
// log record whose body is the alert's output line and whose attributes
// are its rule, priority, source, tags, id and output fields.
package otlp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/httpout"
	"github.com/harrier-security/harrier/router/internal/output/message"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Protocols.
const (
	GRPC = "grpc"
	HTTP = "http/protobuf"
)

// Config of one OTLP output.
type Config struct {
	Name string
	// Endpoint is host:port for gRPC (4317), a base URL for HTTP
	// (http://collector:4318; /v1/logs is appended unless the URL has a
	// path).
	Endpoint    string
	Protocol    string // GRPC (default) or HTTP
	Insecure    bool   // gRPC without TLS
	Headers     map[string]string
	ServiceName string // resource service.name; "harrier" by default
	Timeout     time.Duration
	TLS         tlsconfig.Client
	Logger      *slog.Logger
}

// Validate checks c without side effects.
func (c *Config) Validate() error {
	switch c.Protocol {
	case "", GRPC:
		if c.Endpoint == "" || strings.Contains(c.Endpoint, "://") {
			return fmt.Errorf("endpoint %q: want host:port for grpc", c.Endpoint)
		}
	case HTTP:
		if err := httpout.ValidURL(c.Endpoint); err != nil {
			return fmt.Errorf("endpoint %w", err)
		}
	default:
		return fmt.Errorf("protocol %q: want grpc or http/protobuf", c.Protocol)
	}
	return nil
}

// Output is an OTLP logs exporter.
type Output struct {
	cfg  Config
	url  string
	http *httpout.Client

	conn *grpc.ClientConn
	grpc collogs.LogsServiceClient
}

// New builds an OTLP output; gRPC connects lazily.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Protocol == "" {
		cfg.Protocol = GRPC
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "harrier"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	o := &Output{cfg: cfg}
	if cfg.Protocol == HTTP {
		c, err := httpout.New(cfg.Name, cfg.Timeout, cfg.TLS)
		if err != nil {
			return nil, err
		}
		c.Headers = cfg.Headers
		for _, v := range cfg.Headers {
			c.Secrets = append(c.Secrets, v)
		}
		o.http, o.url = c, cfg.Endpoint
		if u := strings.TrimRight(cfg.Endpoint, "/"); strings.Count(u, "/") == 2 { // no path
			o.url = u + "/v1/logs"
		}
		return o, nil
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if !cfg.Insecure {
		tc, err := cfg.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(cfg.Endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("otlp %s: %w", cfg.Name, err)
	}
	o.conn, o.grpc = conn, collogs.NewLogsServiceClient(conn)
	return o, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error {
	if o.http != nil {
		o.http.Close()
	}
	if o.conn != nil {
		return o.conn.Close()
	}
	return nil
}

// Deliver implements output.Output.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	req := o.Request(alerts, time.Now())
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	var (
		res *collogs.ExportLogsServiceResponse
		err error
	)
	if o.http != nil {
		res, err = o.exportHTTP(ctx, req)
	} else {
		res, err = o.exportGRPC(ctx, req)
	}
	if err != nil {
		return err
	}
	// A partial success must not be retried (OTLP spec); say what the
	// receiver dropped.
	if ps := res.GetPartialSuccess(); ps.GetRejectedLogRecords() > 0 || ps.GetErrorMessage() != "" {
		o.cfg.Logger.Warn("otlp receiver rejected log records", "output", o.cfg.Name,
			"rejected", ps.GetRejectedLogRecords(), "message", ps.GetErrorMessage())
	}
	return nil
}

func (o *Output) exportGRPC(ctx context.Context, req *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	if len(o.cfg.Headers) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, metadata.New(lower(o.cfg.Headers)))
	}
	res, err := o.grpc.Export(ctx, req)
	if err == nil {
		return res, nil
	}
	st := grpcstatus.Convert(err)
	err = fmt.Errorf("otlp %s: %s: %s", o.cfg.Name, st.Code(), o.scrub(st.Message()))
	// Retryable codes per the OTLP specification.
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.OutOfRange,
		codes.Unavailable, codes.DataLoss:
		return nil, err
	}
	return nil, output.Permanent(err)
}

func (o *Output) exportHTTP(ctx context.Context, req *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, output.Permanent(err)
	}
	ans, err := o.http.Do(ctx, http.MethodPost, o.url, body, map[string]string{"Content-Type": "application/x-protobuf"})
	if err != nil {
		// Failures carry a google.rpc.Status: quote its message, not bytes.
		var se *httpout.StatusError
		var st status.Status
		if errors.As(err, &se) && proto.Unmarshal(ans.Body, &st) == nil && st.GetMessage() != "" {
			se.Excerpt = o.http.Excerpt([]byte(st.GetMessage()))
		}
		return nil, err
	}
	res := &collogs.ExportLogsServiceResponse{}
	if err := proto.Unmarshal(ans.Body, res); err != nil {
		return &collogs.ExportLogsServiceResponse{}, nil // delivered; an odd answer is not a failure
	}
	return res, nil
}

func (o *Output) scrub(s string) string {
	for _, v := range o.cfg.Headers {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	return s
}

func lower(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// Severity maps a Falco priority to an OpenTelemetry severity number.
func Severity(p harrierv1.Priority) logspb.SeverityNumber {
	switch p {
	case harrierv1.Priority_PRIORITY_EMERGENCY:
		return logspb.SeverityNumber_SEVERITY_NUMBER_FATAL
	case harrierv1.Priority_PRIORITY_ALERT:
		return logspb.SeverityNumber_SEVERITY_NUMBER_ERROR4
	case harrierv1.Priority_PRIORITY_CRITICAL:
		return logspb.SeverityNumber_SEVERITY_NUMBER_ERROR3
	case harrierv1.Priority_PRIORITY_ERROR:
		return logspb.SeverityNumber_SEVERITY_NUMBER_ERROR
	case harrierv1.Priority_PRIORITY_WARNING:
		return logspb.SeverityNumber_SEVERITY_NUMBER_WARN
	case harrierv1.Priority_PRIORITY_NOTICE:
		return logspb.SeverityNumber_SEVERITY_NUMBER_INFO2
	case harrierv1.Priority_PRIORITY_INFORMATIONAL:
		return logspb.SeverityNumber_SEVERITY_NUMBER_INFO
	case harrierv1.Priority_PRIORITY_DEBUG:
		return logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG
	}
	return logspb.SeverityNumber_SEVERITY_NUMBER_UNSPECIFIED
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// Request builds the export request: one resource (service.name,
// host.name) per hostname, one log record per alert, in batch order.
func (o *Output) Request(alerts []*harrierv1.Alert, now time.Time) *collogs.ExportLogsServiceRequest {
	req := &collogs.ExportLogsServiceRequest{}
	byHost := map[string]*logspb.ScopeLogs{}
	for _, a := range alerts {
		sl, ok := byHost[a.GetHostname()]
		if !ok {
			attrs := []*commonpb.KeyValue{str("service.name", o.cfg.ServiceName)}
			if h := a.GetHostname(); h != "" {
				attrs = append(attrs, str("host.name", h))
			}
			sl = &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "harrier-router"}}
			req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{
				Resource: &resourcepb.Resource{Attributes: attrs}, ScopeLogs: []*logspb.ScopeLogs{sl}})
			byHost[a.GetHostname()] = sl
		}
		sl.LogRecords = append(sl.LogRecords, o.record(a, now))
	}
	return req
}

func (o *Output) record(a *harrierv1.Alert, now time.Time) *logspb.LogRecord {
	r := &logspb.LogRecord{
		ObservedTimeUnixNano: uint64(now.UnixNano()),
		SeverityNumber:       Severity(a.GetPriority()),
		SeverityText:         a.GetPriority().FalcoName(),
		Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: a.GetOutput()}},
		EventName:            "falco.alert",
	}
	if t := a.GetTime(); t != nil {
		r.TimeUnixNano = uint64(t.AsTime().UnixNano())
	}
	r.Attributes = []*commonpb.KeyValue{
		str("falco.rule", a.GetRule()), str("falco.priority", a.GetPriority().FalcoName()),
		str("falco.source", a.GetSource()), str("falco.uuid", a.GetId()),
	}
	if len(a.GetTags()) > 0 {
		var vs []*commonpb.AnyValue
		for _, t := range a.GetTags() {
			vs = append(vs, &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: t}})
		}
		r.Attributes = append(r.Attributes, &commonpb.KeyValue{Key: "falco.tags",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}})
	}
	names := make([]string, 0, len(a.GetOutputFields()))
	for k := range a.GetOutputFields() {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r.Attributes = append(r.Attributes, fieldAttr("falco.output_fields."+k, a.GetOutputFields()[k]))
	}
	return r
}

func fieldAttr(k string, v *harrierv1.FieldValue) *commonpb.KeyValue {
	switch x := v.GetKind().(type) {
	case *harrierv1.FieldValue_IntValue:
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: x.IntValue}}}
	case *harrierv1.FieldValue_BoolValue:
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: x.BoolValue}}}
	}
	return str(k, message.FieldString(v))
}
