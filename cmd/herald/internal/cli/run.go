package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/executor"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

func (a *app) runCmd() *cobra.Command {
	var (
		listen    string
		workers   int
		once      bool
		logFormat string
		poll      time.Duration
		lease     time.Duration
		lateness  time.Duration
		lo        lang.Options
		nowFlag   string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Serve what was applied: scheduled sends, triggers and journeys, links",
		Long: `Run is the long-running runner. It serves what herald apply approved, never
the files on disk: the campaigns, triggers and templates come from the state,
and only the state's location is read from the project's herald block.

It sends scheduled campaigns as they fall due (each recipient at the planned
local time, quiet hours respected, sends later than the schedule's max_late
skipped and counted), turns events into journeys and runs their steps, and
serves on -listen:

  POST /v1/track, /v1/batch   events, Segment's Track format (HERALD_WRITE_KEY)
  GET/POST /u/TOKEN           unsubscribe (page, RFC 8058 one-click)
  GET /c/TOKEN, /o/TOKEN.gif  click redirects and the open pixel
  GET /healthz, /readyz       liveness and readiness
  GET /metrics                Prometheus metrics

Apply while runners run: they pick up what was applied, paused or removed
within a poll. Several runners may share a PostgreSQL state: due work is
claimed under a lease, and one runner at a time reads tailed files and cursor
tables. SIGINT or SIGTERM stops taking work, finishes what is in flight, and
exits 0.

-once does everything due now and exits: for cron and tests.`,
		Example: `  herald run
  herald run -listen=0.0.0.0:8080 -log-format=json
  herald run -once
  herald run -once -now=2026-12-01T10:05:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var h slog.Handler
			switch logFormat {
			case "text":
				h = slog.NewTextHandler(a.stderr, nil)
			case "json":
				h = slog.NewJSONHandler(a.stderr, nil)
			default:
				return a.fail("-log-format is text or json, not %q", logFormat)
			}
			log := slog.New(h)
			cfg, diags := lang.Load(a.dir(), lo)
			if diags.HasErrors() {
				a.printDiags(false, cfg, diags)
				return exitCode(1)
			}
			st, err := state.OpenExisting(ctx, a.dir(), cfg.Herald.State)
			if errors.Is(err, state.ErrNoState) {
				return a.fail("there is no state at %s: nothing has been applied; run herald apply first", state.Describe(a.dir(), cfg.Herald.State))
			}
			if err != nil {
				return a.fail("opening the state: %v", err)
			}
			defer st.Close()
			var now func() time.Time
			if nowFlag != "" {
				if !once {
					return a.fail("-now is for -once: a runner that keeps running keeps real time")
				}
				t, err := time.Parse(time.RFC3339, nowFlag)
				if err != nil {
					return a.fail("-now takes an RFC 3339 time such as 2026-12-01T09:00:00Z, not %q", nowFlag)
				}
				now = func() time.Time { return t }
			}
			r := executor.NewRunner(st, executor.RunOptions{
				Dir: a.dir(), Load: lo, Workers: workers, Logger: log,
				Poll: poll, Lease: lease, Lateness: lateness, Now: now,
			})
			defer r.Close()
			if once {
				err := r.Once(ctx)
				s := r.Stats()
				fmt.Fprintf(a.stdout, "herald run -once: %d events, %d journeys started, %d steps, %d sent, %d skipped, %d failed, %d deferred, %d exited, %d completed\n",
					s.Events, s.Started, s.Steps, s.Sent, s.Skipped, s.Failed, s.Deferred, s.Exited, s.Completed)
				if err != nil {
					return a.fail("%v", err)
				}
				return nil
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return a.fail("listening on %s: %v", listen, err)
			}
			srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			log.Info("herald run started", "listen", ln.Addr().String(), "state", state.Describe(a.dir(), cfg.Herald.State))
			runErr := r.Run(ctx)
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return a.fail("serving: %v", err)
			}
			if runErr != nil {
				return a.fail("%v", runErr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "serve events, links, health and metrics on `ADDR`")
	f.IntVar(&workers, "workers", 8, "handle up to `N` due items and customers' events at once")
	f.BoolVar(&once, "once", false, "do everything due now, then exit")
	f.StringVar(&logFormat, "log-format", "text", "log as `text` or json, to stderr")
	f.DurationVar(&poll, "poll", time.Second, "look for due work, applied changes and new events every `DURATION`")
	f.DurationVar(&lease, "lease", 2*time.Minute, "a claimed item is this runner's for `DURATION`; then another runner may take it")
	f.DurationVar(&lateness, "lateness", time.Hour, "count events that arrive up to `DURATION` late (event time)")
	f.StringVar(&nowFlag, "now", "", "with -once, act as if it were `TIME` (RFC 3339): for demos and tests")
	f.StringArrayVar(&lo.Vars, "var", nil, "set the variable `NAME=VALUE`, as given to apply; may be repeated")
	f.StringArrayVar(&lo.VarFiles, "var-file", nil, "read variables from `FILE`, as given to apply; may be repeated")
	return cmd
}
