package bpfcapture

// The generated harrier_bpfel.go and harrier_bpfel.o (and floor_bpfel.*)
// are committed, so that building needs no clang; `make generate-bpf`
// rebuilds them.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -mcpu=v3 -g -Wall -Werror -I../../../../bpf" -target bpfel -no-global-types harrier ../../../../bpf/harrier.bpf.c
//go:generate go tool bpf2go -cc clang -cflags "-O2 -mcpu=v3 -g -Wall -Werror -I../../../../bpf" -target bpfel -no-global-types floor ../../../../bpf/floor.bpf.c
//go:generate go run gen_ia32.go
