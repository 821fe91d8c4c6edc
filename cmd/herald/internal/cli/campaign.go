package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/state"
)

// Campaign statuses the operator commands read and write. The executor
// writes sending, sent and scheduled; herald campaign writes paused and
// cancelled, which runners poll for and honour.
const (
	campaignSending   = "sending"
	campaignSent      = "sent"
	campaignScheduled = "scheduled"
	campaignPaused    = "paused"
	campaignCancelled = "cancelled"
)

// cancelBatch is how many ledger rows one UpdateSends of cancel writes:
// small transactions, so that a runner sharing the state is never kept
// waiting for long.
const cancelBatch = 1000

func (a *app) campaignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Pause, resume or cancel a campaign that herald run is sending",
		Long: `Campaign changes the status of an applied campaign in the state, for
operators of herald run: pause holds a scheduled campaign's remaining sends,
resume releases them, cancel drops them for good. Runners poll the status and
stop or start sending within seconds; nothing needs restarting.

Each subcommand takes the state lock for a moment: while herald apply holds
it, they fail at once naming the holder.`,
		// Runnable, so that a mistyped subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		a.campaignChangeCmd("pause", "Hold a scheduled campaign's remaining sends",
			`Pause stops herald run from sending a campaign that is scheduled (its sends
wait in the ledger for their time) or sending. The sends stay in the ledger,
deferred; herald campaign resume releases them. Runners stop sending the
campaign within seconds; a message already handed to a provider is not
recalled.

It exits 1 when the campaign is not scheduled or sending: already sent,
paused or cancelled.`,
			`  herald campaign pause winback_dec
  herald campaign pause campaign.winback_dec`),
		a.campaignChangeCmd("resume", "Release a paused campaign's sends",
			`Resume undoes pause: the campaign is scheduled again when the ledger still has
deferred sends for it (those whose time has passed go out at once, within the
campaign's max_late), sending when an interrupted apply left sends pending
(apply the same plan file again to finish them), and sent when nothing is
left.

It exits 1 when the campaign is not paused.`,
			`  herald campaign resume winback_dec`),
		a.campaignChangeCmd("cancel", "Drop a campaign's remaining sends for good",
			`Cancel marks a campaign cancelled and every send of it still deferred in the
ledger skipped, with the error "cancelled", so that no runner ever sends
them. Sends that already went out are left as they are. It cannot be
undone: to send again, plan a new campaign.

It exits 1 when the campaign was sent in full, or was cancelled before and
has nothing left to skip.`,
			`  herald campaign cancel winback_dec`),
	)
	return cmd
}

// campaignChangeCmd is one of pause, resume and cancel.
func (a *app) campaignChangeCmd(verb, short, long, example string) *cobra.Command {
	var o stateOpts
	cmd := &cobra.Command{
		Use:     verb + " NAME",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.changeCampaign(cmd.Context(), &o, verb, args[0])
		},
	}
	o.register(cmd)
	return cmd
}

// ledgerTally is what the ledger holds for one campaign.
type ledgerTally struct {
	deferred, pending, sent, other int
	firstDue                       time.Time // earliest DueAt of the deferred rows
}

