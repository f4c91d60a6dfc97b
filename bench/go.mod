module github.com/harrier-security/harrier/bench

go 1.26.0
