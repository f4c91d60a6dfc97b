package filter

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// Conditions written in the spirit of Falco's syscall rules (not copied):
// an event-type restriction, process and file checks, lists and macros,
// and exception-style "and not" tails.
var benchMacros = map[string]string{
	"open_read":        "evt.type in (open, openat, openat2) and evt.failed = false",
	"open_write":       "evt.type in (open, openat, openat2) and evt.arg.flags contains O_WRONLY",
	"spawned_process":  "evt.type = execve and evt.failed = false",
	"outbound":         "evt.type = connect and evt.failed = false and not fd.sip in (127.0.0.0/8, ::1)",
	"shell_procs":      "proc.name in (shell_binaries)",
	"sensitive_files":  "fd.name startswith /etc and (fd.name in (sensitive_file_names) or fd.name pmatch (sensitive_dirs))",
	"trusted_parents":  "proc.pname in (known_parents) or proc.aname[2] in (known_parents)",
	"package_mgmt":     "proc.name in (package_mgmt_binaries)",
	"user_known_write": "proc.name = never_true_proc",
	"container":        "proc.env[CONTAINER] exists",
	"ssh_ancestry":     "proc.aname in (sshd, dropbear)",
	"writes_below_etc": "open_write and fd.name startswith /etc/",
}

var benchLists = map[string][]string{
	"shell_binaries":        {"ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash", "fish"},
	"sensitive_file_names":  {"/etc/shadow", "/etc/sudoers", "/etc/pam.conf", "/etc/security/pwquality.conf", "/etc/gshadow"},
	"sensitive_dirs":        {"/etc/sudoers.d", "/etc/pam.d", "/root/.ssh"},
	"known_parents":         {"systemd", "containerd-shim", "dockerd", "kubelet", "crond", "supervisord", "runc"},
	"package_mgmt_binaries": {"dpkg", "apt", "apt-get", "yum", "rpm", "dnf", "apk", "pip", "pip3", "npm", "snap"},
	"miner_ports":           {"3333", "4444", "5555", "6666", "7777", "8333", "9999", "14444", "45560"},
	"network_tools":         {"nc", "ncat", "netcat", "nmap", "socat", "tcpdump", "telnet", "wget", "curl"},
}

var benchRules = []string{
	"open_read and sensitive_files and not trusted_parents and not user_known_write",
	"open_write and fd.name pmatch (/bin, /sbin, /usr/bin, /usr/sbin) and not package_mgmt",
	"writes_below_etc and not package_mgmt and not proc.name in (systemd, sshd, cron)",
	"spawned_process and shell_procs and container and not trusted_parents",
	"spawned_process and proc.name in (network_tools) and container",
	"spawned_process and proc.cmdline icontains 'base64 -d' and shell_procs",
	"spawned_process and (proc.cmdline contains 'xmrig' or proc.cmdline contains 'stratum+tcp')",
	"spawned_process and proc.name = sudo and not ssh_ancestry",
	"spawned_process and proc.cmdline contains ' -e ' and proc.name in (nc, ncat, netcat)",
	"spawned_process and tolower(proc.name) in (mimikatz, lazagne) and not user_known_write",
	"outbound and fd.sport in (miner_ports) and not proc.name in (package_mgmt_binaries)",
	"outbound and fd.sip in (192.0.2.0/24, 198.51.100.0/24) and not trusted_parents",
	"open_read and fd.name glob '/proc/*/environ' and not proc.name in (ps, top, htop)",
	"open_read and fd.name endswith '.pem' and fd.name startswith /etc/kubernetes and not trusted_parents",
	"open_read and fd.name startswith /root/.ssh and not ssh_ancestry",
	"spawned_process and proc.pname in (shell_binaries) and proc.name in (package_mgmt_binaries) and container",
	"spawned_process and proc.env[LD_PRELOAD] exists and not proc.name in (known_parents)",
	"evt.type = close and fd.name = /dev/null and proc.name = never_true_proc",
}

