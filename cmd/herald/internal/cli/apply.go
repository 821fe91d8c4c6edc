package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/executor"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

func (a *app) applyCmd() *cobra.Command {
	var (
		pf          planFlags
		autoApprove bool
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Apply a plan: write the state and send the messages",
		Long: `Apply carries out a plan. With PLANFILE, a plan saved by herald plan -out, it
executes exactly that plan, and refuses it when it is stale: when the state or
the configuration files changed since it was made. Without PLANFILE it plans,
shows the plan, and asks for "yes" on a terminal; -auto-approve skips the
question, and without a terminal and -auto-approve apply refuses.

Apply holds the state lock throughout; a second apply fails at once naming the
holder. Objects are written in dependency order, the state after each one.
Each campaign sends to its pinned recipients only, re-checking consent,
frequency caps and suppressions at send time; recipients in quiet hours or
scheduled for later are recorded as deferred for herald run. Every message
has an idempotency key in the ledger before the provider is called.

If an apply is interrupted (a crash, Ctrl-C, a provider that kept failing),
apply the same plan file again: it resumes where the ledger says it stopped,
and sends no message twice to a provider that takes idempotency keys.

Exit codes: 0 success; 1 error, a stale plan, or a provider paused.`,
		Example: `  herald plan -out=plan.herald && herald apply plan.herald
  herald apply -auto-approve
  herald apply -json plan.herald`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var (
				cfg *lang.Config
				p   *planner.Plan
			)
			if len(args) == 1 {
				if len(pf.targets)+len(pf.excludes) > 0 || pf.now != "" {
					return a.fail("-target, -exclude and -now are for planning: a saved plan is applied as it is")
				}
				var err error
				p, err = planner.ReadFile(a.path(args[0]))
				if err != nil {
					return a.fail("reading %s: %v", args[0], err)
				}
				var diags hcl.Diagnostics
				cfg, diags = lang.Load(a.dir(), pf.lang)
				if diags.HasErrors() {
					a.printDiags(asJSON, cfg, diags)
					return exitCode(1)
				}
			} else {
				c, plan, diags := a.makePlan(ctx, &pf)
				if diags.HasErrors() || plan == nil {
					a.printDiags(asJSON, c, diags)
					return exitCode(1)
				}
				if len(diags) > 0 && !asJSON {
					a.writeDiags(a.stderr, diags, c.FileText())
				}
				cfg, p = c, plan
				if !asJSON {
					if err := planner.WriteText(a.stdout, p, a.color(a.stdout)); err != nil {
						return err
					}
				}
				if !p.Summary.HasChanges() {
					if asJSON {
						a.jsonEvent(executor.Event{Type: "apply_done", Time: time.Now().UTC(), Result: &executor.Result{PlanID: executor.PlanID(p)}})
					} else {
						fmt.Fprintln(a.stdout, "\nNo changes. Nothing to apply.")
					}
					return nil
				}
				if !autoApprove {
					if !isTerminal(a.stdin) {
						return a.fail("apply needs approval, and there is no terminal to ask on: run herald apply -auto-approve, or save the plan with herald plan -out=FILE and run herald apply FILE")
					}
					fmt.Fprint(a.stdout, "\nDo you want to apply this plan? It sends the messages above.\n  Only 'yes' will be accepted.\n\n  Enter a value: ")
					line, _ := bufio.NewReader(a.stdin).ReadString('\n')
					if strings.TrimSpace(line) != "yes" {
						fmt.Fprintln(a.stdout, "\nApply cancelled.")
						return exitCode(1)
					}
					fmt.Fprintln(a.stdout)
				}
			}
			// A plan made here is kept until it is applied, so that an
			// interrupted apply can be resumed with it.
			saved := ""
			if len(args) == 0 {
				saved = filepath.Join(".herald", "plans", executor.PlanID(p)+".herald")
				if err := os.MkdirAll(filepath.Dir(a.path(saved)), 0o755); err == nil {
					if err := p.WriteFile(a.path(saved)); err != nil {
						saved = ""
					}
				} else {
					saved = ""
				}
			}
			st, err := state.Open(ctx, a.dir(), cfg.Herald.State)
			if err != nil {
				return a.fail("opening the state: %v", err)
			}
			defer st.Close()

			view := a.newApplyView(asJSON)
			res, err := executor.Apply(ctx, cfg, st, p, executor.Options{
				Parallelism: pf.parallel,
				Events:      view.event,
				Lock:        state.LockInfo{Who: who(), Operation: "apply", Created: time.Now().UTC()},
			})
			view.finish()
			var stale *executor.StaleError
			var locked *state.LockedError
			if saved != "" && (errors.As(err, &stale) || errors.As(err, &locked)) {
				os.Remove(a.path(saved)) // nothing was applied
				saved = ""
			}
			switch {
			case asJSON && (errors.As(err, &stale) || errors.As(err, &locked)):
				ev := executor.Event{Type: "apply_done", Time: time.Now().UTC(), Result: res, Error: err.Error()}
				if stale != nil {
					ev.Rule = string(diag.StalePlan)
				}
				a.jsonEvent(ev)
				return exitCode(1)
			case errors.As(err, &stale):
				var why strings.Builder
				why.WriteString("It was made against a state or files that have changed since, so it is not what was reviewed:\n")
				for _, r := range stale.Reasons {
					fmt.Fprintf(&why, "  - %s\n", r)
				}
				why.WriteString("Run herald plan again, review it, and apply the new plan.")
				a.writeDiags(a.stderr, hcl.Diagnostics{diag.Error(diag.StalePlan, nil, "The plan is stale", why.String())}, nil)
				return exitCode(1)
			case errors.As(err, &locked):
				fmt.Fprintf(a.stderr, "Error: %v\n", err)
				return exitCode(1)
			}
			if !asJSON {
				a.writeApplySummary(a.stdout, res, err)
			}
			if err != nil {
				if saved != "" && !asJSON {
					fmt.Fprintf(a.stdout, "The plan is saved in %s: herald apply %s resumes it.\n", saved, saved)
				}
				return exitCode(1)
			}
			if saved != "" {
				os.Remove(a.path(saved))
			}
			return nil
		},
	}
	pf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&autoApprove, "auto-approve", false, "apply without asking for approval (for CI)")
	f.BoolVar(&asJSON, "json", false, "stream events as JSON, one object per line")
	f.Lookup("parallelism").Usage = "evaluate and apply with `N` workers (default: all cores to evaluate, 10 changes at a time to apply)"
	return cmd
}

