package executor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// runnerChildEnv names the project directory a re-executed test binary
// runs herald run in, until it is killed or everything is done.
const runnerChildEnv = "HERALD_RUNNER_CHILD"

// runRunnerChild is the test binary playing herald run for the crash
// test: it serves with real time and short polls until SIGTERM.
func runRunnerChild(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// The test waits for this before it sends SIGTERM, which would
	// otherwise kill a process that has not yet set up its handler.
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("ready.%d", os.Getpid())), nil, 0o644)
	cfg, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, diags)
		return 3
	}
	st, err := state.Open(ctx, dir, cfg.Herald.State)
	if err != nil {
		if ctx.Err() != nil {
			return 0 // stopped before it started
		}
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer st.Close()
	r := NewRunner(st, RunOptions{Dir: dir, Poll: 10 * time.Millisecond, Lease: 500 * time.Millisecond, Workers: 4,
		LookupEnv: lookupWith("HERALD_LINK_KEY", "k")})
	if err := r.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// lookupWith is the environment with one more variable.
func lookupWith(k, v string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if name == k {
			return v, true
		}
		return os.LookupEnv(name)
	}
}

// stepsProject is a trigger with three steps and no waits, sending every
// step through the slow file channel (2ms a message, one file per
// idempotency key), with n events already in the file for a backfill: n
// journeys, 3n messages.
func stepsProject(t *testing.T, stateBlock string, n int, typ string) string {
	t.Helper()
	now := time.Now().UTC()
	var cust, cons, evs strings.Builder
	cust.WriteString("id,email,timezone\n")
	cons.WriteString("customer_id,channel,status,method,recorded_at,policy_version\n")
	for i := range n {
		fmt.Fprintf(&cust, "c%04d,c%04d@example.com,UTC\n", i, i)
		fmt.Fprintf(&cons, "c%04d,email,granted,form,2026-01-01T00:00:00Z,1\n", i)
		fmt.Fprintf(&evs, `{"id":"e%04d","customer_id":"c%04d","type":"signup","at":%q}`+"\n", i, i, now.Add(-time.Minute).Format(time.RFC3339))
	}
	main := fmt.Sprintf(`herald {
  %s
  public_url = "https://herald.example.com"
  sender {
    name           = "Acme"
    email          = "news@acme.example"
    postal_address = "1 Main St"
  }
}
provider "files" "cdp" { dir = "data" }
provider %q "box" {
  dir         = "box"
  concurrency = 4
}
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "timezone" { type = string }
}
schema "event" {
  field "id" { type = string }
  field "customer_id" { type = string }
  field "type" { type = string }
  field "at" { type = timestamp }
}
source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}
source "events" {
  from   = provider.files.cdp
  table  = "events.jsonl"
  schema = schema.event
  key    = "id"
}
source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}
consent {
  from = source.consents
  channel "email" {
    basis = "consent"
  }
}
template "hello" {
  channel = "email"
  subject = "Hello"
  text    = "Welcome. Unsubscribe: {{ unsubscribe_url }} {{ sender.postal_address }}"
}
trigger "welcome" {
  from        = source.events
  on          = "signup"
  backfill    = "24h"
  purpose     = "marketing"
  legal_basis = "consent"
  step "one" {
    send {
      template = template.hello
      via      = provider.%s.box
    }
  }
  step "two" {
    send {
      template = template.hello
      via      = provider.%s.box
    }
  }
  step "three" {
    send {
      template = template.hello
      via      = provider.%s.box
    }
  }
}
`, stateBlock, typ, typ, typ, typ)
	return project(t, map[string]string{
		"main.hcl":           main,
		"data/customers.csv": cust.String(),
		"data/consents.csv":  cons.String(),
		"data/events.jsonl":  evs.String(),
	})
}

