package planner

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"
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
	// to holds the candidates' addresses, only with Options.ShowPII: the
	// k-th merged is to[toEnds[k-1]:toEnds[k]], and toOf[i] is that k for
	// candidates[i].
	to     []byte
	toEnds []uint32
	toOf   []uint32

	// Filled by finish.
	steps   []int64 // removed at each funnel step
	byVar   map[string]int64
	rec     []Recipient
	members []string
	defer_  int64
}

// candidate is a customer who passed a consumer's segment and exclusions:
// all the funnel needs of them after the scan, in 8 bytes, since the plan
// holds one per customer in the segment.
type candidate struct {
	id   uint32 // index in evaluator.ids
	zone uint16 // index in evaluator.zones
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

	// ids interns the id of every candidate of every source; zones are
	// their time zones, zones[0] UTC, zoneIdx their indexes.
	ids     *idSet
	zones   []*time.Location
	zoneIdx map[string]uint16
}

func newEvaluator() *evaluator {
	return &evaluator{ids: newIDSet(), zones: []*time.Location{time.UTC}, zoneIdx: map[string]uint16{time.UTC.String(): 0}}
}

// zone is the index of loc in e.zones. Zones are told apart by name, so
// there are no more of them than names in the time zone database.
func (e *evaluator) zone(loc *time.Location) uint16 {
	z, ok := e.zoneIdx[loc.String()]
	if !ok {
		if len(e.zones) > math.MaxUint16 {
			panic("planner: more than 65,536 time zones")
		}
		z = uint16(len(e.zones))
		e.zones = append(e.zones, loc)
		e.zoneIdx[loc.String()] = z
	}
	return z
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
	locs   map[string]uint32 // time zone name → index in zones
	zones  []*time.Location
	// badZones counts the candidates whose time zone is not in the time
	// zone database, by name: their send times fall back to UTC, which the
	// plan warns about rather than hiding.
	badZones map[string]int
	// The rows of the current batch that are a candidate of some
	// consumer: row k's id is ids[ends[k-1]:ends[k]] and its zone zone[k].
	// Reused from batch to batch.
	ids  []byte
	ends []uint32
	zone []uint32
	cons []workerTally
	// For merge: kept row → index in evaluator.ids, and zone → index in
	// evaluator.zones.
	global []uint32
	zmap   []uint16
}

type workerTally struct {
	inSeg, excluded int64
	// The current batch's kept rows that are this consumer's candidates,
	// and their addresses with Options.ShowPII.
	rows   []uint32
	to     []byte
	toEnds []uint32
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
		states[i] = &workerState{member: make([]bool, len(set.preds)), locs: map[string]uint32{}, zones: []*time.Location{time.UTC}, cons: make([]workerTally, len(cons))}
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
		e.merge(states, cons)
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
	if w := zoneWarning(src, states); w != "" {
		e.skipped = append(e.skipped, w)
	}
	return nil
}

// merge interns the ids the workers kept from one batch and gives each
// consumer its candidates, in source order, then empties the workers'
// buffers for the next batch. Done batch by batch, nothing but the
// interned ids and the candidates grows with the audience. The candidates
// are sorted by id once every source is read (sortCandidates).
func (e *evaluator) merge(states []*workerState, cons []*consumer) {
	for _, ws := range states {
		for len(ws.zmap) < len(ws.zones) {
			ws.zmap = append(ws.zmap, e.zone(ws.zones[len(ws.zmap)]))
		}
		ws.global = ws.global[:0]
		start := uint32(0)
		for _, end := range ws.ends {
			ws.global = append(ws.global, e.ids.add(ws.ids[start:end]))
			start = end
		}
		for j, c := range cons {
			t := &ws.cons[j]
			c.inSeg += t.inSeg
			c.excluded += t.excluded
			for m, k := range t.rows {
				if e.showPII {
					lo := uint32(0)
					if m > 0 {
						lo = t.toEnds[m-1]
					}
					c.to = append(c.to, t.to[lo:t.toEnds[m]]...)
					c.toOf = append(c.toOf, uint32(len(c.toEnds)))
					c.toEnds = append(c.toEnds, uint32(len(c.to)))
				}
				c.candidates = append(c.candidates, candidate{id: ws.global[k], zone: ws.zmap[ws.zone[k]]})
			}
			t.inSeg, t.excluded = 0, 0
			t.rows, t.to, t.toEnds = t.rows[:0], t.to[:0], t.toEnds[:0]
		}
		ws.ids, ws.ends, ws.zone = ws.ids[:0], ws.ends[:0], ws.zone[:0]
	}
}

