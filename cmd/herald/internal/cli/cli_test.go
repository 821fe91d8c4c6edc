package cli

import (
	"slices"
	"testing"
)

func TestDoubleDash(t *testing.T) {
	in := []string{
		"-chdir", "dir", "-chdir=dir", "validate", "-json", "--json", "-h", "-",
		"-var=region=eu", "-var-file", "x.hcl", "-no-color", "-1", "-Json", "file.hcl",
		"--", "-json",
	}
	want := []string{
		"--chdir", "dir", "--chdir=dir", "validate", "--json", "--json", "-h", "-",
		"--var=region=eu", "--var-file", "x.hcl", "--no-color", "-1", "-Json", "file.hcl",
		"--", "-json",
	}
	got := doubleDash(in)
	if !slices.Equal(got, want) {
		t.Errorf("doubleDash(%q)\n = %q\nwant %q", in, got, want)
	}
	if in[0] != "-chdir" {
		t.Error("doubleDash changed its argument")
	}
}

func TestOneDash(t *testing.T) {
	for in, want := range map[string]string{
		"unknown flag: --jsn":                 "unknown flag: -jsn",
		"flag needs an argument: --var":       "flag needs an argument: -var",
		"      --chdir DIR   switch to DIR":   "      -chdir DIR   switch to DIR",
		"  -h, --help   help for herald":      "  -h, -help   help for herald",
		"unknown shorthand flag: 'x' in -x":   "unknown shorthand flag: 'x' in -x",
		`invalid argument "a--b" for "--var"`: `invalid argument "a--b" for "--var"`,
	} {
		if got := oneDash(in); got != want {
			t.Errorf("oneDash(%q) = %q, want %q", in, got, want)
		}
	}
}
