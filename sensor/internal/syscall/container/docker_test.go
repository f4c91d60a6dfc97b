package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestDockerFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "containers", hexID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.v2.json"), []byte(`{"ID":"`+hexID+`","Name":"/web","Image":"sha256:feed",
		"Created":"2024-01-01T00:00:00Z","State":{"Running":true,"StartedAt":"2024-01-02T03:04:05.123456789Z"},
		"Config":{"Image":"docker.io/library/nginx:1.25","Labels":{"io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"prod","team":"a"}}}`), 0o600)
	os.WriteFile(filepath.Join(dir, "hostconfig.json"), []byte(`{"Privileged":true}`), 0o600)

	r := NewResolver(DockerFiles{Root: root})
	c := resolveNow(t, r, "0::/system.slice/docker-"+hexID+".scope\n")
	want := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC).UnixNano()
	if c.Name != "web" || c.Image != "docker.io/library/nginx:1.25" || c.ImageRepo != "docker.io/library/nginx" ||
		c.ImageTag != "1.25" || c.ImageID != "sha256:feed" || c.StartTS != want || c.Privileged == nil || !*c.Privileged ||
		c.PodName != "web-0" || c.PodNamespace != "prod" || c.Labels["team"] != "a" || c.Type != "docker" {
		t.Fatalf("docker container = %+v", c)
	}
	// an unknown container: an error, not a crash
	if _, err := (DockerFiles{Root: root}).Lookup(context.Background(), ID{Full: hexID[:63] + "0"}); err == nil {
		t.Fatal("missing state files gave no error")
	}
	// corrupt state: an error naming the file
	os.WriteFile(filepath.Join(dir, "config.v2.json"), []byte(`{"Name":`), 0o600)
	if _, err := (DockerFiles{Root: root}).Lookup(context.Background(), ID{Full: hexID}); err == nil {
		t.Fatal("corrupt state file gave no error")
	}
}

type failing struct{}

func (failing) Lookup(context.Context, ID) (*sysevent.Container, error) {
	return nil, errors.New("down")
}

type answering struct{}

func (answering) Lookup(context.Context, ID) (*sysevent.Container, error) {
	return &sysevent.Container{Name: "second"}, nil
}

func TestSources(t *testing.T) {
	c, err := Sources{failing{}, answering{}}.Lookup(context.Background(), ID{Full: hexID})
	if err != nil || c.Name != "second" {
		t.Fatalf("Sources = %+v, %v", c, err)
	}
	if _, err := (Sources{failing{}}).Lookup(context.Background(), ID{Full: hexID}); err == nil {
		t.Fatal("all sources failing gave no error")
	}
}
