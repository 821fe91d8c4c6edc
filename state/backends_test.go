package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
)

// TestMain stops the PostgreSQL cluster pgtest starts.
func TestMain(m *testing.M) { pgtest.Main(m) }

func openSQLite(t testing.TB) Backend {
	t.Helper()
	b, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), ".herald", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openPostgres(t testing.TB) Backend {
	t.Helper()
	b, err := OpenPostgres(context.Background(), pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	runSuite(t, func(t *testing.T) Backend { return openSQLite(t) })
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	runSuite(t, func(t *testing.T) Backend { return openPostgres(t) })
}

// TestConcurrentOpen opens a new store from several goroutines at once:
// one of them migrates, and all see the same lineage.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(ctx context.Context) (Backend, error){
		"sqlite": func() func(ctx context.Context) (Backend, error) {
			path := filepath.Join(t.TempDir(), "state.db")
			return func(ctx context.Context) (Backend, error) { return OpenSQLite(ctx, path) }
		}(),
		"postgres": func() func(ctx context.Context) (Backend, error) {
			url := pgtest.Start(t)
			return func(ctx context.Context) (Backend, error) { return OpenPostgres(ctx, url) }
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			lineages := make([]string, 6)
			errs := make([]error, 6)
			for i := range lineages {
				wg.Go(func() {
					b, err := open(context.Background())
					if err != nil {
						errs[i] = err
						return
					}
					defer b.Close()
					m, err := b.Meta(context.Background())
					lineages[i], errs[i] = m.Lineage, err
				})
			}
			wg.Wait()
			for i := range lineages {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if lineages[i] != lineages[0] {
					t.Fatalf("lineages differ: %v", lineages)
				}
			}
		})
	}
}

// TestPostgresHolderGone: when the session holding the lock dies without
// unlocking, the lock is free again, and its stale row is overwritten.
func TestPostgresHolderGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openPostgres(t).(*Postgres)
	info := NewLockInfo("apply")
	unlock, err := b.Lock(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	var pid int32
	if err := b.pool.QueryRow(ctx, `SELECT pid FROM locks`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid); err != nil {
		t.Fatal(err)
	}
	if h, err := b.LockHolder(ctx); err != nil || h != nil {
		t.Fatalf("LockHolder after the holder's session died = %+v, %v; want nil", h, err)
	}
	// ForceUnlock of the stale row just removes it.
	b2 := reopen(t, b)
	if err := b2.ForceUnlock(ctx, "other"); !errors.Is(err, ErrNotLocked) {
		t.Errorf("ForceUnlock(other) of a stale lock: err = %v, want ErrNotLocked", err)
	}
	unlock2, err := b2.Lock(ctx, NewLockInfo("plan"))
	if err != nil {
		t.Fatalf("Lock after the holder's session died: %v", err)
	}
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("the dead holder's unlock: err = %v, want ErrLockLost", err)
	}
	if h, _ := b.LockHolder(ctx); h == nil || h.Operation != "plan" {
		t.Errorf("LockHolder = %+v, want the plan lock", h)
	}
	if err := unlock2(); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	sqliteState := lang.State{Backend: "sqlite", Path: ".herald/state.db"}

	if _, err := OpenExisting(ctx, dir, sqliteState); !errors.Is(err, ErrNoState) {
		t.Fatalf("OpenExisting before the state exists: err = %v, want ErrNoState", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".herald")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("OpenExisting created the state directory")
	}
	b, err := Open(ctx, dir, sqliteState)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := os.Stat(filepath.Join(dir, ".herald", "state.db")); err != nil {
		t.Fatalf("Open did not create the file relative to the project: %v", err)
	}
	b, err = OpenExisting(ctx, dir, sqliteState)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	for _, tc := range []struct {
		state lang.State
		want  string
	}{
		{lang.State{Backend: "postgres"}, "no url"},
		{lang.State{Backend: "postgres", URL: cty.UnknownVal(cty.String)}, "not set"},
		{lang.State{Backend: "postgres", URL: cty.StringVal("")}, "empty"},
		{lang.State{Backend: "postgres", URL: cty.StringVal("postgres://u:secret@[bad")}, "not valid"},
		{lang.State{Backend: "s3"}, "unknown state backend"},
	} {
		_, err := Open(ctx, dir, tc.state)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%+v): err = %v, want one saying %q", tc.state, err, tc.want)
		}
	}

	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Start(t) // skips without PostgreSQL, fails under CI
		b, err := Open(ctx, dir, lang.State{Backend: "postgres", URL: cty.StringVal(url)})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.(*Postgres); !ok {
			t.Errorf("Open(postgres) = %T", b)
		}
		b.Close()
	})
}

func TestScrub(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.1.1 <ann.lee+promo@mail.example.co.uk>: user unknown":    "550 5.1.1 <[email]>: user unknown",
		"21610: attempt to send to unsubscribed recipient +15415550100": "21610: attempt to send to unsubscribed recipient [phone]",
		"invalid number +1 (541) 555-0100":                              "invalid number [phone]",
		"number 5415550100 is not a mobile":                             "number [phone] is not a mobile",
		"timeout after 30s at 2026-12-01T09:00:00Z (code 421 4.7.0)":    "timeout after 30s at 2026-12-01T09:00:00Z (code 421 4.7.0)",
	} {
		if got := scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkRecordSends records 100,000 ledger rows per iteration in
// batches of 1,000, with keys that sort in insertion order, as the
// executor writes them.
func BenchmarkRecordSends(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(testing.TB) Backend
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		b.Run(bc.name, func(b *testing.B) {
			be := bc.open(b)
			ctx := context.Background()
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			const rows, batch = 100_000, 1000
			buf := make([]Send, batch)
			total := 0
			iter := 0
			for b.Loop() {
				for start := 0; start < rows; start += batch {
					for i := range buf {
						n := start + i
						buf[i] = Send{
							Key:      fmt.Sprintf("campaign.winback_dec/%04d/%08d", iter, n),
							Campaign: "campaign.winback_dec", Variant: "a", CustomerID: fmt.Sprintf("cust-%07d", n),
							Channel: "email", Provider: "smtp.main", Status: SendPlanned, CreatedAt: at, UpdatedAt: at,
						}
					}
					if err := be.RecordSends(ctx, buf); err != nil {
						b.Fatal(err)
					}
				}
				total += rows
				iter++
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestSQLiteDeadHolder: a lock left by a process on this host that no
// longer exists is taken over; one held by a live process is not.
func TestSQLiteDeadHolder(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot start a process to outlive: %v", err)
	}
	dead := cmd.ProcessState.Pid()
	for _, tc := range []struct {
		pid  int
		free bool
	}{{dead, true}, {1, false}} {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM locks`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO locks (id, lock_id, who, operation, created, pid) VALUES (1, 'old', ?, 'apply', 0, ?)`, whoAmI(), tc.pid); err != nil {
			t.Fatal(err)
		}
		unlock, err := s.Lock(ctx, NewLockInfo("apply"))
		var locked *LockedError
		switch {
		case tc.free && err != nil:
			t.Errorf("pid %d is gone, but its lock was kept: %v", tc.pid, err)
		case !tc.free && !errors.As(err, &locked):
			t.Errorf("pid %d is alive, but Lock returned %v", tc.pid, err)
		}
		if unlock != nil {
			unlock()
		}
	}
}
