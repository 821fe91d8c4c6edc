package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// fileType is a test channel that delivers each message as one file named
// by its idempotency key (written and renamed, so a resend of the same key
// is not a second message: an idempotent provider), and logs every call,
// so that resends can be counted. It is slow on purpose (2ms a message),
// so that a kill lands in the middle of an apply.
const fileType = "testfile"

func init() {
	lang.ProviderTypes[fileType] = &lang.ProviderType{
		Name: fileType, Capabilities: []lang.Capability{lang.CapEmail},
		Attrs: map[string]lang.ProviderAttr{
			"dir":         {Type: cty.String, Required: true},
			"concurrency": {Type: cty.Number},
		},
	}
	idempotentTypes[fileType] = true
	defaultRates[fileType] = 0
	// fileNoKeyType is the same channel, taken as one that ignores
	// idempotency keys (as SMTP does).
	lang.ProviderTypes[fileNoKeyType] = lang.ProviderTypes[fileType]
	defaultRates[fileNoKeyType] = 0
	providers.RegisterChannel(fileNoKeyType, openFileChannel)
	providers.RegisterChannel(fileType, openFileChannel)
}

const fileNoKeyType = "testfilenokey"

func openFileChannel(ctx context.Context, req providers.ChannelRequest) (providers.Channel, error) {
	dir := filepath.Join(req.Dir, req.Provider.Attributes["dir"].AsString())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(dir, "calls.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &fileChannel{dir: dir, log: log}, nil
}

type fileChannel struct {
	dir string
	log *os.File
}

type fileMsg struct {
	Key, Customer, Variant, To string
}

func (f *fileChannel) Send(ctx context.Context, m *providers.Message) providers.SendResult {
	time.Sleep(2 * time.Millisecond)
	fmt.Fprintf(f.log, "%s\n", m.IdempotencyKey)
	b, _ := json.Marshal(fileMsg{m.IdempotencyKey, m.CustomerID, m.Variant, m.To})
	tmp := filepath.Join(f.dir, m.IdempotencyKey+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	if err := os.Rename(tmp, filepath.Join(f.dir, m.IdempotencyKey+".json")); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: m.IdempotencyKey}
}

func (f *fileChannel) Close() error { return f.log.Close() }

// childEnv names the project directory a re-executed test binary applies
// plan.herald in.
const childEnv = "HERALD_EXECUTOR_CHILD"

// runChild is the test binary playing herald apply, for the crash test.
func runChild(dir string) int {
	ctx := context.Background()
	cfg, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, diags)
		return 3
	}
	st, err := state.Open(ctx, dir, cfg.Herald.State)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer st.Close()
	p, err := planner.ReadFile(filepath.Join(dir, "plan.herald"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	_, err = Apply(ctx, cfg, st, p, Options{LookupEnv: env("HERALD_LINK_KEY", "k")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		var le *state.LockedError
		if errors.As(err, &le) {
			return 4
		}
		var se *StaleError
		if errors.As(err, &se) && se.Applied {
			return 0 // killed after its last write, before it could exit
		}
		return 1
	}
	return 0
}

// TestCrashResume kills an apply with SIGKILL at random points, again and
// again, then lets it finish by applying the same plan: every pinned
// recipient has exactly one message, of their planned variant, and the
// ledger says sent for each.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, b := range backends {
		for _, typ := range []string{fileType, fileNoKeyType} {
			if typ == fileNoKeyType && b.name != "sqlite" {
				continue
			}
			t.Run(b.name+"/"+typ, func(t *testing.T) {
				trials := 20
				var kills, resent, calls int
				for trial := range trials {
					// A new state for each trial.
					k, r, c := crashTrial(t, b.block(t), typ, trial)
					kills, resent, calls = kills+k, resent+r, calls+c
				}
				t.Logf("%d trials, %d kills, %d provider calls, %d resends of a key (in flight or outcome not yet written when killed)", trials, kills, calls, resent)
				if kills < trials {
					t.Errorf("only %d kills in %d trials: the test did not exercise crashes", kills, trials)
				}
				// Without idempotency keys, outcomes are written one by
				// one: a crash resends at most the messages in flight.
				if typ == fileNoKeyType && resent > kills*4 {
					t.Errorf("%d resends in %d kills with concurrency 4: more than the messages in flight", resent, kills)
				}
			})
		}
	}
}

func crashTrial(t *testing.T, sb, typ string, trial int) (kills, resent, calls int) {
	n := 200
	if typ == fileNoKeyType {
		n = 100 // outcomes are written one by one: slower
	}
	dir := smallProject(t, sb, fakeName(), n, "")
	// Send through the slow file channel instead of the fake.
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	s := strings.Replace(string(b), `provider "testmail"`, "provider \""+typ+"\" \"box\" {\n  dir = \"box\"\n  concurrency = 4\n}\nprovider \"testmail\"", 1)
	s = strings.Replace(s, "via         = provider.testmail.", "via         = provider."+typ+".box # ", 1)
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
		if attempt > 200 {
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
		// The first attempts are killed after a random while; later ones
		// may finish.
		if attempt < 3 {
			delay := time.Duration(rand.IntN(150)) * time.Millisecond
			select {
			case err = <-done:
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
				kills++
			}
		} else {
			err = <-done
		}
		if err == nil {
			break
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 && ee.ExitCode() != 4 {
			t.Fatalf("trial %d: apply failed: %v\n%s", trial, err, stderr.String())
		}
		if strings.Contains(sb, "postgres") {
			// The lock is the session's: it goes when the server sees
			// the killed process's connection close.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		// A killed apply leaves its SQLite lock row behind; the next
		// apply sees that the holder's process is gone and takes it over,
		// with no force-unlock.
	}
	// Exactly the plan.
	want := map[string]planner.Recipient{}
	prefix := KeyPrefix("campaign.promo", p.ConfigDigest)
	for i, r := range rec {
		want[Key(prefix, i)] = r
	}
	files, _ := filepath.Glob(filepath.Join(dir, "box", "*.json"))
	if len(files) != n {
		t.Fatalf("trial %d: %d messages delivered, want %d", trial, len(files), n)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var m fileMsg
		json.Unmarshal(b, &m)
		r, ok := want[m.Key]
		if !ok || r.CustomerID != m.Customer || r.Variant != m.Variant {
			t.Fatalf("trial %d: message %+v is not in the plan (%+v)", trial, m, r)
		}
	}
	rows := ledger(t, st, "campaign.promo")
	for k := range want {
		if rows[k].Status != state.SendSent {
			t.Fatalf("trial %d: ledger %s is %q", trial, k, rows[k].Status)
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "box", "calls.log"))
	lines := strings.Fields(string(log))
	return kills, len(lines) - n, len(lines)
}
