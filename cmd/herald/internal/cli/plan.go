package cli

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/planner"
	_ "github.com/heraldhq/herald/providers/all" // the data source providers
	"github.com/heraldhq/herald/state"
)

// planFlags are the flags plan shares with apply.
type planFlags struct {
	lang     lang.Options
	parallel int
	targets  []string
	excludes []string
	now      string
	showPII  bool
}

func (pf *planFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&pf.lang.Vars, "var", nil, "set the variable `NAME=VALUE`; may be repeated")
	f.StringArrayVar(&pf.lang.VarFiles, "var-file", nil, "read variables from `FILE`; may be repeated")
	f.IntVar(&pf.parallel, "parallelism", 0, "evaluate with `N` workers (default: all cores)")
	f.StringArrayVar(&pf.targets, "target", nil, "plan only `ADDRESS` (campaign.x, audience.y, or a kind); may be repeated")
	f.StringArrayVar(&pf.excludes, "exclude", nil, "leave `ADDRESS` out of the plan; may be repeated")
	f.StringVar(&pf.now, "now", "", "evaluate as of `TIME` (RFC 3339) instead of the current time, for reproducible plans")
	_ = f.MarkHidden("now")
	f.BoolVar(&pf.showPII, "show-pii", false, "list a few recipients of each campaign with their e-mail address or phone number (never saved in a plan file)")
}

// who names this process for a state lock, as the state package does.
func who() string { return state.NewLockInfo("").Who }

// loadForPlan loads the configuration and opens its state, reporting what
// went wrong as diagnostics. The caller closes the backend.
func (a *app) loadForPlan(ctx context.Context, opts lang.Options) (*lang.Config, state.Backend, hcl.Diagnostics) {
	cfg, diags := lang.Load(a.dir(), opts)
	if diags.HasErrors() {
		return cfg, nil, diags
	}
	st, err := state.Open(ctx, a.dir(), cfg.Herald.State)
	if err != nil {
		return cfg, nil, append(diags, diag.Error(diag.StateError, stateRange(cfg), "Cannot open the state", err.Error()))
	}
	return cfg, st, diags
}

func stateRange(cfg *lang.Config) *hcl.Range {
	if cfg == nil || cfg.Herald.DeclRange.Filename == "" {
		return nil
	}
	r := cfg.Herald.DeclRange
	return &r
}

// progress prints a live count of customers read on a terminal, and
// nothing elsewhere.
type progress struct {
	w     io.Writer
	on    bool
	mu    sync.Mutex
	last  time.Time
	start time.Time
}

func (a *app) newProgress() *progress {
	return &progress{w: a.stderr, on: isTerminal(a.stderr), start: time.Now()}
}

