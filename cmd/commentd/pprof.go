package main

import (
	"net/http"
	"net/http/pprof"
)

// servePprof adds Go's profiler to mux under /debug/pprof/ (commentd -pprof). It is off by default:
// profiles reveal the program's internals, and a CPU profile costs CPU while it runs. The handlers
// are added to our own mux, not to http.DefaultServeMux, so nothing is served unless asked for.
// The command line (pprof.Cmdline) is left out: it holds the secrets given as flags, which the
// start-up log masks (-hash-key, -encryption-keys, a Redis password, staff email addresses).
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
