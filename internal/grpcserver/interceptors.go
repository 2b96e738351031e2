package grpcserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"regexp"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
)

// RequestIDHeader is the metadata key that carries a call's request id in both directions: a
// client may send one, and the server returns the id it used in the response header.
const RequestIDHeader = "x-request-id"

// record collects what the access log needs from deeper interceptors: the request id is set when
// the call starts, the caller once the auth interceptor knows the key. It lives in the context of
// one call and is only touched by that call's goroutine.
type record struct {
	requestID string
	caller    Caller
}

type recordKey struct{}

func recordFrom(ctx context.Context) *record {
	r, _ := ctx.Value(recordKey{}).(*record)
	return r
}

// RequestIDFrom returns the current call's request id, or "" outside a call.
func RequestIDFrom(ctx context.Context) string {
	if r := recordFrom(ctx); r != nil {
		return r.requestID
	}
	return ""
}

// requestIDPattern limits client-chosen request ids to characters that cannot spell an email or
// IP address ("@", "." and ":" are refused) because the id is written to every log line.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// requestID returns the client's x-request-id when it is acceptable, or a fresh random one.
func requestID(ctx context.Context) string {
	// ValueFromIncomingContext copies only this header's values, not the whole metadata.
	if v := metadata.ValueFromIncomingContext(ctx, RequestIDHeader); len(v) == 1 && requestIDPattern.MatchString(v[0]) {
		return v[0]
	}
	var b [12]byte
	rand.Read(b[:]) // never fails; see crypto/rand.Read
	return hex.EncodeToString(b[:])
}

// accessLog writes one INFO line per call. It is the outermost interceptor, so it sees the final
// status (after error mapping and panic recovery) and times the whole call. It never logs request
// or response bodies, peer addresses or anything else that could hold personal data.
type accessLog struct {
	log *slog.Logger
}

func (a accessLog) start(ctx context.Context) (context.Context, *record) {
	rec := &record{requestID: requestID(ctx)}
	// The id is returned to the client so it can quote it; a failure here only means headers were
	// already sent, which cannot happen before the handler runs.
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, rec.requestID))
	return context.WithValue(ctx, recordKey{}, rec), rec
}

func (a accessLog) done(ctx context.Context, method string, rec *record, began time.Time, err error) {
	st := status.Convert(err)
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", st.Code().String()),
		slog.Float64("duration_ms", float64(time.Since(began).Microseconds())/1000),
		slog.String("request_id", rec.requestID),
	}
	if rec.caller.Name != "" {
		attrs = append(attrs, slog.String("key", rec.caller.Name), slog.String("role", rec.caller.Role.String()))
	}
	if reason := errorReason(st); reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "rpc", attrs...)
}

func (a accessLog) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	began := time.Now()
	ctx, rec := a.start(ctx)
	resp, err := handler(ctx, req)
	a.done(ctx, info.FullMethod, rec, began, err)
	return resp, err
}

func (a accessLog) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	began := time.Now()
	rec := &record{requestID: requestID(ss.Context())}
	_ = ss.SetHeader(metadata.Pairs(RequestIDHeader, rec.requestID)) // see start
	ctx := context.WithValue(ss.Context(), recordKey{}, rec)
	err := handler(srv, withContext(ctx, ss))
	a.done(ctx, info.FullMethod, rec, began, err)
	return err
}

// refused writes the line of a call the auth tap refused before it was read (authorizer.tap),
// which no interceptor sees; err is the status it was refused with.
func (a accessLog) refused(ctx context.Context, method string, err error) {
	a.done(ctx, method, &record{requestID: requestID(ctx)}, time.Now(), err)
}

// errorReason returns the ErrorInfo reason of a status, or "".
func errorReason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// errorMapper runs statusFor on every error a handler (or an inner interceptor) returns, and logs
// the cause of the ones it does not recognise, and of the store's unavailability: this is the only
// place such errors are logged.
type errorMapper struct {
	log *slog.Logger
	// unavailable throttles the causes of STORE_UNAVAILABLE. The caller learns only that the store
	// is unavailable; the operator must learn why (Redis down, out of memory, short of replicas),
	// and OOM or NOREPLICAS leave Redis answering PING, so health does not say it. In an outage
	// every call fails, hence one line per interval.
	unavailable *ratelimit.Throttle
}

// unavailableLogEvery is the least time between two "store unavailable" log lines.
const unavailableLogEvery = 10 * time.Second

func (m errorMapper) mapErr(ctx context.Context, method string, err error) error {
	st, internal := statusFor(err)
	if st == nil {
		return nil
	}
	if internal {
		m.log.LogAttrs(ctx, slog.LevelError, "internal error",
			slog.String("method", method),
			slog.String("request_id", RequestIDFrom(ctx)),
			slog.String("error", err.Error()))
	}
	if m.unavailable != nil && st.Code() == codes.Unavailable && errors.Is(err, comment.ErrUnavailable) {
		if ok, skipped := m.unavailable.Allow(time.Now()); ok {
			// A store error names Redis's refusal or the network's, never a comment's data: key
			// names hold no personal data, and scripts' errors quote only their own text.
			m.log.LogAttrs(ctx, slog.LevelWarn, "store unavailable",
				slog.String("method", method),
				slog.String("request_id", RequestIDFrom(ctx)),
				slog.String("error", err.Error()),
				slog.Int("not_logged_since", skipped))
		}
	}
	return st.Err()
}

func (m errorMapper) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, m.mapErr(ctx, info.FullMethod, err)
	}
	return resp, nil
}

func (m errorMapper) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return m.mapErr(ss.Context(), info.FullMethod, handler(srv, ss))
}
