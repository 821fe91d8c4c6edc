package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// The keys under which apply leaves the configuration it applied for the
// runner: the digest is read every poll, the files only when it changed.
const (
	snapshotKey       = "config"
	snapshotDigestKey = "config_digest"
)

// snapshot is the configuration an apply approved: every HCL file and
// template it read, by the name used in diagnostics. Data files are not
// in it: sources are read where they are when the runner runs.
type snapshot struct {
	Digest string            `json:"digest"`
	Files  map[string]string `json:"files"`
}

// saveSnapshot records cfg as the configuration the runner serves. It is
// written before any object, so a runner never sees objects of an apply
// without the configuration that made them.
func saveSnapshot(ctx context.Context, st state.Backend, cfg *lang.Config, digest string) error {
	s := snapshot{Digest: digest, Files: map[string]string{}}
	for name, b := range cfg.FileText() {
		s.Files[name] = string(b)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := st.PutValue(ctx, snapshotKey, b); err != nil {
		return fmt.Errorf("recording the applied configuration: %w", err)
	}
	if err := st.PutValue(ctx, snapshotDigestKey, []byte(digest)); err != nil {
		return fmt.Errorf("recording the applied configuration: %w", err)
	}
	return nil
}

// AppliedDigest returns the digest of the configuration last applied to
// st, or "" when nothing was applied yet.
func AppliedDigest(ctx context.Context, st state.Backend) (string, error) {
	b, ok, err := st.Value(ctx, snapshotDigestKey)
	if err != nil || !ok {
		return "", err
	}
	return string(b), nil
}

// LoadApplied loads the configuration last applied to st, with its data
// sources resolved against dir. It returns nil, "", nil when nothing was
// applied yet.
func LoadApplied(ctx context.Context, st state.Backend, dir string, opts lang.Options) (*lang.Config, string, error) {
	b, ok, err := st.Value(ctx, snapshotKey)
	if err != nil {
		return nil, "", fmt.Errorf("reading the applied configuration: %w", err)
	}
	if !ok {
		return nil, "", nil
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, "", fmt.Errorf("reading the applied configuration: %w", err)
	}
	fsys := fstest.MapFS{}
	for name, text := range s.Files {
		fsys[name] = &fstest.MapFile{Data: []byte(text), Mode: 0o644}
	}
	// Like validate, an env() that is not set is not an error here: a
	// runner needs the credentials of the providers it sends with, not
	// of every block (an ad platform that only apply syncs). A provider
	// opened without its credentials fails then, naming them.
	opts.NeedValues = false
	cfg, diags := lang.LoadFS(fsys, dir, opts)
	if diags.HasErrors() {
		return nil, s.Digest, &AppliedConfigError{Diags: diags}
	}
	return cfg, s.Digest, nil
}

// AppliedConfigError is a configuration in state that no longer loads:
// most often a variable or credential that apply had and the runner lacks.
type AppliedConfigError struct {
	Diags hcl.Diagnostics
}

func (e *AppliedConfigError) Error() string {
	var msgs []string
	for _, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		m := d.Summary
		if d.Subject != nil {
			m = d.Subject.String() + ": " + m
		}
		if d.Detail != "" {
			m += ": " + d.Detail
		}
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	return "the applied configuration does not load here (give herald run the same -var values and environment as apply): " + strings.Join(msgs, "; ")
}
