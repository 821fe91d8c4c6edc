package lang_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

const varsProject = `
variable "region" {
  type    = string
  default = "us"
}
variable "limit" {
  type    = number
  default = 2
}
variable "greeting" {
  type    = string
  default = "hello ${var.region}"
}
provider "postgres" "warehouse" {
  url = env("WAREHOUSE_URL")
}
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestVariables: values come from defaults, then HERALD_VAR_, then
// -var-file, then -var; defaults see the values given.
func TestVariables(t *testing.T) {
	tests := []struct {
		name     string
		opts     lang.Options
		files    map[string]string
		region   string
		limit    int64
		greeting string
		rule     diag.Rule // expected diagnostic, if any
	}{
		{name: "defaults", region: "us", limit: 2, greeting: "hello us"},
		{name: "env", opts: lang.Options{LookupEnv: env(map[string]string{"HERALD_VAR_region": "eu"})}, region: "eu", limit: 2, greeting: "hello eu"},
		{name: "var-file over env", opts: lang.Options{VarFiles: []string{"prod.vars"}, LookupEnv: env(map[string]string{"HERALD_VAR_region": "eu"})},
			files: map[string]string{"prod.vars": "region = \"apac\"\nlimit = 5\n"}, region: "apac", limit: 5, greeting: "hello apac"},
		{name: "var over var-file", opts: lang.Options{Vars: []string{"region=ca", "limit=7"}, VarFiles: []string{"prod.vars"}},
			files: map[string]string{"prod.vars": "region = \"apac\"\n"}, region: "ca", limit: 7, greeting: "hello ca"},
		{name: "undeclared", opts: lang.Options{Vars: []string{"regoin=ca"}}, region: "us", limit: 2, greeting: "hello us", rule: diag.VariableValue},
		{name: "wrong type", opts: lang.Options{Vars: []string{"limit=lots"}}, region: "us", limit: 2, greeting: "hello us", rule: diag.VariableValue},
		{name: "not name=value", opts: lang.Options{Vars: []string{"region"}}, region: "us", limit: 2, greeting: "hello us", rule: diag.VariableValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"main.hcl": {Data: []byte(varsProject)}}
			for n, s := range tt.files {
				fsys[n] = &fstest.MapFile{Data: []byte(s)}
			}
			if tt.opts.LookupEnv == nil {
				tt.opts.LookupEnv = env(nil)
			}
			dir := t.TempDir()
			for n, s := range tt.files {
				writeFile(t, dir, n, s)
			}
			for i, f := range tt.opts.VarFiles {
				tt.opts.VarFiles[i] = dir + "/" + f
			}
			cfg, diags := lang.LoadFS(fsys, "test", tt.opts)
			if tt.rule != "" {
				if !hasRule(diags, tt.rule) {
					t.Fatalf("want a %s diagnostic, got %v", tt.rule, diags)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if got := cfg.Variables["region"].Value; got != cty.StringVal(tt.region) {
				t.Errorf("region = %#v, want %q", got, tt.region)
			}
			if got, _ := cfg.Variables["limit"].Value.AsBigFloat().Int64(); got != tt.limit {
				t.Errorf("limit = %d, want %d", got, tt.limit)
			}
			if got := cfg.Variables["greeting"].Value; got != cty.StringVal(tt.greeting) {
				t.Errorf("greeting = %#v, want %q", got, tt.greeting)
			}
		})
	}
}

// TestEnvUnset: validate never needs credentials; plan does, and names the
// variable.
func TestEnvUnset(t *testing.T) {
	fsys := fstest.MapFS{"main.hcl": {Data: []byte(varsProject)}}
	cfg, diags := lang.LoadFS(fsys, "test", lang.Options{LookupEnv: env(nil)})
	if diags.HasErrors() {
		t.Fatalf("validate needs no credentials, got %v", diags)
	}
	if got := cfg.Providers["postgres.warehouse"].Unset["url"].Env; len(got) != 1 || got[0] != "WAREHOUSE_URL" {
		t.Errorf("Unset[url].Env = %v", got)
	}
	_, diags = lang.LoadFS(fsys, "test", lang.Options{LookupEnv: env(nil), NeedValues: true})
	if !hasRule(diags, diag.EnvUnset) || !strings.Contains(diags.Error(), "WAREHOUSE_URL") {
		t.Fatalf("want env-unset naming WAREHOUSE_URL, got %v", diags)
	}
	cfg, diags = lang.LoadFS(fsys, "test", lang.Options{LookupEnv: env(map[string]string{"WAREHOUSE_URL": "postgres://x"}), NeedValues: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := cfg.Providers["postgres.warehouse"].Attributes["url"]; got != cty.StringVal("postgres://x") {
		t.Errorf("url = %#v", got)
	}
}

func hasRule(diags []*hcl.Diagnostic, r diag.Rule) bool {
	for _, d := range diags {
		if diag.RuleOf(d) == r {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, dir, name, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