// sortCandidates freezes e.ids, renumbering the ids in id order, and sorts
// every consumer's candidates by id, for a plan that does not depend on
// how the workers took the rows.
func (e *evaluator) sortCandidates(cons []*consumer) {
	rank := e.ids.freeze()
	// Zones are numbered as the workers met them; renumbered by name, the
	// order of a source's repeated ids does not depend on scheduling
	// either.
	byName := make([]uint16, len(e.zones))
	for i := range byName {
		byName[i] = uint16(i)
	}
	slices.SortFunc(byName, func(a, b uint16) int { return strings.Compare(e.zones[a].String(), e.zones[b].String()) })
	zones, znew := make([]*time.Location, len(e.zones)), make([]uint16, len(e.zones))
	for k, z := range byName {
		zones[k], znew[z] = e.zones[z], uint16(k)
		e.zoneIdx[e.zones[z].String()] = uint16(k)
	}
	e.zones = zones
	for _, c := range cons {
		for i := range c.candidates {
			c.candidates[i].id = rank[c.candidates[i].id]
			c.candidates[i].zone = znew[c.candidates[i].zone]
		}
		if c.toOf != nil {
			sort.Sort(candidatesWithTo{c.candidates, c.toOf})
			continue
		}
		slices.SortFunc(c.candidates, func(a, b candidate) int {
			if a.id != b.id {
				return cmp.Compare(a.id, b.id)
			}
			return cmp.Compare(a.zone, b.zone)
		})
	}
}

// candidatesWithTo sorts candidates as sortCandidates does, with their
// addresses (Options.ShowPII) alongside.
type candidatesWithTo struct {
	c  []candidate
	to []uint32
}

func (s candidatesWithTo) Len() int { return len(s.c) }
func (s candidatesWithTo) Less(i, j int) bool {
	a, b := s.c[i], s.c[j]
	if a.id != b.id {
		return a.id < b.id
	}
	if a.zone != b.zone {
		return a.zone < b.zone
	}
	return s.to[i] < s.to[j]
}
func (s candidatesWithTo) Swap(i, j int) {
	s.c[i], s.c[j] = s.c[j], s.c[i]
	s.to[i], s.to[j] = s.to[j], s.to[i]
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
	kept := -1 // the row's index in ws.ends, once kept
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
		if kept < 0 {
			// The source's strings share memory with their row; a kept id
			// is copied, once, so it does not pin the row.
			var zone uint32
			if tzIdx >= 0 {
				if tz, _ := r.Values[tzIdx].(string); tz != "" {
					zone = ws.location(tz)
				}
			}
			ws.ids = append(ws.ids, id...)
			kept = len(ws.ends)
			ws.ends = append(ws.ends, uint32(len(ws.ids)))
			ws.zone = append(ws.zone, zone)
		}
		t.rows = append(t.rows, uint32(kept))
		if e.showPII {
			var to string
			if c.toField != "" {
				if i := r.Layout.Index(c.toField); i >= 0 {
					to, _ = r.Values[i].(string)
				}
			}
			t.to = append(t.to, to...)
			t.toEnds = append(t.toEnds, uint32(len(t.to)))
		}
	}
}

// location resolves a time zone name to its index in ws.zones, once per
// worker; an unknown name is UTC.
func (ws *workerState) location(tz string) uint32 {
	z, ok := ws.locs[tz]
	if ok {
		return z
	}
	if n, bad := ws.badZones[tz]; bad {
		ws.badZones[tz] = n + 1
		return 0
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		if ws.badZones == nil {
			ws.badZones = map[string]int{}
		}
		ws.badZones[strings.Clone(tz)] = 1
		return 0
	}
	z = uint32(len(ws.zones))
	ws.zones = append(ws.zones, l)
	ws.locs[strings.Clone(tz)] = z
	return z
}

