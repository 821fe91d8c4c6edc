// Command measure runs a command and reports its wall time, CPU time and
// peak resident set size, like /usr/bin/time, which a fresh machine may not
// have:
//
//	go build -o /tmp/measure ./bench/cmd/measure
//	/tmp/measure bin/herald -chdir /tmp/plan1m plan -now 2026-11-26T00:00:00Z >/dev/null
//
// The report is the last line it writes to standard error:
//
//	measure: wall=1.234s user=1.9s sys=0.12s maxrss=71234KB exit=0
//
// It exits with the command's exit code.
//
// BenchmarkPlanBinary runs its children through measure rather than
// reading their rusage itself. Go starts a child with vfork (CLONE_VM), so
// until exec the child runs in its parent's address space, and Linux
// counts the parent's peak RSS at exec time into the child's ru_maxrss: a
// child of a test binary that has just planned a million customers in
// process reports that binary's few hundred megabytes. measure uses only
// the standard library and is small, so the most it can add is its own
// few megabytes, below what any command measured here uses.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: measure COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(127)
	}
	ps := cmd.ProcessState
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "measure: no rusage on this system")
		os.Exit(127)
	}
	// ru_maxrss is in kilobytes on Linux.
	fmt.Fprintf(os.Stderr, "measure: wall=%.3fs user=%.3fs sys=%.3fs maxrss=%dKB exit=%d\n",
		wall.Seconds(), ps.UserTime().Seconds(), ps.SystemTime().Seconds(), ru.Maxrss, ps.ExitCode())
	os.Exit(ps.ExitCode())
}
