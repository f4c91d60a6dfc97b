// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The floor of Harrier's syscall capture cost: the same two tracepoints
 * (tp_btf sys_enter and sys_exit) with programs that return at once. With
 * them attached every syscall takes the kernel's traced slow path and
 * calls into BPF twice, which is what any tracepoint-based capture pays
 * before it looks at the event. Benchmarks only (bpfcapture.AttachFloor). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_enter, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_exit, struct pt_regs *regs, long ret)
{
	return 0;
}
