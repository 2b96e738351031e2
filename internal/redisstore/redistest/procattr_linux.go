package redistest

import "syscall"

// childAttr makes the kernel kill a server when the test binary that started it dies without
// cleaning up (a -timeout panic, an interrupted run), so no redis-server outlives its tests.
// The kernel watches the thread that started the child; Go ends a thread only when a goroutine
// locked to it exits, which the harness never does.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
