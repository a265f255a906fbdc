//go:build unix

package plugin

import "syscall"

// fdReserve is the file descriptors kept for everything but probe sockets:
// the API connections, agent streams, output files.
const fdReserve = 128

// fdBudget is how many sockets the open-file limit leaves for probes (Go
// raised the soft limit to the hard one at startup); 0 when unknown.
func fdBudget() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return max(int(rl.Cur)-fdReserve, 16)
}