func (p *progress) update(rows int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	rate := float64(rows) / time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r\x1b[Kevaluating audiences: %d customers read (%.0f/s)", rows, rate)
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// makePlan loads, locks and plans. The lock is released before it returns.
func (a *app) makePlan(ctx context.Context, pf *planFlags) (*lang.Config, *planner.Plan, hcl.Diagnostics) {
	cfg, st, diags := a.loadForPlan(ctx, pf.lang)
	if st == nil {
		return cfg, nil, diags
	}
	defer st.Close()
	unlock, err := st.Lock(ctx, state.NewLockInfo("plan"))
	if err != nil {
		return cfg, nil, append(diags, diag.Error(diag.StateError, nil, "The state is locked", err.Error()))
	}
	defer unlock()
	now := time.Now()
	if pf.now != "" {
		t, err := time.Parse(time.RFC3339, pf.now)
		if err != nil {
			return cfg, nil, append(diags, diag.Error(diag.InvalidValue, nil, "Invalid -now", "Write -now as RFC 3339, e.g. 2026-12-01T09:00:00Z."))
		}
		now = t
	}
	prog := a.newProgress()
	p, pdiags := planner.Make(ctx, cfg, st, planner.Options{
		Now: now, Parallelism: pf.parallel, Targets: pf.targets, Excludes: pf.excludes, Progress: prog.update, ShowPII: pf.showPII,
	})
	prog.done()
	return cfg, p, append(diags, pdiags...)
}

func (a *app) planCmd() *cobra.Command {
	var (
		pf           planFlags
		out          string
		asJSON       bool
		detailedExit bool
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what would change and who would be messaged",
		Long: `Plan compares the configuration with the state and evaluates every campaign
and ad audience that would change: per campaign, how many customers each step of
the eligibility funnel removes (excluded, no consent, frequency cap, suppressed,
holdout) and how many each variant would reach; per audience, the members to add
and remove. Plans show ids and counts, never e-mail addresses or phone numbers.

With -out FILE the plan is saved, with its recipients pinned, for apply to carry
out exactly.

Exit codes: 0 success; 1 error; with -detailed-exitcode, 2 when there are changes.`,
		Example: `  herald plan
  herald plan -out=plan.herald -detailed-exitcode
  herald plan -target=campaign.winback_dec -json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, p, diags := a.makePlan(ctx, &pf)
			var sources map[string][]byte
			if cfg != nil {
				sources = cfg.FileText()
			}
			if diags.HasErrors() || p == nil {
				if asJSON {
					js, _ := diag.MarshalJSON(diags, sources)
					fmt.Fprintf(a.stdout, "%s\n", js)
				} else {
					a.writeDiags(a.stderr, diags, sources)
				}
				return exitCode(1)
			}
			if len(diags) > 0 && !asJSON {
				a.writeDiags(a.stderr, diags, sources)
			}
			if out != "" {
				if err := p.WriteFile(a.path(out)); err != nil {
					return a.fail("saving the plan: %v", err)
				}
			}
			if asJSON {
				js, err := planner.MarshalJSON(p, nil)
				if err != nil {
					return a.fail("%v", err)
				}
				fmt.Fprintf(a.stdout, "%s\n", js)
			} else {
				if err := planner.WriteText(a.stdout, p, a.color(a.stdout)); err != nil {
					return err
				}
				if out != "" {
					fmt.Fprintf(a.stdout, "\nSaved the plan to %s; herald show %s renders it again.\n", out, out)
				}
			}
			if detailedExit && p.Summary.HasChanges() {
				return exitCode(2)
			}
			return nil
		},
	}
	pf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "save the plan to `FILE` for apply")
	f.BoolVar(&asJSON, "json", false, "print the plan as JSON (docs/plan-json.md)")
	f.BoolVar(&detailedExit, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	return cmd
}

func (a *app) showCmd() *cobra.Command {
	var (
		asJSON bool
		format string
		opts   lang.Options
	)
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Show a saved plan",
		Long: `Show renders a plan saved by herald plan -out: as text, as JSON (-json), or as
a pull-request comment (-format=markdown). It also says whether the plan is
stale — made against a state or configuration that has changed since — in which
case apply would refuse it.`,
		Example: `  herald show plan.herald
  herald show -format=markdown plan.herald > comment.md`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if asJSON {
				format = "json"
			}
			if format != "text" && format != "json" && format != "markdown" {
				return a.fail("-format must be text, json or markdown")
			}
			p, err := planner.ReadFile(a.path(args[0]))
			if err != nil {
				return a.fail("reading %s: %v", args[0], err)
			}
			stale, err := a.staleness(ctx, p, opts)
			if err != nil {
				fmt.Fprintf(a.stderr, "Warning: cannot tell whether the plan is stale: %v\n", err)
			}
			switch format {
			case "json":
				js, err := planner.MarshalJSON(p, stale)
				if err != nil {
					return a.fail("%v", err)
				}
				fmt.Fprintf(a.stdout, "%s\n", js)
			case "markdown":
				return planner.WriteMarkdown(a.stdout, p, stale)
			default:
				if len(stale) > 0 {
					fmt.Fprintln(a.stdout, "Warning: this plan is stale; apply would refuse it. Run herald plan again.")
					for _, s := range stale {
						fmt.Fprintf(a.stdout, "  - %s\n", s)
					}
					fmt.Fprintln(a.stdout)
				}
				return planner.WriteText(a.stdout, p, a.color(a.stdout))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the plan as JSON (same as -format=json)")
	f.StringVar(&format, "format", "text", "output `FORMAT`: text, json or markdown")
	f.StringArrayVar(&opts.Vars, "var", nil, "set the variable `NAME=VALUE`; may be repeated")
	f.StringArrayVar(&opts.VarFiles, "var-file", nil, "read variables from `FILE`; may be repeated")
	return cmd
}

// staleness compares a saved plan with the current state and files.
func (a *app) staleness(ctx context.Context, p *planner.Plan, opts lang.Options) ([]string, error) {
	cfg, st, diags := a.loadForPlan(ctx, opts)
	if st == nil {
		if diags.HasErrors() {
			return []string{"the configuration no longer loads without errors"}, nil
		}
		return nil, fmt.Errorf("cannot open the state")
	}
	defer st.Close()
	return planner.Stale(ctx, p, cfg, st)
}
