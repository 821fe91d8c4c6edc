package lang

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang/diag"
)

var heraldSchema = &hcl.BodySchema{
	Attributes: attrs("public_url"),
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "state", LabelNames: []string{"backend"}},
		{Type: "sender"},
		{Type: "rules"},
	},
}

var senderSchema = &hcl.BodySchema{Attributes: attrs("name!", "email!", "postal_address", "reply_to")}
var rulesSchema = &hcl.BodySchema{Attributes: attrs("name_pattern", "require_owner")}

func (l *loader) decodeHerald() {
	h := &l.cfg.Herald
	h.State = State{Backend: "sqlite", Path: ".herald/state.db"}
	bs := l.blocks["herald"]
	if len(bs) == 0 {
		return
	}
	b := bs[0]
	h.DeclRange = b.DefRange
	c := l.content(b.Body, heraldSchema)
	if a := c.Attributes["public_url"]; a != nil {
		if s, ok := l.str(a); ok {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				rng := a.Expr.Range()
				l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Invalid public_url",
					"public_url is where recipients land from unsubscribe and preference links: an absolute http(s) URL such as \"https://herald.example.com\"."))
			} else {
				h.PublicURL = strings.TrimSuffix(s, "/")
			}
		}
	}
	var stateSeen bool
	for _, sb := range c.Blocks {
		switch sb.Type {
		case "state":
			rng := sb.DefRange
			if stateSeen {
				l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, "Duplicate state block", "The herald block takes one state block."))
				continue
			}
			stateSeen = true
			switch sb.Labels[0] {
			case "sqlite":
				sc := l.content(sb.Body, &hcl.BodySchema{Attributes: attrs("path")})
				if s, ok := l.str(sc.Attributes["path"]); ok {
					h.State.Path = s
				}
			case "postgres":
				sc := l.content(sb.Body, &hcl.BodySchema{Attributes: attrs("url!")})
				h.State = State{Backend: "postgres"}
				if a := sc.Attributes["url"]; a != nil {
					h.State.URL, _ = l.value(a, cty.String)
					if !h.State.URL.IsWhollyKnown() {
						h.State.URLUnset = l.unset(a.Expr)
					}
					l.secret(a, "state url")
				}
			default:
				rng := sb.LabelRanges[0]
				l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng,
					fmt.Sprintf("Unknown state backend %q", sb.Labels[0]),
					fmt.Sprintf("The state backends are \"sqlite\" (the default, a file) and \"postgres\".%s", diag.DidYouMean(sb.Labels[0], []string{"sqlite", "postgres"}))))
			}
		case "sender":
			sc := l.content(sb.Body, senderSchema)
			h.Sender.Range = sb.DefRange
			h.Sender.Name, _ = l.str(sc.Attributes["name"])
			if a := sc.Attributes["email"]; a != nil {
				if s, ok := l.str(a); ok {
					h.Sender.Email = s
					l.checkEmail(a, s)
				}
			}
			h.Sender.PostalAddress, _ = l.str(sc.Attributes["postal_address"])
			if a := sc.Attributes["reply_to"]; a != nil {
				if s, ok := l.str(a); ok {
					h.Sender.ReplyTo = s
					l.checkEmail(a, s)
				}
			}
		case "rules":
			sc := l.content(sb.Body, rulesSchema)
			if a := sc.Attributes["name_pattern"]; a != nil {
				if s, ok := l.str(a); ok {
					if _, err := regexp.Compile(s); err != nil {
						rng := a.Expr.Range()
						l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Invalid name_pattern",
							fmt.Sprintf("name_pattern must be a regular expression (RE2 syntax): %v.", err)))
					} else {
						h.Rules.NamePattern = s
					}
				}
			}
			h.Rules.RequireOwner, _ = l.boolean(sc.Attributes["require_owner"])
		}
	}
}

func (l *loader) checkEmail(a *hcl.Attribute, s string) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " <>") {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Invalid e-mail address",
			fmt.Sprintf("%q is not an e-mail address such as \"news@example.com\".", s)))
	}
}

