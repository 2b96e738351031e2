//go:build !linux

package redistest

import "syscall"

// childAttr: only Linux can tie a child's life to its parent's; elsewhere a server started by a
// test binary that dies without cleaning up keeps running until killed.
func childAttr() *syscall.SysProcAttr { return nil }
