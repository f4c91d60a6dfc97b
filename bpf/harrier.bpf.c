// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Harrier's syscall capture. Tracepoints only (tp_btf), and no sys_enter:
 * a second per-syscall hook costs every syscall of the host 5-8 points
 * (docs/benchmarks.md). sys_exit takes the arguments of the syscalls user
 * space asked for (the interest map) from the user registers the kernel
 * saved at entry, lets the prefilter (pf_verdict) keep in the kernel what no
 * rule can want, reads what the arguments point to and emits one record
 * with the result. The calls that do not return or whose registers the
 * kernel rewrites go out from the lifecycle tracepoints: exit/exit_group at
 * sched_process_exit, a successful exec at sched_process_exec (argv from
 * the new image, an execveat's arguments saved at sched_prepare_exec), a
 * fork child at sched_process_fork (the parent's registers);
 * sched_process_{exec,fork,exit} emit the process lifecycle with the facts
 * the process table needs. Records go to one ring buffer; every record that
 * does not fit is counted in the drops map by CPU and event type.
 *
 * Relative paths are made absolute here: the decoder joins a path with the
 * directory components (cwd or dirfd) sent beside it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "harrier.h"
#include "syscalls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_FDCWD -100
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#define AT_EXECVE_CHECK 0x10000 /* execveat: check, do not exec (Linux 6.14+) */
#define HALF 16384 /* items of one record stay below this many bytes */
#define MASK (HALF - 1)
#define NAME_SZ 256   /* one path component */
#define STR_SZ 4096   /* one path string */
#define SHORT_SZ 256  /* names, fs types, module parameters */
#define ARGV_SZ 4096  /* argv and env, each */
#define MAX_DEPTH 64  /* path components walked */
#define MAX_ARGS 64   /* argv entries read from a failed execve */
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define AF_INET 2
#define AF_INET6 10
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define SIGCHLD 17

/* Set by the loader before the programs are loaded. */
volatile const __u32 self_tgid = 0;
/* Wake the reader only once this many bytes wait in the ring (0: on every
 * record). Waking a sleeping reader for each record costs a context
 * switch per event; the reader polls on a short timer for the rest. */
volatile const __u64 wakeup_bytes = 0;

/* Loops run under bpf_loop, with their state in the scratch map value
 * rather than on the stack: the verifier does not track map contents, so the
 * callback's states converge at once, where a bounded loop (or a stack
 * context) is verified again for every iteration and branch. */
struct walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 off;
	__u8 flags;
};

struct argv_walk {
	const char *const *argv;
	__u32 ptr_size; /* 4 for a 32-bit process's argv */
	__u32 off;
	__u32 limit;
	__u8 flags;
};

struct cgroup_walk {
	struct kernfs_node *kn;
	__u32 off;
	__u8 flags;
};

/* The kernel prefilter (sensor/internal/syscall/kfilter): per syscall a row
 * of term masks; an event passes when one term's constraints all hold. */
#define NUM_PREDS 8
#define P_SUCCESS 1
#define P_FAILURE 2
#define P_OPEN_READ 4
#define P_OPEN_WRITE 8
#define P_OPEN_CREATE 16
#define P_OPEN_TRUNC 32
#define P_UID_ROOT 64   /* effective uid 0 (user.uid) */
#define P_UID_OTHER 128 /* effective uid not 0 */
#define PF_DATA 256
#define PF_WORDS (PF_DATA / 8)
#define MAX_FD 1024

struct pf_key {
	__u32 prefixlen;
	__u8 data[PF_DATA]; /* type (big-endian u16), path, NUL */
};

struct scratch {
	/* non-zero while a program builds a record on this CPU: tracing
	 * programs run with migration, not preemption, disabled, so a task
	 * preempting another mid-record must not overwrite it */
	__u64 busy;
	union {
		struct walk w;
		struct argv_walk aw;
		struct cgroup_walk cw;
	} loop;
	struct rec_hdr h;
	__u8 data[2 * HALF];
};

/* The prefilter's verdict: which results leave the kernel. */
#define V_SHIP_OK 1   /* the syscall returned >= 0 */
#define V_SHIP_FAIL 2 /* it returned < 0 */
#define V_SHIP (V_SHIP_OK | V_SHIP_FAIL)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* replaced by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALL + 1);
	__type(key, __u32);
	__type(value, __u8);
} interest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NUM_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct pf_type {
	__u64 active;    /* one bit per term */
	__u64 need_path; /* terms constraining the path */
	__u64 need_comm; /* terms constraining the process name */
	__u64 need_pred[NUM_PREDS];
	__u8 mode;     /* 0: everything passes */
	__u8 path_arg; /* argument holding the path, 0xff: none */
	__u8 drop_fd;  /* drop when args[0] is a marked fd */
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALL + 1);
	__type(key, __u32);
	__type(value, struct pf_type);
} pf_types SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pf_key);
	__type(value, __u64);
} pf_paths SEC(".maps");

struct comm_key {
	__u32 type;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct comm_key);
	__type(value, __u64);
} pf_comms SEC(".maps");

/* Per process (on the group leader): its name at exec, and the fds whose
 * open the prefilter dropped, so that their later events can be dropped
 * too (user space never heard of them). */
struct proc_state {
	__u64 fdmark[MAX_FD / 64];
	char comm[16];
	__u32 known; /* comm is the name at exec (not a process older than the capture) */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct proc_state);
} procs SEC(".maps");

/* Per exec'ing task: the execveat's arguments, saved at sched_prepare_exec
 * (the new image overwrites the argument registers before
 * sched_process_exec runs) and taken by sched_exec. */
struct exec_args {
	__u64 args[6];
	__u64 exec_id; /* the task's self_exec_id once this exec is done */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct exec_args);
} execveat_args SEC(".maps");

/* Events the prefilter kept in the kernel, per CPU and event type. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NUM_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} filtered SEC(".maps");

/* kernfs_node.parent was renamed __parent in 6.15. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* Never used at run time: it puts the record structs into the object's BTF,
 * where the Go decoder's tests check their layout. */
struct record_layout {
	struct rec_hdr h;
	struct item it;
	struct sock_tuple tp;
	struct proc_info pi;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct record_layout);
} record_layout SEC(".maps");