// TestRunnerCrash kills herald run with SIGKILL at random points while
// journeys are in flight, again and again, and restarts it: in the end
// every journey completed, and every step's message was delivered exactly
// once (one file per journey and step, none other).
func TestRunnerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			const n = 120
			trials := 20
			if b.name == "postgres" {
				trials = 10
			}
			dir := stepsProject(t, b.block(t), n, fileType)
			_, st := applyProject(t, dir, time.Now().UTC())
			kills := 0
			for range trials {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), runnerChildEnv+"="+dir)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					t.Fatalf("the runner exited by itself: %v\n%s", err, stderr.String())
				case <-time.After(time.Duration(50+rand.IntN(250)) * time.Millisecond):
					cmd.Process.Signal(syscall.SIGKILL)
					<-done
					kills++
				}
				if completedJourneys(t, st) == n {
					break
				}
			}
			// The last runner runs until every journey completed, then is
			// stopped with SIGTERM: a graceful stop exits 0.
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), runnerChildEnv+"="+dir)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for completedJourneys(t, st) < n {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("only %d of %d journeys completed after the crashes\n%s", completedJourneys(t, st), n, stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			for i := 0; i < 200; i++ {
				if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("ready.%d", cmd.Process.Pid))); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("the runner did not stop cleanly on SIGTERM: %v\n%s", err, stderr.String())
			}
			checkJourneyMessages(t, st, dir, n)
			t.Logf("%d kills", kills)
		})
	}
}

// TestTwoRunners runs two runners on one PostgreSQL state at once: every
// step's message is sent exactly once, by one or the other.
func TestTwoRunners(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const n = 100
	dir := stepsProject(t, backends[1].block(t), n, fileType)
	_, st := applyProject(t, dir, time.Now().UTC())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	runners := make([]*Runner, 2)
	for i := range runners {
		cfg, st2 := load(t, dir)
		_ = cfg
		runners[i] = NewRunner(st2, RunOptions{Dir: dir, Owner: fmt.Sprintf("runner-%d", i), Poll: 10 * time.Millisecond,
			Lease: 30 * time.Second, Workers: 4, Batch: 10, LookupEnv: lookupWith("HERALD_LINK_KEY", "k")})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runners[i].Run(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for completedJourneys(t, st) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	checkJourneyMessages(t, st, dir, n)
	// Each key was sent once: no step ran on both runners.
	log, _ := os.ReadFile(filepath.Join(dir, "box", "calls.log"))
	calls := strings.Fields(string(log))
	if len(calls) != 3*n {
		t.Fatalf("%d provider calls for %d messages: a step ran twice", len(calls), 3*n)
	}
	a, b := runners[0].Stats().Sent, runners[1].Stats().Sent
	t.Logf("runner-0 sent %d, runner-1 sent %d", a, b)
	if a == 0 || b == 0 {
		t.Logf("one runner did all the work (possible, but the work was not shared this time)")
	}
}

func completedJourneys(t *testing.T, st state.Backend) int {
	t.Helper()
	n := 0
	err := st.Journeys(context.Background(), state.JourneyFilter{Status: state.JourneyCompleted}, func(state.Journey) error {
		n++
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return n
}

// checkJourneyMessages checks one delivered message per journey and step,
// and a ledger row saying sent for each.
func checkJourneyMessages(t *testing.T, st state.Backend, dir string, n int) {
	t.Helper()
	want := map[string]bool{}
	for i := range n {
		id := journeyID("trigger.welcome", fmt.Sprintf("e%04d", i))
		for step := range 3 {
			want[JourneySendKey(id, step)] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "box", "*.json"))
	if len(files) != len(want) {
		t.Fatalf("%d messages delivered, want %d", len(files), len(want))
	}
	for _, f := range files {
		if k := strings.TrimSuffix(filepath.Base(f), ".json"); !want[k] {
			t.Fatalf("message %s is not a step of a journey", k)
		}
	}
	rows := ledger(t, st, "trigger.welcome")
	for k := range want {
		if rows[k].Status != state.SendSent {
			t.Fatalf("ledger %s is %q, want sent", k, rows[k].Status)
		}
	}
}
