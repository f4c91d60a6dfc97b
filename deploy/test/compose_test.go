package deploytest

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// loadCompose loads docker-compose.yml with the compose-spec loader (schema
// validation and consistency checks on), every profile enabled.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithProfiles([]string{"*"}),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
		// Only the file's own defaults: no .env or host variables.
		cli.WithEnv(nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func TestComposeLoads(t *testing.T) {
	p := loadCompose(t)
	for _, want := range []string{"elasticsearch", "kibana", "kibana-setup", "kafka", "webhook-echo", "router", "sensor", "prometheus"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
}

// Every image the lab builds has its Dockerfile in the repository, and
// every file the Dockerfile copies from the context exists.
func TestComposeBuilds(t *testing.T) {
	p := loadCompose(t)
	built := 0
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		built++
		df := s.Build.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(s.Build.Context, df)
		}
		if !strings.HasPrefix(df, repoRoot(t)+string(filepath.Separator)) {
			t.Errorf("%s: Dockerfile %s is outside the repository", name, df)
			continue
		}
		// The build runs in the Go workspace: every module go.work uses
		// needs its go.mod in the image.
		srcs := copySources(t, df)
		for _, mod := range workspaceModules(t) {
			if !slices.Contains(srcs, mod+"/go.mod") {
				t.Errorf("%s: %s does not copy %s/go.mod, which go.work uses", name, df, mod)
			}
		}
		for _, src := range srcs {
			if m, err := filepath.Glob(filepath.Join(s.Build.Context, src)); err != nil || len(m) == 0 {
				t.Errorf("%s: %s copies %s, which is not in the build context", name, df, src)
			}
		}
	}
	if built != 2 {
		t.Errorf("want the sensor and router images built by the lab, got %d builds", built)
	}
}

// copySources lists the context paths of a Dockerfile's COPY/ADD lines
// (not those copying from another stage).
func copySources(t *testing.T, dockerfile string) []string {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || (fields[0] != "COPY" && fields[0] != "ADD") {
			continue
		}
		args := fields[1:]
		fromStage := false
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			fromStage = fromStage || strings.HasPrefix(args[0], "--from=")
			args = args[1:]
		}
		if fromStage || len(args) < 2 {
			continue
		}
		out = append(out, args[:len(args)-1]...)
	}
	if len(out) == 0 {
		t.Errorf("%s copies nothing from the context", dockerfile)
	}
	return out
}

// Every file or directory the lab mounts from the repository exists, and
// configuration files named on a command line are mounted.
func TestComposeMounts(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	for name, s := range p.Services {
		targets := map[string]bool{}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			targets[v.Target] = true
			if strings.HasPrefix(v.Source, root) {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: mounts %s, which does not exist", name, v.Source)
				}
			}
		}
		for _, arg := range s.Command {
			arg = arg[strings.Index(arg, "=")+1:]
			if !strings.HasPrefix(arg, "/etc/") && !strings.HasPrefix(arg, "/setup/") {
				continue
			}
			mounted := targets[arg]
			for tgt := range targets {
				mounted = mounted || strings.HasPrefix(arg, tgt+"/")
			}
			if !mounted {
				t.Errorf("%s: command names %s, which no bind mount provides", name, arg)
			}
		}
	}
}

