// Package sysprobe makes the calling process issue syscalls with
// arguments that make them fail or change nothing (bad descriptors, nil
// pointers, pids that do not exist), so that a live test sees the capture
// record every syscall it decodes without touching the host.
package sysprobe

import (
	"fmt"
	"runtime"
	"syscall"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

const (
	bad     = ^uintptr(0) // -1: no such descriptor, an invalid id or command
	noPid   = 0x7ffffffe  // above any pid_max
	badFlag = 0x800       // CLONE_SIGHAND without CLONE_VM: EINVAL
)

// harmless are the arguments each syscall is issued with.
var harmless = map[sysevent.Type][]uintptr{
	sysevent.SysExecve:      {0, 0, 0},
	sysevent.SysExecveat:    {bad, 0, 0, 0, 0},
	sysevent.SysClone:       {badFlag, 0, 0, 0, 0},
	sysevent.SysClone3:      {0, 0}, // size 0: EINVAL
	sysevent.SysOpen:        {0, 0, 0},
	sysevent.SysOpenat:      {bad, 0, 0, 0},
	sysevent.SysOpenat2:     {bad, 0, 0, 0},
	sysevent.SysCreat:       {0, 0},
	sysevent.SysClose:       {bad},
	sysevent.SysDup:         {bad},
	sysevent.SysDup2:        {bad, 1000},
	sysevent.SysDup3:        {bad, 1000, 0},
	sysevent.SysSocket:      {bad, 0, 0},
	sysevent.SysConnect:     {bad, 0, 0},
	sysevent.SysAccept:      {bad, 0, 0},
	sysevent.SysAccept4:     {bad, 0, 0, 0},
	sysevent.SysBind:        {bad, 0, 0},
	sysevent.SysListen:      {bad, 0},
	sysevent.SysSendto:      {bad, 0, 0, 0, 0, 0},
	sysevent.SysSendmsg:     {bad, 0, 0},
	sysevent.SysSymlink:     {0, 0},
	sysevent.SysSymlinkat:   {0, bad, 0},
	sysevent.SysLink:        {0, 0},
	sysevent.SysLinkat:      {bad, 0, bad, 0, 0},
	sysevent.SysUnlink:      {0},
	sysevent.SysUnlinkat:    {bad, 0, 0},
	sysevent.SysRename:      {0, 0},
	sysevent.SysRenameat:    {bad, 0, bad, 0},
	sysevent.SysRenameat2:   {bad, 0, bad, 0, 0},
	sysevent.SysMkdir:       {0, 0},
	sysevent.SysMkdirat:     {bad, 0, 0},
	sysevent.SysRmdir:       {0},
	sysevent.SysChmod:       {0, 0},
	sysevent.SysFchmod:      {bad, 0},
	sysevent.SysFchmodat:    {bad, 0, 0},
	sysevent.SysFchmodat2:   {bad, 0, 0, 0},
	sysevent.SysChown:       {0, 0, 0},
	sysevent.SysFchown:      {bad, 0, 0},
	sysevent.SysLchown:      {0, 0, 0},
	sysevent.SysFchownat:    {bad, 0, 0, 0, 0},
	sysevent.SysSetuid:      {bad}, // -1: EINVAL
	sysevent.SysSetgid:      {bad},
	sysevent.SysSetreuid:    {bad, bad}, // -1 keeps each id
	sysevent.SysSetregid:    {bad, bad},
	sysevent.SysSetresuid:   {bad, bad, bad},
	sysevent.SysSetresgid:   {bad, bad, bad},
	sysevent.SysSetfsuid:    {bad}, // an invalid id changes nothing
	sysevent.SysSetfsgid:    {bad},
	sysevent.SysCapset:      {0, 0},
	sysevent.SysPtrace:      {16, noPid}, // PTRACE_ATTACH: ESRCH
	sysevent.SysMemfdCreate: {0, 0},
	sysevent.SysInitModule:  {0, 0, 0},
	sysevent.SysFinitModule: {bad, 0, 0},
	sysevent.SysMount:       {0, 0, 0, 0, 0},
	sysevent.SysUmount2:     {0, 0},
	sysevent.SysUnshare:     {0}, // nothing to unshare
	sysevent.SysSetns:       {bad, 0},
	sysevent.SysChdir:       {0},
	sysevent.SysFchdir:      {bad},
	sysevent.SysChroot:      {0},
	sysevent.SysPrctl:       {bad},
	sysevent.SysKill:        {noPid, 0},
	sysevent.SysTkill:       {noPid, 0},
	sysevent.SysTgkill:      {noPid, noPid, 0},
	sysevent.SysBpf:         {bad, 0, 0},
	sysevent.SysFcntl:       {bad, 0},
	sysevent.SysCloseRange:  {2, 1, 0}, // first > last: EINVAL
}

// Issue issues each of types once from one thread of the calling process.
// fork and vfork are issued by a child that exits at once (with exit_group
// and exit); an exit or exit_group in types is covered by those children.
// A type Issue has no harmless arguments for is an error, before any
// syscall is made.
func Issue(types []sysevent.Type) error {
	for _, t := range types {
		if _, ok := harmless[t]; !ok && !forked(t) {
			return fmt.Errorf("sysprobe: no harmless way to issue %s", t)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, t := range types {
		switch t {
		case sysevent.SysFork, sysevent.SysExitGroup:
			if forkExitGroup() < 0 {
				return fmt.Errorf("sysprobe: fork failed")
			}
			continue
		case sysevent.SysVfork, sysevent.SysExit:
			if vforkExit() < 0 {
				return fmt.Errorf("sysprobe: vfork failed")
			}
			continue
		}
		var a [6]uintptr
		copy(a[:], harmless[t])
		// The result is not looked at: most calls fail on purpose.
		_, _, _ = syscall.Syscall6(uintptr(t), a[0], a[1], a[2], a[3], a[4], a[5])
	}
	return nil
}

func forked(t sysevent.Type) bool {
	switch t {
	case sysevent.SysFork, sysevent.SysVfork, sysevent.SysExit, sysevent.SysExitGroup:
		return true
	}
	return false
}

// forkExitGroup forks a child that calls exit_group(0) at once; it returns
// the child's pid (negative errno on failure). vforkExit does the same
// with vfork and exit(0). Both are in assembly: the child must run no Go
// code (a vfork child even shares the parent's stack).
func forkExitGroup() int64
func vforkExit() int64
