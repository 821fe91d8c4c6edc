// Command benchplan writes the plan benchmark's project, data and seeded
// state (a week of earlier sends in the ledger, for the frequency cap) to a
// directory, so that the real herald binary can be timed on it by hand:
//
//	go run ./bench/cmd/benchplan -dir /tmp/plan1m -rows 1000000
//	go build -o /tmp/measure ./bench/cmd/measure
//	/tmp/measure ./bin/herald -chdir /tmp/plan1m plan -now 2026-11-26T00:00:00Z >/dev/null
//
// BenchmarkPlanBinary (make bench) does the same, next to the bare scan.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/heraldhq/herald/bench"
)

func main() {
	dir := flag.String("dir", "", "directory to write the project to")
	rows := flag.Int("rows", 1_000_000, "customers to generate")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: benchplan -dir DIR [-rows N]")
		os.Exit(2)
	}
	if err := bench.WritePlanProject(*dir, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "benchplan:", err)
		os.Exit(1)
	}
}
