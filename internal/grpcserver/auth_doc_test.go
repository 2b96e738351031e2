package grpcserver

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/apikey"
)

// TestProtoNamesAdminOnlyMethods compares the role table with the API's own documentation: the
// proto says a service is called with a key of role "site" or "moderator", so an RPC that needs an
// admin key must say "admin keys only" in its comment, or a client's developer learns it only from
// a PERMISSION_DENIED.
func TestProtoNamesAdminOnlyMethods(t *testing.T) {
	files, err := filepath.Glob("../../proto/commentd/v1/*_service.proto")
	if err != nil || len(files) == 0 {
		t.Fatalf("no service protos found: %v", err)
	}
	service := regexp.MustCompile(`^service (\w+) \{`)
	rpc := regexp.MustCompile(`^\s*rpc (\w+)\(`)
	// comments maps every RPC's full method name to its leading comment.
	comments := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var svc string
		var comment []string
		for line := range strings.Lines(string(src)) {
			trimmed := strings.TrimSpace(line)
			switch m, r := service.FindStringSubmatch(line), rpc.FindStringSubmatch(line); {
			case m != nil:
				svc, comment = m[1], nil
			case r != nil:
				comments["/commentd.v1."+svc+"/"+r[1]] = strings.Join(comment, " ")
				comment = nil
			case strings.HasPrefix(trimmed, "//"):
				comment = append(comment, strings.TrimSpace(strings.TrimPrefix(trimmed, "//")))
			default:
				comment = nil
			}
		}
	}
	for method, need := range methodRoles() {
		doc, ok := comments[method]
		if !ok {
			t.Errorf("%s: no rpc in the protos", method)
			continue
		}
		if says := strings.Contains(doc, "admin keys only"); says != (need == apikey.RoleAdmin) {
			t.Errorf("%s needs role %s, but its proto comment saying \"admin keys only\" is %v: %q", method, need, says, doc)
		}
	}
}

// TestReadmeNamesPublicServices checks that the README tells operators which services answer
// calls without a key: someone auditing what the port offers to anyone who reaches it must not
// have to read the auth code to learn it.
func TestReadmeNamesPublicServices(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range publicServices() {
		if !strings.Contains(string(readme), "`"+svc+"`") {
			t.Errorf("README.md does not name %s, which takes calls without a key", svc)
		}
	}
}
