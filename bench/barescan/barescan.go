// Package barescan is the plan benchmark's baseline: the DESIGN.md
// four-clause segment over the customers CSV, written by hand with
// encoding/csv in one goroutine. It imports nothing but the standard
// library, so that cmd/csvscan, which runs it as its own process, has the
// memory footprint of a bare scan and no more.
package barescan

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Scan reads the customers CSV at path and counts the customers in the
// segment
//
//	customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h') &&
//	customer.country in ['US', 'CA', 'GB'] && !customer.support_case_open
func Scan(path string, now time.Time) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return 0, err
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, name := range []string{"ltv", "last_purchase_at", "country", "support_case_open"} {
		if _, ok := col[name]; !ok {
			return 0, fmt.Errorf("%s: no column %q", path, name)
		}
	}
	ltvI, lastI, countryI, caseI := col["ltv"], col["last_purchase_at"], col["country"], col["support_case_open"]
	cutoff := now.Add(-2160 * time.Hour)
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		ltv, err := strconv.ParseFloat(rec[ltvI], 64)
		if err != nil || ltv < 500 {
			continue
		}
		last, err := time.Parse(time.RFC3339, rec[lastI])
		if err != nil || !last.Before(cutoff) {
			continue
		}
		switch rec[countryI] {
		case "US", "CA", "GB":
		default:
			continue
		}
		if open, err := strconv.ParseBool(rec[caseI]); err != nil || open {
			continue
		}
		n++
	}
}
