package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// RunOptions configure a Runner.
type RunOptions struct {
	// Dir is the project directory, where the relative paths of data
	// sources resolve. The configuration itself comes from the state.
	Dir string
	// Load gives the applied configuration its variable values and
	// environment, as apply had them.
	Load lang.Options
	// Owner names this runner in leases and logs; "" makes one from the
	// user, host and process.
	Owner string
	// Workers bounds how many due items and event groups are handled at
	// once; 0 means 8.
	Workers int
	// Now is the clock; nil means time.Now. Tests move it by hand.
	Now func() time.Time
	// LookupEnv reads HERALD_LINK_KEY, HERALD_WRITE_KEY and the providers'
	// credentials; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Poll is how often the runner looks for due work, applied changes and
	// new events; 0 means 1s.
	Poll time.Duration
	// Lease is how long a claimed timer or send is this runner's before
	// another may take it; 0 means 2m.
	Lease time.Duration
	// Lateness is how old (in event time) an event may be when it arrives
	// and still count toward a trigger; 0 means 1h.
	Lateness time.Duration
	// Batch is how many due items are claimed at a time; 0 means 200.
	Batch int
	// ProfileRefresh is how often customer profiles are re-read; 0 means
	// 30s.
	ProfileRefresh time.Duration
	// Delivery holds the retry and pause settings of providers, as for
	// apply (Parallelism and Lock are not used).
	Delivery Options
}

func (o *RunOptions) fill() {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Lateness <= 0 {
		o.Lateness = time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.ProfileRefresh <= 0 {
		o.ProfileRefresh = 30 * time.Second
	}
	if o.Owner == "" {
		o.Owner = state.NewLockInfo("run").Who + ":" + fmt.Sprint(os.Getpid()) + ":" + state.NewLockInfo("").ID[:8]
	}
	if o.Load.LookupEnv == nil {
		o.Load.LookupEnv = o.LookupEnv
	}
	o.Delivery.LookupEnv = o.LookupEnv
	o.Delivery.Now = o.Now
	o.Delivery.fill()
}

// Runner is herald run: it serves what apply approved, over time. It
// sends scheduled campaigns when they fall due, turns events into
// journeys and runs their steps, and serves the links messages contain.
// Several runners may share one PostgreSQL state; each claims due work
// under a lease, and one at a time (the leader) reads event sources.
type Runner struct {
	st   state.Backend
	opts RunOptions
	log  *slog.Logger
	m    *runMetrics

	refreshMu sync.Mutex // one refresh at a time
	mu        sync.RWMutex
	cur       *runConfig

	prof profileCache

	inMu   sync.Mutex
	inputs map[string]EventInput // by source name, for the current digest
	inDig  string

	keyMu   sync.Mutex
	linkKey []byte

	pruned  time.Time // when the leader last pruned windows and dedupe keys
	counted time.Time // when the leader last counted journeys for /metrics
	group   ingestGroup
	ready   atomic.Bool
	leading atomic.Bool
	stats   RunStats
	statsMu sync.Mutex
}

// RunStats counts what a runner did.
type RunStats struct {
	Events    int64 // events handed to triggers
	Started   int64 // journeys started
	Steps     int64 // journey steps run
	Sent      int64
	Skipped   int64
	Failed    int64
	Deferred  int64 // sends and steps put off by quiet hours
	Exited    int64 // journeys ended by exit_when or a removed trigger
	Completed int64
}

func (r *Runner) count(f func(s *RunStats)) {
	r.statsMu.Lock()
	f(&r.stats)
	r.statsMu.Unlock()
}

// Stats returns what the runner did so far.
func (r *Runner) Stats() RunStats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return r.stats
}

// EventInput is a source the leader polls for new events: a tailed JSONL
// file or a cursor over a PostgreSQL table.
type EventInput interface {
	// Poll hands what is new to the runner once and reports how many
	// events it read.
	Poll(ctx context.Context) (int, error)
}

