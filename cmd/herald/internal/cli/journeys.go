package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

func (a *app) journeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "journeys",
		Short: "Inspect the journeys herald run keeps for triggers",
		Long: `A journey is one customer's way through a trigger's steps: herald run starts
it when the trigger fires, runs each step when its wait is over, and ends it
when the last step ran (completed) or exit_when held (exited). Journeys live in
the state, so these commands see what every runner sharing it sees.

They print customer ids, never addresses, names or the contents of events.`,
		// Runnable, so that a mistyped subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.journeysListCmd(), a.journeysShowCmd())
	return cmd
}

// openProject loads the configuration and opens its state as openState
// does, and also returns the configuration, whose trigger blocks name the
// steps of triggers that are not applied.
func (a *app) openProject(ctx context.Context, o *stateOpts) (*lang.Config, state.Backend, string, error) {
	cfg, diags := lang.Load(a.dir(), lang.Options{Vars: o.vars, VarFiles: o.varFiles})
	if diags.HasErrors() {
		var sources map[string][]byte
		if cfg != nil {
			sources = cfg.FileText()
		}
		a.writeDiags(a.stderr, diags, sources)
		return nil, nil, "", exitCode(1)
	}
	where := state.Describe(a.dir(), cfg.Herald.State)
	b, err := state.OpenExisting(ctx, a.dir(), cfg.Herald.State)
	if errors.Is(err, state.ErrNoState) {
		return cfg, nil, where, nil
	}
	if err != nil {
		return cfg, nil, where, a.fail("%v", err)
	}
	return cfg, b, where, nil
}

// runtimeErr reports a failure to read journeys; a backend that does not
// keep them yet says so rather than "unsupported operation".
func (a *app) runtimeErr(err error) error {
	if errors.Is(err, errors.ErrUnsupported) {
		return a.fail("this herald's state backend does not keep journeys yet")
	}
	return a.fail("reading journeys: %v", err)
}

// triggerSteps knows the step names of each trigger: as applied (the
// state's trigger objects, which are what runners run), or, for a
// trigger that is not applied, as the configuration says.
type triggerSteps struct {
	applied map[string][]string // trigger address → step names
	config  map[string][]string
}

func newTriggerSteps(cfg *lang.Config, objs []state.Object) *triggerSteps {
	ts := &triggerSteps{applied: map[string][]string{}, config: map[string][]string{}}
	for _, o := range objs {
		if o.Kind == "trigger" {
			ts.applied[o.Address] = appliedSteps(o.Attrs)
		}
	}
	if cfg != nil {
		for name, t := range cfg.Triggers {
			names := make([]string, len(t.Steps))
			for i, s := range t.Steps {
				names[i] = s.Name
			}
			ts.config["trigger."+name] = names
		}
	}
	return ts
}

// appliedSteps reads the step names from a trigger object's attributes,
// which the planner writes as "step.<index>.<name>".
func appliedSteps(attrs map[string]string) []string {
	var names []string
	for k := range attrs {
		rest, ok := strings.CutPrefix(k, "step.")
		if !ok {
			continue
		}
		is, name, ok := strings.Cut(rest, ".")
		i, err := strconv.Atoi(is)
		if !ok || err != nil || i < 0 || i > 1000 {
			continue
		}
		for len(names) <= i {
			names = append(names, "")
		}
		names[i] = name
	}
	return names
}

// steps returns a trigger's step names, or nil when it is unknown.
func (ts *triggerSteps) steps(trigger string) []string {
	if s, ok := ts.applied[trigger]; ok {
		return s
	}
	return ts.config[trigger]
}

// known reports whether a trigger is applied or configured.
func (ts *triggerSteps) known(trigger string) bool {
	_, applied := ts.applied[trigger]
	_, configured := ts.config[trigger]
	return applied || configured
}