// changeCampaign pauses, resumes or cancels the campaign name.
func (a *app) changeCampaign(ctx context.Context, o *stateOpts, verb, name string) error {
	address, err := campaignAddress(name)
	if err != nil {
		return a.fail("%v", err)
	}
	b, where, err := a.openState(ctx, o)
	if err != nil {
		return err
	}
	if b == nil {
		return a.fail("no campaign %s in the state: there is no state yet (%s)", address, where)
	}
	defer b.Close()
	// The lock keeps apply (and another herald campaign) from writing the
	// object between our read and our write; it is held only for this
	// command, so runners, which do not take it, are never blocked.
	unlock, err := b.Lock(ctx, state.LockInfo{Who: who(), Operation: "campaign " + verb, Created: time.Now().UTC()})
	if err != nil {
		return a.fail("%v", err)
	}
	defer unlock()

	obj, err := b.Object(ctx, address)
	if err != nil {
		return a.fail("%v", err)
	}
	if obj == nil {
		return a.noCampaign(ctx, b, address)
	}
	if obj.Kind != "campaign" {
		return a.fail("%s is a %s, not a campaign", address, obj.Kind)
	}
	t, err := tallyLedger(ctx, b, address)
	if err != nil {
		return a.fail("reading the send ledger: %v", err)
	}

	switch verb {
	case "pause":
		if obj.Status == campaignPaused {
			return a.fail("%s is already paused. Resume it with: herald campaign resume %s", address, strings.TrimPrefix(address, "campaign."))
		}
		if obj.Status != campaignScheduled && obj.Status != campaignSending {
			return a.fail("%s cannot be paused: %s; only a scheduled or sending campaign can be", address, statusPhrase(obj.Status))
		}
		if err := setStatus(ctx, b, *obj, campaignPaused); err != nil {
			return a.fail("%v", err)
		}
		fmt.Fprintf(a.stdout, "%s paused: %s held; runners stop sending it within seconds.\n",
			address, fmtCount(t.deferred, "scheduled send", "scheduled sends"))
		if t.pending > 0 {
			fmt.Fprintf(a.stdout, "%s of an interrupted apply are pending: applying its plan file again sends them regardless.\n",
				fmtCount(t.pending, "send", "sends"))
		}
		fmt.Fprintf(a.stdout, "Resume it with: herald campaign resume %s\n", strings.TrimPrefix(address, "campaign."))
		return nil

	case "resume":
		if obj.Status != campaignPaused {
			return a.fail("%s is not paused: %s", address, statusPhrase(obj.Status))
		}
		// The status the executor would have written for this ledger:
		// sends an interrupted apply left pending come first, then sends
		// waiting for their time, else the campaign is done.
		status := campaignSent
		switch {
		case t.pending > 0:
			status = campaignSending
		case t.deferred > 0:
			status = campaignScheduled
		}
		if err := setStatus(ctx, b, *obj, status); err != nil {
			return a.fail("%v", err)
		}
		switch status {
		case campaignScheduled:
			fmt.Fprintf(a.stdout, "%s resumed: %s released, the first due %s; runners pick it up within seconds.\n",
				address, fmtCount(t.deferred, "scheduled send", "scheduled sends"), t.firstDue.UTC().Format("2006-01-02 15:04 MST"))
		case campaignSending:
			fmt.Fprintf(a.stdout, "%s resumed: %s of an interrupted apply are pending; apply its plan file again to send them.\n",
				address, fmtCount(t.pending, "send", "sends"))
		default:
			fmt.Fprintf(a.stdout, "%s resumed: no send is left in the ledger, so it is sent.\n", address)
		}
		return nil

	case "cancel":
		switch {
		case obj.Status == campaignSent:
			return a.fail("%s cannot be cancelled: it was sent in full (%s), so nothing is left to cancel", address, fmtCount(t.sent, "message", "messages"))
		case obj.Status == campaignCancelled && t.deferred == 0:
			return a.fail("%s is already cancelled, with no deferred sends left", address)
		case obj.Status != campaignCancelled && obj.Status != campaignScheduled &&
			obj.Status != campaignSending && obj.Status != campaignPaused:
			return a.fail("%s cannot be cancelled: %s; only a scheduled, sending or paused campaign can be", address, statusPhrase(obj.Status))
		}
		was := obj.Status
		// The status first: runners stop claiming the campaign's sends
		// as soon as they see it, so that none of the rows skipped below
		// is being sent meanwhile. (A row a runner had already claimed
		// when cancel began may still go out; it is then recorded as
		// sent by the runner.)
		if was != campaignCancelled {
			if err := setStatus(ctx, b, *obj, campaignCancelled); err != nil {
				return a.fail("%v", err)
			}
		}
		skipped, err := skipDeferred(ctx, b, address)
		if err != nil {
			return a.fail("%s is cancelled, but skipping its deferred sends failed after %s: %v; run herald campaign cancel %s again to finish",
				address, fmtCount(skipped, "send", "sends"), err, strings.TrimPrefix(address, "campaign."))
		}
		if was == campaignCancelled {
			fmt.Fprintf(a.stdout, "%s was already cancelled: %s left deferred now skipped.\n", address, fmtCount(skipped, "send", "sends"))
			return nil
		}
		gone := "none had gone out"
		switch t.sent {
		case 0:
		case 1:
			gone = "1 had already gone out"
		default:
			gone = fmtThousands(t.sent) + " had already gone out"
		}
		fmt.Fprintf(a.stdout, "%s cancelled: %s skipped, never to be sent; %s. Runners stop sending it within seconds.\n",
			address, fmtCount(skipped, "scheduled send", "scheduled sends"), gone)
		return nil
	}
	return fmt.Errorf("unknown campaign command %q", verb)
}

