package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

// Options are the knobs of one apply.
type Options struct {
	// Parallelism bounds how many changes of one level of the graph are
	// applied at once; 0 means 10.
	Parallelism int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Events, when set, is called with every event of the apply, from one
	// goroutine at a time.
	Events func(Event)
	// LookupEnv reads HERALD_LINK_KEY and is handed to channel providers;
	// nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Lock describes the lock holder; a zero value is filled in by
	// state.NewLockInfo("apply").
	Lock state.LockInfo
	// LedgerBatch is the number of ledger rows written per transaction;
	// 0 means 1000.
	LedgerBatch int
	// PauseAfter is the number of consecutive failures after which a
	// provider is paused; 0 means 20.
	PauseAfter int
	// RetryBase and RetryCap shape the exponential backoff of retries; 0
	// means 200ms and 30s.
	RetryBase, RetryCap time.Duration
}

func (o *Options) fill() {
	if o.Parallelism <= 0 {
		o.Parallelism = 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.LedgerBatch <= 0 {
		o.LedgerBatch = 1000
	}
	if o.PauseAfter <= 0 {
		o.PauseAfter = 20
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 200 * time.Millisecond
	}
	if o.RetryCap <= 0 {
		o.RetryCap = 30 * time.Second
	}
	if o.Lock.Operation == "" {
		o.Lock.Operation = "apply"
	}
}

// StaleError is returned by Apply for a plan that no longer matches the
// state or the configuration: it was not applied, and a new plan is needed.
type StaleError struct {
	Reasons []string
	// Applied is set when the plan itself was applied already: its
	// campaigns have rows in the ledger under its keys.
	Applied bool
}

func (e *StaleError) Error() string {
	msg := "the plan is stale"
	for _, r := range e.Reasons {
		msg += "; " + r
	}
	return msg + ": run herald plan again"
}

// ErrPaused is wrapped by the error Apply returns when a provider kept
// failing and was paused: what it had not sent is left pending in the
// ledger, and applying the same plan again resumes.
var ErrPaused = errors.New("a provider kept failing and was paused")

// MarkerKind is the kind of the state object that records an apply in
// progress (see the package documentation).
const MarkerKind = "apply"

// PlanID identifies a plan: its state lineage and serial, its configuration
// digest and when it was made.
func PlanID(p *planner.Plan) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%d", p.Lineage, p.Serial, p.ConfigDigest, p.Created.UnixNano())
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// MarkerAddress is the address of the marker of an apply of p.
func MarkerAddress(p *planner.Plan) string { return "apply." + PlanID(p) }

// Check tells whether p may be applied to st with cfg: resume is true when
// an apply of this very plan was interrupted (its marker is in the state
// and nothing else wrote the state since), and stale lists why the plan
// can no longer be applied otherwise. Apply calls it under the lock.
func Check(ctx context.Context, p *planner.Plan, cfg *lang.Config, st state.Backend) (resume bool, stale []string, err error) {
	why, err := planner.Stale(ctx, p, cfg, st)
	if err != nil {
		return false, nil, err
	}
	m, err := st.Object(ctx, MarkerAddress(p))
	if err != nil {
		return false, nil, fmt.Errorf("reading the state: %w", err)
	}
	if m == nil {
		if len(why) > 0 && p.Lineage != "" {
			applied, err := appliedBefore(ctx, p, st)
			if err != nil {
				return false, nil, err
			}
			if applied {
				why = append([]string{"this plan has been applied already"}, why...)
			}
		}
		return false, why, nil
	}
	meta, err := st.Meta(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("reading the state: %w", err)
	}
	digest, err := planner.ConfigDigest(cfg)
	if err != nil {
		return false, nil, err
	}
	switch {
	case m.Attrs["lineage"] != p.Lineage || meta.Lineage != p.Lineage:
		return false, why, nil
	case digest != p.ConfigDigest:
		return false, []string{"the configuration files changed since the plan was made (an apply of this plan was interrupted: restore the files it was made from to resume it)"}, nil
	case m.Attrs["serial"] != strconv.FormatInt(meta.Serial, 10):
		return false, []string{fmt.Sprintf("an apply of this plan was interrupted, and the state was written by someone else since (serial %d, the interrupted apply left %s)", meta.Serial, m.Attrs["serial"])}, nil
	}
	return true, nil, nil
}

var errFound = errors.New("found")

// appliedBefore reports whether the ledger holds sends under the keys of
// one of p's campaigns.
func appliedBefore(ctx context.Context, p *planner.Plan, st state.Backend) (bool, error) {
	for _, c := range p.Changes {
		if c.Campaign == nil || len(c.Campaign.Recipients) == 0 {
			continue
		}
		prefix := KeyPrefix(c.Address, p.ConfigDigest) + "-"
		err := st.Sends(ctx, c.Address, func(s state.Send) error {
			if len(s.Key) > len(prefix) && s.Key[:len(prefix)] == prefix {
				return errFound
			}
			return nil
		})
		if errors.Is(err, errFound) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading the send ledger: %w", err)
		}
		return false, nil
	}
	return false, nil
}