func (a *app) printDiags(asJSON bool, cfg *lang.Config, diags hcl.Diagnostics) {
	var sources map[string][]byte
	if cfg != nil {
		sources = cfg.FileText()
	}
	if asJSON {
		js, _ := diag.MarshalJSON(diags, sources)
		fmt.Fprintf(a.stdout, "%s\n", js)
		return
	}
	a.writeDiags(a.stderr, diags, sources)
}

func (a *app) jsonEvent(e executor.Event) {
	b, _ := json.Marshal(e)
	fmt.Fprintf(a.stdout, "%s\n", b)
}

// applyView shows an apply as it happens: JSON events on stdout with
// -json; otherwise a line per change, and a progress bar per campaign on a
// terminal.
type applyView struct {
	a      *app
	json   bool
	tty    bool
	bar    *progressbar.ProgressBar
	barFor string
	start  time.Time
}

func (a *app) newApplyView(asJSON bool) *applyView {
	return &applyView{a: a, json: asJSON, tty: isTerminal(a.stderr), start: time.Now()}
}

func (v *applyView) event(e executor.Event) {
	if v.json {
		v.a.jsonEvent(e)
		return
	}
	switch e.Type {
	case "apply_start":
		if e.Resumed {
			fmt.Fprintf(v.a.stdout, "Resuming the interrupted apply of this plan (%s).\n", e.PlanID)
		}
	case "change_applied":
		v.clearBar()
		if e.Error != "" {
			fmt.Fprintf(v.a.stdout, "%s: %s failed: %s\n", e.Address, e.Action, e.Error)
		} else {
			fmt.Fprintf(v.a.stdout, "%s: %s complete\n", e.Address, e.Action)
		}
	case "send_progress":
		if !v.tty || e.Counts == nil {
			return
		}
		if v.bar == nil || v.barFor != e.Address {
			v.clearBar()
			v.barFor = e.Address
			v.bar = progressbar.NewOptions64(e.Total,
				progressbar.OptionSetWriter(v.a.stderr),
				progressbar.OptionSetDescription(e.Address),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("msg"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionEnableColorCodes(v.a.color(v.a.stderr)),
			)
		}
		c := e.Counts
		v.bar.Describe(fmt.Sprintf("%s  sent %d · skipped %d · failed %d · deferred %d", e.Address, c.Sent, c.SkippedTotal(), c.Failed, c.Deferred))
		_ = v.bar.Set64(c.Done())
	}
}

func (v *applyView) clearBar() {
	if v.bar != nil {
		_ = v.bar.Finish()
		_ = v.bar.Clear()
		v.bar = nil
	}
}

func (v *applyView) finish() { v.clearBar() }

// writeApplySummary says what the apply did, per campaign and variant.
func (a *app) writeApplySummary(w io.Writer, res *executor.Result, err error) {
	fmt.Fprintln(w)
	for _, c := range res.Campaigns {
		fmt.Fprintf(w, "%s  (%s) via %s\n", c.Address, c.Status, strings.TrimPrefix(c.Provider, "provider."))
		fmt.Fprintf(w, "    %-10s %s\n", "total", countsLine(c.Counts))
		for _, v := range c.Variants {
			fmt.Fprintf(w, "    %-10s %s\n", v.Name, countsLine(v.Counts))
		}
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "Warning: %s\n", warn)
	}
	t := res.Totals()
	if err != nil {
		fmt.Fprintf(w, "\nApply failed: %v\n", err)
		if len(res.Failed) > 0 {
			addrs := make([]string, 0, len(res.Failed))
			for k := range res.Failed {
				addrs = append(addrs, k)
			}
			sort.Strings(addrs)
			for _, k := range addrs {
				fmt.Fprintf(w, "  - %s: %s\n", k, res.Failed[k])
			}
		}
		if len(res.NotApplied) > 0 {
			fmt.Fprintf(w, "Not applied, because a change before them failed: %s\n", strings.Join(res.NotApplied, ", "))
		}
		if t.Pending > 0 || len(res.Paused) > 0 {
			fmt.Fprintf(w, "%d messages are pending. Fix the cause and apply the same plan file again to resume; nothing already sent is sent again.\n", t.Pending)
		}
		return
	}
	fmt.Fprintf(w, "\nApply complete: %d changes applied · %d sent, %d skipped, %d failed, %d deferred in %s.\n",
		len(res.Applied), t.Sent, t.SkippedTotal(), t.Failed, t.Deferred, res.Duration.Round(time.Millisecond))
}

func countsLine(c executor.Counts) string {
	s := fmt.Sprintf("%d sent · %d skipped", c.Sent, c.SkippedTotal())
	if len(c.Skipped) > 0 {
		var parts []string
		for _, k := range sortedCountKeys(c.Skipped) {
			parts = append(parts, fmt.Sprintf("%s %d", k, c.Skipped[k]))
		}
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	s += fmt.Sprintf(" · %d failed · %d deferred", c.Failed, c.Deferred)
	if c.Pending > 0 {
		s += fmt.Sprintf(" · %d pending", c.Pending)
	}
	return s
}

func sortedCountKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
