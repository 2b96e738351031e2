package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/tap"

	"github.com/commentd/commentd/internal/apikey"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Caller is the API key that made the current call: its name (never the token) and role.
type Caller struct {
	Name string
	Role apikey.Role
}

type callerKey struct{}

// CallerFrom returns the caller the auth interceptor admitted. ok is false for calls that need no
// key (health, reflection) and outside a call.
func CallerFrom(ctx context.Context) (c Caller, ok bool) {
	c, ok = ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Errors of the auth interceptor; statusFor turns them into UNAUTHENTICATED and PERMISSION_DENIED.
var (
	errMissingKey = errors.New("grpcserver: no bearer API key")
	// errSeveralKeys: more than one authorization header; which one counts would be a guess.
	errSeveralKeys = fmt.Errorf("%w: several authorization headers", errMissingKey)
	errUnknownKey  = errors.New("grpcserver: unknown API key")
)

// permissionError refuses a known key a method. need is apikey.RoleUnknown when the method is in
// no role table at all.
type permissionError struct {
	method     string
	role, need apikey.Role
}

func (e *permissionError) Error() string {
	if e.need == apikey.RoleUnknown {
		return "grpcserver: method " + e.method + " is not open to any API key"
	}
	return "grpcserver: role " + e.role.String() + " may not call " + e.method + " (needs " + e.need.String() + ")"
}

// methodRoles says which role each method of our API needs (admin passes every check). A method
// of a registered service that is missing here is refused to everyone, so adding an RPC to the
// proto without deciding who may call it fails closed rather than open.
func methodRoles() map[string]apikey.Role {
	return map[string]apikey.Role{
		commentdv1.CommentService_SubmitComment_FullMethodName: apikey.RoleSite,
		commentdv1.CommentService_GetComment_FullMethodName:    apikey.RoleSite,
		commentdv1.CommentService_ListComments_FullMethodName:  apikey.RoleSite,
		commentdv1.CommentService_CountComments_FullMethodName: apikey.RoleSite,
		commentdv1.CommentService_ReportComment_FullMethodName: apikey.RoleSite,
		commentdv1.CommentService_CheckComment_FullMethodName:  apikey.RoleSite,

		commentdv1.ModerationService_ListQueue_FullMethodName:      apikey.RoleModerator,
		commentdv1.ModerationService_GetComment_FullMethodName:     apikey.RoleModerator,
		commentdv1.ModerationService_ApproveComment_FullMethodName: apikey.RoleModerator,
		commentdv1.ModerationService_RejectComment_FullMethodName:  apikey.RoleModerator,
		commentdv1.ModerationService_GetThread_FullMethodName:      apikey.RoleModerator,
		commentdv1.ModerationService_UpdateThread_FullMethodName:   apikey.RoleModerator,
		commentdv1.ModerationService_ListThreads_FullMethodName:    apikey.RoleModerator,

		commentdv1.ModerationService_ClaimComments_FullMethodName:   apikey.RoleModerator,
		commentdv1.ModerationService_ReleaseComments_FullMethodName: apikey.RoleModerator,
		commentdv1.ModerationService_WatchQueue_FullMethodName:      apikey.RoleModerator,
		commentdv1.ModerationService_ReopenComment_FullMethodName:   apikey.RoleModerator,
		commentdv1.ModerationService_ListAuditEvents_FullMethodName: apikey.RoleModerator,
		commentdv1.ModerationService_GetStats_FullMethodName:        apikey.RoleModerator,

		commentdv1.ModerationService_CreateBan_FullMethodName: apikey.RoleModerator,
		commentdv1.ModerationService_ListBans_FullMethodName:  apikey.RoleModerator,
		commentdv1.ModerationService_DeleteBan_FullMethodName: apikey.RoleModerator,

		commentdv1.ModerationService_MarkSpam_FullMethodName:     apikey.RoleModerator,
		commentdv1.ModerationService_MarkNotSpam_FullMethodName:  apikey.RoleModerator,
		commentdv1.ModerationService_CreateFilter_FullMethodName: apikey.RoleModerator,
		commentdv1.ModerationService_ListFilters_FullMethodName:  apikey.RoleModerator,
		commentdv1.ModerationService_DeleteFilter_FullMethodName: apikey.RoleModerator,
		// Training and deleting models changes what every comment is scored with: admins only.
		commentdv1.ModerationService_TrainSpam_FullMethodName:       apikey.RoleAdmin,
		commentdv1.ModerationService_DeleteSpamModel_FullMethodName: apikey.RoleAdmin,
		// Erasure changes every comment of an author for good, and the request comes from the
		// site's data-protection process, not from moderation: admins only.
		commentdv1.ModerationService_EraseAuthorData_FullMethodName: apikey.RoleAdmin,
		// An export hands out authors' email and IP addresses in clear, which no moderator sees,
		// for the same data-protection process: admins only.
		commentdv1.ModerationService_ExportAuthorData_FullMethodName: apikey.RoleAdmin,
	}
}

// publicServices are the services that need no key: load balancers probe health without
// credentials, and reflection only describes the API, which is public anyway. The README names
// them for operators (TestReadmeNamesPublicServices).
func publicServices() []string {
	return []string{
		healthgrpc.Health_ServiceDesc.ServiceName,
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
	}
}

// isPublic reports whether method belongs to one of publicServices.
func isPublic(method string) bool {
	service, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return slices.Contains(publicServices(), service)
}

// authorizer checks the bearer key of every call against the role table. The keys can be replaced
// while calls run (a reloaded keys file).
type authorizer struct {
	keys  atomic.Pointer[apikey.Set]
	roles map[string]apikey.Role

	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, by each setKeys
}

// setKeys puts keys in force and tells the streams in progress to check their key again.
func (a *authorizer) setKeys(keys *apikey.Set) {
	a.keys.Store(keys)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.changed != nil {
		close(a.changed)
	}
	a.changed = make(chan struct{})
}

// keysChanged returns a channel closed when the keys next change.
func (a *authorizer) keysChanged() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.changed == nil {
		a.changed = make(chan struct{})
	}
	return a.changed
}

