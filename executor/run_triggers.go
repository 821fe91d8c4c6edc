package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// TriggerEvent is one event as the runner's triggers see it.
type TriggerEvent struct {
	Source     string // the source's name, without "source."
	ID         string // unique per event: a replayed event is recognised by it
	Type       string
	CustomerID string
	Time       time.Time // event time
	Record     *providers.Record
	Arrived    time.Time // when the runner received it; zero means now
}

// runTrigger is an applied trigger, compiled.
type runTrigger struct {
	addr  string
	t     *lang.Trigger
	when  cel.Program
	unles cel.Program
	dedup cel.Program
	exit  cel.Program
	ifs   []cel.Program
	tmpls []*compiledTemplate
	lay   *providers.Layout
}

// condActivation binds the variables of a trigger condition.
type condActivation struct {
	customer lang.Record
	event    lang.Record
	now      ref.Val
}

func (a *condActivation) ResolveName(name string) (any, bool) {
	switch name {
	case "customer":
		return a.customer, a.customer != nil
	case "event":
		return a.event, a.event != nil
	case "now":
		return a.now, true
	}
	return nil, false
}

func (a *condActivation) Parent() interpreter.Activation { return nil }

// compileTrigger builds the programs of a trigger's conditions and the
// templates of its steps.
func compileTrigger(cfg *lang.Config, t *lang.Trigger) (*runTrigger, error) {
	if t.From == nil || t.From.Schema == nil {
		return nil, errors.New("the trigger's source has no schema")
	}
	schemas := map[string]*lang.Schema{t.From.Schema.Name: t.From.Schema}
	if cfg.CustomerSchema != nil {
		schemas[cfg.CustomerSchema.Name] = cfg.CustomerSchema
	}
	p, err := lang.CELTypeProvider(schemas)
	if err != nil {
		return nil, err
	}
	opts := append([]cel.EnvOption{cel.CustomTypeProvider(p)}, lang.CELLibraries()...)
	opts = append(opts, cel.Variable("event", cel.ObjectType(lang.SchemaTypePrefix+t.From.Schema.Name)),
		cel.Variable("now", cel.TimestampType))
	if cfg.CustomerSchema != nil {
		opts = append(opts, cel.Variable("customer", cel.ObjectType(lang.SchemaTypePrefix+cfg.CustomerSchema.Name)))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("building the trigger environment: %w", err)
	}
	prog := func(e *lang.Expr) (cel.Program, error) {
		if e == nil || e.AST == nil {
			return nil, nil
		}
		prg, err := env.Program(e.AST)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", e.Source, err)
		}
		return prg, nil
	}
	rt := &runTrigger{addr: "trigger." + t.Name, t: t, lay: providers.NewLayout(t.From.Schema)}
	for _, x := range []struct {
		e   *lang.Expr
		dst *cel.Program
	}{{t.When, &rt.when}, {t.Unless, &rt.unles}, {t.Dedupe, &rt.dedup}, {t.ExitWhen, &rt.exit}} {
		if *x.dst, err = prog(x.e); err != nil {
			return nil, err
		}
	}
	r, err := newRendererFor(cfg, t.From.Schema)
	if err != nil {
		return nil, err
	}
	for _, s := range t.Steps {
		ip, err := prog(s.If)
		if err != nil {
			return nil, err
		}
		rt.ifs = append(rt.ifs, ip)
		var ct *compiledTemplate
		if s.Send != nil && s.Send.Template != nil {
			if ct, err = r.compile(s.Send.Template); err != nil {
				return nil, err
			}
		}
		rt.tmpls = append(rt.tmpls, ct)
	}
	return rt, nil
}

// evalBool evaluates a condition; a field that is not set makes it false,
// as it does in a segment.
func evalBool(prg cel.Program, act *condActivation) (bool, error) {
	out, _, err := prg.Eval(act)
	if err != nil {
		if strings.Contains(err.Error(), "no such key") || strings.Contains(err.Error(), "no such attribute") {
			return false, nil
		}
		return false, err
	}
	return out == types.True, nil
}

// journeyID is chosen from the trigger and the starting event, so that a
// runner replaying that event after a crash finds the journey it started.
func journeyID(trigger, eventID string) string {
	sum := sha256.Sum256([]byte(trigger + "\x00" + eventID))
	return hex.EncodeToString(sum[:10])
}

// JourneySendKey is the ledger key of a journey step's message.
func JourneySendKey(journeyID string, step int) string {
	return fmt.Sprintf("j%s-%03d", journeyID, step)
}

// eventDecision is what one event did to one trigger, for metrics.
type eventDecision string

const (
	decIgnored   eventDecision = "ignored"
	decCounted   eventDecision = "counted"
	decStarted   eventDecision = "started"
	decRefused   eventDecision = "reentry"
	decDuplicate eventDecision = "duplicate"
	decLate      eventDecision = "late"
	decCancelled eventDecision = "cancelled"
)

