package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStart checks that each Start gives its own empty database.
func TestStart(t *testing.T) {
	start := time.Now()
	u1 := pgtest.Start(t)
	t.Logf("first database (cluster start included) in %v", time.Since(start))
	start = time.Now()
	u2 := pgtest.Start(t)
	t.Logf("second database in %v", time.Since(start))
	if u1 == u2 {
		t.Fatalf("Start returned %s twice", u1)
	}
	ctx := context.Background()
	c1, err := pgx.Connect(ctx, u1)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close(ctx)
	if _, err := c1.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}
	c2, err := pgx.Connect(ctx, u2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	var n int
	if err := c2.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the second database sees the first one's table")
	}
	if !pgtest.Available() {
		t.Errorf("Available() = false, but Start worked")
	}
}

func TestParallel(t *testing.T) {
	for i := range 4 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			u := pgtest.Start(t)
			c, err := pgx.Connect(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			var got int
			if err := c.QueryRow(context.Background(), `SELECT $1::int`, i).Scan(&got); err != nil || got != i {
				t.Fatalf("SELECT %d = %d, %v", i, got, err)
			}
		})
	}
}