// secret reports a credential written into the configuration: secrets
// come from env() or a sensitive variable, so they are never committed.
func (l *loader) secret(a *hcl.Attribute, what string) {
	fromEnv := false
	hclsyntax.VisitAll(a.Expr.(hclsyntax.Node), func(n hclsyntax.Node) hcl.Diagnostics {
		if call, ok := n.(*hclsyntax.FunctionCallExpr); ok && call.Name == "env" {
			fromEnv = true
		}
		return nil
	})
	for _, t := range a.Expr.Variables() {
		if t.RootName() == "var" && len(t) > 1 {
			if v := l.cfg.Variables[traverseName(t[1])]; v != nil && v.Sensitive {
				fromEnv = true
			}
		}
	}
	if !fromEnv {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.SecretLiteral, &rng,
			fmt.Sprintf("Credential written in the configuration: %s", what),
			fmt.Sprintf("%s is a secret and must not be committed. Read it from the environment: %s = env(\"NAME\"), or from a variable declared sensitive = true.", a.Name, a.Name)))
	}
}

func (l *loader) decodeProviders() {
	for _, b := range l.blocks["provider"] {
		typ, name := b.Labels[0], b.Labels[1]
		pt, ok := ProviderTypes[typ]
		if !ok {
			rng := b.LabelRanges[0]
			l.diags = append(l.diags, diag.Error(diag.UnknownProvider, &rng,
				fmt.Sprintf("Unknown provider type %q", typ),
				fmt.Sprintf("herald has no provider %q.%s The provider types are: %s.", typ, diag.DidYouMean(typ, ProviderTypeNames()), strings.Join(ProviderTypeNames(), ", "))))
			continue
		}
		schema := &hcl.BodySchema{}
		for _, an := range pt.AttrNames() {
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: an, Required: pt.Attrs[an].Required})
		}
		c := l.content(b.Body, schema)
		p := &Provider{Type: typ, Name: name, Attributes: map[string]cty.Value{}, AttrRanges: map[string]hcl.Range{}, DeclRange: b.DefRange}
		for _, an := range Sorted(c.Attributes) {
			a := c.Attributes[an]
			spec := pt.Attrs[an]
			p.AttrRanges[an] = a.Expr.Range()
			v, ok := l.value(a, spec.Type)
			if !ok {
				continue
			}
			p.Attributes[an] = v
			if l.isSensitive(a.Expr) {
				if p.Sensitive == nil {
					p.Sensitive = map[string]bool{}
				}
				p.Sensitive[an] = true
			}
			if !v.IsWhollyKnown() {
				if u := l.unset(a.Expr); !u.IsZero() {
					if p.Unset == nil {
						p.Unset = map[string]Unset{}
					}
					p.Unset[an] = u
				}
			}
			if spec.Secret {
				l.secret(a, p.Address()+"."+an)
			}
			if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
				continue
			}
			if spec.Duration {
				l.duration(a)
			}
			if len(spec.OneOf) > 0 {
				l.oneOf(a, v.AsString(), spec.OneOf...)
			}
			if an == "endpoint" || an == "url" && typ == "webhook" {
				if u, err := url.Parse(v.AsString()); err != nil || u.Scheme == "" || u.Host == "" {
					rng := a.Expr.Range()
					l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, fmt.Sprintf("Invalid %s", an),
						fmt.Sprintf("%s must be an absolute URL such as \"https://api.example.com\".", an)))
				}
			}
		}
		for _, an := range []string{"rate_limit", "burst", "concurrency", "max_retries", "port"} {
			if v, ok := p.Attributes[an]; ok && v.IsKnown() && !v.IsNull() && v.Type() == cty.Number {
				rng := p.AttrRanges[an]
				f := v.AsBigFloat()
				switch x, _ := f.Float64(); {
				case f.Sign() < 0 || (an != "max_retries" && f.Sign() == 0):
					l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, fmt.Sprintf("Invalid %s", an),
						fmt.Sprintf("%s must be greater than zero.", an)))
				case an == "port" && (!f.IsInt() || x > 65535):
					l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Invalid port",
						fmt.Sprintf("A port is a whole number from 1 to 65535; %s is not. SMTP submission is 587, or 465 for implicit TLS.", f.Text('g', 10))))
				case (an == "concurrency" || an == "max_retries") && (!f.IsInt() || x > maxCount):
					l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, fmt.Sprintf("Invalid %s", an),
						fmt.Sprintf("%s is a whole number up to %d; %s is not.", an, maxCount, f.Text('g', 10))))
				case x > maxCount:
					// Rates and bursts are read as float64 and int; past
					// this they would overflow, and mean "no limit" anyway.
					l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, fmt.Sprintf("Invalid %s", an),
						fmt.Sprintf("%s is at most %d; %s is more. Leave it out for the provider's documented limit.", an, maxCount, f.Text('g', 10))))
				}
			}
		}
		l.cfg.Providers[p.Address()] = p
	}
}