// zoneWarning describes the candidates of src whose time zone herald does
// not know, or is "" when there are none.
func zoneWarning(src *lang.Source, states []*workerState) string {
	bad := map[string]int{}
	total := 0
	for _, ws := range states {
		for tz, n := range ws.badZones {
			bad[tz] += n
			total += n
		}
	}
	if total == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(bad))
	more := ""
	if len(names) > 3 {
		names, more = names[:3], fmt.Sprintf(" and %d more", len(names)-3)
	}
	for i, tz := range names {
		names[i] = strconv.Quote(tz)
	}
	return fmt.Sprintf("source.%s: %d customers in a segment have a time zone not in the IANA database (%s%s); their send times and quiet hours are worked out in UTC. Correct the timezone values in the source.",
		src.Name, total, strings.Join(names, ", "), more)
}

// finish runs the rest of the funnel on a consumer's candidates: consent,
// frequency cap, suppression, then holdout, variant and send time for a
// campaign, or membership for an audience. The recipients' ids share the
// memory of e.ids.
func (e *evaluator) finish(c *consumer, consent *consentIndex, supp suppressionIndex) {
	c.steps = make([]int64, fSteps)
	c.steps[fExcluded] = c.excluded
	c.byVar = map[string]int64{}
	cp := c.campaign
	var holdout, variant uint64
	if cp != nil {
		holdout, variant = salt("holdout:"+cp.Name), salt("variant:"+cp.Name)
	}
	// A first pass keeps those who pass the funnel, moving them to the
	// front of the candidates; a second makes their recipients, so that
	// the slice is allocated once at its size: a recipient is 40 bytes,
	// and append's doubling would hold twice that at the end.
	n := 0
	for k, cand := range c.candidates {
		id := e.ids.id(cand.id)
		switch {
		case c.needConsent && !consent.allowedAt(cand.id, c.channel):
			c.steps[fConsent]++
			continue
		case c.capLimit > 0 && c.counts[id] >= c.capLimit:
			c.steps[fCap]++
			continue
		case supp.suppressed(id, c.chName):
			c.steps[fSuppressed]++
			continue
		}
		if cp != nil && cp.Holdout > 0 && unitFrom(holdout, id) < cp.Holdout {
			c.steps[fHoldout]++
			continue
		}
		c.candidates[n] = cand
		if c.toOf != nil {
			c.toOf[n] = c.toOf[k]
		}
		n++
	}
	kept := c.candidates[:n]
	if n == 0 {
		// nil, as append left it: a plan file says null, not [].
		c.candidates, c.to, c.toEnds, c.toOf = nil, nil, nil, nil
		return
	}
	if c.audience != nil {
		c.members = make([]string, n)
		for k, cand := range kept {
			c.members[k] = e.ids.id(cand.id)
		}
		c.candidates, c.to, c.toEnds, c.toOf = nil, nil, nil, nil
		return
	}
	c.rec = make([]Recipient, n)
	for k, cand := range kept {
		id := e.ids.id(cand.id)
		v := cp.Variants[pickVariant(variant, id, cp.Variants)].Name
		c.byVar[v]++
		rec := &c.rec[k]
		rec.CustomerID, rec.Variant = id, v
		if cp.Schedule != nil || c.quiet != nil {
			at, deferred := SendTime(e.now, cp.Schedule, c.quiet, e.zones[cand.zone])
			if deferred {
				c.defer_++
			}
			if at.After(e.now) {
				rec.SendAt = at.Unix()
			}
		}
		if e.showPII && len(c.sample) < sampleSize {
			to, lo := c.toOf[k], uint32(0)
			if to > 0 {
				lo = c.toEnds[to-1]
			}
			c.sample = append(c.sample, SampleRecipient{CustomerID: id, Variant: v, To: string(c.to[lo:c.toEnds[to]])})
		}
	}
	c.candidates, c.to, c.toEnds, c.toOf = nil, nil, nil, nil
}