// NewRunner returns a runner over st. It reads nothing until Once or Run.
func NewRunner(st state.Backend, opts RunOptions) *Runner {
	opts.fill()
	return &Runner{st: st, opts: opts, log: opts.Logger, m: newRunMetrics(), inputs: map[string]EventInput{}}
}

// runConfig is the applied configuration in force, compiled.
type runConfig struct {
	digest   string
	serial   int64
	cfg      *lang.Config
	objects  map[string]state.Object
	triggers map[string]*runTrigger   // applied triggers by address
	bySource map[string][]*runTrigger // by source name
	render   *renderer                // campaign templates

	delMu sync.Mutex
	dels  map[string]*deliverer
}

func (r *Runner) config() *runConfig {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cur
}

// refresh picks up what was applied, paused or removed since the last
// look. A configuration that no longer loads keeps the last one in force.
func (r *Runner) refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	digest, err := AppliedDigest(ctx, r.st)
	if err != nil {
		return err
	}
	meta, err := r.st.Meta(ctx)
	if err != nil {
		return err
	}
	cur := r.config()
	if cur != nil && cur.digest == digest && cur.serial == meta.Serial {
		return nil
	}
	if digest == "" {
		r.ready.Store(true)
		return nil
	}
	rc := &runConfig{digest: digest, serial: meta.Serial, objects: map[string]state.Object{},
		triggers: map[string]*runTrigger{}, bySource: map[string][]*runTrigger{}, dels: map[string]*deliverer{}}
	if cur != nil && cur.digest == digest {
		rc.cfg, rc.render, rc.dels = cur.cfg, cur.render, cur.dels
	} else {
		cfg, _, err := LoadApplied(ctx, r.st, r.opts.Dir, r.opts.Load)
		if err != nil {
			return err
		}
		rc.cfg = cfg
		if rc.render, err = newRenderer(cfg); err != nil {
			return err
		}
		r.log.Info("configuration loaded", "digest", digest[:12], "triggers", len(cfg.Triggers), "campaigns", len(cfg.Campaigns))
	}
	objs, err := r.st.Objects(ctx)
	if err != nil {
		return err
	}
	for _, o := range objs {
		rc.objects[o.Address] = o
	}
	for _, name := range lang.Sorted(rc.cfg.Triggers) {
		addr := "trigger." + name
		if o, ok := rc.objects[addr]; !ok || o.Status != "active" {
			continue
		}
		var rt *runTrigger
		if cur != nil && cur.digest == digest {
			rt = cur.triggers[addr]
		}
		if rt == nil {
			if rt, err = compileTrigger(rc.cfg, rc.cfg.Triggers[name]); err != nil {
				r.log.Error("trigger not served", "trigger", addr, "error", err)
				continue
			}
		}
		rc.triggers[addr] = rt
		rc.bySource[rt.t.From.Name] = append(rc.bySource[rt.t.From.Name], rt)
	}
	r.mu.Lock()
	r.cur = rc
	r.mu.Unlock()
	r.ready.Store(true)
	if cur != nil {
		for addr := range cur.triggers {
			if _, ok := rc.triggers[addr]; !ok {
				r.log.Info("trigger removed: its journeys exit", "trigger", addr)
			}
		}
	}
	return nil
}

