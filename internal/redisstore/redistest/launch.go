package redistest

// Launch starts a redis-server outside a test (for the benchmark command) in dir with extra
// arguments. The caller must call Stop.
func Launch(dir string, extra ...string) (*Server, error) { return start(dir, extra) }
