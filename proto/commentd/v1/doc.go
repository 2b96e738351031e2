// Package commentdv1 holds the Go code generated from the commentd.v1 API.
// Never edit the generated files; change the .proto files and run `go generate ./proto/...`.
package commentdv1

//go:generate sh -c "cd ../.. && go tool -modfile=buftool/go.mod buf lint && go tool -modfile=buftool/go.mod buf generate"
