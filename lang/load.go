package lang

import (
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unicode"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/heraldhq/herald/lang/diag"
)

// rootSchema is the top level of a herald file.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "herald"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "provider", LabelNames: []string{"type", "name"}},
		{Type: "schema", LabelNames: []string{"name"}},
		{Type: "source", LabelNames: []string{"name"}},
		{Type: "consent"},
		{Type: "segment", LabelNames: []string{"name"}},
		{Type: "template", LabelNames: []string{"name"}},
		{Type: "campaign", LabelNames: []string{"name"}},
		{Type: "audience", LabelNames: []string{"name"}},
		{Type: "trigger", LabelNames: []string{"name"}},
	},
}

// loader carries the state of one Load.
type loader struct {
	fsys fs.FS
	dir  string
	// root is the project directory on disk when fsys reads it (Load), so
	// that file() can resolve symbolic links; "" for LoadFS.
	root  string
	opts  Options
	cfg   *Config
	diags hcl.Diagnostics
	ctx   *hcl.EvalContext
	cel   *celEnvs
	// blocks holds the raw blocks by type, in file then source order.
	blocks map[string][]*hcl.Block
	// declared is the set of names of each kind, for reference lookups.
	declared map[string]map[string]bool
	// lints are policy diagnostics, held until waivers are applied.
	lints []pendingLint
	// cur is the block whose expressions are being checked, so a lint
	// raised inside an expression can be waived on it.
	cur *Block
	// sensitive are the expressions whose value came from a sensitive
	// variable: diagnostics about them do not quote it.
	sensitive []sensitiveExpr
}

// Load reads every *.hcl file in dir and returns the checked Config. The
// Config is returned even when diags has errors, as far as it could be built,
// and its Sources are always filled so the diagnostics can be rendered.
// Ranges in diagnostics name files relative to dir.
func Load(dir string, opts Options) (*Config, hcl.Diagnostics) {
	return load(os.DirFS(dir), dir, dir, opts)
}

// LoadFS is Load over a file system: the project's files are at the root of
// fsys, and dir is only used in messages and Config.Dir.
func LoadFS(fsys fs.FS, dir string, opts Options) (*Config, hcl.Diagnostics) {
	return load(fsys, dir, "", opts)
}

// load is Load and LoadFS; root is the project directory on disk when fsys
// reads it, or "".
func load(fsys fs.FS, dir, root string, opts Options) (*Config, hcl.Diagnostics) {
	l := &loader{
		fsys: fsys,
		dir:  dir,
		root: root,
		opts: opts,
		cfg: &Config{
			Dir:       dir,
			Variables: map[string]*Variable{},
			Providers: map[string]*Provider{},
			Schemas:   map[string]*Schema{},
			Sources:   map[string]*Source{},
			Segments:  map[string]*Segment{},
			Templates: map[string]*Template{},
			Campaigns: map[string]*Campaign{},
			Audiences: map[string]*Audience{},
			Triggers:  map[string]*Trigger{},
			sources:   map[string][]byte{},
		},
		blocks: map[string][]*hcl.Block{},
	}
	l.load()
	l.redactSensitive()
	return l.cfg, l.diags
}

func (l *loader) load() {
	entries, err := fs.ReadDir(l.fsys, ".")
	if err != nil {
		l.diags = append(l.diags, diag.Error(diag.FileNotFound, nil, "Cannot read the project directory",
			fmt.Sprintf("%v. Run herald in a directory of *.hcl files, or pass -chdir DIR.", err)))
		return
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		l.diags = append(l.diags, diag.Error(diag.FileNotFound, nil, "No configuration files",
			fmt.Sprintf("The directory %s has no *.hcl files. Run \"herald init\" to start a project, or pass -chdir DIR.", l.dir)))
		return
	}
	// Files parse independently, so they parse in parallel; their blocks
	// are then taken in file order, so the result does not depend on it.
	type parsed struct {
		src   []byte
		file  *hcl.File
		diags hcl.Diagnostics
		err   error
	}
	results := make([]parsed, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := &results[i]
			if r.src, r.err = fs.ReadFile(l.fsys, name); r.err == nil {
				r.file, r.diags = parseConfig(r.src, name)
			}
		}()
	}
	wg.Wait()
	unread := false
	for i, name := range names {
		r := results[i]
		if r.err != nil {
			l.diags = append(l.diags, diag.Error(diag.FileNotFound, nil, "Cannot read "+name, r.err.Error()))
			unread = true
			continue
		}
		l.cfg.sources[name] = r.src
		l.cfg.Files = append(l.cfg.Files, name)
		l.diags = append(l.diags, diag.Tag(syntaxHints(r.diags, r.src), diag.Syntax)...)
		if r.diags.HasErrors() {
			unread = true
			continue
		}
		content, diags := r.file.Body.Content(rootSchema)
		l.diags = append(l.diags, diag.Tag(diags, diag.Structure)...)
		for _, b := range content.Blocks {
			l.blocks[b.Type] = append(l.blocks[b.Type], b)
		}
	}
	if unread {
		// A file that does not parse leaves the rest half-known: references
		// into it would all be reported as unknown, burying the real error.
		// An unknown top-level block (segmnt "x" {}) does not stop here:
		// the blocks around it are decoded and checked.
		return
	}

	l.checkDuplicates()
	l.checkNames()
	l.declared = map[string]map[string]bool{}
	for _, kind := range append(blockKinds, "provider") {
		set := map[string]bool{}
		for _, n := range l.names(kind) {
			set[n] = true
		}
		l.declared[kind] = set
	}
	l.decodeVariables()
	l.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": l.varObject()},
		Functions: map[string]function.Function{
			"env":  l.envFunc(),
			"file": l.fileFunc(),
		},
	}
	l.decodeHerald()
	l.decodeProviders()
	l.decodeSchemas()
	p, err := newSchemaProvider(l.cfg.Schemas)
	if err != nil {
		l.diags = append(l.diags, diag.Error(diag.CELType, nil, "Cannot build the CEL type provider", err.Error()))
		return
	}
	l.cel = &celEnvs{provider: p, cache: map[string]*cel.Env{}}
	l.decodeSources()
	l.chooseCustomerSchema()
	l.decodeConsent()
	l.decodeSegments()
	l.decodeTemplates()
	l.decodeCampaigns()
	l.decodeAudiences()
	l.decodeTriggers()
	l.checkTemplates()
	l.policyLints()
	l.governance()
	l.applyWaivers()
}

