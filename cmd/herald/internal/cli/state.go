package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// stateOpts are the flags of the commands that open the state: the state
// block may read variables.
type stateOpts struct {
	vars, varFiles []string
}

func (o *stateOpts) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&o.vars, "var", nil, "set the variable `NAME=VALUE`; may be repeated")
	f.StringArrayVar(&o.varFiles, "var-file", nil, "read variables from `FILE`; may be repeated")
}

// openState opens the state the project's herald block names, for
// commands that only read it or its lock: a state file that does not exist
// is not created, and the returned Backend is nil. Credentials the rest of
// the configuration reads from the environment need not be set.
func (a *app) openState(ctx context.Context, o *stateOpts) (state.Backend, string, error) {
	cfg, diags := lang.Load(a.dir(), lang.Options{Vars: o.vars, VarFiles: o.varFiles})
	if diags.HasErrors() {
		var sources map[string][]byte
		if cfg != nil {
			sources = cfg.FileText()
		}
		a.writeDiags(a.stderr, diags, sources)
		return nil, "", exitCode(1)
	}
	where := state.Describe(a.dir(), cfg.Herald.State)
	b, err := state.OpenExisting(ctx, a.dir(), cfg.Herald.State)
	if errors.Is(err, state.ErrNoState) {
		return nil, where, nil
	}
	if err != nil {
		return nil, where, a.fail("%v", err)
	}
	return b, where, nil
}

func (a *app) stateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Inspect the state",
		Long: `The state is what herald remembers between runs: the objects it manages
with their last applied attributes, the send ledger, suppressions and
ad-audience members. It lives where the herald block's state block says:
.herald/state.db by default, or a PostgreSQL database.`,
		// Runnable, so that a mistyped subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.stateListCmd(), a.stateShowCmd())
	return cmd
}

func (a *app) stateListCmd() *cobra.Command {
	var o stateOpts
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the addresses of the objects in the state",
		Long: `List prints the address of every object in the state, one per line,
sorted. It prints nothing when the state is empty or does not exist yet.`,
		Example: `  herald state list
  herald state list | grep '^campaign\.'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			b, _, err := a.openState(ctx, &o)
			if err != nil || b == nil {
				return err
			}
			defer b.Close()
			objs, err := b.Objects(ctx)
			if err != nil {
				return a.fail("%v", err)
			}
			w := bufio.NewWriter(a.stdout)
			for _, obj := range objs {
				fmt.Fprintln(w, obj.Address)
			}
			return w.Flush()
		},
	}
	o.register(cmd)
	return cmd
}

func (a *app) stateShowCmd() *cobra.Command {
	var o stateOpts
	cmd := &cobra.Command{
		Use:   "show ADDRESS",
		Short: "Show one object in the state",
		Long: `Show prints what the state holds for one object: its kind, status,
platform-side id, when it was last written, and its attributes as applied.
It exits 1 when the state has no object at ADDRESS.`,
		Example: `  herald state show campaign.winback_dec
  herald state show audience.lapsed_seed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			address := args[0]
			b, where, err := a.openState(ctx, &o)
			if err != nil {
				return err
			}
			if b == nil {
				return a.fail("no object %s in the state: there is no state yet (%s)", address, where)
			}
			defer b.Close()
			obj, err := b.Object(ctx, address)
			if err != nil {
				return a.fail("%v", err)
			}
			if obj == nil {
				return a.noObject(ctx, b, address)
			}
			writeObject(a.stdout, obj)
			return nil
		},
	}
	o.register(cmd)
	return cmd
}

// noObject reports a missing object, naming addresses close to it.
func (a *app) noObject(ctx context.Context, b state.Backend, address string) error {
	objs, err := b.Objects(ctx)
	if err != nil {
		return a.fail("%v", err)
	}
	if len(objs) == 0 {
		return a.fail("no object %s in the state: the state is empty", address)
	}
	addrs := make([]string, len(objs))
	for i, o := range objs {
		addrs[i] = o.Address
	}
	similar := state.Similar(address, addrs)
	switch len(similar) {
	case 0:
		return a.fail("no object %s in the state. Run 'herald state list' to see what it holds.", address)
	case 1:
		return a.fail("no object %s in the state. Did you mean %s?", address, similar[0])
	default:
		return a.fail("no object %s in the state. Did you mean one of %s?", address, strings.Join(similar, ", "))
	}
}

// writeObject prints an object for people: its fields, then its
// attributes as key = value lines, values quoted.
func writeObject(w io.Writer, o *state.Object) {
	fmt.Fprintf(w, "# %s\n", o.Address)
	field := func(k, v string) {
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(w, "%-11s = %s\n", k, v)
	}
	field("kind", o.Kind)
	field("status", o.Status)
	field("provider_id", o.ProviderID)
	field("updated_at", o.UpdatedAt.UTC().Format(time.RFC3339))
	if len(o.Attrs) == 0 {
		return
	}
	keys := make([]string, 0, len(o.Attrs))
	width := 0
	for k := range o.Attrs {
		keys = append(keys, k)
		width = max(width, len(k))
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "\nattrs:")
	for _, k := range keys {
		fmt.Fprintf(w, "  %-*s = %s\n", width, k, strconv.Quote(o.Attrs[k]))
	}
}

func (a *app) forceUnlockCmd() *cobra.Command {
	var (
		o     stateOpts
		force bool
	)
	cmd := &cobra.Command{
		Use:   "force-unlock LOCK_ID",
		Short: "Release a state lock whose holder is gone",
		Long: `Force-unlock releases the state lock taken under LOCK_ID, for when the
herald that took it crashed or was killed and cannot release it. The lock
ID is in the message of any herald that finds the state locked.

Do not release the lock of a herald that is still running: two of them
sending at once can message people twice. With a PostgreSQL state, the
holder's database session is ended, so a holder that is still running
fails instead of carrying on unlocked.

Force-unlock asks for confirmation on a terminal; -force skips the
question, and is required when stdin is not a terminal.`,
		Example: `  herald force-unlock 6f1c2a4e-8d0b-4c43-9a57-1b2f0e3d9c88`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			b, where, err := a.openState(ctx, &o)
			if err != nil {
				return err
			}
			if b == nil {
				return a.fail("the state is not locked: there is no state yet (%s)", where)
			}
			defer b.Close()
			holder, err := b.LockHolder(ctx)
			switch {
			case err != nil:
				return a.fail("%v", err)
			case holder == nil:
				return a.fail("the state is not locked")
			case holder.ID != id:
				return a.fail("%v", &state.WrongLockError{ID: id, Holder: *holder})
			}
			if !force {
				if !isTerminal(a.stdin) {
					return a.fail("force-unlock asks for confirmation, and stdin is not a terminal: run it with -force to unlock without asking")
				}
				fmt.Fprintf(a.stdout, `The state is locked by %s for %s since %s (lock ID %s).
Releasing the lock of a herald that is still running can send messages twice.
Only 'yes' will be accepted to confirm.

Do you really want to force-unlock the state? `, holder.Who, holder.Operation, holder.Created.UTC().Format(time.RFC3339), holder.ID)
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					fmt.Fprintln(a.stdout, "Force-unlock cancelled.")
					return exitCode(1)
				}
			}
			if err := b.ForceUnlock(ctx, id); err != nil {
				return a.fail("%v", err)
			}
			fmt.Fprintf(a.stdout, "The state lock %s has been released.\n", id)
			return nil
		},
	}
	o.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	return cmd
}

// isTerminal reports whether r is a terminal. A character device is not
// enough: /dev/null is one.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
