package executor

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/heraldhq/herald/executor/links"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/template"
	"github.com/heraldhq/herald/providers"
)

// strRecord is sender or recipient: string fields by name.
type strRecord map[string]string

func (r strRecord) Field(name string) (any, bool) {
	v, ok := r[name]
	if !ok || v == "" {
		return nil, false
	}
	return v, true
}

// activation binds the variables of a template hole.
type activation struct {
	customer  lang.Record
	sender    strRecord
	recipient strRecord
	unsub     string
	now       ref.Val
	event     lang.Record // a journey's starting event; nil for campaigns
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "customer":
		return a.customer, a.customer != nil
	case "sender":
		return a.sender, true
	case "recipient":
		return a.recipient, true
	case "unsubscribe_url":
		return types.String(a.unsub), true
	case "now":
		return a.now, true
	case "event":
		return a.event, a.event != nil
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// compiledPart is one part of a template with a program per expression,
// keyed by the expression's offset in the part.
type compiledPart struct {
	tmpl  *template.Template
	progs map[int]cel.Program
}

// compiledTemplate is a template ready to render: compiled once per apply,
// rendered concurrently (cel.Program is safe for concurrent use).
type compiledTemplate struct {
	name  string
	parts map[string]*compiledPart
}

// renderer renders the messages of one apply.
type renderer struct {
	env       *cel.Env
	templates map[string]*compiledTemplate
}

func newRenderer(cfg *lang.Config) (*renderer, error) { return newRendererFor(cfg, nil) }

// newRendererFor is a renderer whose templates may also read `event`, of
// the given schema: the templates of a trigger's steps.
func newRendererFor(cfg *lang.Config, event *lang.Schema) (*renderer, error) {
	schemas := map[string]*lang.Schema{}
	if cfg.CustomerSchema != nil {
		schemas[cfg.CustomerSchema.Name] = cfg.CustomerSchema
	}
	if event != nil {
		schemas[event.Name] = event
	}
	p, err := lang.CELTypeProvider(schemas)
	if err != nil {
		return nil, err
	}
	opts := append([]cel.EnvOption{cel.CustomTypeProvider(p)}, lang.CELLibraries()...)
	if cfg.CustomerSchema != nil {
		opts = append(opts, cel.Variable("customer", cel.ObjectType(lang.SchemaTypePrefix+cfg.CustomerSchema.Name)))
	}
	if event != nil {
		opts = append(opts, cel.Variable("event", cel.ObjectType(lang.SchemaTypePrefix+event.Name)))
	}
	opts = append(opts,
		cel.Variable("now", cel.TimestampType),
		cel.Variable("sender", cel.ObjectType(lang.SenderType)),
		cel.Variable("recipient", cel.ObjectType(lang.RecipientType)),
		cel.Variable("unsubscribe_url", cel.StringType),
	)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("building the template environment: %w", err)
	}
	return &renderer{env: env, templates: map[string]*compiledTemplate{}}, nil
}

// compile prepares a template; it is called before any concurrent use.
func (r *renderer) compile(t *lang.Template) (*compiledTemplate, error) {
	if ct, ok := r.templates[t.Name]; ok {
		return ct, nil
	}
	ct := &compiledTemplate{name: t.Name, parts: map[string]*compiledPart{}}
	for name, part := range t.Parts {
		if part == nil || part.Parsed == nil {
			continue
		}
		cp := &compiledPart{tmpl: part.Parsed, progs: map[int]cel.Program{}}
		refs := part.Parsed.Exprs()
		if len(refs) != len(part.Exprs) {
			return nil, fmt.Errorf("template.%s %s: %d expressions parsed but %d checked", t.Name, name, len(refs), len(part.Exprs))
		}
		for i, ref := range refs {
			e := part.Exprs[i]
			if e == nil || e.AST == nil {
				return nil, fmt.Errorf("template.%s %s: the expression %q was not checked", t.Name, name, ref.Expr.Source)
			}
			prg, err := r.env.Program(e.AST)
			if err != nil {
				return nil, fmt.Errorf("template.%s %s: %q: %w", t.Name, name, ref.Expr.Source, err)
			}
			cp.progs[ref.Expr.Offset] = prg
		}
		ct.parts[name] = cp
	}
	r.templates[t.Name] = ct
	return ct, nil
}

