package main

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/zincsearch/zincsearch/pkg/core"
	"github.com/zincsearch/zincsearch/pkg/handlers/document"
	"github.com/zincsearch/zincsearch/pkg/handlers/index"
	"github.com/zincsearch/zincsearch/pkg/handlers/search"
	"github.com/zincsearch/zincsearch/pkg/metadata"
)

// newZinc routes ZincSearch's Elasticsearch-compatible handlers (the ones
// the peer passes through) without its UI, auth and telemetry.
func newZinc() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	es := r.Group("/es")
	es.POST("/_bulk", document.ESBulk)
	es.POST("/:target/_bulk", document.ESBulk)
	es.PUT("/:target/_bulk", document.ESBulk)
	es.POST("/_search", search.SearchDSL)
	es.POST("/:target/_search", search.SearchDSL)
	es.POST("/:target/_refresh", index.Refresh)
	es.GET("/:target/_mapping", index.GetESMapping)
	es.HEAD("/:target", index.Exists)
	es.DELETE("/:target", index.Delete)
	es.GET("/:target/_doc/:id", document.Get)
	return r
}

// closeZinc flushes and closes the indexes and the metadata store.
func closeZinc() error {
	return errors.Join(core.ZINC_INDEX_LIST.Close(), metadata.Close())
}
