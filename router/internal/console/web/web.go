// Package web embeds the console page: plain HTML, CSS and JavaScript with
// no build step and nothing fetched from elsewhere at run time.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// Handler serves the page and its assets under prefix ("/ui/"); every
// path that is not an asset gets the page, so deep links load it.
func Handler(prefix string) http.Handler {
	sub, _ := fs.Sub(files, "static")
	assets := http.StripPrefix(prefix, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console page is read with GET", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path[len(prefix):]
		if p == "app.js" || p == "app.css" || p == "favicon.svg" {
			w.Header().Set("Cache-Control", "no-cache")
			assets.ServeHTTP(w, r)
			return
		}
		b, _ := files.ReadFile("static/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}