func benchRegistryFields() (*tev, []*tev) {
	host := netip.MustParseAddr("10.0.0.5")
	stream := []*tev{
		// Typical host: many opens of libraries and config, a few execs and
		// connects, closes. None of them trigger a rule.
		ev(tev{typ: 2, name: "nginx", pname: "systemd", fdname: "/usr/lib/x86_64-linux-gnu/libssl.so.3", hasFD: true, anc: []string{"systemd"}, args: map[string]string{"flags": "O_RDONLY|O_CLOEXEC"}}),
		ev(tev{typ: 2, name: "python3", pname: "bash", fdname: "/usr/lib/python3.11/json/__init__.py", hasFD: true, anc: []string{"bash", "sshd", "systemd"}, args: map[string]string{"flags": "O_RDONLY"}}),
		ev(tev{typ: 1, name: "cat", pname: "bash", fdname: "/etc/hosts", hasFD: true, anc: []string{"bash", "sshd", "systemd"}, args: map[string]string{"flags": "O_RDONLY"}}),
		ev(tev{typ: 7, name: "java", pname: "containerd-shim", fdname: "/opt/app/lib/app.jar", hasFD: true, anc: []string{"containerd-shim", "systemd"}, env: map[string]string{"CONTAINER": "1"}, args: map[string]string{"flags": "O_RDONLY"}}),
		ev(tev{typ: 2, name: "systemd-journal", pname: "systemd", fdname: "/var/log/journal/x/system.journal", hasFD: true, anc: []string{"systemd"}, args: map[string]string{"flags": "O_RDWR|O_CREAT"}}),
		ev(tev{typ: 3, name: "ls", pname: "bash", cmdline: "ls -la /tmp", argv: []string{"-la", "/tmp"}, anc: []string{"bash", "sshd", "systemd"}}),
		ev(tev{typ: 3, name: "git", pname: "zsh", cmdline: "git status", argv: []string{"status"}, anc: []string{"zsh", "tmux", "systemd"}}),
		ev(tev{typ: 4, name: "curl", pname: "bash", sip: host, sport: 443, hasFD: true, anc: []string{"bash", "sshd", "systemd"}}),
		ev(tev{typ: 4, name: "nginx", pname: "systemd", sip: netip.MustParseAddr("127.0.0.1"), sport: 8080, hasFD: true, anc: []string{"systemd"}}),
		ev(tev{typ: 5, name: "nginx", pname: "systemd", fdname: "/var/log/nginx/access.log", hasFD: true}),
		ev(tev{typ: 5, name: "bash", pname: "sshd", fdname: "/dev/pts/0", hasFD: true}),
		ev(tev{typ: 2, name: "node", pname: "containerd-shim", fdname: "/app/node_modules/express/index.js", hasFD: true, anc: []string{"containerd-shim"}, env: map[string]string{"CONTAINER": "1"}, args: map[string]string{"flags": "O_RDONLY"}}),
	}
	hit := ev(tev{typ: 1, name: "cat", pname: "bash", fdname: "/etc/shadow", hasFD: true, anc: []string{"bash", "sshd", "sshd"}, args: map[string]string{"flags": "O_RDONLY"}})
	return hit, stream
}

// benchSet compiles benchRules against the test registry, indexed by event
// type the way the rules engine does.
func benchSet(b *testing.B, copies int) (byType [][]*Filter, n int) {
	env := Env{Registry: reg, Lists: benchLists, Macros: map[string]Expr{}}
	for name, body := range benchMacros {
		e, err := Parse(body)
		if err != nil {
			b.Fatal(name, err)
		}
		env.Macros[name] = e
	}
	byType = make([][]*Filter, len(testTypes))
	// Replicate the rules to approach the size of Falco's default ruleset.
	for copyN := 0; copyN < copies; copyN++ {
		for _, cond := range benchRules {
			e, err := Parse(cond)
			if err != nil {
				b.Fatal(cond, err)
			}
			f, err := Compile(e, env)
			if err != nil {
				b.Fatal(cond, err)
			}
			ids, _ := f.EventTypes()
			for _, id := range ids {
				byType[id] = append(byType[id], f)
			}
			n++
		}
	}
	return byType, n
}