// Once does everything due now and returns: it picks up what was
// applied, reads what is new in event sources (when this runner leads),
// and runs every due journey step and scheduled send until none is left.
// It is herald run -once, for cron and for tests.
func (r *Runner) Once(ctx context.Context) error {
	// A runner that exits hands leadership on at once rather than make
	// the next one wait for the lease to run out.
	defer func() {
		if r.leading.Swap(false) {
			_ = r.st.Resign(context.WithoutCancel(ctx), "scheduler", r.opts.Owner)
		}
	}()
	if err := r.refresh(ctx); err != nil {
		return err
	}
	if err := r.pollInputs(ctx); err != nil {
		return err
	}
	for {
		n, err := r.due(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// Run serves until ctx is done: every Poll it picks up applied changes,
// reads new events when it leads, and runs what fell due. When ctx ends it
// stops claiming work, lets what is in flight finish (for at most the
// lease), gives up leadership and returns nil.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.Poll)
	defer t.Stop()
	defer func() {
		_ = r.st.Resign(context.WithoutCancel(ctx), "scheduler", r.opts.Owner)
		r.m.leader.Set(0)
	}()
	for {
		if err := r.refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("picking up the applied configuration", "error", err)
		}
		if err := r.pollInputs(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("reading event sources", "error", err)
		}
		for ctx.Err() == nil {
			n, err := r.due(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Error("running due work", "error", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			r.log.Info("stopped", "owner", r.opts.Owner)
			return nil
		case <-t.C:
		}
	}
}

// Ready reports whether the runner has read the state once.
func (r *Runner) Ready() bool { return r.ready.Load() }

// Ingest runs events through the triggers of their source, in the order
// given. An error means some events may not have been handled: the caller
// hands them again (every step is idempotent), or answers 503 so that the
// sender retries.
//
// Calls at the same time are committed together: while one batch is
// written, the events of the calls that arrive meanwhile wait, and go to
// the state as the next batch. A commit costs about the same for 50 events
// as for 5,000 (on SQLite it is one fsync), so under load this is what
// keeps latency flat.
func (r *Runner) Ingest(ctx context.Context, evs []TriggerEvent) error {
	if len(evs) == 0 {
		return nil
	}
	g := &r.group
	req := &ingestReq{evs: evs, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if g.flushers >= r.flushers() {
		g.mu.Unlock()
		select {
		case err := <-req.done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.flushers++
	for len(g.pending) > 0 {
		var batch []*ingestReq
		n := 0
		for len(g.pending) > 0 && (n == 0 || n+len(g.pending[0].evs) <= maxGroupEvents) {
			batch = append(batch, g.pending[0])
			n += len(g.pending[0].evs)
			g.pending = g.pending[1:]
		}
		g.mu.Unlock()
		all := batch[0].evs
		if len(batch) > 1 {
			all = make([]TriggerEvent, 0, n)
			for _, b := range batch {
				all = append(all, b.evs...)
			}
		}
		// Not cancelled with the call that happens to write: the batch
		// holds other calls' events.
		err := r.ingest(context.WithoutCancel(ctx), all)
		for _, b := range batch {
			b.done <- err
		}
		g.mu.Lock()
	}
	g.flushers--
	g.mu.Unlock()
	return <-req.done
}

// flushers is how many group commits may be written at once: one for
// SQLite, which has one writer anyway; a few for PostgreSQL, which
// spreads them over its connections and cores.
func (r *Runner) flushers() int {
	if _, ok := r.st.(*state.SQLite); ok {
		return 1
	}
	return 4
}

// maxGroupEvents bounds the events of one group commit.
const maxGroupEvents = 5000

// ingestGroup is the group commit of concurrent Ingest calls.
type ingestGroup struct {
	mu       sync.Mutex
	pending  []*ingestReq
	flushers int // calls writing batches now
}

type ingestReq struct {
	evs  []TriggerEvent
	done chan error
}

// ingest runs one batch of events through the triggers.
func (r *Runner) ingest(ctx context.Context, evs []TriggerEvent) error {
	rc := r.config()
	if rc == nil || len(evs) == 0 {
		return nil
	}
	now := r.opts.Now().UTC()
	custs := map[string]lang.Record{}
	bySource := map[string][]*TriggerEvent{}
	var sources []string
	for i := range evs {
		ev := &evs[i]
		if _, ok := custs[ev.CustomerID]; !ok {
			p, err := r.profile(ctx, rc, ev.CustomerID)
			if err != nil {
				return err
			}
			custs[ev.CustomerID] = nil
			if p != nil {
				custs[ev.CustomerID] = p
			}
		}
		if _, ok := bySource[ev.Source]; !ok {
			sources = append(sources, ev.Source)
		}
		bySource[ev.Source] = append(bySource[ev.Source], ev)
	}
	// Triggers are independent of each other: they run in parallel.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Workers)
	for _, src := range sources {
		for _, rt := range rc.bySource[src] {
			g.Go(func() error {
				if err := r.ingestTrigger(gctx, rt, bySource[src], custs, now); err != nil {
					return fmt.Errorf("%s: %w", rt.addr, err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range evs {
		arrived := evs[i].Arrived
		if arrived.IsZero() {
			arrived = now
		}
		r.m.decide.Observe(r.opts.Now().Sub(arrived).Seconds())
		r.m.eventsIn.WithLabelValues(evs[i].Source, "accepted").Inc()
	}
	r.count(func(s *RunStats) { s.Events += int64(len(evs)) })
	return nil
}

// pollInputs reads new events from tailed files and cursor tables, when
// this runner leads: one reader per source keeps offsets simple.
func (r *Runner) pollInputs(ctx context.Context) error {
	lead, err := r.st.Lead(ctx, "scheduler", r.opts.Owner, 3*r.opts.Poll+r.opts.Lease/4)
	if err != nil {
		return err
	}
	if lead != r.leading.Swap(lead) {
		r.log.Info("scheduler leadership", "leading", lead, "owner", r.opts.Owner)
	}
	if lead {
		r.m.leader.Set(1)
	} else {
		r.m.leader.Set(0)
		return nil
	}
	r.prune(ctx)
	r.journeyGauges(ctx)
	inputs, err := r.eventInputs(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		if _, err := inputs[n].Poll(ctx); err != nil {
			r.m.polls.WithLabelValues(n, "error").Inc()
			errs = append(errs, fmt.Errorf("source.%s: %w", n, err))
			continue
		}
		r.m.polls.WithLabelValues(n, "ok").Inc()
	}
	return errors.Join(errs...)
}

// dedupeKeep is how long dedupe keys and window events are kept at least:
// a CDP that retries a day-old event is still recognised.
const dedupeKeep = 7 * 24 * time.Hour

// prune deletes, every ten minutes on the leader, the window events and
// dedupe keys that can no longer count: older than the trigger's window,
// lateness bound, backfill and dedupeKeep, whichever is longest.
func (r *Runner) prune(ctx context.Context) {
	rc := r.config()
	now := r.opts.Now()
	if rc == nil || (!r.pruned.IsZero() && now.Sub(r.pruned) < 10*time.Minute && !now.Before(r.pruned)) {
		return
	}
	r.pruned = now
	for addr, rt := range rc.triggers {
		keep := max(dedupeKeep, r.opts.Lateness, rt.t.Backfill)
		if th := rt.t.Threshold; th != nil {
			keep = max(keep, th.Within+r.opts.Lateness)
		}
		if err := r.st.PruneRuntime(ctx, addr, now.Add(-keep)); err != nil {
			r.log.Error("pruning trigger windows", "trigger", addr, "error", err)
		}
	}
}

// journeyGauges counts journeys by trigger, step and status for /metrics,
// every 15 seconds on the leader (one GROUP BY over the journeys).
func (r *Runner) journeyGauges(ctx context.Context) {
	rc := r.config()
	now := r.opts.Now()
	if rc == nil || (!r.counted.IsZero() && now.Sub(r.counted) < 15*time.Second && !now.Before(r.counted)) {
		return
	}
	r.counted = now
	counts, err := r.st.JourneyCounts(ctx, now)
	if err != nil {
		r.log.Error("counting journeys", "error", err)
		return
	}
	r.m.byStep.Reset()
	for _, c := range counts {
		step := fmt.Sprint(c.Step)
		if rt := rc.triggers[c.Trigger]; rt != nil && c.Step < len(rt.t.Steps) {
			step = rt.t.Steps[c.Step].Name
		}
		r.m.byStep.WithLabelValues(c.Trigger, step, c.Status).Add(float64(c.N))
	}
}