// The lab's pieces agree with each other: the router reaches its three
// outputs, the sensor reaches the router, Prometheus reaches both.
func TestComposeWiring(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	service := func(hostport string) (types.ServiceConfig, string) {
		t.Helper()
		hostport = strings.TrimPrefix(strings.TrimPrefix(hostport, "http://"), "https://")
		hostport, _, _ = strings.Cut(hostport, "/")
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			t.Fatalf("%q: %v", hostport, err)
		}
		s, ok := p.Services[host]
		if !ok {
			t.Fatalf("%s: no such service in docker-compose.yml", host)
		}
		return s, port
	}
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}

	router := loadYAML(t, filepath.Join(root, "deploy/compose/router.yaml"))
	outs := router["outputs"].(map[string]any)
	es := outs["elasticsearch"].(map[string]any)["lab"].(map[string]any)
	if s, port := service(es["hostport"].(string)); s.Name != "elasticsearch" || port != "9200" {
		t.Errorf("router elasticsearch output points at %v", es["hostport"])
	}
	if es["suffix"] != "daily" {
		t.Errorf("lab Elasticsearch output: want a daily index, got suffix %v", es["suffix"])
	}
	kafka := outs["kafka"].(map[string]any)["lab"].(map[string]any)
	if s, port := service(kafka["hostport"].(string)); !strings.Contains(env(s, "KAFKA_ADVERTISED_LISTENERS"), "//kafka:"+port) {
		t.Errorf("router kafka output %v is not an advertised listener (%s)", kafka["hostport"], env(s, "KAFKA_ADVERTISED_LISTENERS"))
	}
	if kafka["topic"] == "" {
		t.Error("lab Kafka output has no topic")
	}
	hook := outs["webhook"].(map[string]any)["echo"].(map[string]any)
	if s, port := service(hook["address"].(string)); env(s, "HTTP_PORT") != port {
		t.Errorf("router webhook %v: the echo service listens on %s", hook["address"], env(s, "HTTP_PORT"))
	}
	for _, o := range []map[string]any{es, kafka, hook} {
		if o["minimumpriority"] == nil {
			t.Errorf("lab output %v has no minimumpriority", o)
		}
	}
	_, grpcPort, _ := net.SplitHostPort(router["grpc"].(map[string]any)["address"].(string))
	_, metricsPort, _ := net.SplitHostPort(router["http"].(map[string]any)["metrics_address"].(string))

	sensor := loadYAML(t, filepath.Join(root, "deploy/compose/sensor.yaml"))
	grpc := sensor["outputs"].(map[string]any)["grpc"].(map[string]any)
	if s, port := service(grpc["address"].(string)); s.Name != "router" || port != grpcPort || grpc["enabled"] != true {
		t.Errorf("sensor streams to %v (enabled %v), the router listens on router:%s", grpc["address"], grpc["enabled"], grpcPort)
	}
	_, sensorMetrics, _ := net.SplitHostPort(sensor["metrics"].(map[string]any)["listen"].(string))

	s := p.Services["sensor"]
	if !s.Privileged || s.Pid != "host" {
		t.Errorf("sensor: privileged=%v pid=%q; eBPF capture of the host needs both", s.Privileged, s.Pid)
	}
	var hostMounts []string
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind {
			hostMounts = append(hostMounts, v.Source)
		}
	}
	for _, want := range []string{"/proc", "/sys/kernel/btf", "/sys/fs/cgroup"} {
		if !slices.Contains(hostMounts, want) {
			t.Errorf("sensor: host %s not mounted", want)
		}
	}

	prom := loadYAML(t, filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	var targets []string
	for _, sc := range prom["scrape_configs"].([]any) {
		for _, st := range sc.(map[string]any)["static_configs"].([]any) {
			for _, tg := range st.(map[string]any)["targets"].([]any) {
				service(tg.(string))
				targets = append(targets, tg.(string))
			}
		}
	}
	slices.Sort(targets)
	if want := []string{"router:" + metricsPort, "sensor:" + sensorMetrics}; !slices.Equal(targets, want) {
		t.Errorf("Prometheus targets %v, want %v", targets, want)
	}

	// Security is off in the lab's Elasticsearch: the file says so loudly.
	if v := env(p.Services["elasticsearch"], "xpack.security.enabled"); v != "false" {
		t.Errorf("lab Elasticsearch: xpack.security.enabled=%q; the lab runs it without security, documented", v)
	}
	if !strings.Contains(string(readFile(t, filepath.Join(root, "docker-compose.yml"))), "WITHOUT SECURITY") {
		t.Error("docker-compose.yml does not warn that Elasticsearch runs without security")
	}
}

func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.UnmarshalStrict(readFile(t, path), &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// workspaceModules lists the directories go.work uses.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	var mods []string
	inUse := false
	for _, l := range strings.Split(string(readFile(t, filepath.Join(repoRoot(t), "go.work"))), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "use ("):
			inUse = true
		case inUse && l == ")":
			inUse = false
		case inUse && l != "":
			mods = append(mods, strings.TrimPrefix(l, "./"))
		case strings.HasPrefix(l, "use "):
			mods = append(mods, strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(l, "use ")), "./"))
		}
	}
	if len(mods) == 0 {
		t.Fatal("go.work uses no modules")
	}
	return mods
}

// The "replicas" profile: three routers on the lab's Kafka with the Kafka
// journal, each on its own host port, configured by a file the router
// accepts (TestRouterConfigValidates covers the router's own check).
func TestComposeRouterReplicas(t *testing.T) {
	p := loadCompose(t)
	ports := map[string]bool{}
	for _, name := range []string{"router-a", "router-b", "router-c"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Contains(s.Profiles, "replicas") || len(s.Ports) != 1 {
			t.Errorf("%s: profiles %v ports %v", name, s.Profiles, s.Ports)
			continue
		}
		ports[s.Ports[0].Published] = true
	}
	if len(ports) != 3 {
		t.Errorf("the replicas share host ports: %v", ports)
	}
	cfg := loadYAML(t, filepath.Join(repoRoot(t), "deploy/compose/router-replicas.yaml"))
	j := cfg["journal"].(map[string]any)
	k := j["kafka"].(map[string]any)
	if j["backend"] != "kafka" || k["brokers"].([]any)[0] != "kafka:9092" {
		t.Errorf("replicas' journal: %v", j)
	}
}