// Apply executes a plan: it takes the state lock for the whole apply,
// refuses a stale plan with a *StaleError (or resumes an interrupted apply
// of the same plan), writes the objects in dependency order, and sends the
// messages of each campaign. The Result says what happened even when the
// error is not nil.
func Apply(ctx context.Context, cfg *lang.Config, st state.Backend, p *planner.Plan, opts Options) (*Result, error) {
	opts.fill()
	res := &Result{PlanID: PlanID(p)}
	info := opts.Lock
	if info.ID == "" && info.Who == "" {
		info = state.NewLockInfo(opts.Lock.Operation)
	}
	unlock, err := st.Lock(ctx, info)
	if err != nil {
		return res, err
	}
	defer unlock()

	resume, stale, err := Check(ctx, p, cfg, st)
	if err != nil {
		return res, err
	}
	if len(stale) > 0 {
		return res, &StaleError{Reasons: stale, Applied: stale[0] == "this plan has been applied already"}
	}
	res.Resumed = resume
	if err := saveSnapshot(ctx, st, cfg, p.ConfigDigest); err != nil {
		return res, err
	}
	meta, err := st.Meta(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the state: %w", err)
	}
	x := &executor{ctx: ctx, cfg: cfg, st: st, plan: p, opts: opts, res: res, serial: meta.Serial,
		marker: MarkerAddress(p), deliverers: map[string]*deliverer{}, started: opts.Now()}
	defer x.closeDeliverers()
	x.emit(Event{Type: "apply_start", PlanID: res.PlanID, Resumed: resume, Messages: p.Summary.Messages, Changes: countChanges(p)})
	err = x.walk(ctx)
	res.Duration = opts.Now().Sub(x.started)
	x.emit(Event{Type: "apply_done", Result: res, Error: errString(err)})
	return res, err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func countChanges(p *planner.Plan) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action != planner.NoOp {
			n++
		}
	}
	return n
}

// executor is one apply in progress.
type executor struct {
	ctx     context.Context // the apply's, for provider workers
	cfg     *lang.Config
	st      state.Backend
	plan    *planner.Plan
	opts    Options
	res     *Result
	started time.Time

	// mu serializes state writes, so that the serial the marker records is
	// the one the write makes.
	mu     sync.Mutex
	serial int64
	marker string
	done   int

	evMu sync.Mutex

	delMu      sync.Mutex
	deliverers map[string]*deliverer
	render     *renderer
	linkKey    []byte
}

func (x *executor) emit(e Event) {
	if x.opts.Events == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = x.opts.Now().UTC()
	}
	x.evMu.Lock()
	defer x.evMu.Unlock()
	x.opts.Events(e)
}

// markerObject is the marker as it is after a write that makes serial.
func (x *executor) markerObject(serial int64) state.Object {
	p := x.plan
	return state.Object{Address: x.marker, Kind: MarkerKind, Status: "applying", Attrs: map[string]string{
		"plan":          PlanID(p),
		"lineage":       p.Lineage,
		"plan_serial":   strconv.FormatInt(p.Serial, 10),
		"config_digest": p.ConfigDigest,
		"serial":        strconv.FormatInt(serial, 10),
		"progress":      fmt.Sprintf("%d of %d changes", x.done, countChanges(p)),
	}}
}

// write upserts and removes objects together with the marker, in one
// transaction, so that the marker always names the serial of the state as
// this apply left it.
func (x *executor) write(ctx context.Context, upsert []state.Object, remove []string, finished bool) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	next := x.serial + 1
	if finished {
		remove = append(remove, x.marker)
	} else {
		upsert = append(upsert, x.markerObject(next))
	}
	meta, err := x.st.WriteObjects(ctx, upsert, remove)
	if err != nil {
		return fmt.Errorf("writing the state: %w", err)
	}
	if meta.Serial != next {
		return fmt.Errorf("the state serial moved from %d to %d during the apply: something wrote the state without its lock", x.serial, meta.Serial)
	}
	x.serial = meta.Serial
	return nil
}
