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
	"github.com/heraldhq/herald/providers"
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

	// results, merged from the workers
	steps   []int64 // removed at each funnel step
	inSeg   int64
	byVar   map[string]int64
	rec     []Recipient
	members []string
	defer_  int64
}

// Funnel step indexes.
const (
	fExcluded = iota
	fConsent
	fCap
	fSuppressed
	fHoldout
	fSteps
)

// evaluator streams one source and feeds every consumer of it.
type evaluator struct {
	dir         string
	now         time.Time
	parallelism int
	consent     *consentIndex
	supp        suppressionIndex
	progress    func(int64)
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
	cons   []consumerTally
}

type consumerTally struct {
	steps   [fSteps]int64
	inSeg   int64
	byVar   map[string]int64
	rec     []Recipient
	members []string
	deferN  int64
}

// run scans src once and runs every consumer's funnel on each customer.
func (e *evaluator) run(ctx context.Context, src *lang.Source, cons []*consumer) error {
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
	s, err := providers.OpenSource(ctx, providers.SourceRequest{Dir: e.dir, Provider: src.From, Source: src, Layout: layout})
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer s.Close()

	workers := e.parallelism
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	states := make([]*workerState, workers)
	for i := range states {
		ws := &workerState{member: make([]bool, len(set.preds)), locs: map[string]*time.Location{}, cons: make([]consumerTally, len(cons))}
		for j := range ws.cons {
			ws.cons[j].byVar = map[string]int64{}
		}
		states[i] = ws
	}
	keyIdx := layout.Index(src.Key)
	if keyIdx < 0 {
		keyIdx = layout.Index("id")
	}
	tzIdx := layout.Index("timezone")

	// The source reuses its batch after the callback returns, so each batch
	// is split between the workers and finished before the next is read.
	stats, err := s.Scan(ctx, 8192, func(batch []providers.Record) error {
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
		c.steps = make([]int64, fSteps)
		c.byVar = map[string]int64{}
		for _, ws := range states {
			t := &ws.cons[j]
			c.inSeg += t.inSeg
			for k := range t.steps {
				c.steps[k] += t.steps[k]
			}
			for k, v := range t.byVar {
				c.byVar[k] += v
			}
			c.rec = append(c.rec, t.rec...)
			c.members = append(c.members, t.members...)
			c.defer_ += t.deferN
		}
		sort.Slice(c.rec, func(a, b int) bool { return c.rec[a].CustomerID < c.rec[b].CustomerID })
		sort.Strings(c.members)
	}
	return nil
}

// one runs every funnel on one customer.
func (e *evaluator) one(ws *workerState, set *segmentSet, cons []*consumer, r *providers.Record, keyIdx, tzIdx int) {
	for i, p := range set.preds {
		ws.member[i] = p == nil || p.Match(r)
	}
	id, _ := r.Values[keyIdx].(string)
	if id == "" {
		return
	}
	// The source's strings share memory with the row they came from; a
	// kept id is cloned once so it does not pin the whole row.
	kept := ""
	keep := func() string {
		if kept == "" {
			kept = strings.Clone(id)
		}
		return kept
	}
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
		switch {
		case excluded:
			t.steps[fExcluded]++
			continue
		case c.needConsent && !e.consent.allowed(id, c.channel):
			t.steps[fConsent]++
			continue
		case c.capLimit > 0 && c.counts[id] >= c.capLimit:
			t.steps[fCap]++
			continue
		case e.supp.suppressed(id, c.chName):
			t.steps[fSuppressed]++
			continue
		}
		if c.audience != nil {
			t.members = append(t.members, keep())
			continue
		}
		cp := c.campaign
		if InHoldout(cp.Name, id, cp.Holdout) {
			t.steps[fHoldout]++
			continue
		}
		v := PickVariant(cp.Name, id, cp.Variants)
		t.byVar[v]++
		rec := Recipient{CustomerID: keep(), Variant: v}
		if cp.Schedule != nil || c.quiet != nil {
			loc := time.UTC
			if tzIdx >= 0 {
				if tz, _ := r.Values[tzIdx].(string); tz != "" {
					l, ok := ws.locs[tz]
					if !ok {
						var err error
						if l, err = time.LoadLocation(tz); err != nil {
							l = nil
						}
						ws.locs[tz] = l
					}
					if l != nil {
						loc = l
					}
				}
			}
			at, deferred := SendTime(e.now, cp.Schedule, c.quiet, loc)
			if deferred {
				t.deferN++
			}
			if at.After(e.now) {
				rec.SendAt = at.Unix()
			}
		}
		t.rec = append(t.rec, rec)
	}
}
