package grpcserver

import (
	"context"

	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer is the standard health service with one change: a Watch stream ends at Shutdown,
// as WatchQueue does. grpc-go's Watch runs until its client leaves, and a client-side health
// checker (gRPC's own, with healthCheckConfig) or a watching proxy never does, so one such
// watcher held every graceful stop until its deadline, and the calls still in flight then were
// cut off hard.
type healthServer struct {
	*health.Server
	shutdown context.Context // ends when Shutdown starts
}

func (h healthServer) Watch(req *healthgrpc.HealthCheckRequest, stream healthgrpc.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(h.shutdown, cancel)
	defer stop()
	w := &healthWatch{Health_WatchServer: stream, ctx: ctx}
	err := h.Server.Watch(req, w)
	if h.shutdown.Err() == nil || stream.Context().Err() != nil {
		return err
	}
	// Shutdown: the watcher learns the server no longer serves before the stream ends, even when
	// the end came before the last status was sent (both arrive at once). The Watch above has
	// returned, so nothing else sends on the stream.
	if w.last == healthgrpc.HealthCheckResponse_SERVING {
		_ = w.Send(&healthgrpc.HealthCheckResponse{Status: healthgrpc.HealthCheckResponse_NOT_SERVING})
	}
	return errShuttingDown
}

// healthWatch is a Watch stream with the context that ends at Shutdown, which remembers the
// last status it sent.
type healthWatch struct {
	healthgrpc.Health_WatchServer
	ctx  context.Context
	last healthgrpc.HealthCheckResponse_ServingStatus
}

func (w *healthWatch) Context() context.Context { return w.ctx }

func (w *healthWatch) Send(r *healthgrpc.HealthCheckResponse) error {
	w.last = r.GetStatus()
	return w.Health_WatchServer.Send(r)
}