// ingestTrigger runs a batch of events, in order, through one trigger:
// exit_when on the customer's journey, unless, on and when, dedupe, the
// threshold window, and re-entry. Matching events go to the state in one
// batch, and the journeys they start in another; an event that ends a
// journey or cancels a window first flushes what came before it, so the
// order of events is kept. Every state write is idempotent, so a batch
// handled again after a crash changes nothing it already changed.
func (r *Runner) ingestTrigger(ctx context.Context, rt *runTrigger, evs []*TriggerEvent, custs map[string]lang.Record, now time.Time) error {
	t := rt.t
	nowVal := types.Timestamp{Time: now}
	bound := now.Add(-max(r.opts.Lateness, t.Backfill)) // a bounded backfill asks for history: it is not late
	decide := func(d eventDecision) { r.m.decisions.WithLabelValues(rt.addr, string(d)).Inc() }
	var adds []state.WindowAdd
	var added []*TriggerEvent
	flush := func() error {
		if len(adds) == 0 {
			return nil
		}
		res, err := r.st.AddWindowEvents(ctx, adds)
		if err != nil {
			return err
		}
		var starts []state.JourneyStart
		tried := map[string]bool{}
		for i, wr := range res {
			ev := added[i]
			switch {
			case wr.Duplicate:
				decide(decDuplicate)
				continue
			case t.Threshold != nil && wr.Count < t.Threshold.Count:
				decide(decCounted)
				continue
			case tried[ev.CustomerID]:
				// A journey of this batch started or was refused for the
				// customer: a later crossing would be refused too.
				decide(decRefused)
				continue
			}
			tried[ev.CustomerID] = true
			j := state.Journey{ID: journeyID(rt.addr, ev.ID), Trigger: rt.addr, CustomerID: ev.CustomerID,
				Status: state.JourneyActive, StartKey: ev.ID, Event: eventJSON(ev.Record), StartedAt: ev.Time, UpdatedAt: now}
			var first time.Time
			if len(t.Steps) > 0 {
				first = ev.Time.Add(t.Steps[0].Wait)
			}
			js := state.JourneyStart{Journey: j, First: state.Timer{JourneyID: j.ID, DueAt: first}, NotBefore: ev.Time.Add(-t.Reentry)}
			if t.Threshold != nil {
				// The events that crossed the threshold are spent,
				// whether they started a journey or met one under way.
				js.ClearTo = ev.Time
			}
			starts = append(starts, js)
		}
		adds, added = adds[:0], added[:0]
		ok, err := r.st.StartJourneys(ctx, starts)
		if err != nil {
			return err
		}
		for _, started := range ok {
			if !started {
				decide(decRefused)
				continue
			}
			decide(decStarted)
			r.m.journeys.WithLabelValues(rt.addr).Inc()
			r.count(func(s *RunStats) { s.Started++ })
		}
		return nil
	}
	for _, ev := range evs {
		act := &condActivation{customer: custs[ev.CustomerID], event: ev.Record, now: nowVal}
		if rt.exit != nil {
			if exit, _ := evalBool(rt.exit, act); exit {
				if err := flush(); err != nil {
					return err
				}
				if err := r.exitJourneys(ctx, rt.addr, ev.CustomerID, "exit_when ("+ev.Type+" event)", now); err != nil {
					return err
				}
			}
		}
		if rt.unles != nil {
			if cancel, _ := evalBool(rt.unles, act); cancel {
				if t.Threshold != nil {
					if err := flush(); err != nil {
						return err
					}
					if err := r.st.ClearWindow(ctx, rt.addr, ev.CustomerID, ev.Time); err != nil {
						return err
					}
				}
				decide(decCancelled)
				continue
			}
		}
		if t.On != "" && ev.Type != t.On {
			decide(decIgnored)
			continue
		}
		if rt.when != nil {
			if ok, _ := evalBool(rt.when, act); !ok {
				decide(decIgnored)
				continue
			}
		}
		if ev.Time.Before(bound) {
			decide(decLate)
			continue
		}
		r.m.matches.WithLabelValues(rt.addr).Inc()
		a := state.WindowAdd{Event: state.WindowEvent{Trigger: rt.addr, CustomerID: ev.CustomerID, Key: ev.ID, At: ev.Time}}
		if rt.dedup != nil {
			if out, _, err := rt.dedup.Eval(act); err == nil && !types.IsError(out) {
				a.DedupeKey = valueString(out)
			}
		}
		if th := t.Threshold; th != nil {
			a.Window, a.Since = true, ev.Time.Add(-th.Within)
		}
		adds = append(adds, a)
		added = append(added, ev)
	}
	return flush()
}

// exitJourneys ends the customer's active journeys of a trigger.
func (r *Runner) exitJourneys(ctx context.Context, trigger, customer, reason string, now time.Time) error {
	var ids []string
	err := r.st.Journeys(ctx, state.JourneyFilter{Trigger: trigger, CustomerID: customer, Status: state.JourneyActive}, func(j state.Journey) error {
		ids = append(ids, j.ID)
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		ok, err := r.st.ExitJourney(ctx, id, reason, now)
		if err != nil {
			return err
		}
		if ok {
			r.m.exits.WithLabelValues(trigger).Inc()
		}
	}
	return nil
}

// eventJSON keeps an event's fields for the templates of its journey.
func eventJSON(rec *providers.Record) []byte {
	if rec == nil {
		return nil
	}
	m := make(map[string]any, len(rec.Values))
	for i, name := range rec.Layout.Names {
		v := rec.Values[i]
		if v == nil {
			continue
		}
		switch x := v.(type) {
		case time.Time:
			v = x.UTC().Format(time.RFC3339Nano)
		case time.Duration:
			v = x.String()
		}
		m[name] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// eventRecord is eventJSON read back, typed by the trigger's schema.
func eventRecord(lay *providers.Layout, b []byte) *providers.Record {
	rec := &providers.Record{Layout: lay, Values: make([]any, len(lay.Names))}
	if len(b) == 0 {
		return rec
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return rec
	}
	for i, name := range lay.Names {
		v, ok := m[name]
		if !ok || v == nil {
			continue
		}
		if cv, err := providers.ConvertValue(lay.Types[i], v); err == nil {
			rec.Values[i] = cv
		}
	}
	return rec
}
