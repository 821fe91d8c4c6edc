package lang

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang/diag"
)

var triggerSchema = withGovernance(&hcl.BodySchema{
	Attributes: attrs("from!", "on", "when", "unless", "dedupe", "reentry", "backfill", "purpose", "legal_basis", "exit_when"),
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "threshold"},
		{Type: "step", LabelNames: []string{"name"}},
	},
})

var (
	thresholdSchema = &hcl.BodySchema{Attributes: attrs("count!", "within!")}
	stepSchema      = &hcl.BodySchema{
		Attributes: attrs("wait", "if"),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "send"}},
	}
	sendSchema = &hcl.BodySchema{Attributes: attrs("template!", "via!")}
)

func (l *loader) decodeTriggers() {
	for _, b := range l.blocks["trigger"] {
		tr := &Trigger{}
		tr.Name, tr.DeclRange = b.Labels[0], b.DefRange
		c := l.content(b.Body, triggerSchema)
		l.governanceBlock(&tr.Block, c)
		l.cur = &tr.Block
		if a := c.Attributes["from"]; a != nil {
			if n, ok := l.ref(a.Expr, "source"); ok {
				tr.From = l.cfg.Sources[n]
				if tr.From != nil {
					if tr.From.Schema == nil {
						rng := a.Expr.Range()
						l.diags = append(l.diags, diag.Error(diag.Structure, &rng, fmt.Sprintf("source.%s has no schema", n),
							"A trigger's conditions are checked against its events' fields: set schema = schema.NAME on the source."))
					} else {
						for _, f := range []struct{ attr, name string }{
							{"customer_field", tr.From.Fields.Customer}, {"time_field", tr.From.Fields.Time}, {"type_field", tr.From.Fields.Type},
						} {
							if tr.From.Schema.Field(f.name) == nil {
								rng := a.Expr.Range()
								l.diags = append(l.diags, diag.Error(diag.UnknownReference, &rng,
									fmt.Sprintf("Events of source.%s have no field %q", n, f.name),
									fmt.Sprintf("A trigger reads each event's customer, time and type. Add field %q to schema.%s, or name the field with %s on the source.", f.name, tr.From.Schema.Name, f.attr)))
							}
						}
					}
				}
			}
		}
		tr.Purpose, tr.LegalBasis, tr.legalRange = l.purposeAndBasis(c)
		tr.On, _ = l.str(c.Attributes["on"])
		var scope Scope
		if tr.From != nil && tr.From.Schema != nil {
			scope = Scope{Event: tr.From.Schema, Customer: l.cfg.CustomerSchema, Now: true}
		}
		cond := func(name string, w want, what string) *Expr {
			a := c.Attributes[name]
			if a == nil || scope.Event == nil {
				return nil
			}
			src, m, _, ok := l.text(a)
			if !ok {
				return nil
			}
			return l.compileCEL(scope, src, m, w, what)
		}
		tr.When = cond("when", wantBool, "trigger condition (when)")
		tr.Unless = cond("unless", wantBool, "trigger cancel condition (unless)")
		tr.Dedupe = cond("dedupe", wantKey, "dedupe key")
		tr.ExitWhen = cond("exit_when", wantBool, "exit condition (exit_when)")
		if a := c.Attributes["reentry"]; a != nil {
			tr.Reentry, _ = l.duration(a)
		}
		if a := c.Attributes["backfill"]; a != nil {
			tr.Backfill, _ = l.duration(a)
		}
		seenStep := map[string]hcl.Range{}
		var thresholdSeen bool
		for _, sb := range c.Blocks {
			switch sb.Type {
			case "threshold":
				if thresholdSeen {
					rng := sb.DefRange
					l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, "Duplicate threshold block", "A trigger takes one threshold block."))
					continue
				}
				thresholdSeen = true
				tc := l.content(sb.Body, thresholdSchema)
				th := &Threshold{}
				okCount, okWithin := false, false
				if a := tc.Attributes["count"]; a != nil {
					th.Count, okCount = l.integer(a)
					if okCount && th.Count < 1 {
						rng := a.Expr.Range()
						l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Threshold count must be at least 1",
							"count is how many matching events start a journey."))
						okCount = false
					}
				}
				if a := tc.Attributes["within"]; a != nil {
					th.Within, okWithin = l.duration(a)
				}
				if okCount && okWithin {
					tr.Threshold = th
				}
			case "step":
				name := sb.Labels[0]
				l.checkNestedName("step", name, sb.LabelRanges[0])
				if prev, dup := seenStep[name]; dup {
					rng := sb.DefRange
					l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, fmt.Sprintf("Duplicate step %q", name),
						fmt.Sprintf("Step %q is already declared at %s.", name, prev)))
					continue
				}
				seenStep[name] = sb.DefRange
				tr.Steps = append(tr.Steps, l.step(sb, scope))
			}
		}
		if len(tr.Steps) == 0 {
			rng := b.DefRange
			l.diags = append(l.diags, diag.Error(diag.Structure, &rng, "Trigger has no steps",
				"Add a step \"NAME\" { wait = \"1h\"  send { template = template.x  via = provider.TYPE.NAME } } block."))
		}
		l.cur = nil
		l.cfg.Triggers[tr.Name] = tr
	}
}

func (l *loader) step(b *hcl.Block, scope Scope) *Step {
	st := &Step{Name: b.Labels[0], DeclRange: b.DefRange}
	c := l.content(b.Body, stepSchema)
	if a := c.Attributes["wait"]; a != nil {
		st.Wait, _ = l.duration(a)
	}
	if a := c.Attributes["if"]; a != nil && scope.Event != nil {
		if src, m, _, ok := l.text(a); ok {
			st.If = l.compileCEL(scope, src, m, wantBool, "step condition (if)")
		}
	}
	for i, sb := range c.Blocks {
		if i > 0 {
			rng := sb.DefRange
			l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, "Duplicate send block", "A step sends one message; add another step for another."))
			continue
		}
		sc := l.content(sb.Body, sendSchema)
		s := &Send{}
		var channel string
		if a := sc.Attributes["template"]; a != nil {
			s.Template = l.templateRef(a, "")
			if s.Template != nil {
				channel = s.Template.Channel
			}
		}
		if a := sc.Attributes["via"]; a != nil {
			if n, ok := l.ref(a.Expr, "provider"); ok {
				s.Via = l.cfg.Providers[n]
				l.sendable(s.Via, channel, a.Expr.Range())
			}
		}
		st.Send = s
	}
	if st.Send == nil {
		rng := b.DefRange
		l.diags = append(l.diags, diag.Error(diag.Structure, &rng, "Step sends nothing",
			"Add a send { template = template.x  via = provider.TYPE.NAME } block."))
	}
	return st
}
