// Command csvscan runs the plan benchmark's baseline (package barescan: a
// bare encoding/csv scan and filter in one goroutine) as a process of its
// own, so that its wall time and peak RSS can be measured the same way as
// herald plan's (BenchmarkPlanBinary, or by hand):
//
//	go build -o /tmp/csvscan ./bench/cmd/csvscan
//	go run ./bench/cmd/measure /tmp/csvscan -now 2026-11-26T00:00:00Z /tmp/plan1m/data/customers.csv
//
// It prints the number of customers in the segment.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/heraldhq/herald/bench/barescan"
)

func main() {
	now := flag.String("now", "2026-11-26T00:00:00Z", "evaluate as of `TIME` (RFC 3339)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: csvscan [-now TIME] customers.csv")
		os.Exit(2)
	}
	t, err := time.Parse(time.RFC3339, *now)
	if err != nil {
		fmt.Fprintln(os.Stderr, "csvscan:", err)
		os.Exit(2)
	}
	n, err := barescan.Scan(flag.Arg(0), t)
	if err != nil {
		fmt.Fprintln(os.Stderr, "csvscan:", err)
		os.Exit(1)
	}
	fmt.Println(n)
}
