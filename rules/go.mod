module github.com/harrier-security/harrier/rules

go 1.26.0
