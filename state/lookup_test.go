package state

import (
	"context"
	"testing"
	"time"
)

func TestSendsByKey(t *testing.T) {
	for name, open := range map[string]func(testing.TB) Backend{"SQLite": openSQLite, "Postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			ctx := context.Background()
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			rows := []Send{send("k1", "trigger.x", "c1", SendPending, at), send("k2", "trigger.x", "c2", SendSent, at)}
			if err := b.RecordSends(ctx, rows); err != nil {
				t.Fatal(err)
			}
			got, err := b.SendsByKey(ctx, []string{"k2", "k1", "nope"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got["k1"].Status != SendPending || got["k2"].Status != SendSent || got["k2"].CustomerID != "c2" {
				t.Fatalf("SendsByKey = %+v", got)
			}
			if _, ok := got["nope"]; ok {
				t.Fatal("a key not in the ledger was returned")
			}
		})
	}
}
