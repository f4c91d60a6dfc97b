#include "textflag.h"

// func forkExitGroup() int64
TEXT ·forkExitGroup(SB),NOSPLIT,$0-8
	MOVQ	$57, AX // fork
	SYSCALL
	CMPQ	AX, $0
	JNE	parent
	MOVQ	$0, DI
	MOVQ	$231, AX // exit_group
	SYSCALL
parent:
	MOVQ	AX, ret+0(FP)
	RET

// func vforkExit() int64
TEXT ·vforkExit(SB),NOSPLIT,$0-8
	MOVQ	$58, AX // vfork
	SYSCALL
	CMPQ	AX, $0
	JNE	vparent
	MOVQ	$0, DI
	MOVQ	$60, AX // exit
	SYSCALL
vparent:
	MOVQ	AX, ret+0(FP)
	RET
