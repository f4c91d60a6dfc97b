package sysevent

//go:generate go run gen_syscalls.go

import "strconv"

// Type is an event type. Values up to the highest x86_64 syscall number are
// that syscall (so the kernel's syscall id is the Type, with no table in
// between); Harrier's own event types, which are not syscalls, follow at
// FirstHarrierType.
type Type uint16

// FirstHarrierType is the first event type that is not a syscall. It is
// above any x86_64 syscall number the kernel may report (they are below
// 512), so a newer kernel's syscalls never collide with our own types.
const FirstHarrierType Type = 512

// Harrier's event types that are not syscalls, named as Falco names them.
const (
	// TypeProcExit is a thread's exit (sched_process_exit): Ret is the exit
	// code as wait(2) reports it; Proc carries the last state of the thread.
	TypeProcExit Type = FirstHarrierType + iota
	// TypeContainer is a container that started (Falco's async "container"
	// event): Thread is a thread of the container's first process, whose
	// Container carries the runtime's metadata.
	TypeContainer
	lastType
)

// NumTypes is the size of the Type space: every Type is below it.
const NumTypes = int(lastType)

// MaxSyscall is the highest syscall number the in-kernel filter accepts.
const MaxSyscall = int(FirstHarrierType) - 1

var harrierNames = [...]string{
	TypeProcExit - FirstHarrierType:  "procexit",
	TypeContainer - FirstHarrierType: "container",
}

// Names is the event type name table indexed by Type, with "" for unused
// numbers; it is what the syscall field registry is built from
// (fields.NewRegistry accepts the holes).
var Names = func() []string {
	n := make([]string, NumTypes)
	copy(n, syscallNames[:])
	for i, name := range harrierNames {
		n[int(FirstHarrierType)+i] = name
	}
	return n
}()

var byName = func() map[string]Type {
	m := make(map[string]Type, len(Names))
	for i, n := range Names {
		if n != "" {
			m[n] = Type(i)
		}
	}
	return m
}()

// String returns the type's name (evt.type), or "syscall_N" for a syscall
// number the name table does not know (a newer kernel's), or "type_N".
func (t Type) String() string {
	if int(t) < len(Names) && Names[t] != "" {
		return Names[t]
	}
	if t < FirstHarrierType {
		return "syscall_" + strconv.Itoa(int(t))
	}
	return "type_" + strconv.Itoa(int(t))
}

// IsSyscall reports whether t is a syscall number.
func (t Type) IsSyscall() bool { return t < FirstHarrierType }

// TypeByName returns the type named name.
func TypeByName(name string) (Type, bool) {
	t, ok := byName[name]
	return t, ok
}
