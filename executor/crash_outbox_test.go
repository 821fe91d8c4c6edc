package executor

import (
	"bufio"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers/outbox"
	"github.com/heraldhq/herald/state"
)

// TestCrashResumeOutbox is TestCrashResume against the real outbox
// provider (JSONL), which apply writes in buffered batches: kill -9 at a
// random point of an apply, and again, then let the same plan finish.
// The journal must hold exactly the plan: every pinned recipient once,
// with the planned variant, and nothing else; and the ledger says sent
// for each.
func TestCrashResumeOutbox(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			trials := 16
			if b.name != "sqlite" {
				trials = 6
			}
			kills := 0
			for trial := range trials {
				kills += outboxCrashTrial(t, b.block(t), trial)
			}
			t.Logf("%d trials, %d kills", trials, kills)
			if kills < trials {
				t.Errorf("only %d kills in %d trials: the test did not exercise crashes", kills, trials)
			}
		})
	}
}

func outboxCrashTrial(t *testing.T, sb string, trial int) (kills int) {
	const n = 4000
	dir := smallProject(t, sb, fakeName(), n, "")
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	s := strings.Replace(string(b), `provider "testmail"`, "provider \"outbox\" \"box\" {\n  dir = \"box\"\n  format = \"jsonl\"\n}\nprovider \"testmail\"", 1)
	s = strings.Replace(s, "via         = provider.testmail.", "via         = provider.outbox.box # ", 1)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644)
	cfg, st := load(t, dir)
	p := makePlan(t, cfg, st, planNow)
	if err := p.WriteFile(filepath.Join(dir, "plan.herald")); err != nil {
		t.Fatal(err)
	}
	rec := recipients(p, "campaign.promo")
	if len(rec) != n {
		t.Fatalf("%d recipients", len(rec))
	}
	for attempt := 0; ; attempt++ {
		if attempt > 50 {
			t.Fatal("the apply never finished")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if attempt < 2 {
			if outboxKill(dir, done) {
				kills++
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		err = <-done
		if err == nil {
			break
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 && ee.ExitCode() != 4 {
			t.Fatalf("trial %d: apply failed: %v\n%s", trial, err, stderr.String())
		}
		if strings.Contains(sb, "postgres") {
			time.Sleep(20 * time.Millisecond)
		}
	}
	want := map[string]planner.Recipient{}
	prefix := KeyPrefix("campaign.promo", p.ConfigDigest)
	for i, r := range rec {
		want[Key(prefix, i)] = r
	}
	f, err := os.Open(filepath.Join(dir, "box", outbox.JournalName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			Key        string `json:"key"`
			CustomerID string `json:"customer_id"`
			Variant    string `json:"variant"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("trial %d: journal line %q: %v", trial, sc.Text(), err)
		}
		r, ok := want[m.Key]
		if !ok || r.CustomerID != m.CustomerID || r.Variant != m.Variant {
			t.Fatalf("trial %d: message %+v is not in the plan (%+v)", trial, m, r)
		}
		if seen[m.Key] {
			t.Fatalf("trial %d: message %s written twice", trial, m.Key)
		}
		seen[m.Key] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("trial %d: %d messages in the outbox, want %d", trial, len(seen), n)
	}
	rows := ledger(t, st, "campaign.promo")
	for k := range want {
		if rows[k].Status != state.SendSent {
			t.Fatalf("trial %d: ledger %s is %q", trial, k, rows[k].Status)
		}
	}
	return kills
}

// sendTime is how long an apply that was not killed went on after its
// first journal write; the next kill aims inside that span.
var sendTime = 100 * time.Millisecond

// outboxKill waits for a random point of an apply and reports whether the
// process is to be killed there, false when it finished first. Most
// points are a random time after the first batch reached the journal (the
// start of a process varies too much to aim by time alone), so that kills
// land between a batch's flush and its ledger write as often as anywhere
// else; a few are a random time after start, often before the first send.
func outboxKill(dir string, done chan error) bool {
	path := filepath.Join(dir, "box", outbox.JournalName)
	var at time.Time
	if rand.IntN(5) == 0 {
		at = time.Now().Add(time.Duration(rand.IntN(60)) * time.Millisecond)
	}
	var first time.Time
	for {
		select {
		case err := <-done:
			done <- err
			if !first.IsZero() && at.IsZero() {
				sendTime = time.Since(first)
			}
			return false
		case <-time.After(200 * time.Microsecond):
		}
		if at.IsZero() {
			if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
				first = time.Now()
				// Within the first half of what a whole apply took last:
				// a resumed apply has less to do, and a kill after it
				// finished would not be one.
				at = first.Add(rand.N(sendTime/2 + time.Millisecond))
			}
			continue
		}
		if time.Now().After(at) {
			return true
		}
	}
}
