// The pod sandbox process of the local cluster's real node, standing in for registry.k8s.io/pause, which cannot be
// pulled here. It holds the pod's namespaces open: it waits for signals, reaps children it inherits (as PID 1 of a
// shared process namespace), and exits on SIGINT or SIGTERM.
// Built by scripts/images/local.sh: CGO_ENABLED=0 go build -o pause scripts/images/pause.go
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
