package planner

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner/eval"
	"github.com/heraldhq/herald/planner/pushdown"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/postgres"
)

// consumer is a campaign or an ad audience: something that runs the
// eligibility funnel over the customers of one source.
type consumer struct {
	name     string // campaign or audience name
	campaign *lang.Campaign
	audience *lang.Audience
	segment  *lang.Segment
	exclude  []*lang.Segment
	channel  *lang.ConsentChannel
	chName   string
	// needConsent is false for transactional messages, which need no
	// marketing consent.
	needConsent bool
	capLimit    int
	counts      map[string]int // sends in the cap window, per customer
	quiet       *lang.QuietHours

	// evaluation says how the segment was evaluated, for the plan.
	evaluation string
	// toField is the field a message goes to: the schema's pii "email" or
	// "phone" field for the channel. Read only with Options.ShowPII.
	toField string
	sample  []SampleRecipient

	// Filled by the scan: customers in the segment and not excluded.
	inSeg      int64
	excluded   int64
	candidates []candidate

	// Filled by finish.
	steps   []int64 // removed at each funnel step
	byVar   map[string]int64
	rec     []Recipient
	members []string
	defer_  int64
}

// candidate is a customer who passed a consumer's segment and exclusions:
// all the funnel needs of them after the scan.
type candidate struct {
	id  string
	loc *time.Location
	// to is the address or number, kept only with Options.ShowPII.
	to string
}

// sampleSize is how many recipients -show-pii lists per campaign.
const sampleSize = 5

// Funnel step indexes.
const (
	fExcluded = iota
	fConsent
	fCap
	fSuppressed
	fHoldout
	fSteps
)

// evaluator streams the customer sources and runs the funnels.
type evaluator struct {
	dir         string
	now         time.Time
	parallelism int
	progress    func(int64)
	noPushdown  bool
	showPII     bool
	rows        atomic.Int64
	// skipped describes the bad rows sources skipped, for the plan.
	skipped []string
}

// segmentSet is the segments one source must evaluate, each compiled once.
type segmentSet struct {
	index map[string]int
	preds []*eval.Predicate // nil: everyone in the source
}

func (e *evaluator) compile(layout *providers.Layout, segs []*lang.Segment) (*segmentSet, error) {
	s := &segmentSet{index: map[string]int{}}
	for _, seg := range segs {
		if _, ok := s.index[seg.Name]; ok {
			continue
		}
		var p *eval.Predicate
		if seg.Where != nil {
			var err error
			p, err = eval.Compile(seg.Where.AST, "customer", layout, e.now)
			if err != nil {
				return nil, fmt.Errorf("segment %s: %w", seg.Name, err)
			}
		}
		s.index[seg.Name] = len(s.preds)
		s.preds = append(s.preds, p)
	}
	return s, nil
}

// workerState is one worker's private tally, merged at the end so that the
// hot loop shares nothing.
type workerState struct {
	member []bool
	locs   map[string]*time.Location
	cons   []workerTally
}

type workerTally struct {
	inSeg, excluded int64
	candidates      []candidate
}

// scan reads src once and, for every consumer, counts who is in its
// segment and who is excluded, and keeps the rest as candidates. Segment
// predicates run in parallel on all cores.
func (e *evaluator) scan(ctx context.Context, src *lang.Source, cons []*consumer) error {
	return e.scanWhere(ctx, src, cons, nil)
}

