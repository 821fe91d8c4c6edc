package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The data committed with the examples is exactly what gen makes with the
// flags their READMEs give. When this fails after a change to
// internal/datagen, regenerate the data with those commands.
func TestCommittedData(t *testing.T) {
	for _, c := range []struct {
		dir  string
		args []string
	}{
		{"../quickstart/data", []string{"-customers", "3000", "-seed", "1"}},
		{"../design/data", []string{"-customers", "200", "-seed", "1"}},
	} {
		tmp := t.TempDir()
		if err := run(append([]string{"-dir", tmp}, c.args...), io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"customers.csv", "consents.csv", "events.jsonl"} {
			want, err := os.ReadFile(filepath.Join(tmp, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(c.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s is stale: regenerate it with go run ./examples/gen -dir %s %v",
					c.dir, name, filepath.Join("examples", filepath.Base(filepath.Dir(c.dir)), "data"), c.args)
			}
		}
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"-dir", dir, "-customers", "20", "-events-per-customer", "0"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "events.jsonl")); err != nil || len(b) != 0 {
		t.Errorf("-events-per-customer 0: %d bytes of events (%v)", len(b), err)
	}
	for _, args := range [][]string{
		{"-now", "yesterday"},
		{"-customers", "-1", "-dir", dir},
		{"stray"},
		{"-nope"},
	} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
