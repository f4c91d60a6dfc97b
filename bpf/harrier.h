/* Record layout shared by harrier.bpf.c and the Go decoder
 * (sensor/internal/syscall/bpfcapture/decode.go). Little-endian, x86_64.
 *
 * A record is a struct rec_hdr followed by items. An item is a struct item
 * header followed by len bytes; items are not aligned. Strings are not
 * NUL-terminated inside an item except where an item is a list (argv,
 * env, path components), where every element ends with a NUL. */
#pragma once

#define REC_SYSCALL 1 /* a syscall exit (exit/exit_group: from sched_process_exit) */
#define REC_EXEC 2    /* sched_process_exec: a successful execve/execveat */
#define REC_FORK 3    /* sched_process_fork: the child of clone/fork */
#define REC_EXIT 4    /* sched_process_exit */

/* rec_hdr.aux of a close: the number was open again when the close
 * returned (another thread's new fd, whose record went out first). */
#define CLOSE_FD_REUSED 1

#define TYPE_PROCEXIT 512 /* sysevent.TypeProcExit */
#define NUM_TYPES 513     /* sysevent.NumTypes; size of the drop table */
#define MAX_SYSCALL 511

/* Item ids. */
#define IT_PATH 1     /* string: first path argument, as passed */
#define IT_BASE 2     /* components, leaf first: directory IT_PATH is relative to */
#define IT_PATH2 3    /* string: second path argument, as passed */
#define IT_BASE2 4    /* components: directory IT_PATH2 is relative to */
#define IT_TARGET 5   /* string: symlink target, execve filename */
#define IT_NAME 6     /* string: memfd name, module parameters */
#define IT_DEVNAME 7  /* string: mount source */
#define IT_FSTYPE 8   /* string: mount fs type */
#define IT_ARGV 9     /* NUL-terminated strings */
#define IT_ENV 10     /* NUL-terminated strings */
#define IT_SOCKADDR 11 /* raw struct sockaddr from user memory */
#define IT_TUPLE 12   /* struct sock_tuple read from the socket */
#define IT_PROC 13    /* struct proc_info */
#define IT_EXE 14     /* components: executable path */
#define IT_CWD 15     /* components: working directory */
#define IT_CGROUP 16  /* components: cgroup v2 path */

/* Item flags. */
#define IF_TRUNC 1 /* the value was cut at a size limit */
#define IF_FAULT 2 /* reading user memory failed */

struct rec_hdr {
	__u64 ts;     /* bpf_ktime_get_boot_ns */
	__u64 args[6];
	__s64 ret;
	__u64 aux;    /* clone3 flags, openat2 flags, close: CLOSE_FD_REUSED */
	__u32 aux2;   /* openat2 mode */
	__u32 tid;
	__u32 pid;
	__u16 type;
	__u16 cpu;
	__u8 kind;
	__u8 pad[3];
	__u32 len; /* bytes of items following the header */
};

struct item {
	__u16 len;
	__u8 id;
	__u8 flags;
};

struct sock_tuple {
	__u16 family;
	__u16 type;
	__u16 proto;
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};

#define PI_PROC 1
#define PI_CREDS 2
#define PI_EXE 4
#define PI_CWD 8

struct proc_info {
	__u64 start_boottime;
	__u64 cap_eff;
	__u64 cap_perm;
	__u64 cap_inh;
	__u64 exe_ino;
	__u64 exe_ctime; /* ns since the epoch */
	__u64 exe_mtime;
	__u32 ppid, ptid, oldtid, vpid, vtid, sid, pgid;
	__u32 tty_major, tty_minor;
	__u32 uid, gid, euid, egid, suid, sgid, fsuid, fsgid, loginuid;
	__u32 exe_nlink;
	__u8 has;
	__u8 exe_upper;
	__u8 group_dead;
	__u8 pad;
	char comm[16];
};
