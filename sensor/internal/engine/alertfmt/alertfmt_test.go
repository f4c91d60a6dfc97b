package alertfmt

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

const auditEvent = `{"kind":"Event","auditID":"id-1","stage":"ResponseComplete","verb":"create",
"requestURI":"/api/v1/namespaces/ns1/pods/p1/exec?command=id","user":{"username":"alice","groups":["a","b"]},
"objectRef":{"resource":"pods","namespace":"ns1","name":"p1","subresource":"exec"},
"responseStatus":{"code":201},"requestObject":{"spec":{"containers":[{"image":"nginx:1"},{"image":"busybox"}]}},
"stageTimestamp":"2024-05-01T10:11:12.123456789Z"}`

func event(t *testing.T) *k8saudit.Event {
	t.Helper()
	e, err := k8saudit.ParseEvent([]byte(auditEvent))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRender(t *testing.T) {
	reg := k8saudit.Registry()
	tests := []struct {
		format, want string
		fields       []string
	}{
		{"user=%ka.user.name verb=%ka.verb", "user=alice verb=create", []string{"ka.user.name", "ka.verb"}},
		{"target=%ka.target.name/%ka.target.resource.", "target=p1/pods.", []string{"ka.target.name", "ka.target.resource"}},
		{"cmd=%ka.uri.param[command] images=%ka.req.pod.containers.image", "cmd=id images=(nginx:1,busybox)", []string{"ka.uri.param[command]", "ka.req.pod.containers.image"}},
		{"first=%ka.req.pod.containers.image[0] ptr=%jevt.value[/objectRef/namespace]", "first=(nginx:1) ptr=ns1", []string{"ka.req.pod.containers.image[0]", "jevt.value[/objectRef/namespace]"}},
		{"missing=%ka.impuser.name reason=%ka.response.reason", "missing=<NA> reason=<NA>", []string{"ka.impuser.name", "ka.response.reason"}},
		{"%toupper(ka.verb) by %ka.user.name and %ka.user.name", "CREATE by alice and alice", []string{"toupper(ka.verb)", "ka.user.name"}},
		{"*100% sure (%ka.verb)", "100% sure (create)", []string{"ka.verb"}},
		{"no fields at all", "no fields at all", []string{}},
		{"[%8ka.verb][%3ka.user.name]", "[create  ][ali]", []string{"ka.verb", "ka.user.name"}},
	}
	ev := event(t)
	for _, tt := range tests {
		f, err := Compile(tt.format, reg)
		if err != nil {
			t.Errorf("%q: %v", tt.format, err)
			continue
		}
		got, vals := f.Render(nil, ev)
		if string(got) != tt.want {
			t.Errorf("%q rendered %q, want %q", tt.format, got, tt.want)
		}
		if !slices.Equal(f.Fields(), tt.fields) || len(vals) != len(tt.fields) {
			t.Errorf("%q: fields %v (%d values), want %v", tt.format, f.Fields(), len(vals), tt.fields)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	reg := k8saudit.Registry()
	tests := []struct {
		format  string
		offset  int
		unknown bool
	}{
		{"user=%ka.usr.name", 5, true},
		{"x %nosuch", 2, true},
		{"*a %ka.uri.param[command", 3, false},
		{"%ka.req.pod.containers.image[x]", 0, false},
	}
	for _, tt := range tests {
		_, err := Compile(tt.format, reg)
		var fe *Error
		if !errors.As(err, &fe) || fe.Offset != tt.offset {
			t.Errorf("%q: err %v, want an *Error at offset %d", tt.format, err, tt.offset)
			continue
		}
		var uf *filter.UnknownFieldError
		if errors.As(err, &uf) != tt.unknown {
			t.Errorf("%q: unknown field error = %v, want %v", tt.format, errors.As(err, &uf), tt.unknown)
		}
	}
}

func TestTypedFields(t *testing.T) {
	f, err := Compile("%ka.user.name %ka.user.groups %ka.impuser.name %jevt.rawtime", k8saudit.Registry())
	if err != nil {
		t.Fatal(err)
	}
	_, vals := f.Render(nil, event(t))
	if vals["ka.user.name"].GetStringValue() != "alice" {
		t.Errorf("string: %v", vals["ka.user.name"])
	}
	if got := vals["ka.user.groups"].GetStringList().GetValues(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("list: %v", got)
	}
	if _, ok := vals["ka.impuser.name"].GetKind().(*harrierv1.FieldValue_NullValue); !ok {
		t.Errorf("missing: %v", vals["ka.impuser.name"])
	}
	if vals["jevt.rawtime"].GetUintValue() != uint64(event(t).Time().UnixNano()) {
		t.Errorf("uint: %v", vals["jevt.rawtime"])
	}
}

type untimed struct{}

func (untimed) Source() string { return k8saudit.Source }
func (untimed) TypeID() uint16 { return 0 }

// timed is an audit-source event that knows its time.
type timed struct {
	untimed
	at time.Time
}

func (e timed) EventTime() time.Time { return e.at }

// TestEverySourceIsTimed: the events of every source carry their own time
// into alerts, whoever builds them (daemon, replay, live tests), with no
// hook to forget.
func TestEverySourceIsTimed(t *testing.T) {
	at := time.Date(2021, 6, 7, 8, 9, 10, 11, time.UTC)
	audit, err := k8saudit.ParseEvent([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stageTimestamp":"2021-06-07T08:09:10.000000011Z","verb":"get"}`))
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Location: time.UTC}
	r := &Rule{Name: "r", Priority: harrierv1.Priority_PRIORITY_NOTICE}
	for _, tc := range []struct {
		name string
		ev   fields.Event
	}{
		{"syscall", &sysevent.Event{Type: sysevent.SysOpenat, Time: at.UnixNano()}},
		{"k8s_audit", audit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.ev.(Timed); !ok {
				t.Fatalf("%T does not carry its time (alertfmt.Timed)", tc.ev)
			}
			a := b.Alert(r, tc.ev)
			if !a.GetTime().AsTime().Equal(at) || !strings.HasPrefix(a.GetOutput(), "08:09:10.000000011: ") {
				t.Errorf("alert time %v, output %q; want the event's time %v", a.GetTime().AsTime(), a.GetOutput(), at)
			}
		})
	}
}

func TestAlert(t *testing.T) {
	f, err := Compile("Exec into %ka.target.name (user=%ka.user.name)", k8saudit.Registry())
	if err != nil {
		t.Fatal(err)
	}
	r := &Rule{Name: "Attach/Exec Pod", Priority: harrierv1.Priority_PRIORITY_NOTICE, Source: k8saudit.Source, Tags: []string{"k8s"}, Output: f}
	b := &Builder{Hostname: "node-1", SensorID: "s1", RulesetVersion: "v1", Location: time.UTC}
	ev := event(t)
	a := b.Alert(r, ev)
	if a.GetOutput() != "10:11:12.123456789: Notice Exec into p1 (user=alice)" {
		t.Errorf("output %q", a.GetOutput())
	}
	if !a.GetTime().AsTime().Equal(ev.Time()) || a.GetRule() != r.Name || a.GetPriority() != r.Priority || a.GetSource() != "k8s_audit" ||
		a.GetHostname() != "node-1" || a.GetSensorId() != "s1" || a.GetRulesetVersion() != "v1" || !slices.Equal(a.GetTags(), []string{"k8s"}) {
		t.Errorf("alert %v", a)
	}
	id, err := uuid.Parse(a.GetId())
	if err != nil || id.Version() != 7 {
		t.Errorf("id %q is not a UUIDv7: %v", a.GetId(), err)
	}
	if b.Alert(r, ev).GetId() == a.GetId() {
		t.Error("two alerts share an id")
	}
	r.Tags[0] = "changed"
	if a.GetTags()[0] != "k8s" {
		t.Error("alert shares the rule's tags slice")
	}
	// Events carry their time; those without one get the current time.
	at := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	if got := b.Alert(r, timed{at: at}); !got.GetTime().AsTime().Equal(at) || got.GetOutput()[:18] != "03:04:05.000000006" {
		t.Errorf("event time: %v %q", got.GetTime().AsTime(), got.GetOutput())
	}
	// Falco's time_format_iso_8601: the UTC time in ISO 8601, whatever
	// the location.
	iso := &Builder{ISO8601: true, Location: time.FixedZone("X", 3600)}
	if got := iso.Alert(r, timed{at: at}).GetOutput(); !strings.HasPrefix(got, "2020-01-02T03:04:05.000000006Z: Notice ") {
		t.Errorf("ISO 8601 output %q", got)
	}
	if got := b.Alert(r, untimed{}); time.Since(got.GetTime().AsTime()) > time.Minute {
		t.Errorf("untimed event got %v", got.GetTime().AsTime())
	}
}
