package redistest

import "syscall"

// syscall0 is the null signal: sending it only checks that the process still exists.
var syscall0 = syscall.Signal(0)
