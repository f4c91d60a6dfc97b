package elasticsearch

import "github.com/harrier-security/harrier/router/internal/tlsconfig"

func tlsClient(ca string) tlsconfig.Client { return tlsconfig.Client{CAFile: ca} }
