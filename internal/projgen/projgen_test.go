package projgen

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// noEnv keeps the test independent of the caller's environment.
func noEnv(string) (string, bool) { return "", false }

func TestGeneratedProjectValidates(t *testing.T) {
	o := Size(50)
	files := Files(o)
	fsys := fstest.MapFS{}
	for name, b := range files {
		fsys[name] = &fstest.MapFile{Data: b}
	}
	cfg, diags := lang.LoadFS(fsys, "gen", lang.Options{LookupEnv: noEnv})
	if len(diags) > 0 {
		var buf bytes.Buffer
		_ = diag.WriteText(&buf, diags, cfg.FileText(), false)
		t.Fatalf("generated project has %d diagnostics:\n%s", len(diags), buf.String())
	}
	if got := len(cfg.Campaigns); got != o.Campaigns {
		t.Errorf("campaigns: got %d, want %d", got, o.Campaigns)
	}
	if got := len(cfg.Segments); got != o.Segments {
		t.Errorf("segments: got %d, want %d", got, o.Segments)
	}
	if got := len(cfg.Templates); got != o.Templates {
		t.Errorf("templates: got %d, want %d", got, o.Templates)
	}
	for _, n := range lang.Sorted(cfg.Segments) {
		if cfg.Segments[n].Where == nil {
			t.Errorf("segment %s: where not compiled", n)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := Files(Size(120)), Files(Size(120))
	if len(a) != len(b) {
		t.Fatalf("file counts differ: %d, %d", len(a), len(b))
	}
	for n := range a {
		if !bytes.Equal(a[n], b[n]) {
			t.Errorf("%s differs between runs", n)
		}
	}
}

func TestSplitIntoFiles(t *testing.T) {
	files := Files(Size(1000))
	count := map[string]int{}
	for n, b := range files {
		for _, kind := range []string{"segment", "template", "campaign"} {
			if strings.HasPrefix(n, kind+"s_") {
				c := bytes.Count(b, []byte("\n"+kind+" \""))
				if c > 100 {
					t.Errorf("%s has %d blocks, want at most 100", n, c)
				}
				count[kind] += c
			}
		}
	}
	want := map[string]int{"segment": 1000, "template": 200, "campaign": 1000}
	for k, w := range want {
		if count[k] != w {
			t.Errorf("%s blocks: got %d, want %d", k, count[k], w)
		}
	}
	if _, ok := files["segments_0010.hcl"]; !ok {
		t.Errorf("want segments split into 10 files; have %d files", len(files))
	}
}

func TestSegmentClauses(t *testing.T) {
	files := Files(Size(200))
	lens := map[int]int{}
	for n, b := range files {
		if !strings.HasPrefix(n, "segments_") {
			continue
		}
		for _, blk := range strings.Split(string(b), "\nsegment ")[1:] {
			lens[strings.Count(blk, "&&")+1]++
		}
	}
	for _, n := range []int{2, 3, 4} {
		if lens[n] == 0 {
			t.Errorf("no segment with %d clauses (got %v)", n, lens)
		}
	}
	for n := range lens {
		if n < 2 || n > 4 {
			t.Errorf("%d segments with %d clauses", lens[n], n)
		}
	}
}
