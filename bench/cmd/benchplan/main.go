// Command benchplan writes the plan benchmark's project and data to a
// directory, so that the real herald binary can be timed on it:
//
//	go run ./bench/cmd/benchplan -dir /tmp/plan1m -rows 1000000
//	/usr/bin/time -v ./bin/herald -chdir /tmp/plan1m plan -now 2026-11-26T00:00:00Z
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