// render renders one part, escaping hole values with escape.
func (cp *compiledPart) render(act *activation, escape func(string) string) (string, error) {
	var b strings.Builder
	err := cp.tmpl.Render(&b, func(e template.Expr) (string, bool, error) {
		prg := cp.progs[e.Offset]
		if prg == nil {
			return "", false, fmt.Errorf("no program for %q", e.Source)
		}
		out, _, err := prg.Eval(act)
		if err != nil {
			// An unset field is empty: the hole's fallback, if any, applies.
			if strings.Contains(err.Error(), "no such key") || strings.Contains(err.Error(), "no such attribute") {
				return "", false, nil
			}
			return "", false, err
		}
		if types.IsError(out) {
			return "", false, fmt.Errorf("%v", out)
		}
		return valueString(out), out == types.True, nil
	}, escape)
	return b.String(), err
}

// valueString is how a hole's value is written into a message.
func valueString(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Int:
		return strconv.FormatInt(int64(x), 10)
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10)
	case types.Double:
		return strconv.FormatFloat(float64(x), 'f', -1, 64)
	case types.Bool:
		return strconv.FormatBool(bool(x))
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339)
	case types.Duration:
		return x.Duration.String()
	case types.Null:
		return ""
	case *types.Optional:
		if x.HasValue() {
			return valueString(x.GetValue())
		}
		return ""
	}
	return fmt.Sprint(v.Value())
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// linkRE finds http(s) links in rendered text and HTML.
var linkRE = regexp.MustCompile(`https?://[^\s"'<>()]+`)

// addUTM appends the campaign's UTM parameters to every http(s) link that
// does not already carry them, except the unsubscribe link. In HTML the
// link is unescaped first and escaped again.
func addUTM(s string, utm url.Values, skipPrefix string, isHTML bool) string {
	if len(utm) == 0 {
		return s
	}
	return linkRE.ReplaceAllStringFunc(s, func(link string) string {
		raw := link
		if isHTML {
			raw = html.UnescapeString(link)
		}
		// Trailing punctuation of a sentence is not part of the link.
		trail := ""
		for len(raw) > 0 && strings.ContainsRune(".,;:!?", rune(raw[len(raw)-1])) {
			trail = raw[len(raw)-1:] + trail
			raw = raw[:len(raw)-1]
		}
		if skipPrefix != "" && strings.HasPrefix(raw, skipPrefix) {
			return link
		}
		u, err := url.Parse(raw)
		if err != nil {
			return link
		}
		q := u.Query()
		for k, vs := range utm {
			if _, ok := q[k]; !ok {
				q[k] = vs
			}
		}
		u.RawQuery = q.Encode()
		out := u.String() + trail
		if isHTML {
			out = html.EscapeString(out)
		}
		return out
	})
}

// utmValues builds the query parameters of a campaign's utm block;
// utm_campaign defaults to the campaign's name. A campaign without a utm
// block gets none.
func utmValues(c *lang.Campaign) url.Values {
	if len(c.UTM) == 0 {
		return nil
	}
	v := url.Values{}
	for k, val := range c.UTM {
		v.Set("utm_"+strings.TrimPrefix(k, "utm_"), val)
	}
	if v.Get("utm_campaign") == "" {
		v.Set("utm_campaign", c.Name)
	}
	return v
}

// unsubscribeToken signs an unsubscribe link's token (see
// links.Signer.Unsubscribe); the herald run handler of /u/TOKEN verifies it
// with the same key.
func unsubscribeToken(key []byte, campaign, customer string, expires time.Time) string {
	return links.NewSigner(key, nil).Unsubscribe(campaign, customer, expires)
}

// VerifyUnsubscribeToken checks a token made for an unsubscribe link and
// returns the customer and campaign it names; ok is false when it is
// forged, malformed or expired at now.
func VerifyUnsubscribeToken(key []byte, token string, now time.Time) (customer, campaign string, ok bool) {
	return links.NewSigner(key, nil).VerifyUnsubscribe(token, now)
}

// recordOf is a copy of a source record that the scan may not reuse.
func recordOf(r *providers.Record) *providers.Record {
	vals := make([]any, len(r.Values))
	copy(vals, r.Values)
	return &providers.Record{Layout: r.Layout, Values: vals}
}
