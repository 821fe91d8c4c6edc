package inbound

import (
	"context"
	"log/slog"
	"time"
)

// runEvery calls poll now and then every interval until ctx is done. A
// failed poll is logged and tried again at the next tick: a Sink that
// refuses, a database that is down or a missing file heal by themselves,
// and nothing was consumed that was not accepted.
func runEvery(ctx context.Context, every time.Duration, what string, log *slog.Logger, poll func(context.Context) (int, error)) error {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		n, err := poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// Once per outage at warning level, so a long one does not
			// flood the log.
			level := slog.LevelWarn
			if failing {
				level = slog.LevelDebug
			}
			log.Log(ctx, level, what+": poll failed, retrying", "error", err)
			failing = true
		default:
			if failing {
				log.Info(what + ": polling again")
			}
			failing = false
			if n > 0 {
				log.Debug(what+": events read", "events", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
