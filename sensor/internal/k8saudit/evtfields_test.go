package k8saudit

import "testing"

// TestGenericEvtFields: libsinsp's generic evt.* fields exist on every
// source in Falco (they are fields of the event, not of a plugin), so
// k8s_audit rules and outputs may use evt.time and the like.
func TestGenericEvtFields(t *testing.T) {
	var ev *Event
	if err := DecodeBytes([]byte(podEvent), func(e *Event) error { ev = e; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ field, want string }{
		{"evt.time", "10:00:00.123456789"},
		{"evt.time.s", "10:00:00"},
		{"evt.time.iso8601", "2024-05-01T10:00:00.123456789Z"},
		{"evt.datetime", "2024-05-01 10:00:00.123456789"},
		{"evt.datetime.s", "2024-05-01 10:00:00"},
		{"evt.source", "k8s_audit"},
		{"evt.pluginname", "k8saudit"},
	} {
		if got := render(extract(t, ev, tt.field)); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
		}
	}
	if v, ok := extract(t, ev, "evt.rawtime"); !ok || v.Int != ev.Time().UnixNano() {
		t.Errorf("evt.rawtime = %v", v.Int)
	}
	if v, ok := extract(t, ev, "evt.rawtime.ns"); !ok || v.Uint != 123456789 {
		t.Errorf("evt.rawtime.ns = %v", v.Uint)
	}
}
