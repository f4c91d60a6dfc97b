package deploytest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"
)

// strictDecoder decodes the API groups the chart uses (core, apps, and the
// Prometheus Operator's monitoring.coreos.com), rejecting unknown and
// duplicate fields, and kinds of any other group. Registering only these
// groups, rather than client-go's whole scheme, keeps this module's build
// small; a template using another group adds it here.
var strictDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// manifest is one rendered document, decoded.
type manifest struct {
	Source string // the template that rendered it
	Object runtime.Object
	Raw    []byte
}

var sourceRE = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// helmTemplate renders the chart with helm template and extra arguments.
func helmTemplate(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	chart := filepath.Join(repoRoot(t), "charts", "harrier")
	cmd := exec.Command(helmBinary(t), append([]string{"template", "harrier", chart, "--namespace", "security"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// render renders and strictly decodes every document.
func render(t *testing.T, args ...string) []manifest {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	var ms []manifest
	for _, doc := range splitYAML(out) {
		src := "?"
		if m := sourceRE.FindSubmatch(doc); m != nil {
			src = string(m[1])
		}
		// YAMLToJSONStrict rejects duplicate keys, which a plain YAML decode
		// would silently resolve to the last one.
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			t.Errorf("%s: not valid YAML: %v\n%s", src, err, doc)
			continue
		}
		if string(js) == "null" {
			continue // a template that rendered nothing but comments
		}
		obj, gvk, err := strictDecoder.Decode(js, nil, nil)
		if err != nil {
			t.Errorf("%s: does not decode strictly into the Kubernetes API types: %v\n%s", src, err, doc)
			continue
		}
		if gvk.Kind == "" || gvk.Version == "" {
			t.Errorf("%s: no apiVersion/kind", src)
		}
		ms = append(ms, manifest{Source: src, Object: obj, Raw: doc})
	}
	if len(ms) == 0 {
		t.Fatalf("helm template %v rendered nothing", args)
	}
	return ms
}

// splitYAML splits a multi-document stream at "---" lines.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// find returns the objects of type T, by name.
func find[T interface {
	runtime.Object
	GetName() string
}](ms []manifest) map[string]T {
	out := map[string]T{}
	for _, m := range ms {
		if o, ok := m.Object.(T); ok {
			out[o.GetName()] = o
		}
	}
	return out
}

// one returns the only object of type T, failing otherwise.
func one[T interface {
	runtime.Object
	GetName() string
}](t *testing.T, ms []manifest) T {
	t.Helper()
	all := find[T](ms)
	if len(all) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d", zero, len(all))
	}
	for _, o := range all {
		return o
	}
	panic("unreachable")
}