/* 32-bit (ia32 compat) syscalls that are not translated (ia32_map has no
 * x86_64 equivalent for them, e.g. socketcall): counted, never silently
 * lost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} compat SEC(".maps");

#define TS_COMPAT 0x0002

/* ia32 syscall number -> x86_64 number + 1 (0: none), filled by the loader
 * from the two syscall tables by name. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALL + 1);
	__type(key, __u32);
	__type(value, __u16);
} ia32_map SEC(".maps");

/* translate_compat turns an ia32 syscall number into the x86_64 one; -1
 * when there is none. */
static __always_inline long translate_compat(long id)
{
	if (id < 0 || id > MAX_SYSCALL)
		return -1;
	__u32 k = id;
	__u16 *m = bpf_map_lookup_elem(&ia32_map, &k);
	if (!m || !*m)
		return -1;
	return *m - 1;
}

static __always_inline int in_compat_syscall(struct task_struct *t)
{
	return t->thread_info.status & TS_COMPAT;
}

static __always_inline void count(void *map)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(map, &zero);
	if (n)
		*n += 1;
}

/* One record under construction per CPU. A plain array indexed by CPU (the
 * loader sizes it to the possible CPUs): per-CPU maps cap values at 32 KiB. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline void count_drop(__u16 type)
{
	__u32 k = type;
	__u64 *n = bpf_map_lookup_elem(&drops, &k);
	if (n)
		*n += 1;
}

static __always_inline void count_filtered(__u16 type)
{
	__u32 k = type;
	__u64 *n = bpf_map_lookup_elem(&filtered, &k);
	if (n)
		*n += 1;
}

static __always_inline struct scratch *begin(__u8 kind, __u16 type, __u32 tid, __u32 pid)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &cpu);
	if (!s)
		return 0;
	if (__sync_fetch_and_add(&s->busy, 1) != 0) {
		__sync_fetch_and_add(&s->busy, -1);
		count_drop(type);
		return 0;
	}
	s->h.ts = bpf_ktime_get_boot_ns();
	s->h.kind = kind;
	s->h.type = type;
	s->h.tid = tid;
	s->h.pid = pid;
	s->h.cpu = cpu;
	s->h.ret = 0;
	s->h.aux = 0;
	s->h.aux2 = 0;
	return s;
}


static __always_inline void submit(struct scratch *s, __u32 off)
{
	/* off stays below HALF by construction; the mask is for the verifier */
	off &= 2 * HALF - 1;
	s->h.len = off;
	__u64 flags = 0;
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
										  : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, &s->h, sizeof(struct rec_hdr) + off, flags))
		count_drop(s->h.type);
	__sync_fetch_and_add(&s->busy, -1);
}

static __always_inline void put_item(struct scratch *s, __u32 at, __u8 id, __u32 len, __u8 flags)
{
	struct item *it = (void *)&s->data[at & MASK];
	it->len = len;
	it->id = id;
	it->flags = flags;
}

/* put_ustr appends a user-space string as item id. */
static __noinline __u32 put_ustr(struct scratch *s, __u32 off, __u8 id, const char *p, __u32 max)
{
	if (!p || off > HALF - STR_SZ - sizeof(struct item))
		return off;
	__u32 at = off;
	off += sizeof(struct item);
	if (max > STR_SZ)
		max = STR_SZ;
	long n = bpf_probe_read_user_str(&s->data[off & MASK], max, p);
	if (n < 0) {
		put_item(s, at, id, 0, IF_FAULT);
		return off;
	}
	if (n > 0)
		n--; /* drop the NUL */
	put_item(s, at, id, n, n + 1 >= max ? IF_TRUNC : 0);
	return off + n;
}

static __always_inline struct scratch *this_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch_map, &cpu);
}

static long dentry_step(__u32 i, void *arg)
{
	struct scratch *s = this_scratch();
	if (!s)
		return 1;
	struct walk *w = &s->loop.w;
	/* locals, not w->x inside BPF_CORE_READ: CO-RE would try to relocate
	 * the access to our own struct walk */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct dentry *root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry != root && dentry == parent) {
		/* a pseudo file's own dentry (memfd, pipe, socket): its name, then
		 * nothing above it */
		w->flags = 0;
		__u32 off = w->off;
		if (off > HALF - NAME_SZ)
			return 1;
		long n = bpf_probe_read_kernel_str(&s->data[off & MASK], NAME_SZ, BPF_CORE_READ(dentry, d_name.name));
		if (n > 1)
			w->off = off + n;
		return 1;
	}
	if (dentry == root) {
		struct mount *mnt = w->mnt;
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up != mnt) {
			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			w->mnt = up;
			w->vfsmnt = (void *)up + bpf_core_field_offset(struct mount, mnt);
			return 0;
		}
		w->flags = 0;
		return 1;
	}
	__u32 off = w->off;
	if (off > HALF - NAME_SZ)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(&s->data[off & MASK], NAME_SZ, name);
	if (n <= 0)
		return 1;
	w->off = off + n;
	w->dentry = parent;
	return 0;
}

/* put_dentries appends the names from dentry up to the root of its mount
 * namespace, leaf first, each NUL-terminated. */
static __noinline __u32 put_dentries(struct scratch *s, __u32 off, __u8 id, struct dentry *dentry,
				     struct vfsmount *vfsmnt)
{
	if (!s || !dentry || !vfsmnt || off > HALF - NAME_SZ - sizeof(struct item))
		return off;
	struct walk *w = &s->loop.w;
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	w->off = off + sizeof(struct item);
	w->flags = IF_TRUNC;
	bpf_loop(MAX_DEPTH, dentry_step, 0, 0);
	__u32 end = w->off;
	if (end > HALF || end < off + sizeof(struct item))
		return off;
	put_item(s, off, id, end - off - sizeof(struct item), w->flags);
	return end;
}

static __always_inline __u32 put_cwd(struct scratch *s, __u32 off, __u8 id, struct task_struct *t)
{
	struct fs_struct *fs = BPF_CORE_READ(t, fs);
	if (!fs)
		return off;
	return put_dentries(s, off, id, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt));
}

static __always_inline struct file *fd_file(struct task_struct *t, __s64 fd)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt)
		return 0;
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if ((__u64)fd >= max)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* put_rel appends path argument p (item pid) and, when it is relative,
 * the directory it is relative to (item bid): dirfd's or the cwd. */