// unknownMethod stands in the access log for a method name the API does not have.
const unknownMethod = "unknown"

// tappedKey is the key the tap found for a call, with the key set it found it in.
type tappedKey struct {
	keys *apikey.Set
	key  apikey.Key
}

type tappedKeyKey struct{}

// lookup returns the key of the call's bearer token in the keys in force.
func (a *authorizer) lookup(authorization []string) (*apikey.Set, apikey.Key, error) {
	token, err := bearerTokenOf(authorization)
	if err != nil {
		return nil, apikey.Key{}, err
	}
	keys := a.keys.Load()
	if keys == nil {
		return nil, apikey.Key{}, errUnknownKey
	}
	key, err := keys.Lookup(token)
	if err != nil {
		return nil, apikey.Key{}, errUnknownKey
	}
	return keys, key, nil
}

// tap refuses a call to our API that brings no key, or a key not in force, as soon as its
// headers arrive. gRPC reads and decodes a request (up to its 4 MiB limit) before any
// interceptor runs, so refusing such calls in authorize alone let anyone who reaches the port
// make the server hold 4 MiB per call, 256 calls per connection, until it ran out of memory. A
// call refused here never reaches the interceptors: refused tells the access log and the
// metrics about it, and it gets no x-request-id. The key found goes on in the call's context, so
// authorize does not look it up again. The public services are left to authorize, as are the
// role checks: a known key is already trusted with a large request.
func (a *authorizer) tap(refused func(ctx context.Context, method string, err error)) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if isPublic(info.FullMethodName) {
			return ctx, nil
		}
		keys, key, err := a.lookup(info.Header.Get("authorization"))
		if err != nil {
			st, _ := statusFor(err)
			method := info.FullMethodName
			if _, ours := a.roles[method]; !ours {
				// The name is the client's to choose (gRPC answers UNIMPLEMENTED for it only later,
				// past the interceptors): the log keeps no text a stranger wrote.
				method = unknownMethod
			}
			refused(ctx, method, st.Err())
			return ctx, st.Err()
		}
		return context.WithValue(ctx, tappedKeyKey{}, tappedKey{keys: keys, key: key}), nil
	}
}

// authorize returns ctx carrying the caller, or an auth error.
func (a *authorizer) authorize(ctx context.Context, method string) (context.Context, error) {
	if isPublic(method) {
		return ctx, nil
	}
	tapped, ok := ctx.Value(tappedKeyKey{}).(tappedKey)
	if !ok || tapped.keys != a.keys.Load() {
		// Not seen by the tap (a server without it, in tests), or the keys changed since; a
		// stream's re-check after a reload comes here too.
		keys, key, err := a.lookup(metadata.ValueFromIncomingContext(ctx, "authorization"))
		if err != nil {
			return ctx, err
		}
		tapped = tappedKey{keys: keys, key: key}
	}
	key := tapped.key
	caller := Caller{Name: key.Name, Role: key.Role}
	// The access log shows who called even when the call is refused below.
	if rec := recordFrom(ctx); rec != nil {
		rec.caller = caller
	}
	need, listed := a.roles[method]
	if !listed {
		return ctx, &permissionError{method: method, role: key.Role, need: apikey.RoleUnknown}
	}
	if !key.Role.Allows(need) {
		return ctx, &permissionError{method: method, role: key.Role, need: need}
	}
	return context.WithValue(ctx, callerKey{}, caller), nil
}

// bearerTokenOf reads the token of the single "authorization: Bearer <token>" header among vals,
// the header's values. The scheme is matched case-insensitively, as HTTP does.
func bearerTokenOf(vals []string) (string, error) {
	switch {
	case len(vals) > 1:
		return "", errSeveralKeys
	case len(vals) == 0:
		return "", errMissingKey
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return "", errMissingKey
	}
	return token, nil
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// stream authorizes a stream when it opens and again whenever the keys change while it runs: a
// stream lasts, and a key removed or demoted (a leaked moderator key, say) must not go on
// receiving what it can no longer ask for. The stream then ends with the error a new call with
// that key would get.
func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	changed := a.keysChanged()
	ctx, err := a.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	// The re-check records the caller in the call's record, which the access log reads once this
	// returns: wait for it to end first.
	rechecked := make(chan struct{})
	defer func() {
		cancel(nil)
		<-rechecked
	}()
	go func() {
		defer close(rechecked)
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				changed = a.keysChanged()
				if _, err := a.authorize(ss.Context(), info.FullMethod); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	err = handler(srv, withContext(ctx, ss))
	if cause := context.Cause(ctx); ctx.Err() != nil && ss.Context().Err() == nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// ctxStream replaces a stream's context, the streaming counterpart of passing ctx on.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func withContext(ctx context.Context, ss grpc.ServerStream) grpc.ServerStream {
	if ctx == ss.Context() {
		return ss
	}
	return &ctxStream{ServerStream: ss, ctx: ctx}
}