// campaignAddress turns a campaign name, or its address, into its
// address.
func campaignAddress(name string) (string, error) {
	n := strings.TrimPrefix(name, "campaign.")
	if n == "" || strings.Contains(n, ".") {
		return "", fmt.Errorf("%q is not a campaign: give its name (winback_dec) or address (campaign.winback_dec)", name)
	}
	return "campaign." + n, nil
}

// noCampaign reports a campaign missing from the state, naming campaigns
// close to it.
func (a *app) noCampaign(ctx context.Context, b state.Backend, address string) error {
	objs, err := b.Objects(ctx)
	if err != nil {
		return a.fail("%v", err)
	}
	var addrs []string
	for _, o := range objs {
		addrs = append(addrs, o.Address)
	}
	similar := state.Similar(address, addrs)
	switch len(similar) {
	case 0:
		var campaigns []string
		for _, o := range objs {
			if o.Kind == "campaign" {
				campaigns = append(campaigns, o.Address)
			}
		}
		if len(campaigns) == 0 {
			return a.fail("no campaign %s in the state: no campaign has been applied", address)
		}
		return a.fail("no campaign %s in the state. Run 'herald state list' to see what it holds.", address)
	case 1:
		return a.fail("no campaign %s in the state. Did you mean %s?", address, similar[0])
	default:
		return a.fail("no campaign %s in the state. Did you mean one of %s?", address, strings.Join(similar, ", "))
	}
}

// tallyLedger counts a campaign's ledger rows by status.
func tallyLedger(ctx context.Context, b state.Backend, address string) (ledgerTally, error) {
	var t ledgerTally
	err := b.Sends(ctx, address, func(s state.Send) error {
		switch s.Status {
		case state.SendDeferred:
			t.deferred++
			if t.firstDue.IsZero() || s.DueAt.Before(t.firstDue) {
				t.firstDue = s.DueAt
			}
		case state.SendPending, state.SendPlanned:
			t.pending++
		case state.SendSent:
			t.sent++
		default:
			t.other++
		}
		return nil
	})
	return t, err
}

// skipDeferred marks every deferred send of the campaign at address
// skipped, in small conditional updates: a row a runner has claimed is
// left to it (it reads the cancelled status and skips the row, or it was
// already sending and records the send), so an outcome a runner writes is
// never overwritten. It returns how many rows it skipped.
func skipDeferred(ctx context.Context, b state.Backend, address string) (int, error) {
	done := 0
	for {
		n, err := b.SkipDeferredSends(ctx, address, "cancelled", time.Now().UTC(), cancelBatch)
		done += n
		if err != nil || n == 0 {
			return done, err
		}
	}
}

// setStatus writes obj back with a new status and the time of the change.
func setStatus(ctx context.Context, b state.Backend, obj state.Object, status string) error {
	obj.Status = status
	obj.UpdatedAt = time.Time{} // WriteObjects sets it to now
	if _, err := b.WriteObjects(ctx, []state.Object{obj}, nil); err != nil {
		return fmt.Errorf("writing the state: %w", err)
	}
	return nil
}

// statusPhrase says what a campaign status means, for error messages.
func statusPhrase(status string) string {
	switch status {
	case campaignSent:
		return "it was sent in full"
	case campaignPaused:
		return "it is already paused"
	case campaignCancelled:
		return "it was cancelled"
	case campaignScheduled:
		return "it is scheduled"
	case campaignSending:
		return "it is sending"
	case "":
		return "it has no status (it has not been sent)"
	}
	return fmt.Sprintf("its status is %q", status)
}

// fmtCount formats n with thousands separators and the right noun: "1 send",
// "1,204 sends".
func fmtCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmtThousands(n) + " " + many
}

// fmtThousands formats n with thousands separators: 48,210.
func fmtThousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + fmtThousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
