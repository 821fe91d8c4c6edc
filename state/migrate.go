package state

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles holds the schema of each backend as numbered SQL files,
// migrations/BACKEND/NNNN_what.sql, applied in order. A released file is
// never edited: a change to the schema is a new file.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	Version int
	Name    string
	SQL     string
}

// migrations returns a backend's migrations in version order. Versions
// start at 1 and have no gaps.
func migrations(backend string) ([]migration, error) {
	dir := path.Join("migrations", backend)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s migrations: %w", backend, err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: the name must start with a version number, as in 0001_init.sql", backend, name)
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s migrations: expected version %d, found %s", backend, i+1, m.Name)
		}
	}
	return ms, nil
}

// pending returns the migrations after version current, or a
// *SchemaTooNewError when current is beyond the last one known.
func pending(ms []migration, current int, where string) ([]migration, error) {
	if current > len(ms) {
		return nil, &SchemaTooNewError{Where: where, Version: current, Known: len(ms)}
	}
	return ms[current:], nil
}
