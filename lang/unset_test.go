package lang_test

import (
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/lang"
)

// TestProviderUnset: each attribute whose value is not known records the
// environment variables and input variables it reads that have no value,
// and only those: never one that is set, nor one another attribute reads.
func TestProviderUnset(t *testing.T) {
	tests := []struct {
		name     string
		username string // the username attribute
		password string // the password attribute
		env      map[string]string
		vars     []string
		want     map[string]lang.Unset
	}{
		{"both unset", `env("SMTP_USER")`, `env("SMTP_PASSWORD")`, nil, nil, map[string]lang.Unset{
			"username": {Env: []string{"SMTP_USER"}}, "password": {Env: []string{"SMTP_PASSWORD"}}}},
		{"user set", `env("SMTP_USER")`, `env("SMTP_PASSWORD")`, map[string]string{"SMTP_USER": "bob"}, nil, map[string]lang.Unset{
			"password": {Env: []string{"SMTP_PASSWORD"}}}},
		{"all set", `env("SMTP_USER")`, `env("SMTP_PASSWORD")`, map[string]string{"SMTP_USER": "bob", "SMTP_PASSWORD": "pw"}, nil, nil},
		{"two reads, one set", `"bob"`, `"${env("PW_A")}${env("PW_B")}${env("PW_B")}"`, map[string]string{"PW_A": "a"}, nil, map[string]lang.Unset{
			"password": {Env: []string{"PW_B"}}}},
		{"variable without a value", `"bob"`, `var.pw`, nil, nil, map[string]lang.Unset{
			"password": {Vars: []string{"pw"}}}},
		{"variable given", `"bob"`, `var.pw`, nil, []string{"pw=x"}, nil},
		{"variable and env", `"bob"`, `"${var.pw}${env("PW_B")}"`, nil, nil, map[string]lang.Unset{
			"password": {Env: []string{"PW_B"}, Vars: []string{"pw"}}}},
		{"env named by an unset variable", `"bob"`, `env(var.pw)`, nil, nil, map[string]lang.Unset{
			"password": {Vars: []string{"pw"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := `variable "pw" {
  type      = string
  sensitive = true
}
provider "smtp" "main" {
  host     = "smtp.example.com"
  username = ` + tc.username + `
  password = ` + tc.password + `
}
`
			fsys := fstest.MapFS{"main.hcl": {Data: []byte(src)}}
			cfg, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: env(tc.env), Vars: tc.vars})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if got := cfg.Providers["smtp.main"].Unset; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Unset = %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestUnsetHint: the hint names what to set, in the words of the CLI.
func TestUnsetHint(t *testing.T) {
	tests := []struct {
		u    lang.Unset
		want string
	}{
		{lang.Unset{}, ""},
		{lang.Unset{Env: []string{"A"}}, "set the environment variable A"},
		{lang.Unset{Env: []string{"A", "B", "C"}}, "set the environment variables A, B and C"},
		{lang.Unset{Vars: []string{"x"}}, "give variable x a value with -var 'x=…', -var-file or HERALD_VAR_x"},
		{lang.Unset{Vars: []string{"x", "y"}}, "give variables x and y values with -var, -var-file or HERALD_VAR_<name>"},
		{lang.Unset{Env: []string{"A"}, Vars: []string{"x"}}, "set the environment variable A, and give variable x a value with -var 'x=…', -var-file or HERALD_VAR_x"},
	}
	for _, tc := range tests {
		if got := tc.u.Hint(); got != tc.want {
			t.Errorf("%#v.Hint() = %q, want %q", tc.u, got, tc.want)
		}
	}
}

// TestStateURLUnset: the postgres state url records what it reads that
// has no value, so the error that it is unknown can name it.
func TestStateURLUnset(t *testing.T) {
	tests := []struct {
		name, url string
		env       map[string]string
		want      lang.Unset
	}{
		{"env", `env("HERALD_TEST_STATE_URL")`, nil, lang.Unset{Env: []string{"HERALD_TEST_STATE_URL"}}},
		{"env set", `env("HERALD_TEST_STATE_URL")`, map[string]string{"HERALD_TEST_STATE_URL": "postgres://x"}, lang.Unset{}},
		{"variable", `var.state_url`, nil, lang.Unset{Vars: []string{"state_url"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "variable \"state_url\" {\n  sensitive = true\n}\nherald {\n  state \"postgres\" {\n    url = " + tc.url + "\n  }\n}\n"
			cfg, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, "p", lang.Options{LookupEnv: env(tc.env)})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if got := cfg.Herald.State.URLUnset; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("URLUnset = %#v, want %#v", got, tc.want)
			}
		})
	}
}