// maxCount bounds the counts and rates of a provider block: far above any
// real limit, and small enough for every integer type that reads them.
const maxCount = 1_000_000_000

var schemaSchema = &hcl.BodySchema{
	Attributes: attrs("description"),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "field", LabelNames: []string{"name"}}},
}
var fieldSchema = &hcl.BodySchema{Attributes: attrs("type", "pii", "sensitive", "description")}

// PIIKinds are the values of a field's pii marker.
var PIIKinds = []string{"email", "phone", "name", "address", "ip", "id", "other"}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (l *loader) decodeSchemas() {
	for _, b := range l.blocks["schema"] {
		s := &Schema{Name: b.Labels[0], byName: map[string]*Field{}, DeclRange: b.DefRange}
		c := l.content(b.Body, schemaSchema)
		for _, fb := range c.Blocks {
			f := &Field{Name: fb.Labels[0], Type: &FieldType{Kind: "string"}, DeclRange: fb.DefRange}
			if !identRe.MatchString(f.Name) {
				rng := fb.LabelRanges[0]
				l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, fmt.Sprintf("Invalid field name %q", f.Name),
					"Field names are used in expressions: letters, digits and underscores, not starting with a digit."))
				continue
			}
			if prev := s.byName[f.Name]; prev != nil {
				rng := fb.DefRange
				l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, fmt.Sprintf("Duplicate field %q", f.Name),
					fmt.Sprintf("Field %q is already declared at %s.", f.Name, prev.DeclRange)))
				continue
			}
			fc := l.content(fb.Body, fieldSchema)
			if a := fc.Attributes["type"]; a != nil {
				if t, ok := l.fieldType(a.Expr); ok {
					f.Type = t
				}
			}
			if a := fc.Attributes["pii"]; a != nil {
				if v, ok := l.str(a); ok && l.oneOf(a, v, PIIKinds...) {
					f.PII = v
				}
			}
			f.Sensitive, _ = l.boolean(fc.Attributes["sensitive"])
			f.Description, _ = l.str(fc.Attributes["description"])
			s.Fields = append(s.Fields, f)
			s.byName[f.Name] = f
		}
		l.cfg.Schemas[s.Name] = s
	}
}

// scalarTypes are the field types that take no argument.
var scalarTypes = []string{"string", "int", "double", "bool", "timestamp", "duration"}

// fieldType reads a field type: a keyword, or list(T) / map(T).
func (l *loader) fieldType(expr hcl.Expression) (*FieldType, bool) {
	bad := func(got string) (*FieldType, bool) {
		rng := expr.Range()
		all := append(append([]string{}, scalarTypes...), "list", "map")
		l.diags = append(l.diags, diag.Error(diag.TypeMismatch, &rng, fmt.Sprintf("Unknown field type %s", got),
			fmt.Sprintf("A field type is one of %s, or list(T) or map(T) of one of them.%s", strings.Join(scalarTypes, ", "), diag.DidYouMean(got, all))))
		return nil, false
	}
	if kw := hcl.ExprAsKeyword(expr); kw != "" {
		for _, s := range scalarTypes {
			if kw == s {
				return &FieldType{Kind: kw}, true
			}
		}
		if kw == "list" || kw == "map" {
			rng := expr.Range()
			l.diags = append(l.diags, diag.Error(diag.TypeMismatch, &rng, fmt.Sprintf("Field type %s without an element type", kw),
				fmt.Sprintf("A %s says what its elements are: write %s(T), for example %s(string). T is one of %s.", kw, kw, kw, strings.Join(scalarTypes, ", "))))
			return nil, false
		}
		return bad(kw)
	}
	if call, ok := expr.(*hclsyntax.FunctionCallExpr); ok {
		if (call.Name == "list" || call.Name == "map") && len(call.Args) == 1 {
			elem, ok := l.fieldType(call.Args[0])
			if !ok {
				return nil, false
			}
			return &FieldType{Kind: call.Name, Elem: elem}, true
		}
		return bad(call.Name + "(…)")
	}
	if v, diags := expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String && v.IsKnown() {
		return bad(fmt.Sprintf("%q (write it without quotes)", v.AsString()))
	}
	return bad("expression")
}

