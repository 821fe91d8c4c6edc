// Command gen writes the synthetic Acme Outdoor data that the examples read:
// customers.csv, consents.csv and events.jsonl. The same flags always write
// the same bytes.
//
//	go run ./examples/gen -dir examples/quickstart/data -customers 3000 -seed 1
//
// Flags:
//
//	-dir DIR                   where to write the three files (created if missing)
//	-customers N               number of customers (default 1000)
//	-seed N                    random seed (default 1)
//	-events-per-customer X     mean number of events per customer (default 5; 0: none)
//	-now TIME                  reference time, RFC 3339 (default 2026-11-26T00:00:00Z)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/heraldhq/herald/internal/datagen"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "data", "directory to write customers.csv, consents.csv and events.jsonl into")
	customers := fs.Int("customers", 1000, "number of customers")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same data")
	events := fs.Float64("events-per-customer", datagen.DefaultEventsPerCustomer, "mean number of events per customer (0: none)")
	now := fs.String("now", datagen.DefaultNow.Format(time.RFC3339), "reference time (RFC 3339): purchases, consents and events lie before it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gen [flags]\n\nWrites synthetic customers, consents and events for the herald examples.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ref, err := time.Parse(time.RFC3339, *now)
	if err != nil {
		return fmt.Errorf("-now: %v", err)
	}
	if *events <= 0 {
		*events = -1 // datagen reads 0 as "the default"; here 0 means none
	}
	return datagen.Generate(*dir, datagen.Options{
		Customers:         *customers,
		Seed:              *seed,
		Now:               ref,
		EventsPerCustomer: *events,
	})
}
