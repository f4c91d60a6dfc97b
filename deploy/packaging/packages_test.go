package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// require skips, or fails under HARRIER_REQUIRE_ALL=1 (CI), when the host
// cannot run a check.
func require(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func have(cmd string) bool { _, err := exec.LookPath(cmd); return err == nil }

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makePackages runs `make packages` for version into dir.
func makePackages(t *testing.T, version, dir string) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-C", root, "--no-print-directory", "packages", "PKG_VERSION="+version, "DIST="+dir)
	// The binaries build in the repository's workspace.
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "GOWORK=") })
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make packages: %v\n%s", err, out)
	}
}

var packages = []string{"harrier-sensor", "harrier-router", "harrierctl"}

func debs(dir, version string) []string {
	var out []string
	for _, p := range packages {
		out = append(out, filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", p, version, debArch())))
	}
	return out
}

func debArch() string {
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}

// entry is what one installed path must be.
type entry struct {
	path         string
	dir          bool
	mode         os.FileMode
	owner, group string
}

var installed = []entry{
	{"/usr/bin/harrier-sensor", false, 0o755, "root", "root"},
	{"/usr/bin/harrier-router", false, 0o755, "root", "root"},
	{"/usr/bin/harrierctl", false, 0o755, "root", "root"},
	{"/etc/harrier", true, 0o755, "root", "root"},
	{"/etc/harrier/sensor.yaml", false, 0o640, "root", "root"},
	{"/etc/harrier/router.yaml", false, 0o640, "root", "harrier-router"},
	{"/etc/harrier/rules.d", true, 0o755, "root", "root"},
	{"/etc/harrier/rules.d/k8s_audit.yaml", false, 0o644, "root", "root"},
	{"/etc/harrier/rules.d/syscall.yaml", false, 0o644, "root", "root"},
	{"/usr/lib/systemd/system/harrier-sensor.service", false, 0o644, "root", "root"},
	{"/usr/lib/systemd/system/harrier-router.service", false, 0o644, "root", "root"},
	{"/var/lib/harrier/sensor", true, 0o750, "root", "root"},
	{"/var/lib/harrier/router", true, 0o750, "harrier-router", "harrier-router"},
	{"/var/log/harrier", true, 0o750, "root", "root"},
}

// checkInstalled checks every path; pristine also compares the rules with
// rules/ (false once the test edited them).
func checkInstalled(t *testing.T, pristine bool) {
	t.Helper()
	for _, e := range installed {
		st, err := os.Lstat(e.path)
		if err != nil {
			t.Errorf("%s: %v", e.path, err)
			continue
		}
		if st.IsDir() != e.dir || st.Mode().Perm() != e.mode {
			t.Errorf("%s: mode %v, want dir=%v %v", e.path, st.Mode(), e.dir, e.mode)
		}
		sys := st.Sys().(*syscall.Stat_t)
		u, _ := user.LookupId(fmt.Sprint(sys.Uid))
		g, _ := user.LookupGroupId(fmt.Sprint(sys.Gid))
		if u == nil || g == nil || u.Username != e.owner || g.Name != e.group {
			t.Errorf("%s: owner %d:%d, want %s:%s", e.path, sys.Uid, sys.Gid, e.owner, e.group)
		}
	}
	// Harrier's rules are installed unchanged.
	files := []string{"k8s_audit.yaml"} // the test edits syscall.yaml
	if pristine {
		files = append(files, "syscall.yaml")
	}
	for _, f := range files {
		want, _ := os.ReadFile(filepath.Join("../../rules", f))
		got, _ := os.ReadFile(filepath.Join("/etc/harrier/rules.d", f))
		if len(want) == 0 || !bytes.Equal(want, got) {
			t.Errorf("/etc/harrier/rules.d/%s differs from rules/%s", f, f)
		}
	}
}

// purge removes every Harrier package and what the router's postinst made
// that purge keeps (its system user), leaving the host as it was.
func purge(t *testing.T) {
	_ = exec.Command("dpkg", append([]string{"--purge"}, packages...)...).Run()
	if _, err := user.Lookup("harrier-router"); err == nil {
		_ = exec.Command("userdel", "harrier-router").Run()
	}
	if _, err := user.LookupGroup("harrier-router"); err == nil {
		_ = exec.Command("groupdel", "harrier-router").Run()
	}
}

func TestDebInstallUpgradeRemovePurge(t *testing.T) {
	require(t, os.Geteuid() == 0, "installing packages needs root")
	require(t, have("dpkg") && have("systemd-analyze") && have("useradd"), "needs dpkg, systemd-analyze and useradd")
	for _, p := range packages {
		if exec.Command("dpkg-query", "-W", p).Run() == nil {
			t.Skipf("%s is installed on this host; not touching it", p)
		}
	}
	if _, err := os.Stat("/etc/harrier"); err == nil {
		t.Skip("/etc/harrier exists on this host; not touching it")
	}
	if _, err := user.Lookup("harrier-router"); err == nil {
		t.Skip("user harrier-router exists on this host; not touching it")
	}
	dir := t.TempDir()
	makePackages(t, "1.0.0", dir)
	makePackages(t, "1.0.1", dir)
	t.Cleanup(func() { purge(t) })

	sh(t, "dpkg", append([]string{"-i"}, debs(dir, "1.0.0")...)...)
	checkInstalled(t, true)

	// Every path each package installs is one the test expects.
	want := map[string]bool{}
	for _, e := range installed {
		want[e.path] = true
	}
	for _, p := range packages {
		for _, f := range strings.Fields(sh(t, "dpkg", "-L", p)) {
			parent := f == "/." || slices.ContainsFunc(installed, func(e entry) bool { return strings.HasPrefix(e.path, f+"/") })
			if !want[f] && !parent {
				t.Errorf("package %s installs %s, not checked by the test", p, f)
			}
		}
	}
	conf := sh(t, "dpkg-query", "-W", "-f=${Conffiles}\n", "harrier-sensor", "harrier-router")
	for _, f := range []string{"/etc/harrier/sensor.yaml", "/etc/harrier/router.yaml", "/etc/harrier/rules.d/k8s_audit.yaml", "/etc/harrier/rules.d/syscall.yaml"} {
		if !strings.Contains(conf, f+" ") {
			t.Errorf("%s is not a conffile:\n%s", f, conf)
		}
	}
	if u, err := user.Lookup("harrier-router"); err != nil {
		t.Error("no harrier-router user:", err)
	} else if out := sh(t, "getent", "passwd", "harrier-router"); !strings.HasSuffix(strings.TrimSpace(out), "/usr/sbin/nologin") || !systemUID(u.Uid) {
		t.Errorf("harrier-router is not a system user without a shell: %s", out)
	}

	// The packaged configurations and rules load; --help lists the commands.
	if out := sh(t, "/usr/bin/harrier-sensor", "run", "--check", "-c", "/etc/harrier/sensor.yaml"); !strings.Contains(out, "configuration and rules OK") {
		t.Errorf("sensor --check: %s", out)
	}
	sh(t, "/usr/bin/harrier-router", "config", "validate", "/etc/harrier/router.yaml")
	for bin, cmd := range map[string]string{"harrier-sensor": "rules validate", "harrier-router": "config validate", "harrierctl": "rules push"} {
		if out := sh(t, "/usr/bin/"+bin, "--help"); !strings.Contains(out, cmd) {
			t.Errorf("%s --help lacks %q:\n%s", bin, cmd, out)
		}
		if out := sh(t, "/usr/bin/"+bin, "version"); !strings.Contains(out, "1.0.0") {
			t.Errorf("%s version: %s", bin, out)
		}
	}

	// The units pass systemd's own checks.
	out, err := exec.Command("systemd-analyze", "verify", "/usr/lib/systemd/system/harrier-sensor.service",
		"/usr/lib/systemd/system/harrier-router.service").CombinedOutput()
	if err != nil || strings.Contains(string(out), "harrier") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile("/usr/lib/systemd/system/harrier-sensor.service")
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ProtectHome=", "CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_RESOURCE CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("harrier-sensor.service lacks %q", want)
		}
	}

	// Local edits and state survive an upgrade.
	edit := func(path string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, "# local edit kept across upgrades")
		f.Close()
	}
	edit("/etc/harrier/sensor.yaml")
	edit("/etc/harrier/router.yaml")
	edit("/etc/harrier/rules.d/syscall.yaml")
	state := []string{"/var/lib/harrier/sensor/marker", "/var/lib/harrier/router/marker"}
	for _, p := range state {
		if err := os.WriteFile(p, []byte("state"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edited := func(when string) {
		for _, p := range []string{"/etc/harrier/sensor.yaml", "/etc/harrier/router.yaml", "/etc/harrier/rules.d/syscall.yaml"} {
			b, _ := os.ReadFile(p)
			if !strings.Contains(string(b), "# local edit kept across upgrades") {
				t.Errorf("%s: %s lost the local edit", when, p)
			}
		}
		for _, p := range state {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: %v", when, err)
			}
		}
	}
	sh(t, "dpkg", append([]string{"-i"}, debs(dir, "1.0.1")...)...)
	for _, p := range packages {
		if v := sh(t, "dpkg-query", "-W", "-f=${Version}", p); v != "1.0.1" {
			t.Errorf("%s: version %s after the upgrade", p, v)
		}
	}
	if out := sh(t, "/usr/bin/harrier-sensor", "version"); !strings.Contains(out, "1.0.1") {
		t.Errorf("upgraded sensor: %s", out)
	}
	checkInstalled(t, false)
	edited("after the upgrade")

	// Remove keeps configuration and state; purge deletes them.
	sh(t, "dpkg", append([]string{"--remove"}, packages...)...)
	for _, p := range []string{"/usr/bin/harrier-sensor", "/usr/bin/harrier-router", "/usr/bin/harrierctl", "/usr/lib/systemd/system/harrier-sensor.service"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there after remove", p)
		}
	}
	edited("after remove")
	sh(t, "dpkg", append([]string{"--purge"}, packages...)...)
	for _, p := range []string{"/etc/harrier", "/var/lib/harrier", "/var/log/harrier"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there after purge", p)
		}
	}
}