var sourceSchema = &hcl.BodySchema{Attributes: attrs("from!", "table", "query", "schema", "key", "on_error", "cursor",
	"customer_field", "time_field", "type_field", "description")}

func (l *loader) decodeSources() {
	for _, b := range l.blocks["source"] {
		s := &Source{Name: b.Labels[0], OnError: "fail",
			Fields: EventFields{Customer: "customer_id", Time: "at", Type: "type"}}
		s.Block.Name, s.DeclRange = s.Name, b.DefRange
		c := l.content(b.Body, sourceSchema)
		if a := c.Attributes["from"]; a != nil {
			if n, ok := l.ref(a.Expr, "provider"); ok {
				s.From = l.cfg.Providers[n]
				if s.From != nil && !ProviderTypes[s.From.Type].Can(CapSource) {
					rng := a.Expr.Range()
					l.diags = append(l.diags, diag.Error(diag.ProviderKind, &rng,
						fmt.Sprintf("provider.%s cannot be read as a source", n),
						"A source reads from a data provider: \"files\" (CSV and JSONL tables) or \"postgres\"."))
				}
			}
		}
		s.Table, _ = l.str(c.Attributes["table"])
		s.Query, _ = l.str(c.Attributes["query"])
		switch {
		case s.Table == "" && s.Query == "":
			rng := b.DefRange
			l.diags = append(l.diags, diag.Error(diag.Structure, &rng, "Source has no table",
				"Set table = \"customers.csv\" (files) or table = \"customers\" / query = \"SELECT …\" (postgres)."))
		case s.Table != "" && s.Query != "":
			rng := c.Attributes["query"].NameRange
			l.diags = append(l.diags, diag.Error(diag.Structure, &rng, "Both table and query are set", "A source reads one table or one query; remove one of them."))
		case s.Query != "" && s.From != nil && s.From.Type != "postgres":
			rng := c.Attributes["query"].NameRange
			l.diags = append(l.diags, diag.Error(diag.Structure, &rng, "query needs a postgres provider", "A files source names a table file: table = \"customers.csv\"."))
		case s.Table != "" && s.From != nil && s.From.Type == "files":
			if !strings.HasSuffix(s.Table, ".csv") && !strings.HasSuffix(s.Table, ".jsonl") {
				a := c.Attributes["table"]
				rng := a.Expr.Range()
				l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Unknown table format",
					fmt.Sprintf("A files table is read by its extension: .csv (with a header row) or .jsonl; %q has neither.", s.Table)))
			}
		}
		if a := c.Attributes["schema"]; a != nil {
			if n, ok := l.ref(a.Expr, "schema"); ok {
				s.Schema = l.cfg.Schemas[n]
			}
		}
		if a := c.Attributes["key"]; a != nil {
			if k, ok := l.str(a); ok {
				s.Key = k
				l.checkField(a, s.Schema, k)
			}
		}
		if a := c.Attributes["on_error"]; a != nil {
			if v, ok := l.str(a); ok && l.oneOf(a, v, "fail", "skip") {
				s.OnError = v
			}
		}
		s.Cursor, _ = l.str(c.Attributes["cursor"])
		for an, dst := range map[string]*string{"customer_field": &s.Fields.Customer, "time_field": &s.Fields.Time, "type_field": &s.Fields.Type} {
			if a := c.Attributes[an]; a != nil {
				if v, ok := l.str(a); ok {
					*dst = v
					l.checkField(a, s.Schema, v)
				}
			}
		}
		s.Description, _ = l.str(c.Attributes["description"])
		l.cfg.Sources[s.Name] = s
	}
}

