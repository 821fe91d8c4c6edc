package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binsOnce sync.Once
	bins     struct{ herald, csvscan, measure string }
	binsErr  error
)

// buildBinaries builds herald, the bare scan (cmd/csvscan) and the
// measuring wrapper (cmd/measure) from this tree, once per test binary,
// with the go command in $HERALD_BENCH_GO (make bench sets it to $(GO)) or
// else on PATH.
func buildBinaries(b *testing.B) {
	binsOnce.Do(func() {
		dir, err := scratchDir()
		if err != nil {
			binsErr = err
			return
		}
		bins.herald = filepath.Join(dir, "herald")
		bins.csvscan = filepath.Join(dir, "csvscan")
		bins.measure = filepath.Join(dir, "measure")
		gocmd := os.Getenv("HERALD_BENCH_GO")
		if gocmd == "" {
			gocmd = "go"
		}
		for _, x := range []struct{ out, pkg string }{
			{bins.herald, "github.com/heraldhq/herald/cmd/herald"},
			{bins.csvscan, "github.com/heraldhq/herald/bench/cmd/csvscan"},
			{bins.measure, "github.com/heraldhq/herald/bench/cmd/measure"},
		} {
			out, err := exec.Command(gocmd, "build", "-o", x.out, x.pkg).CombinedOutput()
			if err != nil {
				binsErr = fmt.Errorf("go build %s: %v\n%s", x.pkg, err, out)
				return
			}
		}
	})
	if binsErr != nil {
		b.Fatal(binsErr)
	}
}

// usage is what cmd/measure reports about one run of a command.
type usage struct {
	wall, cpu time.Duration // cpu: user + system
	maxRSSKB  int64
	stdout    []byte
}

// measure runs a command through cmd/measure: see there why the
// benchmark does not read the child's rusage itself.
func measure(name string, arg ...string) (usage, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bins.measure, append([]string{name}, arg...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return usage{}, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(arg, " "), err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	var wall, user, sys float64
	var rss int64
	var exit int
	if _, err := fmt.Sscanf(last, "measure: wall=%fs user=%fs sys=%fs maxrss=%dKB exit=%d", &wall, &user, &sys, &rss, &exit); err != nil {
		return usage{}, fmt.Errorf("reading %q: %v", last, err)
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return usage{wall: sec(wall), cpu: sec(user + sys), maxRSSKB: rss, stdout: stdout.Bytes()}, nil
}

// BenchmarkPlanBinary runs the real herald plan, as a process, over the
// plan project (a million generated customers by default, a seeded
// ledger), next to the bare encoding/csv scan of the same file run as a
// process of its own (cmd/csvscan), the two in turn in each op. It reports
// each one's mean wall time, mean CPU time and largest peak RSS, and the
// plan/scan ratios of wall time and of peak RSS: the targets are
// at most 6× the scan's time and 200 MB. ns/op is the two runs together.
func BenchmarkPlanBinary(b *testing.B) {
	dir := planData(b)
	buildBinaries(b)
	csvPath := filepath.Join(dir, "data", "customers.csv")
	now := PlanNow.Format(time.RFC3339)
	scanArgs := []string{"-now", now, csvPath}
	planArgs := []string{"-chdir", dir, "plan", "-now", now}
	load := loadAverage()

	// One untimed run of each, which also brings the files into the page
	// cache: the two must select the same customers, and the cap must
	// remove some of them.
	su, err := measure(bins.csvscan, scanArgs...)
	if err != nil {
		b.Fatal(err)
	}
	selected, err := strconv.ParseInt(strings.TrimSpace(string(su.stdout)), 10, 64)
	if err != nil {
		b.Fatalf("csvscan printed %q", su.stdout)
	}
	pu, err := measure(bins.herald, append(planArgs, "-json")...)
	if err != nil {
		b.Fatal(err)
	}
	var plan struct {
		Changes []struct {
			Address  string
			Campaign *struct {
				Funnel []struct {
					Name    string
					Removed int64
					Remain  int64
				}
			}
		}
		Summary struct{ Messages int64 }
	}
	if err := json.Unmarshal(pu.stdout, &plan); err != nil {
		b.Fatalf("herald plan -json: %v", err)
	}
	var inSegment, capped int64 = -1, 0
	for _, ch := range plan.Changes {
		if ch.Address != "campaign.winback" || ch.Campaign == nil {
			continue
		}
		for _, s := range ch.Campaign.Funnel {
			switch s.Name {
			case "in_segment":
				inSegment = s.Remain
			case "frequency_cap":
				capped = s.Removed
			}
		}
	}
	if inSegment != selected {
		b.Fatalf("herald plan finds %d customers in the segment, the bare scan %d", inSegment, selected)
	}
	if capped == 0 || plan.Summary.Messages == 0 {
		b.Fatalf("the plan caps %d customers and sends %d messages: is the ledger seeded?", capped, plan.Summary.Messages)
	}

	var scan, herald usage
	runs := 0
	b.ResetTimer()
	for b.Loop() {
		s, err := measure(bins.csvscan, scanArgs...)
		if err != nil {
			b.Fatal(err)
		}
		p, err := measure(bins.herald, planArgs...)
		if err != nil {
			b.Fatal(err)
		}
		runs++
		scan.wall += s.wall
		scan.cpu += s.cpu
		scan.maxRSSKB = max(scan.maxRSSKB, s.maxRSSKB)
		herald.wall += p.wall
		herald.cpu += p.cpu
		herald.maxRSSKB = max(herald.maxRSSKB, p.maxRSSKB)
	}
	n := float64(runs)
	b.ReportMetric(scan.wall.Seconds()/n, "scan-s")
	b.ReportMetric(scan.cpu.Seconds()/n, "scan-cpu-s")
	b.ReportMetric(float64(scan.maxRSSKB)/1024, "scan-MiB")
	b.ReportMetric(herald.wall.Seconds()/n, "plan-s")
	b.ReportMetric(herald.cpu.Seconds()/n, "plan-cpu-s")
	b.ReportMetric(float64(herald.maxRSSKB)/1024, "plan-MiB")
	b.ReportMetric(float64(herald.wall)/float64(scan.wall), "plan/scan-time")
	b.ReportMetric(float64(herald.maxRSSKB)/float64(scan.maxRSSKB), "plan/scan-RSS")
	b.ReportMetric(float64(plan.Summary.Messages), "messages")
	b.ReportMetric(float64(capped), "capped")
	if load >= 0 {
		b.ReportMetric(load, "load1")
	}
}