// systemUID says whether uid is in the system range (below 1000 on Debian).
func systemUID(uid string) bool {
	var n int
	_, err := fmt.Sscan(uid, &n)
	return err == nil && n > 0 && n < 1000
}

func TestRPMContents(t *testing.T) {
	require(t, have("rpm"), "needs rpm (Debian package rpm)")
	dir := t.TempDir()
	makePackages(t, "1.0.0", dir)
	arch := strings.TrimSpace(sh(t, "rpm", "--eval", "%{_arch}"))
	rpmFile := func(p string) string { return filepath.Join(dir, fmt.Sprintf("%s-1.0.0-1.%s.rpm", p, arch)) }
	tests := []struct {
		pkg     string
		files   []string // "MODE OWNER GROUP PATH" as rpm -qlpv prints them
		configs []string
		script  string // in the scriptlets
	}{
		{"harrier-sensor", []string{
			"-rwxr-xr-x root root /usr/bin/harrier-sensor",
			"-rw-r----- root root /etc/harrier/sensor.yaml",
			"drwxr-xr-x root root /etc/harrier/rules.d",
			"-rw-r--r-- root root /etc/harrier/rules.d/k8s_audit.yaml",
			"-rw-r--r-- root root /etc/harrier/rules.d/syscall.yaml",
			"-rw-r--r-- root root /usr/lib/systemd/system/harrier-sensor.service",
		}, []string{"/etc/harrier/rules.d/k8s_audit.yaml", "/etc/harrier/rules.d/syscall.yaml", "/etc/harrier/sensor.yaml"}, "systemctl try-restart harrier-sensor.service"},
		{"harrier-router", []string{
			"-rwxr-xr-x root root /usr/bin/harrier-router",
			"-rw-r----- root root /etc/harrier/router.yaml",
			"-rw-r--r-- root root /usr/lib/systemd/system/harrier-router.service",
		}, []string{"/etc/harrier/router.yaml"}, "useradd --system"},
		{"harrierctl", []string{"-rwxr-xr-x root root /usr/bin/harrierctl"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.pkg, func(t *testing.T) {
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(sh(t, "rpm", "-qlpv", rpmFile(tc.pkg))), "\n") {
				f := strings.Fields(line)
				if len(f) < 9 {
					t.Fatalf("rpm -qlpv line %q", line)
				}
				got = append(got, strings.Join([]string{f[0], f[2], f[3], f[len(f)-1]}, " "))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.files))
			if !slices.Equal(got, want) {
				t.Errorf("rpm contents:\n got %q\nwant %q", got, want)
			}
			configs := strings.Fields(sh(t, "rpm", "-qpc", rpmFile(tc.pkg)))
			if tc.configs == nil {
				configs = nil
			}
			slices.Sort(configs)
			if !slices.Equal(configs, tc.configs) {
				t.Errorf("config files %q, want %q", configs, tc.configs)
			}
			if scripts := sh(t, "rpm", "-qp", "--scripts", rpmFile(tc.pkg)); !strings.Contains(scripts, tc.script) {
				t.Errorf("scriptlets lack %q", tc.script)
			}
		})
	}
}
