module github.com/harrier-security/harrier/sensor

go 1.26.0

require github.com/harrier-security/harrier/proto v0.0.0

replace github.com/harrier-security/harrier/proto => ../proto