// scanWhere is scan with the rows pre-filtered in the database by a
// pushed-down segment condition. Every segment is still evaluated in memory
// on the rows that come back, so a partial pushdown (a superset) gives the
// same answer.
func (e *evaluator) scanWhere(ctx context.Context, src *lang.Source, cons []*consumer, where *pushdown.Result) error {
	layout := providers.NewLayout(src.Schema)
	var segs []*lang.Segment
	for _, c := range cons {
		segs = append(segs, c.segment)
		segs = append(segs, c.exclude...)
	}
	set, err := e.compile(layout, segs)
	if err != nil {
		return err
	}
	req := providers.SourceRequest{Dir: e.dir, Provider: src.From, Source: src, Layout: layout}
	var scanFn func(context.Context, int, func([]providers.Record) error) (providers.ScanStats, error)
	if where != nil {
		pg, err := postgres.Open(ctx, req)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Name, err)
		}
		defer pg.Close()
		scanFn = func(ctx context.Context, n int, fn func([]providers.Record) error) (providers.ScanStats, error) {
			return pg.ScanWhere(ctx, where.Where, where.Args, n, fn)
		}
	} else {
		s, err := providers.OpenSource(ctx, req)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Name, err)
		}
		defer s.Close()
		scanFn = s.Scan
	}

	workers := e.parallelism
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	states := make([]*workerState, workers)
	for i := range states {
		states[i] = &workerState{member: make([]bool, len(set.preds)), locs: map[string]*time.Location{}, cons: make([]workerTally, len(cons))}
	}
	keyIdx := layout.Index(src.Key)
	if keyIdx < 0 {
		keyIdx = layout.Index("id")
	}
	tzIdx := layout.Index("timezone")

	// The source reuses its batch after the callback returns, so each batch
	// is split between the workers and finished before the next is read
	// (the source reads the next one meanwhile).
	stats, err := scanFn(ctx, 8192, func(batch []providers.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		chunk := (len(batch) + workers - 1) / workers
		for w := 0; w < workers; w++ {
			lo, hi := w*chunk, min((w+1)*chunk, len(batch))
			if lo >= hi {
				break
			}
			wg.Add(1)
			go func(ws *workerState, part []providers.Record) {
				defer wg.Done()
				for i := range part {
					e.one(ws, set, cons, &part[i], keyIdx, tzIdx)
				}
			}(states[w], batch[lo:hi])
		}
		wg.Wait()
		n := e.rows.Add(int64(len(batch)))
		if e.progress != nil {
			e.progress(n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	if stats.Skipped > 0 {
		e.skipped = append(e.skipped, fmt.Sprintf("source.%s: skipped %d bad rows (on_error = \"skip\"); the first: %s", src.Name, stats.Skipped, stats.FirstSkipped))
	}
	for j, c := range cons {
		for _, ws := range states {
			t := &ws.cons[j]
			c.inSeg += t.inSeg
			c.excluded += t.excluded
			c.candidates = append(c.candidates, t.candidates...)
		}
		// Workers took batches in turn: sort for a plan that does not
		// depend on scheduling.
		sort.Slice(c.candidates, func(a, b int) bool { return c.candidates[a].id < c.candidates[b].id })
	}
	return nil
}

// one evaluates every segment on one customer.
func (e *evaluator) one(ws *workerState, set *segmentSet, cons []*consumer, r *providers.Record, keyIdx, tzIdx int) {
	for i, p := range set.preds {
		ws.member[i] = p == nil || p.Match(r)
	}
	id, _ := r.Values[keyIdx].(string)
	if id == "" {
		return
	}
	var cand *candidate
	for j, c := range cons {
		if !ws.member[set.index[c.segment.Name]] {
			continue
		}
		t := &ws.cons[j]
		t.inSeg++
		excluded := false
		for _, x := range c.exclude {
			if ws.member[set.index[x.Name]] {
				excluded = true
				break
			}
		}
		if excluded {
			t.excluded++
			continue
		}
		if cand == nil {
			// The source's strings share memory with their row; a kept id
			// is cloned once so it does not pin the row.
			cand = &candidate{id: strings.Clone(id), loc: time.UTC}
			if tzIdx >= 0 {
				if tz, _ := r.Values[tzIdx].(string); tz != "" {
					cand.loc = ws.location(tz)
				}
			}
		}
		cc := *cand
		if e.showPII && c.toField != "" {
			if i := r.Layout.Index(c.toField); i >= 0 {
				if v, ok := r.Values[i].(string); ok {
					cc.to = strings.Clone(v)
				}
			}
		}
		t.candidates = append(t.candidates, cc)
	}
}

// location resolves a time zone name, once per worker; an unknown name is
// UTC.
func (ws *workerState) location(tz string) *time.Location {
	l, ok := ws.locs[tz]
	if !ok {
		var err error
		if l, err = time.LoadLocation(tz); err != nil {
			l = time.UTC
		}
		ws.locs[strings.Clone(tz)] = l
	}
	return l
}

// finish runs the rest of the funnel on a consumer's candidates: consent,
// frequency cap, suppression, then holdout, variant and send time for a
// campaign, or membership for an audience.
func (e *evaluator) finish(c *consumer, consent *consentIndex, supp suppressionIndex) {
	c.steps = make([]int64, fSteps)
	c.steps[fExcluded] = c.excluded
	c.byVar = map[string]int64{}
	for _, cand := range c.candidates {
		id := cand.id
		switch {
		case c.needConsent && !consent.allowed(id, c.channel):
			c.steps[fConsent]++
			continue
		case c.capLimit > 0 && c.counts[id] >= c.capLimit:
			c.steps[fCap]++
			continue
		case supp.suppressed(id, c.chName):
			c.steps[fSuppressed]++
			continue
		}
		if c.audience != nil {
			c.members = append(c.members, id)
			continue
		}
		cp := c.campaign
		if InHoldout(cp.Name, id, cp.Holdout) {
			c.steps[fHoldout]++
			continue
		}
		v := PickVariant(cp.Name, id, cp.Variants)
		c.byVar[v]++
		rec := Recipient{CustomerID: id, Variant: v}
		if cp.Schedule != nil || c.quiet != nil {
			at, deferred := SendTime(e.now, cp.Schedule, c.quiet, cand.loc)
			if deferred {
				c.defer_++
			}
			if at.After(e.now) {
				rec.SendAt = at.Unix()
			}
		}
		c.rec = append(c.rec, rec)
		if e.showPII && len(c.sample) < sampleSize {
			c.sample = append(c.sample, SampleRecipient{CustomerID: id, Variant: v, To: cand.to})
		}
	}
	c.candidates = nil
}