// checkField reports a field name that the schema does not declare.
func (l *loader) checkField(a *hcl.Attribute, s *Schema, name string) bool {
	if s == nil || s.Field(name) != nil {
		return true
	}
	rng := a.Expr.Range()
	l.diags = append(l.diags, diag.Error(diag.UnknownReference, &rng,
		fmt.Sprintf("Unknown field %q", name),
		strings.TrimSpace(fmt.Sprintf("schema.%s has no field %q.%s", s.Name, name, diag.DidYouMean(name, s.FieldNames())))))
	return false
}

// chooseCustomerSchema picks the schema that types `customer` outside
// segments: the schema named "customer", else the one schema that segment
// sources use.
func (l *loader) chooseCustomerSchema() {
	if s, ok := l.cfg.Schemas["customer"]; ok {
		l.cfg.CustomerSchema = s
		return
	}
	for _, b := range l.blocks["segment"] {
		c, _ := b.Body.Content(&hcl.BodySchema{Attributes: attrs("from")})
		if c == nil || c.Attributes["from"] == nil {
			continue
		}
		if t, diags := hcl.AbsTraversalForExpr(c.Attributes["from"].Expr); !diags.HasErrors() && len(t) == 2 && t.RootName() == "source" {
			if src := l.cfg.Sources[traverseName(t[1])]; src != nil && src.Schema != nil {
				l.cfg.CustomerSchema = src.Schema
				return
			}
		}
	}
}

var consentSchema = &hcl.BodySchema{
	Attributes: attrs("from!"),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "channel", LabelNames: []string{"name"}}},
}
var channelSchema = &hcl.BodySchema{
	Attributes: attrs("basis!", "opt_in", "quiet_hours", "description"),
	Blocks:     []hcl.BlockHeaderSchema{waiveBlock},
}

// ConsentChannels are the channels a consent block may declare.
var ConsentChannels = []string{"email", "sms", "ads", "webhook", "push"}

func (l *loader) decodeConsent() {
	bs := l.blocks["consent"]
	if len(bs) == 0 {
		return
	}
	b := bs[0]
	con := &Consent{Channels: map[string]*ConsentChannel{}, DeclRange: b.DefRange}
	c := l.content(b.Body, consentSchema)
	if a := c.Attributes["from"]; a != nil {
		if n, ok := l.ref(a.Expr, "source"); ok {
			con.From = l.cfg.Sources[n]
		}
	}
	for _, cb := range c.Blocks {
		name := cb.Labels[0]
		ch := &ConsentChannel{Name: name}
		ch.Block.Name, ch.DeclRange = name, cb.DefRange
		if !contains(ConsentChannels, name) {
			rng := cb.LabelRanges[0]
			l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, fmt.Sprintf("Unknown consent channel %q", name),
				fmt.Sprintf("The channels are %s.%s", quoteList(ConsentChannels), diag.DidYouMean(name, ConsentChannels))))
			continue
		}
		if prev := con.Channels[name]; prev != nil {
			rng := cb.DefRange
			l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, fmt.Sprintf("Duplicate consent channel %q", name),
				fmt.Sprintf("Channel %q is already declared at %s.", name, prev.DeclRange)))
			continue
		}
		cc := l.content(cb.Body, channelSchema)
		if a := cc.Attributes["basis"]; a != nil {
			if v, ok := l.str(a); ok && l.oneOf(a, v, "consent", "legitimate_interest") {
				ch.Basis = v
			}
		}
		if a := cc.Attributes["opt_in"]; a != nil {
			rng := a.Expr.Range()
			ch.optInRange = &rng
			if v, ok := l.str(a); ok && l.oneOf(a, v, "single", "double") {
				ch.OptIn = v
			}
		} else if ch.Basis == "consent" {
			ch.OptIn = "single"
		}
		if a := cc.Attributes["quiet_hours"]; a != nil {
			if v, ok := l.str(a); ok {
				q, err := ParseQuietHours(v)
				if err != nil {
					rng := a.Expr.Range()
					l.diags = append(l.diags, diag.Error(diag.InvalidQuietHours, &rng, "Invalid quiet hours",
						fmt.Sprintf("%v. Write a daily range in the recipient's time zone, HH:MM-HH:MM, such as \"21:00-08:00\".", err)))
				} else {
					ch.QuietHours = q
				}
			}
		}
		ch.Description, _ = l.str(cc.Attributes["description"])
		ch.Waivers = l.waivers(cc)
		con.Channels[name] = ch
	}
	l.cfg.Consent = con
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