// blockKinds are the block types whose names share one namespace each.
var blockKinds = []string{"variable", "schema", "source", "segment", "template", "campaign", "audience", "trigger"}

// checkDuplicates reports two blocks of one kind with one name, and drops
// the second so that everything after sees one definition.
func (l *loader) checkDuplicates() {
	check := func(kind string, key func(*hcl.Block) string) {
		seen := map[string]*hcl.Block{}
		var kept []*hcl.Block
		for _, b := range l.blocks[kind] {
			k := key(b)
			if first, ok := seen[k]; ok {
				rng := b.DefRange
				l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng,
					fmt.Sprintf("Duplicate %s %q", kind, k),
					fmt.Sprintf("%s %q is already declared at %s. Names must be unique within a kind; rename or remove one.", kind, k, first.DefRange)))
				continue
			}
			seen[k] = b
			kept = append(kept, b)
		}
		l.blocks[kind] = kept
	}
	for _, kind := range blockKinds {
		check(kind, func(b *hcl.Block) string { return b.Labels[0] })
	}
	check("provider", func(b *hcl.Block) string { return b.Labels[0] + "." + b.Labels[1] })
	for _, single := range []string{"herald", "consent"} {
		if bs := l.blocks[single]; len(bs) > 1 {
			for _, b := range bs[1:] {
				rng := b.DefRange
				l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng,
					fmt.Sprintf("Duplicate %s block", single),
					fmt.Sprintf("A project has one %s block; the first is at %s. Merge them.", single, bs[0].DefRange)))
			}
			l.blocks[single] = bs[:1]
		}
	}
}

// checkNames reports block names that no reference could reach: a block
// is referred to as kind.name (provider.type.name), so its labels must be
// HCL identifiers, letters, digits, underscores and dashes not starting
// with a digit or dash. "", "has space" and emoji would parse as labels and
// then never be found.
func (l *loader) checkNames() {
	for _, kind := range append(blockKinds, "provider") {
		for _, b := range l.blocks[kind] {
			for i, name := range b.Labels {
				if hclsyntax.ValidIdentifier(name) {
					continue
				}
				rng := b.LabelRanges[i]
				l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng,
					fmt.Sprintf("Invalid %s name %q", kind, name),
					fmt.Sprintf("A %s is referred to as %s, so its name must start with a letter or underscore and hold only letters, digits, underscores and dashes. Rename it, for example to %q.", kind, refForm(kind), suggestName(name))))
			}
		}
	}
}

// checkNestedName reports the name of a variant or a step that is not an
// identifier. Nothing refers to one in an expression, but the name is a
// key in the ledger, the plan (variant.NAME) and the runner's metrics and
// commands, where spaces and symbols break tools that read them.
func (l *loader) checkNestedName(kind, name string, rng hcl.Range) {
	if hclsyntax.ValidIdentifier(name) {
		return
	}
	l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng,
		fmt.Sprintf("Invalid %s name %q", kind, name),
		fmt.Sprintf("A %s name is a key in the ledger, the plan and metrics, so it must start with a letter or underscore and hold only letters, digits, underscores and dashes. Rename it, for example to %q.", kind, suggestName(name))))
}

// refForm is how a block of kind is referred to.
func refForm(kind string) string {
	if kind == "provider" {
		return "provider.TYPE.NAME"
	}
	return kind + ".NAME"
}

// suggestName makes an identifier of name: runs of other characters
// become one underscore, and a leading digit gets an underscore before it.
func suggestName(name string) string {
	var b strings.Builder
	under := false
	for _, r := range name {
		if r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	s := strings.TrimRight(b.String(), "_")
	if s == "" {
		return "name"
	}
	if !hclsyntax.ValidIdentifier(s) {
		s = "_" + s
	}
	return s
}

// names returns the declared names of a block kind.
func (l *loader) names(kind string) []string {
	var out []string
	for _, b := range l.blocks[kind] {
		if kind == "provider" {
			out = append(out, b.Labels[0]+"."+b.Labels[1])
		} else {
			out = append(out, b.Labels[0])
		}
	}
	return out
}

// Sorted returns the keys of m in order, for a stable walk over the Config.
func Sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
