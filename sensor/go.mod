module github.com/harrier-security/harrier/sensor

go 1.26.0

require github.com/harrier-security/harrier/proto v0.0.0

require (
	github.com/cilium/ebpf v0.22.0
	github.com/google/uuid v1.6.0 // indirect
	golang.org/x/sys v0.48.0
	google.golang.org/protobuf v1.36.12 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace github.com/harrier-security/harrier/proto => ../proto

tool github.com/cilium/ebpf/cmd/bpf2go