// addresses are every trigger address known.
func (ts *triggerSteps) addresses() []string {
	var out []string
	for t := range ts.applied {
		out = append(out, t)
	}
	for t := range ts.config {
		if _, ok := ts.applied[t]; !ok {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// name is step i of trigger for people: its name when known, "(end)" for
// the step a completed journey stops at, else the index.
func (ts *triggerSteps) name(trigger string, i int) string {
	names := ts.steps(trigger)
	switch {
	case i >= 0 && i < len(names) && names[i] != "":
		return names[i]
	case names != nil && i == len(names):
		return "(end)"
	}
	return strconv.Itoa(i)
}

// stepName is step i's name for JSON: "" when it is not known.
func (ts *triggerSteps) stepName(trigger string, i int) string {
	names := ts.steps(trigger)
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return ""
}

// triggerAddress turns a trigger name, or its address, into its address.
func triggerAddress(name string) (string, error) {
	n := strings.TrimPrefix(name, "trigger.")
	if n == "" || strings.Contains(n, ".") {
		return "", fmt.Errorf("%q is not a trigger: give its name (cart_abandon) or address (trigger.cart_abandon)", name)
	}
	return "trigger." + n, nil
}

// noTrigger reports an unknown trigger, naming triggers close to it.
func (a *app) noTrigger(address string, ts *triggerSteps, extra []string) error {
	all := dedupe(append(ts.addresses(), extra...))
	similar := state.Similar(address, all)
	switch len(similar) {
	case 0:
		if len(all) == 0 {
			return a.fail("no trigger %s: the project and the state have no triggers", address)
		}
		return a.fail("no trigger %s: the project and the state have %s", address, strings.Join(all, ", "))
	case 1:
		return a.fail("no trigger %s. Did you mean %s?", address, similar[0])
	default:
		return a.fail("no trigger %s. Did you mean one of %s?", address, strings.Join(similar, ", "))
	}
}

// dedupe sorts ss and drops repeats.
func dedupe(ss []string) []string {
	sort.Strings(ss)
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// journeyRow is one line of journeys list: a trigger's step and how many
// journeys are there in each status.
type journeyRow struct {
	Trigger   string `json:"trigger"`
	Step      int    `json:"step"`
	StepName  string `json:"step_name"`
	Active    int    `json:"active"`
	Waiting   int    `json:"waiting"`
	Exited    int    `json:"exited"`
	Completed int    `json:"completed"`
}

func (a *app) journeysListCmd() *cobra.Command {
	var (
		o       stateOpts
		trigger string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Count journeys per trigger and step",
		Long: `List counts the journeys of each trigger at each step, by status: active
(the step is due and a runner is on it, or will be), waiting (for the step's
wait to pass), exited (exit_when held, or the trigger was deleted; counted at
the step where they left) and completed (every step ran; counted on the
(end) line).

Steps are named as applied; a trigger that is not applied is named as the
configuration says, and one known to neither by step index. Every step of an
applied trigger is listed, with zeros when no journey is there.`,
		Example: `  herald journeys list
  herald journeys list -trigger cart_abandon
  herald journeys list -json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var want string
			if trigger != "" {
				var err error
				if want, err = triggerAddress(trigger); err != nil {
					return a.fail("-trigger: %v", err)
				}
			}
			cfg, b, where, err := a.openProject(ctx, &o)
			if err != nil {
				return err
			}
			if b == nil {
				ts := newTriggerSteps(cfg, nil)
				if want != "" && !ts.known(want) {
					return a.noTrigger(want, ts, nil)
				}
				if asJSON {
					return a.writeJourneyRowsJSON(nil)
				}
				fmt.Fprintf(a.stdout, "No journeys: there is no state yet (%s).\n", where)
				return nil
			}
			defer b.Close()
			objs, err := b.Objects(ctx)
			if err != nil {
				return a.fail("%v", err)
			}
			ts := newTriggerSteps(cfg, objs)
			counts, err := b.JourneyCounts(ctx, time.Now())
			if err != nil {
				return a.runtimeErr(err)
			}
			rows := journeyRows(counts, ts)
			if want != "" {
				kept := rows[:0]
				var seen []string
				for _, r := range rows {
					if r.Trigger == want {
						kept = append(kept, r)
					}
					seen = append(seen, r.Trigger)
				}
				if len(kept) == 0 && !ts.known(want) {
					return a.noTrigger(want, ts, seen)
				}
				rows = kept
			}
			if asJSON {
				return a.writeJourneyRowsJSON(rows)
			}
			return a.writeJourneyTable(rows, ts)
		},
	}
	o.register(cmd)
	f := cmd.Flags()
	f.StringVar(&trigger, "trigger", "", "count only the journeys of trigger `NAME`")
	f.BoolVar(&asJSON, "json", false, "print the counts as JSON, for machines")
	return cmd
}

// journeyRows turns counts into one row per trigger and step: every step
// of the triggers whose steps are known to the state (and the (end) line
// when journeys completed), and every step journeys are at.
func journeyRows(counts []state.JourneyCount, ts *triggerSteps) []journeyRow {
	type key struct {
		trigger string
		step    int
	}
	byKey := map[key]*journeyRow{}
	row := func(trigger string, step int) *journeyRow {
		k := key{trigger, step}
		r := byKey[k]
		if r == nil {
			r = &journeyRow{Trigger: trigger, Step: step, StepName: ts.stepName(trigger, step)}
			byKey[k] = r
		}
		return r
	}
	// Applied triggers show their whole shape, even with no journeys yet:
	// an operator sees at a glance that a trigger is live and nobody is in
	// it.
	for trigger, names := range ts.applied {
		for i := range names {
			row(trigger, i)
		}
	}
	for _, c := range counts {
		r := row(c.Trigger, c.Step)
		switch c.Status {
		case "active":
			r.Active += c.N
		case "waiting":
			r.Waiting += c.N
		case state.JourneyExited:
			r.Exited += c.N
		case state.JourneyCompleted:
			r.Completed += c.N
		}
	}
	rows := make([]journeyRow, 0, len(byKey))
	for _, r := range byKey {
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Trigger != rows[j].Trigger {
			return rows[i].Trigger < rows[j].Trigger
		}
		return rows[i].Step < rows[j].Step
	})
	return rows
}

func (a *app) writeJourneyRowsJSON(rows []journeyRow) error {
	if rows == nil {
		rows = []journeyRow{}
	}
	out, err := json.Marshal(struct {
		Steps []journeyRow `json:"steps"`
	}{rows})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", out)
	return err
}

// writeJourneyTable prints rows as an aligned table, names to the left
// and counts to the right, then the totals.
func (a *app) writeJourneyTable(rows []journeyRow, ts *triggerSteps) error {
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "No journeys.")
		return nil
	}
	header := []string{"TRIGGER", "STEP", "ACTIVE", "WAITING", "EXITED", "COMPLETED"}
	cells := [][]string{header}
	var tot journeyRow
	for _, r := range rows {
		cells = append(cells, []string{r.Trigger, ts.name(r.Trigger, r.Step),
			fmtThousands(r.Active), fmtThousands(r.Waiting), fmtThousands(r.Exited), fmtThousands(r.Completed)})
		tot.Active += r.Active
		tot.Waiting += r.Waiting
		tot.Exited += r.Exited
		tot.Completed += r.Completed
	}
	width := make([]int, len(header))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	// Widths are computed without escape codes, which are added around
	// the padded header so that colour does not shift the columns.
	bold, reset := "", ""
	if a.color(a.stdout) {
		bold, reset = "\x1b[1m", "\x1b[0m"
	}
	bw := bufio.NewWriter(a.stdout)
	for n, row := range cells {
		var line strings.Builder
		for i, c := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i < 2 {
				line.WriteString(c + pad)
			} else {
				line.WriteString(pad + c)
			}
		}
		if n == 0 {
			fmt.Fprintf(bw, "%s%s%s\n", bold, line.String(), reset)
		} else {
			fmt.Fprintln(bw, line.String())
		}
	}
	fmt.Fprintf(bw, "\n%s in flight (%s active, %s waiting) · %s exited · %s completed\n",
		fmtCount(tot.Active+tot.Waiting, "journey", "journeys"), fmtThousands(tot.Active), fmtThousands(tot.Waiting),
		fmtThousands(tot.Exited), fmtThousands(tot.Completed))
	return bw.Flush()
}

func (a *app) journeysShowCmd() *cobra.Command {
	var (
		o      stateOpts
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show {ID | TRIGGER CUSTOMER_ID}",
		Short: "Show one journey and the messages it sent",
		Long: `Show prints a journey: its trigger, customer id, status, the step it is at,
when it started, why it exited, the id of the event that started it and the
names of that event's fields (never their values), and its sends from the
ledger, with their status.

With one argument it shows the journey with that id (journeys list does not
print ids: they are in herald run's logs and in each send's idempotency key,
"j<id>-<step>"). With a trigger and a customer id it shows every journey of
that customer in that trigger, oldest first: a customer may re-enter.

It exits 1 when there is no such journey.`,
		Example: `  herald journeys show cart_abandon c0042
  herald journeys show 3f9a1c0e7b2d4a55
  herald journeys show -json cart_abandon c0042`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var trigger string
			if len(args) == 2 {
				var err error
				if trigger, err = triggerAddress(args[0]); err != nil {
					return a.fail("%v", err)
				}
			}
			cfg, b, where, err := a.openProject(ctx, &o)
			if err != nil {
				return err
			}
			if b == nil {
				return a.fail("no such journey: there is no state yet (%s)", where)
			}
			defer b.Close()
			var js []state.Journey
			if len(args) == 1 {
				j, err := b.Journey(ctx, args[0])
				if err != nil {
					return a.runtimeErr(err)
				}
				if j == nil {
					hint := ""
					if _, err := triggerAddress(args[0]); err == nil {
						hint = " To find a customer's journey, give the trigger and the customer id: herald journeys show TRIGGER CUSTOMER_ID."
					}
					return a.fail("no journey %s in the state.%s", args[0], hint)
				}
				js = append(js, *j)
			} else {
				err := b.Journeys(ctx, state.JourneyFilter{Trigger: trigger, CustomerID: args[1]}, func(j state.Journey) error {
					js = append(js, j)
					return nil
				})
				if err != nil {
					return a.runtimeErr(err)
				}
			}
			objs, err := b.Objects(ctx)
			if err != nil {
				return a.fail("%v", err)
			}
			ts := newTriggerSteps(cfg, objs)
			if len(js) == 0 {
				if !ts.known(trigger) {
					return a.noTrigger(trigger, ts, nil)
				}
				return a.fail("customer %s has no journey in %s", args[1], trigger)
			}

			views := make([]journeyView, len(js))
			for i, j := range js {
				sends, err := journeySends(ctx, b, j)
				if err != nil {
					return a.fail("reading the send ledger: %v", err)
				}
				views[i] = newJourneyView(j, ts, sends)
			}
			if asJSON {
				out, err := json.Marshal(struct {
					Journeys []journeyView `json:"journeys"`
				}{views})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", out)
				return err
			}
			bw := bufio.NewWriter(a.stdout)
			for i, v := range views {
				if i > 0 {
					fmt.Fprintln(bw)
				}
				writeJourney(bw, v)
			}
			return bw.Flush()
		},
	}
	o.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the journeys as JSON, for machines")
	return cmd
}

// journeyKeyPrefix is the start of the idempotency keys of a journey's
// sends: the runner writes "j<journey id>-<step in 3 digits>".
func journeyKeyPrefix(id string) string { return "j" + id + "-" }

// errDone stops a ledger scan early.
var errDone = errors.New("done")

// journeySends returns a journey's ledger rows: those of its trigger whose
// key has the journey's prefix.
func journeySends(ctx context.Context, b state.Backend, j state.Journey) ([]state.Send, error) {
	prefix := journeyKeyPrefix(j.ID)
	var out []state.Send
	err := b.Sends(ctx, j.Trigger, func(s state.Send) error {
		if strings.HasPrefix(s.Key, prefix) {
			out = append(out, s)
			return nil
		}
		// Keys stream in order, so the journey's are together: past them,
		// there is nothing more to read.
		if len(out) > 0 {
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) {
		err = nil
	}
	return out, err
}

// journeyView is a journey as show prints it. It holds ids, statuses and
// times only: no value from the customer's profile or the starting event.
type journeyView struct {
	ID          string     `json:"id"`
	Trigger     string     `json:"trigger"`
	CustomerID  string     `json:"customer_id"`
	Status      string     `json:"status"`
	Step        int        `json:"step"`
	StepName    string     `json:"step_name"`
	Steps       int        `json:"steps,omitempty"` // how many the trigger has, when known
	StartedAt   time.Time  `json:"started_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ExitReason  string     `json:"exit_reason,omitempty"`
	StartEvent  string     `json:"start_event"`
	EventFields []string   `json:"event_fields"`
	Sends       []sendView `json:"sends"`

	stepLabel string
}

// sendView is one ledger row of a journey.
type sendView struct {
	Key       string     `json:"key"`
	Step      int        `json:"step"`
	StepName  string     `json:"step_name"`
	Status    string     `json:"status"`
	Channel   string     `json:"channel"`
	Provider  string     `json:"provider"`
	DueAt     *time.Time `json:"due_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
	Error     string     `json:"error,omitempty"`

	stepLabel string
}

func newJourneyView(j state.Journey, ts *triggerSteps, sends []state.Send) journeyView {
	v := journeyView{
		ID: j.ID, Trigger: j.Trigger, CustomerID: j.CustomerID, Status: j.Status,
		Step: j.Step, StepName: ts.stepName(j.Trigger, j.Step), Steps: len(ts.steps(j.Trigger)),
		StartedAt: j.StartedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(), ExitReason: redact(j.ExitReason),
		StartEvent: j.StartKey, EventFields: eventFields(j.Event), Sends: []sendView{},
	}
	v.stepLabel = strconv.Itoa(j.Step)
	if name := ts.name(j.Trigger, j.Step); name != v.stepLabel {
		v.stepLabel += " " + name
	}
	if v.Steps > 0 {
		v.stepLabel += fmt.Sprintf(" (of %d)", v.Steps)
	}
	prefix := journeyKeyPrefix(j.ID)
	for _, s := range sends {
		sv := sendView{Key: s.Key, Step: -1, Status: s.Status, Channel: s.Channel, Provider: s.Provider,
			UpdatedAt: s.UpdatedAt.UTC(), Error: redact(s.Error)}
		if n, err := strconv.Atoi(strings.TrimPrefix(s.Key, prefix)); err == nil {
			sv.Step, sv.StepName = n, ts.stepName(j.Trigger, n)
			sv.stepLabel = strconv.Itoa(n)
			if sv.StepName != "" {
				sv.stepLabel += " " + sv.StepName
			}
		}
		if !s.DueAt.IsZero() {
			due := s.DueAt.UTC()
			sv.DueAt = &due
		}
		v.Sends = append(v.Sends, sv)
	}
	return v
}

// eventFields are the names of the starting event's fields, sorted: what
// a template of the journey can read, without the values, which may be
// personal.
func eventFields(event []byte) []string {
	fields := []string{}
	if len(event) == 0 {
		return fields
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(event, &m) != nil {
		return fields
	}
	for k := range m {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	return fields
}

// Show prints ids only, but a provider's error or an exit reason may
// quote the recipient ("550 5.1.1 <ann@example.com>: no such user"):
// what looks like an e-mail address, or a phone number — a run of at
// least 9 digits with the usual separators, so that status codes such as
// 5.1.1 stay readable — is masked.
var (
	emailLike = regexp.MustCompile(`[^\s<>()"',;:]+@[^\s<>()"',;:]+`)
	phoneLike = regexp.MustCompile(`\+?\d[\d ().-]*\d`)
)

// redact masks e-mail addresses and phone numbers in s.
func redact(s string) string {
	s = emailLike.ReplaceAllString(s, "[redacted]")
	return phoneLike.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, c := range m {
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		if digits < 9 {
			return m
		}
		return "[redacted]"
	})
}

// writeJourney prints one journey for people, in the layout of herald
// state show.
func writeJourney(w io.Writer, v journeyView) {
	fmt.Fprintf(w, "# journey %s\n", v.ID)
	field := func(k, val string) {
		if val == "" {
			val = "-"
		}
		fmt.Fprintf(w, "%-12s = %s\n", k, val)
	}
	field("trigger", v.Trigger)
	field("customer_id", v.CustomerID)
	field("status", v.Status)
	field("step", v.stepLabel)
	field("started_at", v.StartedAt.Format(time.RFC3339))
	field("updated_at", v.UpdatedAt.Format(time.RFC3339))
	field("exit_reason", v.ExitReason)
	field("start_event", v.StartEvent)
	field("event_fields", strings.Join(v.EventFields, ", "))
	if len(v.Sends) == 0 {
		fmt.Fprintln(w, "\nsends: none")
		return
	}
	fmt.Fprintln(w, "\nsends:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KEY\tSTEP\tSTATUS\tCHANNEL\tPROVIDER\tAT\tERROR")
	for _, s := range v.Sends {
		at := s.UpdatedAt.Format(time.RFC3339)
		if s.Status == state.SendDeferred && s.DueAt != nil {
			at = "due " + s.DueAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Key, orDash(s.stepLabel), s.Status, orDash(s.Channel),
			orDash(strings.TrimPrefix(s.Provider, "provider.")), at, orDash(s.Error))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