static __always_inline __u32 put_rel(struct scratch *s, __u32 off, __u8 pid, __u8 bid, __s64 dirfd,
				     const char *p)
{
	__u32 at = off;
	off = put_ustr(s, off, pid, p, STR_SZ);
	if (off == at)
		return off;
	__u8 c = s->data[(at + sizeof(struct item)) & MASK];
	struct item *it = (void *)&s->data[at & MASK];
	if (it->len > 0 && c == '/')
		return off;
	struct task_struct *t = (void *)bpf_get_current_task_btf();
	if ((int)dirfd == AT_FDCWD)
		return put_cwd(s, off, bid, t);
	struct file *f = fd_file(t, dirfd);
	if (!f)
		return off;
	return put_dentries(s, off, bid, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
}

/* put_tuple appends the addresses of the socket behind fd. */
static __noinline __u32 put_tuple(struct scratch *s, __u32 off, __s64 fd)
{
	if (off > HALF - sizeof(struct sock_tuple) - sizeof(struct item))
		return off;
	struct task_struct *t = (void *)bpf_get_current_task_btf();
	struct file *f = fd_file(t, fd);
	if (!f)
		return off;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return off;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return off;
	struct sock_tuple *tp = (void *)&s->data[(off + sizeof(struct item)) & MASK];
	__builtin_memset(tp, 0, sizeof(*tp));
	tp->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	tp->type = BPF_CORE_READ(sk, sk_type);
	tp->proto = BPF_CORE_READ(sk, sk_protocol);
	if (tp->family == AF_INET) {
		BPF_CORE_READ_INTO(&tp->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&tp->daddr, sk, __sk_common.skc_daddr);
	} else if (tp->family == AF_INET6) {
		BPF_CORE_READ_INTO(&tp->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&tp->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		put_item(s, off, IT_TUPLE, sizeof(*tp), 0);
		return off + sizeof(struct item) + sizeof(*tp);
	}
	tp->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	tp->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	put_item(s, off, IT_TUPLE, sizeof(*tp), 0);
	return off + sizeof(struct item) + sizeof(*tp);
}

/* put_sockaddr appends a struct sockaddr from user memory. */
static __always_inline __u32 put_sockaddr(struct scratch *s, __u32 off, const void *p, __u64 len)
{
	if (!p || len == 0 || off > HALF - 128 - sizeof(struct item))
		return off;
	if (len > 128)
		len = 128;
	if (bpf_probe_read_user(&s->data[(off + sizeof(struct item)) & MASK], len & 255, p)) {
		put_item(s, off, IT_SOCKADDR, 0, IF_FAULT);
		return off + sizeof(struct item);
	}
	put_item(s, off, IT_SOCKADDR, len, 0);
	return off + sizeof(struct item) + len;
}

/* put_ublob appends the user memory [start, end) (argv or env). */
static __always_inline __u32 put_ublob(struct scratch *s, __u32 off, __u8 id, __u64 start, __u64 end)
{
	if (off > HALF - ARGV_SZ - sizeof(struct item) || end <= start)
		return off;
	__u64 len = end - start;
	__u8 flags = 0;
	if (len > ARGV_SZ) {
		len = ARGV_SZ;
		flags = IF_TRUNC;
	}
	if (bpf_probe_read_user(&s->data[(off + sizeof(struct item)) & MASK], len & (2 * ARGV_SZ - 1),
				(void *)start)) {
		put_item(s, off, id, 0, IF_FAULT);
		return off + sizeof(struct item);
	}
	put_item(s, off, id, len, flags);
	return off + sizeof(struct item) + len;
}


static long argv_step(__u32 i, void *arg)
{
	struct scratch *s = this_scratch();
	if (!s)
		return 1;
	struct argv_walk *w = &s->loop.aw;
	const char *a = 0;
	const char *const *argv = w->argv;
	if (i >= MAX_ARGS)
		return 1;
	if (w->ptr_size == 4) {
		__u32 a32 = 0;
		if (bpf_probe_read_user(&a32, sizeof(a32), (void *)argv + 4 * i))
			return 1;
		a = (const char *)(unsigned long)a32;
	} else if (bpf_probe_read_user(&a, sizeof(a), &argv[i])) {
		return 1;
	}
	if (!a)
		return 1;
	__u32 off = w->off;
	if (off + SHORT_SZ > w->limit || off > HALF - SHORT_SZ) {
		w->flags = IF_TRUNC;
		return 1;
	}
	long n = bpf_probe_read_user_str(&s->data[off & MASK], SHORT_SZ, a);
	if (n <= 0)
		return 1;
	w->off = off + n;
	return 0;
}

/* put_uargv appends the strings of a user char *argv[] (failed execve). */
static __noinline __u32 put_uargv(struct scratch *s, __u32 off, const char *const *argv, __u32 ptr_size)
{
	if (!s || !argv || off > HALF - ARGV_SZ - sizeof(struct item))
		return off;
	struct argv_walk *w = &s->loop.aw;
	w->argv = argv;
	w->ptr_size = ptr_size;
	w->off = off + sizeof(struct item);
	w->limit = off + ARGV_SZ;
	w->flags = 0;
	bpf_loop(MAX_ARGS, argv_step, 0, 0);
	__u32 end = w->off;
	if (end > HALF || end < off + sizeof(struct item))
		return off;
	put_item(s, off, IT_ARGV, end - off - sizeof(struct item), w->flags);
	return end;
}


static long cgroup_step(__u32 i, void *arg)
{
	struct scratch *s = this_scratch();
	if (!s)
		return 1;
	struct cgroup_walk *w = &s->loop.cw;
	struct kernfs_node *kn = w->kn, *parent;
	if (bpf_core_field_exists(kn->__parent))
		parent = BPF_CORE_READ(kn, __parent);
	else
		parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
	if (!parent) {
		w->flags = 0;
		return 1;
	}
	__u32 off = w->off;
	if (off > HALF - NAME_SZ)
		return 1;
	long n = bpf_probe_read_kernel_str(&s->data[off & MASK], NAME_SZ, BPF_CORE_READ(kn, name));
	if (n <= 0)
		return 1;
	w->off = off + n;
	w->kn = parent;
	return 0;
}

/* put_cgroup appends the unified cgroup path of t, leaf first. */
static __noinline __u32 put_cgroup(struct scratch *s, __u32 off, struct task_struct *t)
{
	if (!s || off > HALF - 16 * NAME_SZ - sizeof(struct item))
		return off;
	struct kernfs_node *kn = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
	if (!kn)
		return off;
	struct cgroup_walk *w = &s->loop.cw;
	w->kn = kn;
	w->off = off + sizeof(struct item);
	w->flags = IF_TRUNC;
	bpf_loop(16, cgroup_step, 0, 0);
	__u32 end = w->off;
	if (end > HALF || end < off + sizeof(struct item))
		return off;
	put_item(s, off, IT_CGROUP, end - off - sizeof(struct item), w->flags);
	return end;
}

static __always_inline __u32 pid_nr_ns(struct pid *p)
{
	if (!p)
		return 0;
	unsigned int level = BPF_CORE_READ(p, level);
	__u32 nr = 0;
	struct upid *u = (void *)p + bpf_core_field_offset(struct pid, numbers) +
			 (level & 31) * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&nr, sizeof(nr), (void *)u + bpf_core_field_offset(struct upid, nr));
	return nr;
}

static __always_inline void fill_creds(struct proc_info *pi, struct task_struct *t)
{
	const struct cred *c = BPF_CORE_READ(t, cred);
	pi->uid = BPF_CORE_READ(c, uid.val);
	pi->gid = BPF_CORE_READ(c, gid.val);
	pi->euid = BPF_CORE_READ(c, euid.val);
	pi->egid = BPF_CORE_READ(c, egid.val);
	pi->suid = BPF_CORE_READ(c, suid.val);
	pi->sgid = BPF_CORE_READ(c, sgid.val);
	pi->fsuid = BPF_CORE_READ(c, fsuid.val);
	pi->fsgid = BPF_CORE_READ(c, fsgid.val);
	/* kernel_cap_t is a u64 (6.3+) or two u32 (before): 8 bytes either way */
	bpf_probe_read_kernel(&pi->cap_eff, 8, __builtin_preserve_access_index(&c->cap_effective));
	bpf_probe_read_kernel(&pi->cap_perm, 8, __builtin_preserve_access_index(&c->cap_permitted));
	bpf_probe_read_kernel(&pi->cap_inh, 8, __builtin_preserve_access_index(&c->cap_inheritable));
	if (bpf_core_field_exists(t->loginuid))
		pi->loginuid = BPF_CORE_READ(t, loginuid.val);
	else
		pi->loginuid = 0xffffffff;
	pi->has |= PI_CREDS;
}

static __always_inline void fill_ident(struct proc_info *pi, struct task_struct *t)
{
	pi->ppid = BPF_CORE_READ(t, real_parent, tgid);
	pi->vtid = pid_nr_ns(BPF_CORE_READ(t, thread_pid));
	pi->vpid = pid_nr_ns(BPF_CORE_READ(t, group_leader, thread_pid));
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	struct pid *sp = 0, *gp = 0;
	bpf_probe_read_kernel(&sp, sizeof(sp), __builtin_preserve_access_index(&sig->pids[PIDTYPE_SID]));
	bpf_probe_read_kernel(&gp, sizeof(gp), __builtin_preserve_access_index(&sig->pids[PIDTYPE_PGID]));
	if (sp)
		pi->sid = BPF_CORE_READ(sp, numbers[0].nr);
	if (gp)
		pi->pgid = BPF_CORE_READ(gp, numbers[0].nr);
	struct tty_struct *tty = BPF_CORE_READ(sig, tty);
	if (tty) {
		pi->tty_major = BPF_CORE_READ(tty, driver, major);
		pi->tty_minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	}
	pi->start_boottime = BPF_CORE_READ(t, start_boottime);
	BPF_CORE_READ_STR_INTO(&pi->comm, t, comm);
	pi->has |= PI_PROC;
}

static __always_inline struct proc_info *proc_at(struct scratch *s, __u32 off)
{
	struct proc_info *pi = (void *)&s->data[(off + sizeof(struct item)) & MASK];
	__builtin_memset(pi, 0, sizeof(*pi));
	return pi;
}

static __always_inline __u32 proc_done(struct scratch *s, __u32 off)
{
	put_item(s, off, IT_PROC, sizeof(struct proc_info), 0);
	return off + sizeof(struct item) + sizeof(struct proc_info);
}

/* ---- kernel prefilter ---- */

static __always_inline int creates_fd(__u32 id)
{
	switch (id) {
	case NR_open:
	case NR_openat:
	case NR_openat2:
	case NR_creat:
	case NR_socket:
	case NR_accept:
	case NR_accept4:
	case NR_dup:
	case NR_dup2:
	case NR_dup3:
	case NR_fcntl:
	case NR_memfd_create:
		return 1;
	}
	return 0;
}

static __always_inline int is_open(__u32 id)
{
	return id == NR_open || id == NR_openat || id == NR_openat2 || id == NR_creat;
}

static __always_inline struct proc_state *leader_state(struct task_struct *t, int create)
{
	return bpf_task_storage_get(&procs, t->group_leader, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* fd_arg is an fd (or dirfd) argument as the kernel reads it: a 32-bit
 * int, whatever the register's upper half holds. */
static __always_inline __s64 fd_arg(__u64 reg)
{
	return (int)reg;
}

/* fd_word is fd's word in fdmark. The barrier keeps the mask, which the
 * compiler would drop knowing fd < MAX_FD, and which the verifier needs to
 * see the index bounded. */
static __always_inline __u32 fd_word(__s64 fd)
{
	__u64 x = fd;
	barrier_var(x);
	return (x >> 6) & (MAX_FD / 64 - 1);
}

static __always_inline int fd_marked(struct proc_state *ps, __s64 fd)
{
	if (!ps || fd < 0 || fd >= MAX_FD)
		return 0;
	return (ps->fdmark[fd_word(fd)] >> (fd & 63)) & 1;
}

static __always_inline void fd_mark(struct proc_state *ps, __s64 fd, int on)
{
	if (!ps || fd < 0 || fd >= MAX_FD)
		return;
	__u64 bit = 1ULL << (fd & 63);
	__u32 w = fd_word(fd);
	if (on)
		__sync_fetch_and_or(&ps->fdmark[w], bit);
	else if (ps->fdmark[w] & bit)
		__sync_fetch_and_and(&ps->fdmark[w], ~bit);
}

/* is_marked says whether fd of the current process came from an open the
 * prefilter dropped; *ps is looked up once. */
static __always_inline int is_marked(struct task_struct *cur, __s64 fd, struct proc_state **ps)
{
	if (fd < 0 || fd >= MAX_FD)
		return 0;
	if (!*ps)
		*ps = leader_state(cur, 0);
	return fd_marked(*ps, fd);
}

/* fd_installed says whether fd is open in t's fd table. */
static __always_inline int fd_installed(struct task_struct *t, __s64 fd)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f != 0;
}

/* clear_marks forgets the marks of fds first..last of the current process. */
static __always_inline void clear_marks(struct task_struct *cur, __u32 first, __u32 last)
{
	if (first >= MAX_FD || first > last)
		return;
	if (last >= MAX_FD)
		last = MAX_FD - 1;
	struct proc_state *ps = leader_state(cur, 0);
	if (!ps)
		return;
	for (__u32 w = 0; w < MAX_FD / 64; w++) {
		__u32 lo = w * 64, hi = lo + 63;
		if (hi < first || lo > last)
			continue;
		__u64 m = ~0ULL;
		if (first > lo)
			m &= ~0ULL << (first - lo);
		if (last < hi)
			m &= ~0ULL >> (hi - last);
		if (ps->fdmark[w] & m)
			__sync_fetch_and_and(&ps->fdmark[w], ~m);
	}
}

/* set_mark marks (on) or forgets fd of the current process. */
static __always_inline void set_mark(struct task_struct *cur, __s64 fd, int on)
{
	if (fd < 0 || fd >= MAX_FD)
		return;
	fd_mark(leader_state(cur, on), fd, on);
}

/* bytes_eq has 0x80 in every byte of x equal to the byte repeated in pat,
 * 0 elsewhere (exact: no borrow crosses bytes). */
static __always_inline __u64 bytes_eq(__u64 x, __u64 pat)
{
	__u64 y = x ^ pat;
	return ~(((y & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | y | 0x7f7f7f7f7f7f7f7fULL);
}

/* clean_path reports whether the path in w (n bytes with its NUL, w[0]
 * starts with '/') is one the kernel compares: no "//", no "./" (which
 * covers "/./" and "/../"), no trailing '/' or '.' (kfilter.CleanAbs, the
 * same in Go). Eight bytes at a time: a byte that is '/' or '.' followed by
 * '/' or by the end, except the root "/" itself. */
static __always_inline int clean_path(__u64 *w, long n)
{
	__u64 carry = 0, bad = 0;
	for (int k = 0; k < PF_WORDS; k++) {
		if (k * 8 >= n)
			break;
		__u64 x = w[k];
		__u64 slash = bytes_eq(x, 0x2f2f2f2f2f2f2f2fULL);
		__u64 sd = slash | bytes_eq(x, 0x2e2e2e2e2e2e2e2eULL);
		__u64 end = bytes_eq(x, 0);
		if (k == 0)
			end &= ~0xff00ULL; /* "/" */
		__u64 hit = ((sd << 8) | carry) & (slash | end);
		carry = sd >> 56;
		long last = n - 1 - k * 8; /* the NUL's byte in this word, if below 8 */
		if (last < 7)
			hit &= (1ULL << ((8 * (last + 1)) & 63)) - 1;
		bad |= hit;
	}
	return bad == 0;
}

/* pf_path_mask is the LPM trie's mask for the path at user address up
 * under type id; ~0 (every term holds) when the path cannot be compared.
 * The key is built on the stack: a program may be preempted, and another
 * task's program may then run on this CPU. */
static __noinline __u64 pf_path_mask(__u32 id, const void *up)
{
	/* w[0]: 2 bytes of padding, the key's prefixlen (little-endian u32)
	 * and the type (big-endian u16); the path from w[1], 8-aligned for
	 * clean_path; the last word is read past the key's end */
	__u64 w[1 + PF_WORDS];
	w[PF_WORDS] = 0;
	long n = bpf_probe_read_user_str(&w[1], PF_DATA - 2, up);
	/* n counts the NUL; a full buffer may be a cut path */
	if (n <= 1 || n >= PF_DATA - 2 || (w[1] & 0xff) != '/' || !clean_path(&w[1], n))
		return ~0ULL;
	__u64 plen = (2 + n) * 8;
	w[0] = (plen << 16) | ((__u64)((id >> 8) & 0xff) << 48) | ((__u64)(id & 0xff) << 56);
	__u64 *m = bpf_map_lookup_elem(&pf_paths, (__u8 *)w + 2);
	return m ? *m : 0;
}

/* pf_verdict decides, at sys_exit, whether an event of a filtered type
 * leaves the kernel: V_SHIP_OK/V_SHIP_FAIL for the results that do
 * (kfilter.Compiled.Verdict is the same in Go; the caller applies the
 * result). The close of a marked fd forgets the mark here. */
static __always_inline __u8 pf_verdict(struct task_struct *cur, struct pf_type *ft, __u32 id, __u64 *a)
{
	struct proc_state *ps = 0;
	if (ft->drop_fd && is_marked(cur, fd_arg(a[0]), &ps)) {
		if (id == NR_close)
			fd_mark(ps, fd_arg(a[0]), 0); /* ps: found by is_marked */
		return 0;
	}
	__u64 ok = ft->active;
	__u32 preds = 0;
	if (is_open(id)) {
		__u64 flags = 0;
		if (id == NR_open)
			flags = a[1];
		else if (id == NR_openat)
			flags = a[2];
		else if (id == NR_creat)
			flags = 0100 | 01 | 01000; /* O_CREAT|O_WRONLY|O_TRUNC */
		else
			bpf_probe_read_user(&flags, sizeof(flags), (void *)a[2]);
		if ((flags & 3) != 1)
			preds |= P_OPEN_READ;
		if ((flags & 3) != 0)
			preds |= P_OPEN_WRITE;
		if (flags & (0100 | 020000000))
			preds |= P_OPEN_CREATE;
		if (flags & 01000)
			preds |= P_OPEN_TRUNC;
	}
	if (ft->need_pred[6] | ft->need_pred[7])
		/* the effective uid, as user.uid reports it (kuid, init namespace);
		 * cred is an RCU pointer of the trusted task: two plain loads
		 * where BPF_CORE_READ made two helper calls */
		preds |= cur->cred->euid.val == 0 ? P_UID_ROOT : P_UID_OTHER;
	/* all but success/failure, which the exit knows */
	for (int p = 2; p < NUM_PREDS; p++)
		if (!(preds & (1 << p)))
			ok &= ~ft->need_pred[p];
	/* the costly tests only for terms still alive */
	if (ok & ft->need_path) {
		__u64 pm = ~0ULL;
		__u8 pa = ft->path_arg;
		if (pa < 2) /* kfilter.PathArg: 0 or 1 */
			pm = pf_path_mask(id, (const void *)(pa == 0 ? a[0] : a[1]));
		ok &= pm | ~ft->need_path;
	}
	if (ok & ft->need_comm) {
		if (!ps)
			ps = leader_state(cur, 0);
		__u64 cm = ~0ULL;
		if (ps && ps->known) {
			struct comm_key ck = {};
			ck.type = id;
			__builtin_memcpy(ck.comm, ps->comm, sizeof(ck.comm));
			__u64 *m = bpf_map_lookup_elem(&pf_comms, &ck);
			cm = m ? *m : 0;
		}
		ok &= cm | ~ft->need_comm;
	}
	/* P_SUCCESS is bit 0, P_FAILURE bit 1: a term needing failure fails on
	 * success and the other way round */
	__u8 v = 0;
	if (ok & ~ft->need_pred[1])
		v |= V_SHIP_OK;
	if (ok & ~ft->need_pred[0])
		v |= V_SHIP_FAIL;
	return v;
}

/* ---- syscall exit ---- */

static __always_inline __u32 exit_args(struct scratch *s, __u32 id, __u64 *a, long ret, int compat)
{
	__u32 off = 0;
	struct task_struct *t;
	switch (id) {
	case NR_open:
	case NR_creat:
	case NR_unlink:
	case NR_rmdir:
	case NR_mkdir:
	case NR_chmod:
	case NR_chown:
	case NR_lchown:
	case NR_chroot:
	case NR_umount2:
	case NR_execve:
		off = put_rel(s, off, IT_PATH, IT_BASE, AT_FDCWD, (const char *)a[0]);
		if (id == NR_execve)
			off = put_uargv(s, off, (const char *const *)a[1], compat ? 4 : 8);
		break;
	case NR_openat:
	case NR_unlinkat:
	case NR_mkdirat:
	case NR_fchmodat:
	case NR_fchmodat2:
	case NR_fchownat:
	case NR_execveat:
		off = put_rel(s, off, IT_PATH, IT_BASE, fd_arg(a[0]), (const char *)a[1]);
		if (id == NR_execveat)
			off = put_uargv(s, off, (const char *const *)a[2], compat ? 4 : 8);
		break;
	case NR_openat2: {
		off = put_rel(s, off, IT_PATH, IT_BASE, fd_arg(a[0]), (const char *)a[1]);
		__u64 how[2] = {};
		bpf_probe_read_user(how, sizeof(how), (void *)a[2]);
		s->h.aux = how[0];
		s->h.aux2 = how[1];
		break;
	}
	case NR_link:
	case NR_rename:
		off = put_rel(s, off, IT_PATH, IT_BASE, AT_FDCWD, (const char *)a[0]);
		off = put_rel(s, off, IT_PATH2, IT_BASE2, AT_FDCWD, (const char *)a[1]);
		break;
	case NR_linkat:
	case NR_renameat:
	case NR_renameat2:
		off = put_rel(s, off, IT_PATH, IT_BASE, fd_arg(a[0]), (const char *)a[1]);
		off = put_rel(s, off, IT_PATH2, IT_BASE2, fd_arg(a[2]), (const char *)a[3]);
		break;
	case NR_symlink:
		off = put_ustr(s, off, IT_TARGET, (const char *)a[0], STR_SZ);
		off = put_rel(s, off, IT_PATH, IT_BASE, AT_FDCWD, (const char *)a[1]);
		break;
	case NR_symlinkat:
		off = put_ustr(s, off, IT_TARGET, (const char *)a[0], STR_SZ);
		off = put_rel(s, off, IT_PATH, IT_BASE, fd_arg(a[1]), (const char *)a[2]);
		break;
	case NR_chdir:
	case NR_fchdir:
		t = (void *)bpf_get_current_task_btf();
		if (ret == 0)
			off = put_cwd(s, off, IT_CWD, t);
		else if (id == NR_chdir)
			off = put_rel(s, off, IT_PATH, IT_BASE, AT_FDCWD, (const char *)a[0]);
		break;
	case NR_mount:
		off = put_ustr(s, off, IT_DEVNAME, (const char *)a[0], SHORT_SZ);
		off = put_rel(s, off, IT_PATH, IT_BASE, AT_FDCWD, (const char *)a[1]);
		off = put_ustr(s, off, IT_FSTYPE, (const char *)a[2], SHORT_SZ);
		break;
	case NR_memfd_create:
		off = put_ustr(s, off, IT_NAME, (const char *)a[0], SHORT_SZ);
		break;
	case NR_init_module:
		off = put_ustr(s, off, IT_NAME, (const char *)a[2], SHORT_SZ);
		break;
	case NR_finit_module:
		off = put_ustr(s, off, IT_NAME, (const char *)a[1], SHORT_SZ);
		break;
	case NR_connect:
	case NR_bind:
		off = put_sockaddr(s, off, (const void *)a[1], a[2]);
		off = put_tuple(s, off, fd_arg(a[0]));
		break;
	case NR_accept:
	case NR_accept4:
		if (ret >= 0)
			off = put_tuple(s, off, ret);
		break;
	case NR_listen:
		off = put_tuple(s, off, fd_arg(a[0]));
		break;
	case NR_sendto:
		if (a[4])
			off = put_sockaddr(s, off, (const void *)a[4], a[5]);
		else
			off = put_tuple(s, off, fd_arg(a[0]));
		break;
	case NR_sendmsg: {
		struct user_msghdr m = {};
		if (compat) {
			/* struct compat_msghdr: a u32 msg_name, then msg_namelen */
			__u32 m32[2] = {};
			bpf_probe_read_user(m32, sizeof(m32), (void *)a[1]);
			m.msg_name = (void *)(unsigned long)m32[0];
			m.msg_namelen = m32[1];
		} else {
			bpf_probe_read_user(&m, sizeof(m), (void *)a[1]);
		}
		if (m.msg_name)
			off = put_sockaddr(s, off, m.msg_name, m.msg_namelen);
		else
			off = put_tuple(s, off, fd_arg(a[0]));
		break;
	}
	case NR_clone3: {
		__u64 flags = 0;
		bpf_probe_read_user(&flags, sizeof(flags), (void *)a[0]);
		s->h.aux = flags;
		break;
	}
	case NR_setuid:
	case NR_setgid:
	case NR_setreuid:
	case NR_setregid:
	case NR_setresuid:
	case NR_setresgid:
	case NR_setfsuid:
	case NR_setfsgid:
	case NR_capset: {
		t = (void *)bpf_get_current_task_btf();
		struct proc_info *pi = proc_at(s, off);
		fill_creds(pi, t);
		off = proc_done(s, off);
		break;
	}
	}
	return off;
}

/* drop_exit ends a syscall the prefilter keeps in the kernel: the fd of a
 * dropped open is marked, so that its close (and reads...) can stay too. */
static __always_inline void drop_exit(struct task_struct *cur, __u32 nr, long ret)
{
	if (ret >= 0 && is_open(nr))
		set_mark(cur, ret, 1);
	count_filtered(nr);
}

/* user_args reads the syscall's arguments from the user registers the
 * kernel saved at entry: they are still there at exit, except where the
 * kernel rewrote them (a successful exec, a fork child), which the callers
 * leave to sched_process_{exec,fork}. */
static __always_inline void user_args(struct pt_regs *regs, int is_compat, __u64 *a)
{
	if (is_compat) {
		/* ia32 passes arguments in ebx, ecx, edx, esi, edi, ebp */
		a[0] = (__u32)regs->bx;
		a[1] = (__u32)regs->cx;
		a[2] = (__u32)regs->dx;
		a[3] = (__u32)regs->si;
		a[4] = (__u32)regs->di;
		a[5] = (__u32)regs->bp;
	} else {
		a[0] = regs->di;
		a[1] = regs->si;
		a[2] = regs->dx;
		a[3] = regs->r10;
		a[4] = regs->r8;
		a[5] = regs->r9;
	}
}

/* syscall_nr is the x86_64 number of the syscall a task is in (or returns
 * from, regs being its saved user registers; is_compat: in_compat_syscall
 * of the task), -1 for none; an ia32 one without an x86_64 equivalent is
 * counted in compat when tally is set (once per syscall: at its exit). */
static __always_inline long syscall_nr(struct pt_regs *regs, int is_compat, int tally)
{
	long nr = regs->orig_ax;
	if (nr < 0 || !is_compat)
		return nr;
	nr = translate_compat(nr);
	if (nr < 0 && tally)
		count(&compat);
	return nr;
}

struct sc_args {
	__u64 a[6];
};

/* ship_exit builds and submits the record of a syscall exit that leaves
 * the kernel. A global function: the verifier checks the record building
 * once on its own, not again for every path through the prefilter, and the
 * exits the prefilter keeps in the kernel (most of them) make no call. */
__noinline int ship_exit(struct task_struct *cur __attribute__((btf_decl_tag("arg:trusted"))), __u32 nr, long ret,
			 struct sc_args *sa, int is_compat)
{
	if (!cur || !sa || nr > MAX_SYSCALL)
		return 0;
	__u64 *a = sa->a;
	struct scratch *s = begin(REC_SYSCALL, nr, cur->pid, cur->tgid);
	if (!s)
		return 0;
	/* a new fd that leaves the kernel is no longer one of a dropped open */
	if (creates_fd(nr) && ret >= 0)
		set_mark(cur, (nr == NR_dup2 || nr == NR_dup3) ? fd_arg(a[1]) : ret, 0);
	/* close_range closes without a close: its numbers' marks go, or a
	 * later fd the kernel does not mark (a pipe) would inherit one */
	if (nr == NR_close_range && ret == 0 && !(a[2] & CLOSE_RANGE_CLOEXEC))
		clear_marks(cur, (__u32)a[0], (__u32)a[1]);
	__builtin_memcpy(s->h.args, a, sizeof(sa->a));
	s->h.ret = ret;
	/* the number a close freed may be another thread's new fd by now,
	 * whose open went out before this close: the table keeps that one */
	if (nr == NR_close && ret == 0 && fd_installed(cur, fd_arg(a[0])))
		s->h.aux = CLOSE_FD_REUSED;
	__u32 off = exit_args(s, nr, a, ret, is_compat);
	submit(s, off);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	/* the one attach point of the syscalls: arguments come from the saved
	 * user registers, the prefilter decides with the result known */
	struct task_struct *cur = bpf_get_current_task_btf();
	int is_compat = in_compat_syscall(cur);
	long nr = syscall_nr(regs, is_compat, 1);
	if (nr < 0 || nr > MAX_SYSCALL)
		return 0;
	/* the array lookup is inlined and cheap: skip the rest for the
	 * syscalls nobody asked for, i.e. almost all of them */
	__u32 key = nr;
	__u8 *want = bpf_map_lookup_elem(&interest, &key);
	if (!want || !*want)
		return 0;
	if (cur->tgid == self_tgid)
		return 0;
	/* a fork child's return: sched_fork emitted it */
	if (ret == 0 && (nr == NR_clone || nr == NR_clone3 || nr == NR_fork || nr == NR_vfork))
		return 0;
	struct sc_args sa;
	user_args(regs, is_compat, sa.a);
	/* a successful exec: the new image's registers, sched_exec emitted it.
	 * An execveat with AT_EXECVE_CHECK returns 0 without an exec and with
	 * its registers (a real exec zeroes them): it goes out from here. */
	if (ret == 0 && (nr == NR_execve || (nr == NR_execveat && !(sa.a[4] & AT_EXECVE_CHECK))))
		return 0;
	/* the prefilter, inline: what it keeps costs no call beyond its tests */
	struct pf_type *ft = bpf_map_lookup_elem(&pf_types, &key);
	if (ft && ft->mode && !(pf_verdict(cur, ft, nr, sa.a) & (ret >= 0 ? V_SHIP_OK : V_SHIP_FAIL))) {
		drop_exit(cur, nr, ret);
		return 0;
	}
	return ship_exit(cur, nr, ret, &sa, is_compat);
}

/* ---- process lifecycle ---- */

/* sched_prepare_exec runs inside a successful exec before the point of no
 * return, while the saved user registers still hold the syscall's
 * arguments: an execveat's dirfd and flags are kept for sched_exec (an
 * execve needs none: its path and argv come from bprm and the new image). */
SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(sched_prepare_exec, struct task_struct *p, struct linux_binprm *bprm)
{
	if (p->tgid == self_tgid)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	int is_compat = in_compat_syscall(p);
	if (syscall_nr(regs, is_compat, 0) != NR_execveat)
		return 0;
	struct exec_args *ea = bpf_task_storage_get(&execveat_args, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ea) {
		user_args(regs, is_compat, ea->args);
		/* begin_new_exec counts the exec after this tracepoint: an entry
		 * left by an exec whose record was lost never matches a later one */
		ea->exec_id = p->self_exec_id + 1;
	}
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 pid = BPF_CORE_READ(p, tgid), tid = BPF_CORE_READ(p, pid);
	if (pid == self_tgid)
		return 0;
	/* the prefilter's state first, whether or not the record fits */
	struct proc_state *ps = bpf_task_storage_get(&procs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ps) {
		/* zeroed first: the name is a hash key, and the read stops at
		 * the NUL (a re-exec's storage holds the older, longer name) */
		__builtin_memset(ps->comm, 0, sizeof(ps->comm));
		BPF_CORE_READ_STR_INTO(&ps->comm, p, comm);
		ps->known = 1;
		/* exec closed the close-on-exec fds without a close: forget every
		 * mark rather than keep one for a number reused by an fd the
		 * kernel does not mark (pipe, eventfd...); at worst the close of
		 * a kept fd that survived the exec leaves the kernel */
		__builtin_memset(ps->fdmark, 0, sizeof(ps->fdmark));
	}
	/* an execveat left its arguments at sched_prepare_exec; the task that
	 * called it goes on as p, even when a non-leader thread execs. Taken
	 * (and deleted) whether or not the record fits. */
	struct exec_args ea = {};
	struct exec_args *st = bpf_task_storage_get(&execveat_args, p, 0, 0);
	if (st) {
		ea = *st;
		bpf_task_storage_delete(&execveat_args, p);
	}
	__u32 old = old_pid;
	__u16 type = NR_execve;
	struct scratch *s = begin(REC_EXEC, type, tid, pid);
	if (!s)
		return 0;
	__builtin_memset(s->h.args, 0, sizeof(s->h.args));
	if (ea.exec_id && ea.exec_id == p->self_exec_id) {
		s->h.type = NR_execveat;
		__builtin_memcpy(s->h.args, ea.args, sizeof(ea.args));
	}
	__u32 off = 0;
	struct proc_info *pi = proc_at(s, off);
	fill_ident(pi, p);
	fill_creds(pi, p);
	pi->oldtid = old;
	struct file *f = BPF_CORE_READ(bprm, file);
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	pi->exe_ino = BPF_CORE_READ(ino, i_ino);
	pi->exe_nlink = BPF_CORE_READ(ino, __i_nlink);
	/* bit 31 of i_ctime_nsec is the multigrain "queried" flag (6.13+) */
	pi->exe_ctime = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ULL +
			(BPF_CORE_READ(ino, i_ctime_nsec) & 0x7fffffff);
	pi->exe_mtime = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000ULL + BPF_CORE_READ(ino, i_mtime_nsec);
	if (BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode *oi = (void *)ino - bpf_core_field_offset(struct ovl_inode, vfs_inode);
		pi->exe_upper = BPF_CORE_READ(oi, __upperdentry) != 0;
	}
	pi->has |= PI_EXE | PI_CWD;
	off = proc_done(s, off);
	off = put_dentries(s, off, IT_EXE, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
	if (off <= HALF - STR_SZ - sizeof(struct item)) {
		__u32 at = off;
		long n = bpf_probe_read_kernel_str(&s->data[(off + sizeof(struct item)) & MASK], STR_SZ,
						   BPF_CORE_READ(bprm, filename));
		if (n > 0) {
			put_item(s, at, IT_TARGET, n - 1, 0);
			off += sizeof(struct item) + n - 1;
		}
	}
	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	off = put_ublob(s, off, IT_ARGV, BPF_CORE_READ(mm, arg_start), BPF_CORE_READ(mm, arg_end));
	off = put_ublob(s, off, IT_ENV, BPF_CORE_READ(mm, env_start), BPF_CORE_READ(mm, env_end));
	off = put_cwd(s, off, IT_CWD, p);
	off = put_cgroup(s, off, p);
	submit(s, off);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 pid = BPF_CORE_READ(child, tgid), tid = BPF_CORE_READ(child, pid);
	if (pid == self_tgid)
		return 0;
	/* the prefilter's state first, whether or not the record fits: a new
	 * process inherits the name and the fd table (and so the marks) */
	if (pid == tid) {
		struct proc_state *pps = bpf_task_storage_get(&procs, parent->group_leader, 0, 0);
		if (pps) {
			struct proc_state *cps = bpf_task_storage_get(&procs, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (cps)
				__builtin_memcpy(cps, pps, sizeof(*cps));
		}
	}
	struct scratch *s = begin(REC_FORK, NR_clone, tid, pid);
	if (!s)
		return 0;
	__builtin_memset(s->h.args, 0, sizeof(s->h.args));
	__u32 ptid = BPF_CORE_READ(parent, pid);
	/* the parent is inside its clone: its saved user registers still hold
	 * the arguments (a kernel thread's fork has no syscall) */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(parent);
	int is_compat = in_compat_syscall(parent);
	long nr = syscall_nr(regs, is_compat, 0);
	if (nr == NR_clone || nr == NR_clone3 || nr == NR_fork || nr == NR_vfork) {
		s->h.type = nr;
		user_args(regs, is_compat, s->h.args);
		if (nr == NR_clone3) {
			__u64 flags = 0;
			bpf_probe_read_user(&flags, sizeof(flags), (void *)s->h.args[0]);
			s->h.aux = flags;
		}
	}
	__u32 off = 0;
	struct proc_info *pi = proc_at(s, off);
	fill_ident(pi, child);
	fill_creds(pi, child);
	pi->ptid = ptid;
	pi->has |= PI_CWD;
	off = proc_done(s, off);
	off = put_cwd(s, off, IT_CWD, child);
	off = put_cgroup(s, off, child);
	submit(s, off);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	__u32 pid = BPF_CORE_READ(p, tgid), tid = BPF_CORE_READ(p, pid);
	if (pid == self_tgid)
		return 0;
	/* exit and exit_group never return to sys_exit: their record goes out
	 * here, before the thread's end */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	int is_compat = in_compat_syscall(p);
	long nr = syscall_nr(regs, is_compat, 0);
	if (nr == NR_exit || nr == NR_exit_group) {
		__u32 key = nr;
		__u8 *want = bpf_map_lookup_elem(&interest, &key);
		if (want && *want) {
			struct scratch *x = begin(REC_SYSCALL, nr, tid, pid);
			if (x) {
				user_args(regs, is_compat, x->h.args);
				submit(x, 0);
			}
		}
	}
	struct scratch *s = begin(REC_EXIT, TYPE_PROCEXIT, tid, pid);
	if (!s)
		return 0;
	__builtin_memset(s->h.args, 0, sizeof(s->h.args));
	s->h.ret = BPF_CORE_READ(p, exit_code);
	/* group_dead is the tracepoint's second argument since 6.16; before,
	 * the thread group is dead when no live threads remain. */
	struct signal_struct *sig = BPF_CORE_READ(p, signal);
	s->h.args[0] = BPF_CORE_READ(sig, live.counter) == 0;
	submit(s, 0);
	return 0;
}