// mixedStream interleaves the rule-relevant events with events of types
// no rule subscribes to (read, write, mmap), which dominate a real host's
// syscall stream; the engine's type index skips them entirely.
func mixedStream(relevant []*tev) []*tev {
	var out []*tev
	for i, e := range relevant {
		out = append(out, e)
		out = append(out, ev(tev{typ: uint16(8 + i%3), name: e.name, fdname: e.fdname, hasFD: true}))
	}
	return out
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// measures cost per core where wall time would include waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRuleset runs every compiled rule that can match each event of a
// mostly non-matching stream; one op is one event. copies replicates the
// 18 rules (Falco's falco_rules.yaml has 25 syscall rules); "relevant" uses
// only events of types some rule subscribes to, "mixed" adds as many events
// of other types. cpu-ns/op is CPU time per event, events/s/core its
// inverse. cache=true calls Scratch.BeginEvent per event, so each field is
// extracted once per event whatever the number of rules testing it.
func BenchmarkRuleset(b *testing.B) {
	for _, copies := range []int{1, 5} {
		byType, n := benchSet(b, copies)
		hit, relevant := benchRegistryFields()
		for _, st := range []struct {
			name   string
			events []*tev
		}{{"relevant", relevant}, {"mixed", mixedStream(relevant)}} {
			for _, cache := range []bool{false, true} {
				b.Run(fmt.Sprintf("rules=%d/%s/cache=%v", n, st.name, cache), func(b *testing.B) {
					benchStream(b, byType, hit, st.events, cache)
				})
			}
		}
	}
}

func benchStream(b *testing.B, byType [][]*Filter, hit *tev, stream []*tev, cache bool) {
	var s Scratch
	matched := 0
	for _, f := range byType[hit.typ] {
		if f.MatchScratch(hit, &s) {
			matched++
		}
	}
	if matched == 0 {
		b.Fatal("the sensitive-file event matches no rule")
	}
	for _, e := range stream {
		for _, f := range byType[e.typ] {
			if f.MatchScratch(e, &s) {
				b.Fatalf("event %+v matched", e)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		e := stream[i%len(stream)]
		if cache {
			s.BeginEvent()
		}
		for _, f := range byType[e.typ] {
			f.MatchScratch(e, &s)
		}
		i++
	}
	if cpu := cpuTime() - cpu0; i > 0 && cpu > 0 {
		perEvent := float64(cpu.Nanoseconds()) / float64(i)
		b.ReportMetric(perEvent, "cpu-ns/op")
		b.ReportMetric(1e9/perEvent, "events/s/core")
	}
}

func benchCompile(b *testing.B, cond string) *Filter {
	e, err := Parse(cond)
	if err != nil {
		b.Fatal(err)
	}
	f, err := Compile(e, Env{Registry: reg, Lists: benchLists})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func benchOne(b *testing.B, cond string, e *tev, want bool) {
	f := benchCompile(b, cond)
	var s Scratch
	if f.MatchScratch(e, &s) != want {
		b.Fatalf("%s: want %v", cond, want)
	}
	b.ReportAllocs()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		f.MatchScratch(e, &s)
		n++
	}
	if cpu := cpuTime() - cpu0; n > 0 && cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}

func BenchmarkCheck(b *testing.B) {
	_, stream := benchRegistryFields()
	e := stream[1]
	for _, c := range []struct {
		cond string
		want bool
	}{
		{"evt.type in (open, openat)", true},
		{"proc.name = python3", true},
		{"proc.name in (shell_binaries)", false},
		{"proc.name in (package_mgmt_binaries)", false},
		{"fd.name startswith /etc", false},
		{"fd.name icontains PYTHON", true},
		{"fd.name glob '/usr/lib/*/json/*.py'", true},
		{"fd.name pmatch (sensitive_dirs)", false},
		{`fd.name regex '.*\\.pem'`, false},
		{"proc.aname in (sshd, dropbear)", true},
		{"tolower(proc.name) = python3", true},
		{"toupper(proc.name) = PYTHON3", true},
		{"proc.cmdline startswith anyof (sudo, su, doas)", false},
		{"proc.name = val(proc.pname)", false},
	} {
		b.Run(c.cond, func(b *testing.B) { benchOne(b, c.cond, e, c.want) })
	}
}

func BenchmarkMatchPooled(b *testing.B) {
	f := benchCompile(b, "evt.type = openat and proc.name in (shell_binaries)")
	_, stream := benchRegistryFields()
	b.ReportAllocs()
	for b.Loop() {
		f.Match(stream[1])
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSet(b, 1)
	}
}

func ExampleCompile() {
	e, _ := Parse("evt.type = execve and proc.name in (shells) and not proc.pname = sshd")
	f, err := Compile(e, Env{Registry: testRegistry(), Lists: map[string][]string{"shells": {"bash", "sh"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ids, any := f.EventTypes()
	fmt.Println(f.Match(ev(tev{typ: 3, name: "bash", pname: "cron"})), ids, any)
	// Output: true [3] false
}
