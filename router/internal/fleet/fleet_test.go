package fleet

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

const goodRule = `- rule: Namespace created
  desc: d
  condition: ka.verb = create and ka.target.resource = namespaces
  output: ns %ka.target.name
  priority: NOTICE
  source: k8s_audit
`

func file(name, content string) *harrierv1.RuleFile {
	return &harrierv1.RuleFile{Name: name, Content: []byte(content)}
}

func TestPushValidatesStoresAndRollsBack(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := s.AdminServer()
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer secret-admin-token-123"))

	refusals := []struct {
		name  string
		files []*harrierv1.RuleFile
		want  string
	}{
		{"no files", nil, "no rules files"},
		{"path in name", []*harrierv1.RuleFile{file("../x.yaml", goodRule)}, "want a base name"},
		{"same name twice", []*harrierv1.RuleFile{file("a.yaml", goodRule), file("a.yaml", goodRule)}, "given twice"},
		{"unknown field", []*harrierv1.RuleFile{file("bad.yaml", strings.Replace(goodRule, "ka.verb", "ka.nosuch", 1))}, "bad.yaml:3:"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.PushRules(ctx, &harrierv1.PushRulesRequest{Files: tc.files})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want InvalidArgument with %q", err, tc.want)
			}
		})
	}
	if s.Current() != nil {
		t.Fatal("a refused push was stored")
	}

	r1, err := admin.PushRules(ctx, &harrierv1.PushRulesRequest{Files: []*harrierv1.RuleFile{file("a.yaml", goodRule)}, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	second := goodRule + strings.ReplaceAll(goodRule, "Namespace created", "Namespace created again")
	r2, err := admin.PushRules(ctx, &harrierv1.PushRulesRequest{Files: []*harrierv1.RuleFile{file("a.yaml", second)}})
	if err != nil {
		t.Fatal(err)
	}
	if r1.GetRuleset().GetRevision() != 1 || r2.GetRuleset().GetRevision() != 2 || r1.GetRuleset().GetDigest() == r2.GetRuleset().GetDigest() {
		t.Fatalf("revisions %v %v", r1.GetRuleset(), r2.GetRuleset())
	}
	if a := r1.GetRuleset().GetAuthor(); !strings.HasPrefix(a, "alice (token sha256:") || strings.Contains(a, "secret") {
		t.Fatalf("author %q", a)
	}
	if len(r1.GetRuleset().GetFiles()[0].GetContent()) != 0 {
		t.Fatal("the response carries file contents")
	}
	rb, err := admin.RollbackRules(ctx, &harrierv1.RollbackRulesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rb.GetRuleset().GetRevision() != 3 || rb.GetRuleset().GetDigest() != r1.GetRuleset().GetDigest() {
		t.Fatalf("rollback stored %v", rb.GetRuleset())
	}
	if _, err := admin.RollbackRules(ctx, &harrierv1.RollbackRulesRequest{ToRevision: 9}); status.Code(err) != codes.NotFound {
		t.Fatalf("rollback to a missing revision: %v", err)
	}

	// Revisions survive a restart, full contents included.
	s2, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cur := s2.Current()
	if cur.GetRevision() != 3 || cur.GetDigest() != r1.GetRuleset().GetDigest() || string(cur.GetFiles()[0].GetContent()) != goodRule {
		t.Fatalf("reopened current %v", cur)
	}
	st, err := s2.AdminServer().RulesStatus(ctx, &harrierv1.RulesStatusRequest{})
	if err != nil || len(st.GetHistory()) != 3 || st.GetHistory()[0].GetRevision() != 3 {
		t.Fatalf("status %v %v", st, err)
	}
}

func TestWants(t *testing.T) {
	cur := &harrierv1.Ruleset{Revision: 4}
	tests := []struct {
		rep  *harrierv1.SensorReport
		want bool
	}{
		{&harrierv1.SensorReport{CentralRules: true}, true},
		{&harrierv1.SensorReport{CentralRules: false}, false},
		{&harrierv1.SensorReport{CentralRules: true, RulesetRevision: 4}, false},
		{&harrierv1.SensorReport{CentralRules: true, RulesetRevision: 3, RefusedRevision: 4}, false},
		{&harrierv1.SensorReport{CentralRules: true, RulesetRevision: 3, RefusedRevision: 2}, true},
	}
	for _, tc := range tests {
		if got := wants(tc.rep, cur); got != tc.want {
			t.Errorf("wants(%v) = %v", tc.rep, got)
		}
	}
}
